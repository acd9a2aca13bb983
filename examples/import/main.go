// Command import brings existing TOTP enrolments from another system into
// an mfakit store, with each user's unused recovery codes, so that users
// keep the authenticator apps they have.
//
//	go run ./examples/import -store sqlite:mfa.db -key ID:base64url devices.jsonl
//
// The input is JSON Lines, one user a line, with the device by otpauth URI
// or by base32 secret and parameters:
//
//	{"userId": "u1", "uri": "otpauth://totp/Old:ann?secret=...&issuer=Old", "recoveryCodes": ["k3n8x0qa", "..."]}
//	{"userId": "u2", "secret": "JBSWY3DP...", "algorithm": "SHA1", "digits": 6, "period": 30,
//	 "accountName": "bob@example.com", "lastUsedAt": "2026-11-30T10:00:00Z"}
//
// It prints its progress on long runs and a summary at the end: how many
// users it imported and how many it skipped, and why. A user who already
// has a TOTP device is skipped, so a run that was interrupted can simply be
// run again: what it imported before is skipped, nothing is imported
// twice. The key (-key, or $MFA_KEY) must be the one the service uses.
// Nothing it prints holds a secret or a code.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/examples/internal/storeflag"
)

func main() {
	fs := flag.NewFlagSet("import", flag.ExitOnError)
	storeSpec := fs.String("store", "memory", storeflag.Usage)
	keyFlag := fs.String("key", "", "the service's MFA encryption key as ID:base64url; default $MFA_KEY")
	issuer := fs.String("issuer", "mfakit", "the issuer name of the service (mfa.Config.Issuer)")
	every := fs.Duration("progress", 2*time.Second, "how often to print progress")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: import [flags] FILE.jsonl (- for standard input)")
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:]) // ExitOnError
	if fs.NArg() != 1 {
		fs.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	key := *keyFlag
	if key == "" {
		key = os.Getenv("MFA_KEY")
	}
	if err := run(ctx, config{store: *storeSpec, key: key, issuer: *issuer, file: fs.Arg(0), every: *every}, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "import:", err)
		os.Exit(1)
	}
}

type config struct {
	store, key, issuer, file string
	every                    time.Duration
}

// line is one user of the input.
type line struct {
	UserID        string    `json:"userId"`
	URI           string    `json:"uri"`
	Secret        string    `json:"secret"`
	Algorithm     string    `json:"algorithm"`
	Digits        int       `json:"digits"`
	Period        int       `json:"period"` // seconds
	AccountName   string    `json:"accountName"`
	Alias         string    `json:"alias"`
	LastUsedAt    time.Time `json:"lastUsedAt"`
	RecoveryCodes []string  `json:"recoveryCodes"`
}

// summary counts what a run did; skipped by reason.
type summary struct {
	imported int
	skipped  map[string]int
	lines    int
}

func (s *summary) skip(reason string) { s.skipped[reason]++ }

func (s *summary) skippedTotal() int {
	n := 0
	for _, c := range s.skipped {
		n += c
	}
	return n
}

func run(ctx context.Context, c config, stdout, stderr io.Writer) error {
	if c.key == "" {
		return errors.New("no key: give -key or $MFA_KEY, the key the service uses")
	}
	key, err := mfa.DecodeKey(c.key)
	if err != nil {
		return err
	}
	keys, err := mfa.NewKeyring(key)
	if err != nil {
		return err
	}
	store, closeStore, err := storeflag.Open(c.store)
	if err != nil {
		return err
	}
	defer closeStore()
	m, err := mfa.New(mfa.Config{Store: store, Issuer: c.issuer, Keys: keys})
	if err != nil {
		return err
	}
	in := io.Reader(os.Stdin)
	if c.file != "-" {
		f, err := os.Open(c.file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}

	s := summary{skipped: map[string]int{}}
	last := time.Now()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		s.lines++
		if len(sc.Bytes()) == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			report(stdout, &s)
			return fmt.Errorf("interrupted at line %d; run again to go on: %w", s.lines, err)
		}
		if err := importLine(ctx, m, sc.Bytes(), &s); err != nil {
			report(stdout, &s)
			return fmt.Errorf("line %d: %w; run again to go on from there", s.lines, err)
		}
		if c.every > 0 && time.Since(last) >= c.every {
			fmt.Fprintf(stderr, "line %d: %d imported, %d skipped\n", s.lines, s.imported, s.skippedTotal())
			last = time.Now()
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading line %d: %w", s.lines+1, err)
	}
	report(stdout, &s)
	return nil
}

// importLine imports one user. A refused user is counted as skipped with
// its reason; only a failure to write, after which going on makes no
// sense, is returned.
func importLine(ctx context.Context, m *mfa.MFA, b []byte, s *summary) error {
	var l line
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		s.skip("not a JSON object of the documented fields")
		return nil
	}
	if l.UserID == "" {
		s.skip("no userId")
		return nil
	}
	_, err := m.ImportTOTPDevice(ctx, l.UserID, mfa.TOTPImport{
		URI: l.URI, Secret: l.Secret, Algorithm: mfa.Algorithm(l.Algorithm), Digits: l.Digits,
		Period: time.Duration(l.Period) * time.Second, AccountName: l.AccountName, Alias: l.Alias,
		LastUsedAt: l.LastUsedAt, RecoveryCodes: l.RecoveryCodes,
	})
	var e *mfa.Error
	switch {
	case err == nil:
		s.imported++
	case errors.Is(err, mfa.ErrDeviceLimit):
		s.skip("already has a TOTP device (imported before, or enrolled)")
	case errors.Is(err, mfa.ErrInvalidInput) && errors.As(err, &e):
		// The message names the field and never holds the secret.
		s.skip("invalid " + e.Field + ": " + e.Message)
	default:
		return err
	}
	return nil
}

func report(w io.Writer, s *summary) {
	fmt.Fprintf(w, "%d lines: %d imported, %d skipped\n", s.lines, s.imported, s.skippedTotal())
	reasons := make([]string, 0, len(s.skipped))
	for r := range s.skipped {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(w, "  %5d skipped: %s\n", s.skipped[r], r)
	}
}
