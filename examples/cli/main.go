// Command cli walks through TOTP MFA in a terminal: it enrols an
// authenticator app with a QR code drawn in text, verifies the first code,
// shows the recovery codes and waits for the user to save them, then logs
// in with codes from the app or recovery codes until the input ends.
//
//	go run ./examples/cli
//
// It reads one answer per line, so its input can be piped in. It prints
// the setup key on its own line, "secret: ...", for manual entry (and for
// a test to compute codes). State lives in memory and vanishes on exit.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
)

// options configure run; the zero value is what the command uses.
type options struct {
	// User is the account name the authenticator app shows.
	User string
	// Now is the clock; default time.Now. Tests inject one.
	Now func() time.Time
}

func main() {
	user := flag.String("user", "ann@example.com", "account name to enrol")
	flag.Parse()
	if err := run(context.Background(), os.Stdin, os.Stdout, options{User: *user}); err != nil {
		fmt.Fprintln(os.Stderr, "cli:", err)
		os.Exit(1)
	}
}

// errInputEnded is returned when the input ends before enrolment is done.
var errInputEnded = errors.New("input ended before enrolment was complete")

func run(ctx context.Context, in io.Reader, out io.Writer, opt options) error {
	if opt.User == "" {
		opt.User = "ann@example.com"
	}
	key, err := mfa.GenerateKey("cli")
	if err != nil {
		return err
	}
	keys, err := mfa.NewKeyring(key)
	if err != nil {
		return err
	}
	m, err := mfa.New(mfa.Config{Store: memstore.New(), Issuer: "mfakit cli", Keys: keys, Now: opt.Now})
	if err != nil {
		return err
	}
	t := &terminal{m: m, userID: opt.User, lines: bufio.NewScanner(in), out: out}
	if err := t.enrol(ctx, opt.User); err != nil {
		return err
	}
	return t.logIn(ctx)
}

// terminal is one user's session at the terminal.
type terminal struct {
	m      *mfa.MFA
	userID string
	lines  *bufio.Scanner
	out    io.Writer
}

func (t *terminal) say(a ...any) { fmt.Fprintln(t.out, a...) }

// ask prints prompt and reads one line; false when the input has ended.
func (t *terminal) ask(prompt string) (string, bool) {
	fmt.Fprint(t.out, prompt)
	if !t.lines.Scan() {
		fmt.Fprintln(t.out)
		return "", false
	}
	return strings.TrimSpace(t.lines.Text()), true
}

// enrol adds an authenticator app: the QR code to scan (or the key to type
// in), the first code to verify it, then the recovery codes to save.
func (t *terminal) enrol(ctx context.Context, accountName string) error {
	reg, err := t.m.AddDevice(ctx, t.userID, mfa.WithAccountName(accountName))
	if err != nil {
		return err
	}
	qr, err := reg.QRCodeTerminal()
	if err != nil {
		return err
	}
	t.say("Scan this QR code with an authenticator app, or enter the key below by hand.")
	fmt.Fprint(t.out, qr)
	t.say("secret:", reg.Secret)

	for {
		code, ok := t.ask("Code from the app: ")
		if !ok {
			return errInputEnded
		}
		_, err := t.m.AuthenticateDevice(ctx, t.userID, mfa.AuthenticateRequest{Code: code})
		if err == nil {
			break
		}
		if !userError(err) {
			return err
		}
		t.say("That did not work:", describe(err))
	}
	t.say("Device verified.")

	// The first code of a new device creates the recovery codes. They can
	// be read until acknowledged, and never again.
	codes, err := t.m.GetRecoveryCodes(ctx, t.userID, false)
	if err != nil {
		return err
	}
	t.say("Recovery codes: each one logs you in once if you lose your phone. Save them now:")
	for _, c := range codes {
		t.say("  " + c)
	}
	if _, ok := t.ask("Press Enter once you have saved them: "); !ok {
		return errInputEnded
	}
	if err := t.m.CompleteAcknowledgement(ctx, t.userID); err != nil {
		return err
	}
	t.say("Recovery codes saved.")
	return nil
}

// logIn checks second factors as after a password, a code from the app or
// a recovery code per line, until an empty line or the end of the input.
func (t *terminal) logIn(ctx context.Context) error {
	t.say("Now log in. Each code from the app works once: wait for the next one.")
	for {
		code, ok := t.ask("Login code or recovery code (empty to quit): ")
		if !ok || code == "" {
			t.say("Bye.")
			return nil
		}
		var res *mfa.AuthResult
		var err error
		if isTOTP(code) {
			res, err = t.m.AuthenticateDevice(ctx, t.userID, mfa.AuthenticateRequest{Code: code})
		} else {
			res, err = t.m.AuthenticateRecoveryCode(ctx, t.userID, mfa.RecoveryRequest{Code: code})
		}
		switch {
		case err != nil && !userError(err):
			return err
		case err != nil:
			t.say("Login failed:", describe(err))
		case res.Method == mfa.MethodRecoveryCode:
			t.say(fmt.Sprintf("Logged in with a recovery code; %d left.", res.RecoveryCodesRemaining))
		default:
			t.say("Logged in with a code from the app.")
		}
	}
}

// isTOTP tells a TOTP code (digits) from a recovery code.
func isTOTP(s string) bool {
	s = strings.ReplaceAll(s, " ", "")
	if len(s) != 6 && len(s) != 8 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// userError reports whether err is the user's doing (a wrong or reused
// code, bad input, a lockout) rather than a failure to stop on.
func userError(err error) bool {
	for _, target := range []error{mfa.ErrInvalidCode, mfa.ErrCodeReused, mfa.ErrInvalidInput, mfa.ErrRateLimited} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

func describe(err error) string {
	var e *mfa.Error
	if errors.As(err, &e) {
		if e.RetryAfter > 0 {
			return fmt.Sprintf("%s; try again in %s", e.Message, e.RetryAfter.Round(time.Second))
		}
		return e.Message
	}
	return err.Error()
}
