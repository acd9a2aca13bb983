package mfa_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	stdpng "image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
	"github.com/pquerna/otp"
)

// These tests check mfakit against implementations that are not its own:
// Debian's oathtool (OATH Toolkit, in C) computes the codes an app would
// show from what the otpauth URI says, zbarimg (ZBar) reads the QR codes
// back, and pquerna/otp parses the URI.

// interopTime is the fixed time of the interop tests, in the middle of a
// 30 s step, so that the tests do not depend on the skew window.
var interopTime = time.Unix(1_700_000_025, 0).UTC()

// lookTool returns the path of an external tool. When it is missing the
// test fails on CI, which must install it, and is skipped elsewhere.
func lookTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found (%v): install it with apt-get install -y %s", name, err, debianPackage)
	}
	t.Skipf("%s not found: install the Debian package %s to run this test", name, debianPackage)
	return ""
}

// interopMFA returns an MFA on a fresh memstore at interopTime.
func interopMFA(t *testing.T, issuer string, cfg mfa.TOTPConfig) (*mfa.MFA, *mfatest.Clock) {
	t.Helper()
	clock := mfatest.NewClock(interopTime)
	m, err := mfa.New(mfa.Config{
		Store:  memstore.New(),
		Issuer: issuer,
		Keys:   mfatest.Keyring(t),
		TOTP:   cfg,
		Now:    clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, clock
}

// otpauthParams is what an authenticator app reads from an otpauth URI.
type otpauthParams struct {
	secret    string
	algorithm string // as in the URI: SHA1, SHA256 or SHA512
	digits    int
	period    int
}

// parseOTPAuth reads an otpauth://totp URI with net/url alone, applying
// the Key Uri Format defaults for absent parameters.
func parseOTPAuth(t *testing.T, uri string) otpauthParams {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatalf("url.Parse(%q): %v", uri, err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" {
		t.Fatalf("URI %q: scheme %q host %q, want otpauth://totp/", uri, u.Scheme, u.Host)
	}
	q := u.Query()
	p := otpauthParams{secret: q.Get("secret"), algorithm: "SHA1", digits: 6, period: 30}
	if p.secret == "" {
		t.Fatalf("URI %q has no secret", uri)
	}
	if a := q.Get("algorithm"); a != "" {
		p.algorithm = a
	}
	for name, dst := range map[string]*int{"digits": &p.digits, "period": &p.period} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("URI %q: %s=%q is not a number", uri, name, v)
			}
			*dst = n
		}
	}
	return p
}

