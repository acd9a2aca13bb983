package mfa_test

import (
	"crypto/fips140"
	"crypto/rand"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
)

// TestFIPSEndToEnd runs enrolment, verification, recovery codes, tokens
// and key rotation with the algorithms FIPS 140-3 mode allows. .ci/run
// runs it under GODEBUG=fips140=only too, where every primitive mfakit
// uses must be one the FIPS module approves, or the test panics.
func TestFIPSEndToEnd(t *testing.T) {
	if os.Getenv("MFA_FIPS_REQUIRED") != "" && !fips140.Enforced() {
		t.Fatal("MFA_FIPS_REQUIRED is set, but FIPS 140-3 mode is not enforced: run with GODEBUG=fips140=only")
	}
	for _, p := range []mfatest.TOTP{
		{Algorithm: mfa.SHA256, Digits: 6, Period: 30 * time.Second},
		{Algorithm: mfa.SHA512, Digits: 8, Period: 60 * time.Second},
	} {
		t.Run(string(p.Algorithm), func(t *testing.T) {
			oldKey, err := mfa.GenerateKey("fips-old")
			mustOK(t, err)
			newKey, err := mfa.GenerateKey("fips-new")
			mustOK(t, err)
			oldRing, err := mfa.NewKeyring(oldKey)
			mustOK(t, err)
			e := newEnv(t, func(c *mfa.Config) {
				c.Keys = oldRing
				c.TOTP = mfa.TOTPConfig{Algorithm: p.Algorithm, Digits: p.Digits, Period: p.Period}
				c.Actions = map[string]mfa.ActionPolicy{"change-email": {}}
			})
			code := func(secret string) string { return p.Code(t, secret, e.clock.Now()) }

			reg, err := e.m.AddDevice(e.ctx, "alice")
			mustOK(t, err)
			if !strings.Contains(reg.URI, "algorithm="+string(p.Algorithm)) {
				t.Fatalf("URI %q does not name %s", reg.URI, p.Algorithm)
			}
			res, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: code(reg.Secret)})
			mustOK(t, err)
			if !res.DeviceVerified {
				t.Fatal("device not verified")
			}
			codes, err := e.m.GetRecoveryCodes(e.ctx, "alice", false)
			mustOK(t, err)
			mustOK(t, e.m.CompleteAcknowledgement(e.ctx, "alice"))
			e.clock.Advance(p.Period)

			res, err = e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: codes[0], CreateMFAToken: &mfa.TokenRequest{}})
			mustOK(t, err)
			_, err = e.m.AuthorizeAction(e.ctx, "alice", "change-email", res.MFAToken.Value)
			mustOK(t, err)

			// Rotate: a keyring whose primary is a new key opens the old
			// data and re-encrypts the secret.
			rotated, err := mfa.NewKeyring(newKey, oldKey)
			mustOK(t, err)
			m, err := mfa.New(mfa.Config{Store: e.store, Issuer: "Acme", Keys: rotated, Now: e.clock.Now,
				TOTP: mfa.TOTPConfig{Algorithm: p.Algorithm, Digits: p.Digits, Period: p.Period}})
			mustOK(t, err)
			n, err := m.ReencryptUser(e.ctx, "alice")
			if err != nil || n != 1 {
				t.Fatalf("ReencryptUser = %d, %v; want 1 secret re-encrypted", n, err)
			}
			_, err = m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: code(reg.Secret)})
			mustOK(t, err)
			_, err = m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: codes[1]})
			mustOK(t, err)
		})
	}
}

// TestFIPSRefusesSHA1 checks that New refuses SHA1, the default included,
// in FIPS 140-3 mode with an error that names the field, rather than
// panicking at the first code, and refuses a random source other than the
// module's. Outside that mode it runs itself again under
// GODEBUG=fips140=only.
func TestFIPSRefusesSHA1(t *testing.T) {
	if !fips140.Enforced() {
		if testing.Short() {
			t.Skip("runs a second test process")
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestFIPSRefusesSHA1$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "GODEBUG=fips140=only")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestFIPSRefusesSHA1") {
			t.Fatalf("under GODEBUG=fips140=only: %v\n%s", err, out)
		}
		return
	}
	for _, alg := range []mfa.Algorithm{"", mfa.SHA1} {
		_, err := mfa.New(mfa.Config{Store: memstore.New(), Issuer: "Acme", Keys: mfatest.Keyring(t), TOTP: mfa.TOTPConfig{Algorithm: alg}})
		mustField(t, err, mfa.ErrInvalidConfig, "TOTP.Algorithm")
		if !strings.Contains(err.Error(), "FIPS") {
			t.Fatalf("error %q does not say why", err)
		}
	}
	for _, alg := range []mfa.Algorithm{mfa.SHA256, mfa.SHA512} {
		_, err := mfa.New(mfa.Config{Store: memstore.New(), Issuer: "Acme", Keys: mfatest.Keyring(t), TOTP: mfa.TOTPConfig{Algorithm: alg}})
		mustOK(t, err)
	}
	// A SHA1 device stored before the switch to FIPS 140-3 mode gets a
	// clear error, not a panic in crypto/hmac.
	fx, ring := readCompat(t)
	store := memstore.New()
	_, at := storeCompat(t, store, fx, 0, true)
	m, err := mfa.New(mfa.Config{Store: store, Issuer: "Acme", Keys: ring, Now: func() time.Time { return at }, TOTP: mfa.TOTPConfig{Algorithm: mfa.SHA256}})
	mustOK(t, err)
	_, err = m.AuthenticateDevice(t.Context(), fx.Devices[0].UserID, mfa.AuthenticateRequest{Code: "123456"})
	mustField(t, err, mfa.ErrInvalidConfig, "TOTP.Algorithm")

	// Imports refuse SHA1 and secrets under 128 bits.
	_, err = m.ImportTOTPDevice(t.Context(), "ann", mfa.TOTPImport{Secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"})
	mustField(t, err, mfa.ErrInvalidInput, "Algorithm")
	_, err = m.ImportTOTPDevice(t.Context(), "ann", mfa.TOTPImport{Secret: "JBSWY3DPEHPK3PXP", Algorithm: mfa.SHA256})
	mustField(t, err, mfa.ErrInvalidInput, "Secret")
	_, err = m.ImportTOTPDevice(t.Context(), "ann", mfa.TOTPImport{Secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", Algorithm: mfa.SHA256})
	mustOK(t, err)

	cfg := mfa.Config{Store: memstore.New(), Issuer: "Acme", Keys: mfatest.Keyring(t), TOTP: mfa.TOTPConfig{Algorithm: mfa.SHA256}, Rand: zeros{}}
	_, err = mfa.New(cfg)
	mustField(t, err, mfa.ErrInvalidConfig, "Rand")
	cfg.Rand = rand.Reader
	_, err = mfa.New(cfg)
	mustOK(t, err)
}

// zeros is a random source that is not one.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
