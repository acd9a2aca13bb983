package mfa_test

import (
	"crypto/fips140"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TestImportTOTPDevice imports devices whose secrets pquerna/otp made, the
// way a service that used it stored them, by URI and by secret and
// parameters, for every algorithm, length and period, and logs in with
// codes from oathtool, an authenticator independent of both.
func TestImportTOTPDevice(t *testing.T) {
	oathtool := lookTool(t, "oathtool", "oathtool")
	algs := map[mfa.Algorithm]otp.Algorithm{mfa.SHA1: otp.AlgorithmSHA1, mfa.SHA256: otp.AlgorithmSHA256, mfa.SHA512: otp.AlgorithmSHA512}
	for _, alg := range []mfa.Algorithm{mfa.SHA1, mfa.SHA256, mfa.SHA512} {
		for _, digits := range []int{6, 8} {
			for _, period := range []int{30, 60} {
				for _, byURI := range []bool{true, false} {
					name := fmt.Sprintf("%s/%d/%ds/uri=%t", alg, digits, period, byURI)
					t.Run(name, func(t *testing.T) {
						if alg == mfa.SHA1 && fips140.Enforced() {
							t.Skip("FIPS 140-3 mode refuses SHA1")
						}
						key, err := totp.Generate(totp.GenerateOpts{Issuer: "Old", AccountName: "ann@example.com",
							Period: uint(period), Digits: otp.Digits(digits), Algorithm: algs[alg]})
						mustOK(t, err)
						in := mfa.TOTPImport{URI: key.URL()}
						if !byURI {
							in = mfa.TOTPImport{Secret: key.Secret(), Algorithm: alg, Digits: digits, Period: time.Duration(period) * time.Second}
						}
						m, clock := interopMFA(t, "Acme", mfatest.FIPSTOTP().Config())
						dev, err := m.ImportTOTPDevice(t.Context(), "ann", in)
						mustOK(t, err)
						if !dev.Verified || dev.Digits != digits {
							t.Fatalf("imported device %+v", dev)
						}
						p := otpauthParams{secret: key.Secret(), algorithm: string(alg), digits: digits, period: period}
						_, err = m.AuthenticateDevice(t.Context(), "ann", mfa.AuthenticateRequest{Code: oathtoolCode(t, oathtool, p, clock.Now())})
						mustOK(t, err)
						if byURI {
							devices, err := m.GetUserDevices(t.Context(), "ann")
							mustOK(t, err)
							if len(devices) != 1 || devices[0].ID != dev.ID {
								t.Fatalf("devices %+v", devices)
							}
						}
					})
				}
			}
		}
	}
}

// TestImportReplayAndCodes: the last code the old system accepted cannot
// be used again; imported recovery codes work once each, matched after
// case folding, are not shown, and wrong guesses count in the lockout.
func TestImportReplayAndCodes(t *testing.T) {
	e := newEnv(t, func(c *mfa.Config) { c.TOTP = mfatest.FIPSTOTP().Config() })
	p := mfatest.FIPSTOTP()
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "Old", AccountName: "ann", Algorithm: map[mfa.Algorithm]otp.Algorithm{"": otp.AlgorithmSHA1, mfa.SHA256: otp.AlgorithmSHA256}[p.Algorithm]})
	mustOK(t, err)
	lastUsed := e.clock.Now().Add(-10 * time.Second)
	codes := []string{"abcd1234", "q7w8e9r0", "  ABCD1234 "} // the third is the first again
	dev, err := e.m.ImportTOTPDevice(e.ctx, "ann", mfa.TOTPImport{
		Secret: key.Secret(), Algorithm: p.Algorithm, Alias: "Old phone", LastUsedAt: lastUsed, RecoveryCodes: codes,
	})
	mustOK(t, err)
	if dev.Alias != "Old phone" || dev.LastUsedAt == nil || !dev.LastUsedAt.Equal(lastUsed) {
		t.Fatalf("imported device %+v", dev)
	}
	if !e.events.has(mfa.EventDeviceImported) {
		t.Fatal("no device.imported event")
	}
	// The code of the step the old system last accepted is refused here.
	_, err = e.m.AuthenticateDevice(e.ctx, "ann", mfa.AuthenticateRequest{Code: p.Code(t, key.Secret(), lastUsed)})
	mustErr(t, err, mfa.ErrCodeReused)
	e.clock.Advance(30 * time.Second)
	_, err = e.m.AuthenticateDevice(e.ctx, "ann", mfa.AuthenticateRequest{Code: p.Code(t, key.Secret(), e.clock.Now())})
	mustOK(t, err)

	// Imported codes are not waiting to be shown: the user saved them.
	_, err = e.m.GetRecoveryCodes(e.ctx, "ann", false)
	mustErr(t, err, mfa.ErrRecoveryCodesAcknowledged)
	if pending, err := e.m.IsPendingRecoveryCodesAcknowledgment(e.ctx, "ann"); err != nil || pending {
		t.Fatalf("imported codes pending: %t, %v", pending, err)
	}
	res, err := e.m.AuthenticateRecoveryCode(e.ctx, "ann", mfa.RecoveryRequest{Code: "ABCD1234"})
	mustOK(t, err)
	if res.RecoveryCodesRemaining != 1 {
		t.Fatalf("%d codes remain, want 1 (two codes, one given twice, one used)", res.RecoveryCodesRemaining)
	}
	_, err = e.m.AuthenticateRecoveryCode(e.ctx, "ann", mfa.RecoveryRequest{Code: "abcd1234"})
	mustErr(t, err, mfa.ErrInvalidCode)
	// mfakit's own format does not apply: dashes and look-alikes are not
	// folded away.
	_, err = e.m.AuthenticateRecoveryCode(e.ctx, "ann", mfa.RecoveryRequest{Code: "q7w8-e9r0"})
	mustErr(t, err, mfa.ErrInvalidCode)
	if st := e.state(t, "ann"); st.Lockout.Failures != 2 {
		t.Fatalf("%d failures after two wrong codes, want 2", st.Lockout.Failures)
	}
	_, err = e.m.AuthenticateRecoveryCode(e.ctx, "ann", mfa.RecoveryRequest{Code: "Q7W8E9R0"})
	mustOK(t, err)

	// A new set is mfakit's own again.
	fresh, err := e.m.GetNewRecoveryCodes(e.ctx, "ann")
	mustOK(t, err)
	_, err = e.m.AuthenticateRecoveryCode(e.ctx, "ann", mfa.RecoveryRequest{Code: strings.ToUpper(strings.ReplaceAll(fresh[0], "-", " "))})
	mustOK(t, err)
}