// oathtoolCode runs oathtool as an authenticator app configured from p
// would compute the code at time at.
func oathtoolCode(t *testing.T, oathtool string, p otpauthParams, at time.Time) string {
	t.Helper()
	args := []string{
		"--totp=" + p.algorithm,
		"--base32",
		"--digits=" + strconv.Itoa(p.digits),
		"--time-step-size=" + strconv.Itoa(p.period) + "s",
		"--now=@" + strconv.FormatInt(at.Unix(), 10),
		p.secret,
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(oathtool, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		// The secret is a throwaway test secret; still, keep it out of logs.
		t.Fatalf("oathtool --totp=%s --digits=%d: %v: %s", p.algorithm, p.digits, err, stderr.String())
	}
	code := strings.TrimSuffix(stdout.String(), "\n")
	if len(code) != p.digits {
		t.Fatalf("oathtool printed %q, want %d digits", code, p.digits)
	}
	return code
}

func TestInteropOathtool(t *testing.T) {
	oathtool := lookTool(t, "oathtool", "oathtool")
	tests := []struct {
		name string
		cfg  mfa.TOTPConfig
		want otpauthParams // the URI's parameters, secret aside
	}{
		{"SHA1/6digits/default", mfa.TOTPConfig{}, otpauthParams{algorithm: "SHA1", digits: 6, period: 30}},
		{"SHA256/8digits", mfa.TOTPConfig{Algorithm: mfa.SHA256, Digits: 8}, otpauthParams{algorithm: "SHA256", digits: 8, period: 30}},
		{"SHA512/8digits", mfa.TOTPConfig{Algorithm: mfa.SHA512, Digits: 8}, otpauthParams{algorithm: "SHA512", digits: 8, period: 30}},
		{"SHA1/6digits/60s", mfa.TOTPConfig{Period: time.Minute}, otpauthParams{algorithm: "SHA1", digits: 6, period: 60}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			m, clock := interopMFA(t, "Acme", tc.cfg)
			const user = "user-1"
			reg, err := m.AddDevice(ctx, user, mfa.WithAccountName("ann@example.com"))
			if err != nil {
				t.Fatal(err)
			}
			p := parseOTPAuth(t, reg.URI)
			if p.algorithm != tc.want.algorithm || p.digits != tc.want.digits || p.period != tc.want.period {
				t.Fatalf("URI says %s/%d digits/%d s, want %s/%d digits/%d s",
					p.algorithm, p.digits, p.period, tc.want.algorithm, tc.want.digits, tc.want.period)
			}

			// Enrolment: oathtool's code verifies the pending device.
			res, err := m.AuthenticateDevice(ctx, user, mfa.AuthenticateRequest{Code: oathtoolCode(t, oathtool, p, clock.Now())})
			if err != nil {
				t.Fatalf("AuthenticateDevice with oathtool's enrolment code: %v", err)
			}
			if !res.DeviceVerified {
				t.Fatal("DeviceVerified = false after the first correct code")
			}

			// Login a few steps later on the verified device.
			clock.Advance(3 * time.Duration(p.period) * time.Second)
			code := oathtoolCode(t, oathtool, p, clock.Now())
			if _, err := m.AuthenticateDevice(ctx, user, mfa.AuthenticateRequest{Code: code}); err != nil {
				t.Fatalf("AuthenticateDevice with oathtool's login code: %v", err)
			}
			// The same code again is a replay (RFC 6238 §5.2).
			if _, err := m.AuthenticateDevice(ctx, user, mfa.AuthenticateRequest{Code: code}); !errors.Is(err, mfa.ErrCodeReused) {
				t.Fatalf("replayed code: err = %v, want ErrCodeReused", err)
			}
			// A code from well outside the skew window is refused.
			stale := oathtoolCode(t, oathtool, p, clock.Now().Add(-10*time.Duration(p.period)*time.Second))
			if stale != code {
				if _, err := m.AuthenticateDevice(ctx, user, mfa.AuthenticateRequest{Code: stale}); !errors.Is(err, mfa.ErrInvalidCode) {
					t.Fatalf("code from 10 steps ago: err = %v, want ErrInvalidCode", err)
				}
			}
		})
	}
}

// labelCases are issuers and account names with characters that must be
// escaped in an otpauth URI.
var labelCases = []struct {
	name, issuer, account string
}{
	{"ampersand and plus", "Acme & Co", "ann+test@example.com"},
	{"slash question hash", "A/B Testing? #1", "ops/team #42?x=1&y=2"},
	{"percent and equals", "100% Secure=Yes", "a=b;c,d%20e"},
	{"unicode", "Ünïcødé Bank 銀行", "jürgen.müller+äöü@exämple.de"},
	{"spaces", "  Spaced  Issuer ", " ann  smith "},
	{"plus in issuer", "C++ Guild", "a+b=c&d"},
}

func TestInteropURIRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		cfg  mfa.TOTPConfig
		alg  otp.Algorithm
	}{
		{"SHA1/6digits", mfa.TOTPConfig{}, otp.AlgorithmSHA1},
		{"SHA256/8digits/60s", mfa.TOTPConfig{Algorithm: mfa.SHA256, Digits: 8, Period: time.Minute}, otp.AlgorithmSHA256},
		{"SHA512/8digits", mfa.TOTPConfig{Algorithm: mfa.SHA512, Digits: 8}, otp.AlgorithmSHA512},
	}
	for _, tc := range tests {
		for _, lc := range labelCases {
			t.Run(tc.name+"/"+lc.name, func(t *testing.T) {
				m, _ := interopMFA(t, lc.issuer, tc.cfg)
				reg, err := m.AddDevice(context.Background(), "user-1", mfa.WithAccountName(lc.account))
				if err != nil {
					t.Fatal(err)
				}
				key, err := otp.NewKeyFromURL(reg.URI)
				if err != nil {
					t.Fatalf("otp.NewKeyFromURL(%q): %v", reg.URI, err)
				}
				digits, period := 6, uint64(30)
				if tc.cfg.Digits != 0 {
					digits = tc.cfg.Digits
				}
				if tc.cfg.Period != 0 {
					period = uint64(tc.cfg.Period / time.Second)
				}
				for _, c := range []struct {
					what      string
					got, want any
				}{
					{"Type", key.Type(), "totp"},
					{"Issuer", key.Issuer(), lc.issuer},
					{"AccountName", key.AccountName(), lc.account},
					{"Secret", key.Secret(), reg.Secret},
					{"Period", key.Period(), period},
					{"Digits", key.Digits(), otp.Digits(digits)},
					{"Algorithm", key.Algorithm(), tc.alg},
				} {
					if c.got != c.want {
						t.Errorf("URI %q: %s = %#v, want %#v", reg.URI, c.what, c.got, c.want)
					}
				}

				// net/url alone: the label is "Issuer:account" and the issuer
				// parameter repeats the issuer (Key Uri Format).
				u, err := url.Parse(reg.URI)
				if err != nil {
					t.Fatal(err)
				}
				if want := "/" + lc.issuer + ":" + lc.account; u.Path != want {
					t.Errorf("URI %q: label path %q, want %q", reg.URI, u.Path, want)
				}
				if got := u.Query().Get("issuer"); got != lc.issuer {
					t.Errorf("URI %q: issuer parameter %q, want %q", reg.URI, got, lc.issuer)
				}
				// Every byte is printable ASCII, and the label escapes
				// everything that some parser could split on.
				label, _, _ := strings.Cut(strings.TrimPrefix(reg.URI, "otpauth://totp/"), "?")
				for i := 0; i < len(reg.URI); i++ {
					if c := reg.URI[i]; c <= ' ' || c >= 0x7f {
						t.Fatalf("URI %q has the unescaped byte %#x at %d", reg.URI, c, i)
					}
				}
				if strings.ContainsAny(label, "/?#&+=@") || strings.Count(label, ":") != 1 {
					t.Errorf("URI %q: label %q has an unescaped delimiter", reg.URI, label)
				}
			})
		}
	}
}

