package mfa_test

import (
	"context"
	"crypto/fips140"
	"encoding/base64"
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
)

// compatFixture is testdata/compat/0.1.json: TOTP secrets and recovery
// code sets as mfakit 0.1 stored them, sealed with cipher.NewGCM and a
// nonce of its own, with the plaintext they hold.
type compatFixture struct {
	Keys    []string
	Devices []struct {
		UserID, DeviceID, Algorithm string
		Digits, PeriodSeconds       int
		Secret, Sealed              string
		LastStep                    int64
	}
	CodeSets []struct {
		UserID, KeyID string
		Codes, Hashes []string
		Sealed        string
		Created       time.Time
	}
}

// TestOpensCiphertextsOf01 stores what mfakit 0.1 wrote and uses it through
// today's code: every sealed secret and recovery code set opens, codes are
// accepted, and the recovery codes are shown and accepted.
// readCompat reads testdata/compat/0.1.json and the keyring that opens it.
func readCompat(t *testing.T) (compatFixture, *mfa.Keyring) {
	t.Helper()
	raw, err := os.ReadFile("testdata/compat/0.1.json")
	mustOK(t, err)
	var fx compatFixture
	mustOK(t, json.Unmarshal(raw, &fx))
	var keys []mfa.Key
	for _, s := range fx.Keys {
		k, err := mfa.DecodeKey(s)
		mustOK(t, err)
		keys = append(keys, k)
	}
	ring, err := mfa.NewKeyring(keys[0], keys[1:]...)
	mustOK(t, err)
	if len(fx.Devices) != 4 || len(fx.CodeSets) != len(fx.Devices) {
		t.Fatalf("fixture holds %d devices and %d code sets", len(fx.Devices), len(fx.CodeSets))
	}
	return fx, ring
}

// storeCompat stores device i of fx and its code set in store, as 0.1 did
// without TOTP parameters, or with them as today's code does, and returns
// the device's parameters and a time after its last accepted step.
func storeCompat(t *testing.T, store mfa.Store, fx compatFixture, i int, withParams bool) (mfatest.TOTP, time.Time) {
	t.Helper()
	d, cs := fx.Devices[i], fx.CodeSets[i]
	p := mfatest.TOTP{Algorithm: mfa.Algorithm(d.Algorithm), Digits: d.Digits, Period: time.Duration(d.PeriodSeconds) * time.Second}
	at := time.Unix((d.LastStep+1)*int64(d.PeriodSeconds), 0).UTC()
	sealed, err := base64.StdEncoding.DecodeString(d.Sealed)
	mustOK(t, err)
	set := mfa.RecoveryCodeSet{KeyID: cs.KeyID, CreatedAt: cs.Created}
	if set.Sealed, err = base64.StdEncoding.DecodeString(cs.Sealed); err != nil {
		t.Fatal(err)
	}
	for _, h := range cs.Hashes {
		b, err := base64.StdEncoding.DecodeString(h)
		mustOK(t, err)
		set.Hashes = append(set.Hashes, [mfa.HashSize]byte(b))
	}
	ctx := context.Background()
	rec := mfa.DeviceRecord{
		ID: d.DeviceID, UserID: d.UserID, Type: mfa.DeviceTOTP, AccountName: d.UserID,
		Secret: sealed, CreatedAt: cs.Created, ExpiresAt: at.Add(time.Hour),
	}
	if withParams {
		rec.Algorithm, rec.Digits, rec.Period = p.Algorithm, p.Digits, p.Period
	}
	mustOK(t, store.InsertPendingDevice(ctx, rec, 1))
	mustOK(t, store.VerifyDevice(ctx, d.UserID, d.DeviceID, d.LastStep, cs.Created, set, mfa.Lockout{}, 1))
	return p, at
}

func TestOpensCiphertextsOf01(t *testing.T) {
	fx, ring := readCompat(t)
	for i, d := range fx.Devices {
		cs := fx.CodeSets[i]
		t.Run(d.UserID+"/"+d.Algorithm, func(t *testing.T) {
			if d.Algorithm == string(mfa.SHA1) && fips140.Enforced() {
				t.Skip("FIPS 140-3 mode refuses SHA1")
			}
			store := memstore.New()
			p, at := storeCompat(t, store, fx, i, false)
			// 0.1 devices carry no parameters: they read as the running
			// configuration, which is the one they were enrolled under.
			e := newEnv(t, func(c *mfa.Config) {
				c.Store, c.Keys = store, ring
				c.TOTP = mfa.TOTPConfig{Algorithm: p.Algorithm, Digits: p.Digits, Period: p.Period}
			})
			e.clock.Set(at)

			shown, err := e.m.GetRecoveryCodes(e.ctx, d.UserID, false)
			mustOK(t, err)
			if !slices.Equal(shown, cs.Codes) {
				t.Fatalf("recovery codes %v, want %v", shown, cs.Codes)
			}
			_, err = e.m.AuthenticateDevice(e.ctx, d.UserID, mfa.AuthenticateRequest{Code: p.Code(t, d.Secret, at)})
			mustOK(t, err)
			_, err = e.m.AuthenticateRecoveryCode(e.ctx, d.UserID, mfa.RecoveryRequest{Code: cs.Codes[0]})
			mustOK(t, err)
		})
	}
}
