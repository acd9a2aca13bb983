package mfa_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
)

// TestTOTPConfigAppliesToNewDevices: a device keeps the parameters it was
// enrolled with, so changing TOTPConfig affects new enrolments only.
func TestTOTPConfigAppliesToNewDevices(t *testing.T) {
	store := memstore.New()
	keys := mfatest.Keyring(t)
	clock := mfatest.NewClock(start)
	newMFA := func(c mfa.TOTPConfig) *mfa.MFA {
		m, err := mfa.New(mfa.Config{Store: store, Issuer: "Acme", Keys: keys, Now: clock.Now, TOTP: c})
		mustOK(t, err)
		return m
	}
	enrol := func(m *mfa.MFA, user string, p mfatest.TOTP) *mfa.Registration {
		t.Helper()
		reg, err := m.AddDevice(t.Context(), user)
		mustOK(t, err)
		_, err = m.AuthenticateDevice(t.Context(), user, mfa.AuthenticateRequest{Code: p.Code(t, reg.Secret, clock.Now())})
		mustOK(t, err)
		return reg
	}
	sha1 := mfatest.TOTP{}
	sha256 := mfatest.TOTP{Algorithm: mfa.SHA256, Digits: 8, Period: 60 * time.Second}

	before := newMFA(mfa.TOTPConfig{})
	alice := enrol(before, "alice", sha1)
	if alice.Digits != 6 || !strings.Contains(alice.URI, "algorithm=SHA1&digits=6&period=30") {
		t.Fatalf("first registration %+v, URI %q", alice.Digits, alice.URI)
	}
	after := newMFA(mfa.TOTPConfig{Algorithm: sha256.Algorithm, Digits: sha256.Digits, Period: sha256.Period})
	clock.Advance(time.Minute)

	// alice's SHA1 device still takes its 6-digit codes, and only those.
	_, err := after.AuthenticateDevice(t.Context(), "alice", mfa.AuthenticateRequest{Code: sha1.Code(t, alice.Secret, clock.Now())})
	mustOK(t, err)
	_, err = after.AuthenticateDevice(t.Context(), "alice", mfa.AuthenticateRequest{Code: "12345678"})
	mustField(t, err, mfa.ErrInvalidInput, "code")
	if !strings.Contains(err.Error(), "6 digits") {
		t.Fatalf("error %q does not say the device's length", err)
	}

	// bob enrols under the new configuration.
	bob, err := after.AddDevice(t.Context(), "bob")
	mustOK(t, err)
	if bob.Digits != 8 || !strings.Contains(bob.URI, "algorithm=SHA256&digits=8&period=60") {
		t.Fatalf("new registration digits %d, URI %q", bob.Digits, bob.URI)
	}
	_, err = after.AuthenticateDevice(t.Context(), "bob", mfa.AuthenticateRequest{Code: sha256.Code(t, bob.Secret, clock.Now())})
	mustOK(t, err)

	// Back to the old configuration: bob's device keeps SHA256.
	clock.Advance(time.Minute)
	_, err = before.AuthenticateDevice(t.Context(), "bob", mfa.AuthenticateRequest{Code: sha256.Code(t, bob.Secret, clock.Now())})
	mustOK(t, err)
	for user, digits := range map[string]int{"alice": 6, "bob": 8} {
		devices, err := before.GetUserDevices(t.Context(), user)
		mustOK(t, err)
		if devices[0].Digits != digits {
			t.Fatalf("%s's device has %d digits, want %d", user, devices[0].Digits, digits)
		}
	}
}

// TestCodeInputChecks: a code that is no TOTP code of any length is
// refused before the store is read; one of the wrong length for the
// device after, and neither counts as a failure.
func TestCodeInputChecks(t *testing.T) {
	e := newEnv(t)
	e.enrol(t, "alice")
	before := e.state(t, "alice")
	for _, code := range []string{"", "12345", "1234567", "123456789", "12a456", "１２３４５６", strings.Repeat("1", 100), "12345678"} {
		_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: code})
		mustField(t, err, mfa.ErrInvalidInput, "code")
	}
	e.unchanged(t, "alice", before)
}