// zbarDecode runs zbarimg on a PNG image and returns the decoded text.
func zbarDecode(t *testing.T, zbarimg string, png []byte) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(file, png, 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(zbarimg, "--raw", "-q", file)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("zbarimg --raw -q: %v (no QR code found?): %s", err, stderr.String())
	}
	// zbarimg ends each decoded symbol with a newline.
	return strings.TrimSuffix(stdout.String(), "\n")
}

func TestInteropZbarimg(t *testing.T) {
	zbarimg := lookTool(t, "zbarimg", "zbar-tools")
	tests := []struct {
		name            string
		issuer, account string
		cfg             mfa.TOTPConfig
		size            int
	}{
		{"default", "Acme", "ann@example.com", mfa.TOTPConfig{}, 256},
		{"escaped labels", labelCases[0].issuer, labelCases[0].account, mfa.TOTPConfig{}, 256},
		{"unicode labels", labelCases[3].issuer, labelCases[3].account, mfa.TOTPConfig{Algorithm: mfa.SHA512, Digits: 8}, 256},
		{"64-byte secret", labelCases[3].issuer, labelCases[3].account, mfa.TOTPConfig{Algorithm: mfa.SHA512, Digits: 8, SecretSize: 64}, 512},
		{"small", "Acme", "ann@example.com", mfa.TOTPConfig{}, 128},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := interopMFA(t, tc.issuer, tc.cfg)
			reg, err := m.AddDevice(context.Background(), "user-1", mfa.WithAccountName(tc.account))
			if err != nil {
				t.Fatal(err)
			}

			png, err := reg.QRCodePNG(tc.size)
			if err != nil {
				t.Fatal(err)
			}
			img, err := stdpng.DecodeConfig(bytes.NewReader(png))
			if err != nil {
				t.Fatalf("QRCodePNG(%d) is not a PNG: %v", tc.size, err)
			}
			if img.Width != tc.size || img.Height != tc.size {
				t.Errorf("QRCodePNG(%d) is %d×%d pixels", tc.size, img.Width, img.Height)
			}
			if got := zbarDecode(t, zbarimg, png); got != reg.URI {
				t.Errorf("QRCodePNG(%d) decodes to\n%q\nwant\n%q", tc.size, got, reg.URI)
			}

			dataURI, err := reg.QRCodeDataURI(tc.size)
			if err != nil {
				t.Fatal(err)
			}
			const prefix = "data:image/png;base64,"
			b64, ok := strings.CutPrefix(dataURI, prefix)
			if !ok {
				t.Fatalf("QRCodeDataURI does not start with %q", prefix)
			}
			png, err = base64.StdEncoding.DecodeString(b64)
			if err != nil {
				t.Fatalf("QRCodeDataURI payload is not standard base64: %v", err)
			}
			if got := zbarDecode(t, zbarimg, png); got != reg.URI {
				t.Errorf("QRCodeDataURI(%d) decodes to\n%q\nwant\n%q", tc.size, got, reg.URI)
			}
		})
	}
}