// TestImportEndsRegistration: an app registration begun while the user had
// no factor, so without a token for credential:link, cannot finish after
// an import made the user one: it would be a further factor that no
// token authorised. With room for two apps the store would take it.
func TestImportEndsRegistration(t *testing.T) {
	e := newEnv(t, func(c *mfa.Config) { c.Devices.TOTP = 2 })
	reg, err := e.m.AddDevice(e.ctx, "ann")
	mustOK(t, err)
	_, err = e.m.ImportTOTPDevice(e.ctx, "ann", mfa.TOTPImport{Secret: "JBSWY3DPEHPK3PXPJBSWY3DP"})
	mustOK(t, err)
	if _, err := e.m.PendingRegistration(e.ctx, "ann"); !errors.Is(err, mfa.ErrNoDevice) {
		t.Fatalf("registration after the import: %v, want ErrNoDevice", err)
	}
	before := e.state(t, "ann")
	_, err = e.m.AuthenticateDevice(e.ctx, "ann", mfa.AuthenticateRequest{Code: e.code(t, reg.Secret, 0), DeviceID: reg.DeviceID})
	mustErr(t, err, mfa.ErrDeviceNotFound)
	e.unchanged(t, "ann", before)
}

// TestImportRefusals: bad input, or a user who has a device, stores
// nothing; errors name the field and never repeat a secret.
func TestImportRefusals(t *testing.T) {
	e := newEnv(t, func(c *mfa.Config) { c.TOTP = mfatest.FIPSTOTP().Config() })
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	alg := mfatest.FIPSTOTP().Algorithm
	uri := func(query string) string { return "otpauth://totp/Old:ann?secret=" + secret + query }
	many := make([]string, 101)
	for i := range many {
		many[i] = "code" + strconv.Itoa(i)
	}
	for _, tc := range []struct {
		name  string
		in    mfa.TOTPImport
		field string
	}{
		{"nothing", mfa.TOTPImport{}, "Secret"},
		{"URI and secret", mfa.TOTPImport{URI: uri(""), Secret: secret}, "URI"},
		{"not otpauth", mfa.TOTPImport{URI: "https://example.com/?secret=" + secret}, "URI"},
		{"HOTP", mfa.TOTPImport{URI: "otpauth://hotp/Old:ann?counter=1&secret=" + secret}, "URI"},
		{"no secret in the URI", mfa.TOTPImport{URI: "otpauth://totp/Old:ann?issuer=Old"}, "URI"},
		{"URI and parameters", mfa.TOTPImport{URI: uri(""), Digits: 8}, "URI"},
		{"bad period in the URI", mfa.TOTPImport{URI: uri("&algorithm=SHA256&period=0")}, "URI"},
		{"not base32", mfa.TOTPImport{Secret: secret + "!", Algorithm: alg}, "Secret"},
		{"72 bits", mfa.TOTPImport{Secret: "JBSWY3DPEHPK3PA", Algorithm: alg}, "Secret"},
		{"MD5", mfa.TOTPImport{Secret: secret, Algorithm: "MD5"}, "Algorithm"},
		{"7 digits", mfa.TOTPImport{Secret: secret, Algorithm: alg, Digits: 7}, "Digits"},
		{"1.5 s period", mfa.TOTPImport{Secret: secret, Algorithm: alg, Period: 1500 * time.Millisecond}, "Period"},
		{"bidi in the alias", mfa.TOTPImport{Secret: secret, Algorithm: alg, Alias: "Phone\u202e"}, "Alias"},
		{"colon in the account", mfa.TOTPImport{Secret: secret, Algorithm: alg, AccountName: "a:b"}, "AccountName"},
		{"used in the future", mfa.TOTPImport{Secret: secret, Algorithm: alg, LastUsedAt: start.Add(time.Hour)}, "LastUsedAt"},
		{"101 codes", mfa.TOTPImport{Secret: secret, Algorithm: alg, RecoveryCodes: many}, "RecoveryCodes"},
		{"empty code", mfa.TOTPImport{Secret: secret, Algorithm: alg, RecoveryCodes: []string{"ok123456", "  "}}, "RecoveryCodes"},
		{"control character in a code", mfa.TOTPImport{Secret: secret, Algorithm: alg, RecoveryCodes: []string{"ab\x00cd"}}, "RecoveryCodes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.in.Algorithm == "" && tc.in.URI == "" && tc.field != "Secret" && tc.field != "Algorithm" && fips140.Enforced() {
				tc.in.Algorithm = mfa.SHA256
			}
			before := e.state(t, "ann")
			_, err := e.m.ImportTOTPDevice(e.ctx, "ann", tc.in)
			mustField(t, err, mfa.ErrInvalidInput, tc.field)
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "ab\x00cd") {
				t.Fatalf("error %q repeats a secret", err)
			}
			e.unchanged(t, "ann", before)
		})
	}

	// A user who has a TOTP device, enrolled or imported, keeps it: a re-run
	// of a migration skips the user.
	in := mfa.TOTPImport{Secret: secret, Algorithm: alg}
	_, err := e.m.ImportTOTPDevice(e.ctx, "ann", in)
	mustOK(t, err)
	before := e.state(t, "ann")
	_, err = e.m.ImportTOTPDevice(e.ctx, "ann", in)
	mustErr(t, err, mfa.ErrDeviceLimit)
	e.unchanged(t, "ann", before)
	if fips140.Enforced() {
		return // enrol computes SHA1 codes
	}
	e.enrol(t, "bob")
	_, err = e.m.ImportTOTPDevice(e.ctx, "bob", in)
	mustErr(t, err, mfa.ErrDeviceLimit)
}

// TestImportRaces: of concurrent imports for one user, exactly one stores
// a device.
func TestImportRaces(t *testing.T) {
	store := memstore.New()
	e := newEnv(t, func(c *mfa.Config) { c.Store = store; c.TOTP = mfatest.FIPSTOTP().Config() })
	errs := make(chan error, 16)
	for range cap(errs) {
		go func() {
			_, err := e.m.ImportTOTPDevice(e.ctx, "ann", mfa.TOTPImport{Secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", Algorithm: mfatest.FIPSTOTP().Algorithm})
			errs <- err
		}()
	}
	wins := 0
	for range cap(errs) {
		switch err := <-errs; {
		case err == nil:
			wins++
		default:
			mustErr(t, err, mfa.ErrDeviceLimit)
		}
	}
	if st := e.state(t, "ann"); wins != 1 || len(st.Devices) != 1 {
		t.Fatalf("%d imports won, %d devices stored; want 1 and 1", wins, len(st.Devices))
	}
}
