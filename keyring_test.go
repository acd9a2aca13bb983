package mfa_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
)

func key(t testing.TB, id string) mfa.Key {
	t.Helper()
	k, err := mfa.GenerateKey(id)
	mustOK(t, err)
	return k
}

func ring(t testing.TB, primary mfa.Key, older ...mfa.Key) *mfa.Keyring {
	t.Helper()
	kr, err := mfa.NewKeyring(primary, older...)
	mustOK(t, err)
	return kr
}

func TestKeyValidation(t *testing.T) {
	k := key(t, "2026-01")
	if len(k.Secret) != mfa.KeySize {
		t.Fatalf("secret %d bytes", len(k.Secret))
	}
	for _, bad := range []mfa.Key{{ID: "", Secret: k.Secret}, {ID: "a b", Secret: k.Secret}, {ID: strings.Repeat("a", 65), Secret: k.Secret}, {ID: "short", Secret: k.Secret[:16]}} {
		_, err := mfa.NewKeyring(bad)
		mustErr(t, err, mfa.ErrInvalidInput)
	}
	_, err := mfa.NewKeyring(k, k)
	mustErr(t, err, mfa.ErrInvalidInput)
	_, err = mfa.GenerateKey("")
	mustErr(t, err, mfa.ErrInvalidInput)

	decoded, err := mfa.DecodeKey(k.Encode())
	mustOK(t, err)
	if decoded.ID != k.ID || !bytes.Equal(decoded.Secret, k.Secret) {
		t.Fatal("Encode/DecodeKey do not round-trip")
	}
	for _, bad := range []string{"", "nocolon", "id:!!!", "id:" + strings.Repeat("A", 10)} {
		_, err := mfa.DecodeKey(bad)
		mustErr(t, err, mfa.ErrInvalidInput)
	}
	// A key never prints its secret.
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", k, k, k, k)} {
		if strings.Contains(s, fmt.Sprint(k.Secret)) || strings.Contains(s, k.Encode()[len(k.ID)+1:]) || !strings.Contains(s, "redacted") {
			t.Fatalf("key formatted as %q", s)
		}
	}
}

// TestKeyRotation: a device sealed with an old key still works after
// rotation; logging in moves it to the primary key, as does ReencryptUser.
func TestKeyRotation(t *testing.T) {
	old, next := key(t, "k1"), key(t, "k2")
	store := memstore.New()
	e1 := newEnv(t, func(c *mfa.Config) { c.Store = store; c.Keys = ring(t, old) })
	secretA, codesA := e1.enrol(t, "alice")
	secretB, _ := e1.enrol(t, "bob")
	sealedWith := func(user string) string {
		st, err := store.LoadUser(context.Background(), user, e1.clock.Now())
		mustOK(t, err)
		return string(st.Devices[0].Secret[2 : 2+st.Devices[0].Secret[1]])
	}
	if sealedWith("alice") != "k1" {
		t.Fatal("not sealed with k1")
	}

	e2 := newEnv(t, func(c *mfa.Config) { c.Store = store; c.Keys = ring(t, next, old) })
	e2.clock.Set(e1.clock.Now())
	_, err := e2.m.AuthenticateDevice(e2.ctx, "alice", mfa.AuthenticateRequest{Code: e2.code(t, secretA, 0)})
	mustOK(t, err)
	if sealedWith("alice") != "k2" || !e2.events.has(mfa.EventDeviceReencrypted) {
		t.Fatal("login did not re-encrypt with the primary key")
	}
	// Recovery codes hashed with k1 keep working while k1 is in the ring.
	_, err = e2.m.AuthenticateRecoveryCode(e2.ctx, "alice", mfa.RecoveryRequest{Code: codesA[0]})
	mustOK(t, err)

	n, err := e2.m.ReencryptUser(e2.ctx, "bob")
	mustOK(t, err)
	if n != 1 || sealedWith("bob") != "k2" {
		t.Fatalf("ReencryptUser re-encrypted %d, sealed with %s", n, sealedWith("bob"))
	}
	n, err = e2.m.ReencryptUser(e2.ctx, "bob")
	if err != nil || n != 0 {
		t.Fatalf("second ReencryptUser: %d, %v", n, err)
	}

	// Once every device is on k2, k1 can go for the TOTP secrets.
	e3 := newEnv(t, func(c *mfa.Config) { c.Store = store; c.Keys = ring(t, next) })
	e3.clock.Set(e2.clock.Now())
	e3.clock.Advance(60e9)
	_, err = e3.m.AuthenticateDevice(e3.ctx, "bob", mfa.AuthenticateRequest{Code: e3.code(t, secretB, 0)})
	mustOK(t, err)
}

// TestMissingOrWrongKey: a secret that cannot be opened is a key error,
// never reported as a wrong code, and counts no failure.
func TestMissingOrWrongKey(t *testing.T) {
	store := memstore.New()
	e1 := newEnv(t, func(c *mfa.Config) { c.Store = store; c.Keys = ring(t, key(t, "k1")) })
	secret, _ := e1.enrol(t, "alice")
	for name, kr := range map[string]*mfa.Keyring{
		"missing": ring(t, key(t, "k2")),
		"wrong":   ring(t, key(t, "k1")), // same ID, other secret
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, func(c *mfa.Config) { c.Store = store; c.Keys = kr })
			e.clock.Set(e1.clock.Now())
			before := e.state(t, "alice")
			_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, secret, 0)})
			mustErr(t, err, mfa.ErrKey)
			if strings.Contains(err.Error(), secret) {
				t.Fatal("key error shows the secret")
			}
			e.unchanged(t, "alice", before)
		})
	}
}

// TestSealedSecretIsBoundToItsDevice: a sealed secret copied to another
// user's device does not open (the user and device are associated data).
func TestSealedSecretIsBoundToItsDevice(t *testing.T) {
	e := newEnv(t)
	aliceSecret, _ := e.enrol(t, "alice")
	e.enrol(t, "bob")
	alice := e.state(t, "alice").Devices[0]
	bob := e.state(t, "bob").Devices[0]
	mustOK(t, e.store.UpdateDeviceSecret(e.ctx, "bob", bob.ID, alice.Secret))
	_, err := e.m.AuthenticateDevice(e.ctx, "bob", mfa.AuthenticateRequest{Code: e.code(t, aliceSecret, 0)})
	mustErr(t, err, mfa.ErrKey)
	// A corrupted ciphertext does not open either.
	bad := bytes.Clone(alice.Secret)
	bad[len(bad)-1] ^= 1
	mustOK(t, e.store.UpdateDeviceSecret(e.ctx, "alice", alice.ID, bad))
	_, err = e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, aliceSecret, 0)})
	mustErr(t, err, mfa.ErrKey)
	mustOK(t, e.store.UpdateDeviceSecret(e.ctx, "alice", alice.ID, []byte{1}))
	_, err = e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, aliceSecret, 0)})
	mustErr(t, err, mfa.ErrKey)
}
