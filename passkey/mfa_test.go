package passkey_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
)

// core is an mfa.MFA on memstore whose passkeys this package verifies.
type core struct {
	m      *mfa.MFA
	store  mfa.Store
	clock  *mfatest.Clock
	events []mfa.Event
}

func newCore(tb testing.TB) *core {
	tb.Helper()
	c := &core{store: memstore.New(), clock: mfatest.NewClock(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))}
	m, err := mfa.New(mfa.Config{
		Store:    c.store,
		Issuer:   "Acme",
		Keys:     mfatest.Keyring(tb),
		Now:      c.clock.Now,
		Passkeys: newVerifier(tb),
		OnEvent:  func(_ context.Context, e mfa.Event) { c.events = append(c.events, e) },
	})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	c.m = m
	return c
}

// enrol registers a's credential as user's first factor.
func (c *core) enrol(tb testing.TB, user string, a *authenticator) *mfa.Device {
	tb.Helper()
	ctx := context.Background()
	reg, err := c.m.BeginPasskeyRegistration(ctx, user, mfa.WithAccountName(user+"@example.com"))
	if err != nil {
		tb.Fatalf("BeginPasskeyRegistration: %v", err)
	}
	dev, err := c.m.FinishPasskeyRegistration(ctx, user, a.create(reg.Options))
	if err != nil {
		tb.Fatalf("FinishPasskeyRegistration: %v", err)
	}
	return dev
}

