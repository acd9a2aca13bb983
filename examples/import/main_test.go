package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/examples/internal/storeflag"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TestImport imports a JSON Lines file into SQLite, runs it again as after
// an interruption, and logs in as the imported users with oathtool's codes.
func TestImport(t *testing.T) {
	oathtool, err := exec.LookPath("oathtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("oathtool not found: apt-get install -y oathtool")
		}
		t.Skip("oathtool not found")
	}
	dir := t.TempDir()
	key, err := mfa.GenerateKey("import-test")
	if err != nil {
		t.Fatal(err)
	}
	type user struct {
		id, secret, alg string
		digits, period  int
		codes           []string
	}
	var users []user
	var input strings.Builder
	for i, c := range []struct {
		alg    otp.Algorithm
		digits otp.Digits
		period uint
		byURI  bool
	}{
		{otp.AlgorithmSHA1, otp.DigitsSix, 30, true},
		{otp.AlgorithmSHA256, otp.DigitsEight, 30, false},
		{otp.AlgorithmSHA512, otp.DigitsEight, 60, true},
	} {
		k, err := totp.Generate(totp.GenerateOpts{Issuer: "Old", AccountName: "user" + strconv.Itoa(i), Algorithm: c.alg, Digits: c.digits, Period: c.period})
		if err != nil {
			t.Fatal(err)
		}
		u := user{id: "user-" + strconv.Itoa(i), secret: k.Secret(), alg: strings.ToUpper(c.alg.String()), digits: c.digits.Length(), period: int(c.period),
			codes: []string{"k3n8x0q" + strconv.Itoa(i), "z9p2m4t" + strconv.Itoa(i)}}
		users = append(users, u)
		l := map[string]any{"userId": u.id, "recoveryCodes": u.codes}
		if c.byURI {
			l["uri"] = k.URL()
		} else {
			l["secret"], l["algorithm"], l["digits"], l["period"] = k.Secret(), u.alg, u.digits, u.period
		}
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		input.Write(append(b, '\n'))
	}
	input.WriteString(`{"userId": "bad-secret", "secret": "not base32!"}` + "\n")
	input.WriteString(`{"userId": "", "secret": "JBSWY3DPEHPK3PXP"}` + "\n")
	input.WriteString("this is no JSON\n")
	file := filepath.Join(dir, "devices.jsonl")
	if err := os.WriteFile(file, []byte(input.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	c := config{store: "sqlite:" + filepath.Join(dir, "mfa.db"), key: key.Encode(), issuer: "Acme", file: file}

	var out, progress strings.Builder
	if err := run(context.Background(), c, &out, &progress); err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, want := range []string{
		"6 lines: 3 imported, 3 skipped",
		"1 skipped: invalid Secret: the secret is not base32",
		"1 skipped: no userId",
		"1 skipped: not a JSON object of the documented fields",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	for _, u := range users {
		if strings.Contains(out.String()+progress.String(), u.secret) || strings.Contains(out.String(), u.codes[0]) {
			t.Fatal("the output holds a secret or a code")
		}
	}

	// Run again, as after an interruption: nothing is imported twice.
	out.Reset()
	if err := run(context.Background(), c, &out, &progress); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if !strings.Contains(out.String(), "0 imported, 6 skipped") || !strings.Contains(out.String(), "3 skipped: already has a TOTP device") {
		t.Fatalf("second run:\n%s", out.String())
	}

	// The users log in with the apps they had, and their old codes.
	store, closeStore, err := storeflag.Open(c.store)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	keys, err := mfa.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	m, err := mfa.New(mfa.Config{Store: store, Issuer: "Acme", Keys: keys, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		devices, err := m.GetUserDevices(context.Background(), u.id)
		if err != nil || len(devices) != 1 || devices[0].Digits != u.digits {
			t.Fatalf("%s: devices %+v, %v", u.id, devices, err)
		}
		code, err := exec.Command(oathtool, "--totp="+u.alg, "--base32", "--digits="+strconv.Itoa(u.digits),
			"--time-step-size="+strconv.Itoa(u.period)+"s", "--now=@"+strconv.FormatInt(at.Unix(), 10), u.secret).Output()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.AuthenticateDevice(context.Background(), u.id, mfa.AuthenticateRequest{Code: strings.TrimSpace(string(code))}); err != nil {
			t.Fatalf("%s: a code from oathtool: %v", u.id, err)
		}
		if _, err := m.AuthenticateRecoveryCode(context.Background(), u.id, mfa.RecoveryRequest{Code: strings.ToUpper(u.codes[1])}); err != nil {
			t.Fatalf("%s: an imported recovery code: %v", u.id, err)
		}
	}
}