// TestWithMFA runs the ceremonies through mfakit's core with real
// signatures: registration, login with a growing counter, a stale counter
// refused and counted, a replayed response refused, and the credential
// stored as go-webauthn returned it.
func TestWithMFA(t *testing.T) {
	ctx := context.Background()
	c := newCore(t)
	a := newAuthenticator(t, testRPID, testOrigin)
	a.step = 1
	dev := c.enrol(t, "alice", a)
	if dev.Type != mfa.DevicePasskey || !dev.Verified {
		t.Fatalf("device %+v", dev)
	}
	st, err := c.store.LoadUser(ctx, "alice", c.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	cred := st.Devices[0].Passkey
	if cred == nil || string(cred.ID) != string(a.credID) || len(cred.UserHandle) != 32 || cred.AAGUID != a.aaguid {
		t.Fatalf("stored credential %+v", cred)
	}

	login := func(tr *mfa.TokenRequest, tweaks ...tweak) (*mfa.AuthResult, error) {
		options, err := c.m.BeginPasskeyAuthentication(ctx, "alice")
		if err != nil {
			t.Fatalf("BeginPasskeyAuthentication: %v", err)
		}
		return c.m.AuthenticatePasskey(ctx, "alice", mfa.PasskeyRequest{Response: a.get(options, tweaks...), CreateMFAToken: tr})
	}
	res, err := login(&mfa.TokenRequest{Scopes: []string{"user:update"}})
	if err != nil {
		t.Fatalf("AuthenticatePasskey: %v", err)
	}
	if res.Method != mfa.MethodPasskey || res.MFAToken == nil || res.Device.ID != dev.ID {
		t.Fatalf("result %+v", res)
	}

	// A clone of the authenticator presents a counter that has not grown.
	clone := *a
	clone.counter = 0
	options, err := c.m.BeginPasskeyAuthentication(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.m.AuthenticatePasskey(ctx, "alice", mfa.PasskeyRequest{Response: clone.get(options)})
	if !errors.Is(err, mfa.ErrPasskeyRefused) {
		t.Fatalf("stale counter: %v, want ErrPasskeyRefused", err)
	}
	if last := c.events[len(c.events)-1]; last.Type != mfa.EventPasskeyCounterRefused || last.DeviceID != dev.ID {
		t.Fatalf("last event %+v, want %s", last, mfa.EventPasskeyCounterRefused)
	}

	// A signature by another key is refused and counted.
	other := newAuthenticator(t, testRPID, testOrigin)
	_, err = login(nil, func(c *call) { c.signer = other.key })
	if !errors.Is(err, mfa.ErrPasskeyRefused) {
		t.Fatalf("forged signature: %v, want ErrPasskeyRefused", err)
	}
	if st, _ := c.store.LoadUser(ctx, "alice", c.clock.Now()); st.Lockout.Failures != 2 {
		t.Fatalf("failures %d, want 2", st.Lockout.Failures)
	}

	// The real authenticator goes on; its answer cannot be replayed.
	options, err = c.m.BeginPasskeyAuthentication(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	resp := a.get(options)
	if _, err := c.m.AuthenticatePasskey(ctx, "alice", mfa.PasskeyRequest{Response: resp}); err != nil {
		t.Fatalf("AuthenticatePasskey: %v", err)
	}
	if _, err := c.m.AuthenticatePasskey(ctx, "alice", mfa.PasskeyRequest{Response: resp}); !errors.Is(err, mfa.ErrChallengeInvalid) {
		t.Fatalf("replay: %v, want ErrChallengeInvalid", err)
	}
	if _, err := c.m.BeginPasskeyAuthentication(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.m.AuthenticatePasskey(ctx, "alice", mfa.PasskeyRequest{Response: resp}); !errors.Is(err, mfa.ErrPasskeyRefused) {
		t.Fatalf("replay against a new challenge: %v, want ErrPasskeyRefused", err)
	}

	// The same authenticator cannot be registered again, nor by bob.
	tok, err := login(&mfa.TokenRequest{Scopes: []string{mfa.ScopeCredentialLink}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.m.BeginPasskeyRegistration(ctx, "alice", mfa.WithMFAToken(tok.MFAToken.Value)); err != nil {
		t.Fatal(err)
	}
	reg, err := c.m.BeginPasskeyRegistration(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.m.FinishPasskeyRegistration(ctx, "bob", a.create(reg.Options)); !errors.Is(err, mfa.ErrPasskeyRegistered) {
		t.Fatalf("bob registering alice's credential: %v, want ErrPasskeyRegistered", err)
	}
}

// TestWithMFAExcludes: the registration options exclude the user's
// passkeys, by the same user handle.
func TestWithMFAExcludes(t *testing.T) {
	ctx := context.Background()
	c := newCore(t)
	a := newAuthenticator(t, testRPID, testOrigin)
	c.enrol(t, "alice", a)
	options, err := c.m.BeginPasskeyAuthentication(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.m.AuthenticatePasskey(ctx, "alice", mfa.PasskeyRequest{Response: a.get(options), CreateMFAToken: &mfa.TokenRequest{Scopes: []string{mfa.ScopeCredentialLink}}})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := c.m.BeginPasskeyRegistration(ctx, "alice", mfa.WithMFAToken(res.MFAToken.Value))
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, reg.Options)
	pk := m["publicKey"].(map[string]any)
	ex, _ := pk["excludeCredentials"].([]any)
	if len(ex) != 1 || ex[0].(map[string]any)["id"] != b64.EncodeToString(a.credID) {
		t.Fatalf("excludeCredentials %v, want alice's passkey", pk["excludeCredentials"])
	}
	st, _ := c.store.LoadUser(ctx, "alice", c.clock.Now())
	if pk["user"].(map[string]any)["id"] != b64.EncodeToString(st.Devices[0].Passkey.UserHandle) {
		t.Fatal("the second registration has another user handle")
	}
}

// BenchmarkAuthenticatePasskey is one AuthenticatePasskey on memstore:
// loading the user, taking the challenge, FinishLogin, the counter and
// lockout write. Each iteration is another user's login, prepared before
// the timer starts (registration, the challenge and the authenticator's
// signature), since a challenge is used once. Compare it with
// BenchmarkValidateLogin in the same run (docs/PERFORMANCE.md).
func BenchmarkAuthenticatePasskey(b *testing.B) {
	ctx := context.Background()
	c := newCore(b)
	reqs := make([]mfa.PasskeyRequest, b.N)
	users := make([]string, b.N)
	for i := range b.N {
		a := newAuthenticator(b, testRPID, testOrigin)
		a.flags = flagUV | flagBE | flagBS
		users[i] = fmt.Sprintf("user-%d", i)
		c.enrol(b, users[i], a)
		options, err := c.m.BeginPasskeyAuthentication(ctx, users[i])
		if err != nil {
			b.Fatal(err)
		}
		reqs[i] = mfa.PasskeyRequest{Response: a.get(options)}
	}
	runtime.GC() // the setup's garbage is not the login's
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := c.m.AuthenticatePasskey(ctx, users[i], reqs[i]); err != nil {
			b.Fatal(err)
		}
	}
}
