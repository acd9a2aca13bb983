package mfa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
)

func passkeyEnv(t *testing.T, mutate ...func(*mfa.Config)) *env {
	return newEnv(t, append([]func(*mfa.Config){func(c *mfa.Config) { c.Passkeys = mfatest.Passkeys{} }}, mutate...)...)
}

// registerPasskey registers the credential id for user, with a token when
// given, and returns the device.
func (e *env) registerPasskey(t *testing.T, user, id, token string) *mfa.Device {
	t.Helper()
	var opts []mfa.DeviceOption
	if token != "" {
		opts = append(opts, mfa.WithMFAToken(token))
	}
	reg, err := e.m.BeginPasskeyRegistration(e.ctx, user, opts...)
	mustOK(t, err)
	dev, err := e.m.FinishPasskeyRegistration(e.ctx, user, mfatest.PasskeyAnswer(t, reg.Options, id, 0))
	mustOK(t, err)
	return dev
}

// loginPasskey authenticates user with credential id and counter count.
func (e *env) loginPasskey(t *testing.T, user, id string, count uint32, tr *mfa.TokenRequest) (*mfa.AuthResult, error) {
	t.Helper()
	options, err := e.m.BeginPasskeyAuthentication(e.ctx, user)
	mustOK(t, err)
	return e.m.AuthenticatePasskey(e.ctx, user, mfa.PasskeyRequest{Response: mfatest.PasskeyAnswer(t, options, id, count), CreateMFAToken: tr})
}

func TestPasskeysOff(t *testing.T) {
	e := newEnv(t)
	_, err := e.m.BeginPasskeyRegistration(e.ctx, "alice")
	mustField(t, err, mfa.ErrInvalidConfig, "Passkeys")
	_, err = e.m.FinishPasskeyRegistration(e.ctx, "alice", json.RawMessage(`{}`))
	mustField(t, err, mfa.ErrInvalidConfig, "Passkeys")
	_, err = e.m.BeginPasskeyAuthentication(e.ctx, "alice")
	mustField(t, err, mfa.ErrInvalidConfig, "Passkeys")
	_, err = e.m.AuthenticatePasskey(e.ctx, "alice", mfa.PasskeyRequest{Response: json.RawMessage(`{}`)})
	mustField(t, err, mfa.ErrInvalidConfig, "Passkeys")
}

// TestPasskeyFirstFactor: a passkey as the only factor works as a TOTP
// device does: it brings recovery codes, logs in, issues tokens, and is
// listed among the user's methods.
func TestPasskeyFirstFactor(t *testing.T) {
	e := passkeyEnv(t)
	reg, err := e.m.BeginPasskeyRegistration(e.ctx, "alice", mfa.WithAlias("Laptop"))
	mustOK(t, err)
	var o mfatest.PasskeyOptions
	mustOK(t, json.Unmarshal(reg.Options, &o))
	if len(o.PublicKey.UserID) != 32 || bytes.Contains(o.PublicKey.UserID, []byte("alice")) {
		t.Fatalf("user handle %x: want 32 random bytes, not the user ID", o.PublicKey.UserID)
	}
	st := e.state(t, "alice")
	if len(st.Devices) != 1 || st.Devices[0].Verified || bytes.Contains(st.Devices[0].Secret, o.PublicKey.Challenge) {
		t.Fatalf("pending passkey %+v: want one pending device with its ceremony sealed", st.Devices)
	}
	dev, err := e.m.FinishPasskeyRegistration(e.ctx, "alice", mfatest.PasskeyAnswer(t, reg.Options, "cred-1", 0))
	mustOK(t, err)
	if dev.Type != mfa.DevicePasskey || !dev.Verified || !dev.Default || dev.Alias != "Laptop" || dev.Digits != 0 || dev.ID != reg.DeviceID {
		t.Fatalf("device %+v", dev)
	}
	pending, err := e.m.IsPendingRecoveryCodesAcknowledgment(e.ctx, "alice")
	mustOK(t, err)
	if !pending {
		t.Fatal("the first factor brought no recovery codes")
	}
	// The ceremony is used up.
	_, err = e.m.FinishPasskeyRegistration(e.ctx, "alice", mfatest.PasskeyAnswer(t, reg.Options, "cred-1", 0))
	mustErr(t, err, mfa.ErrChallengeInvalid)

	methods, err := e.m.GetMFAMethods(e.ctx, "alice")
	mustOK(t, err)
	if !slices.Equal(methods, []mfa.Method{mfa.MethodPasskey, mfa.MethodRecoveryCode}) {
		t.Fatalf("methods %v", methods)
	}

	res, err := e.loginPasskey(t, "alice", "cred-1", 0, &mfa.TokenRequest{Scopes: []string{"user:update"}})
	mustOK(t, err)
	if res.Method != mfa.MethodPasskey || res.Device == nil || res.Device.ID != dev.ID || res.Device.LastUsedAt == nil || res.MFAToken == nil {
		t.Fatalf("result %+v", res)
	}
	if _, err := e.m.ValidateMFAToken(e.ctx, "alice", res.MFAToken.Value, "user:update"); err != nil {
		t.Fatalf("token: %v", err)
	}
	if !e.events.has(mfa.EventAuthSucceeded) || !e.events.has(mfa.EventDeviceVerified) {
		t.Fatal("missing events")
	}
}

// TestPasskeyChallengeSingleUse: an authentication's challenge is taken by
// the first answer, right or wrong, and of concurrent answers exactly one
// gets it.
func TestPasskeyChallengeSingleUse(t *testing.T) {
	e := passkeyEnv(t)
	e.registerPasskey(t, "alice", "cred-1", "")
	options, err := e.m.BeginPasskeyAuthentication(e.ctx, "alice")
	mustOK(t, err)
	resp := mfatest.PasskeyAnswer(t, options, "cred-1", 0)
	_, err = e.m.AuthenticatePasskey(e.ctx, "alice", mfa.PasskeyRequest{Response: resp})
	mustOK(t, err)
	_, err = e.m.AuthenticatePasskey(e.ctx, "alice", mfa.PasskeyRequest{Response: resp})
	mustErr(t, err, mfa.ErrChallengeInvalid)

	// A new challenge: the old answer no longer fits it, and counts.
	_, err = e.m.BeginPasskeyAuthentication(e.ctx, "alice")
	mustOK(t, err)
	_, err = e.m.AuthenticatePasskey(e.ctx, "alice", mfa.PasskeyRequest{Response: resp})
	mustErr(t, err, mfa.ErrPasskeyRefused)
	if st := e.state(t, "alice"); st.Lockout.Failures != 1 {
		t.Fatalf("failures %d after a refused assertion, want 1", st.Lockout.Failures)
	}

	options, err = e.m.BeginPasskeyAuthentication(e.ctx, "alice")
	mustOK(t, err)
	resp = mfatest.PasskeyAnswer(t, options, "cred-1", 0)
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = e.m.AuthenticatePasskey(e.ctx, "alice", mfa.PasskeyRequest{Response: resp}) })
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, mfa.ErrChallengeInvalid):
			t.Fatalf("concurrent answer: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent answers to one challenge succeeded, want 1", wins, n)
	}
}

// TestPasskeyCounter: a counter that does not grow is refused as a
// possible clone, counts as a failure, and changes nothing else.
func TestPasskeyCounter(t *testing.T) {
	e := passkeyEnv(t)
	e.registerPasskey(t, "alice", "cred-1", "")
	_, err := e.loginPasskey(t, "alice", "cred-1", 5, nil)
	mustOK(t, err)
	e.events.take()
	for _, stale := range []uint32{5, 4, 0} {
		before := e.state(t, "alice")
		_, err = e.loginPasskey(t, "alice", "cred-1", stale, nil)
		mustErr(t, err, mfa.ErrPasskeyRefused)
		after := e.state(t, "alice")
		if after.Lockout.Failures != before.Lockout.Failures+1 || after.Devices[0].Passkey.SignCount != 5 {
			t.Fatalf("counter %d: lockout %+v, stored count %d", stale, after.Lockout, after.Devices[0].Passkey.SignCount)
		}
		if !e.events.has(mfa.EventPasskeyCounterRefused) {
			t.Fatalf("counter %d: no %s event", stale, mfa.EventPasskeyCounterRefused)
		}
		e.events.take()
	}
	res, err := e.loginPasskey(t, "alice", "cred-1", 6, nil)
	mustOK(t, err)
	if st := e.state(t, "alice"); st.Lockout.Failures != 0 || st.Devices[0].Passkey.SignCount != 6 || res.Device.LastUsedAt == nil {
		t.Fatalf("after a good counter: %+v", st)
	}
}

// TestPasskeyLockout: refused assertions share the lockout with codes, and
// a locked user's valid assertion is refused too.
func TestPasskeyLockout(t *testing.T) {
	e := passkeyEnv(t, func(c *mfa.Config) {
		c.Lockout = mfa.LockoutConfig{Threshold: 3, MaxFailures: 3, BaseDelay: time.Minute}
	})
	e.registerPasskey(t, "alice", "cred-1", "")
	for range 3 {
		options, err := e.m.BeginPasskeyAuthentication(e.ctx, "alice")
		mustOK(t, err)
		bad := mfatest.PasskeyAnswer(t, options, "cred-1", 0, mfatest.BadSignature())
		_, err = e.m.AuthenticatePasskey(e.ctx, "alice", mfa.PasskeyRequest{Response: bad})
		mustErr(t, err, mfa.ErrPasskeyRefused)
	}
	_, err := e.loginPasskey(t, "alice", "cred-1", 0, nil)
	mustErr(t, err, mfa.ErrRateLimited)
	mustOK(t, e.m.UnlockUser(e.ctx, "alice"))
	_, err = e.loginPasskey(t, "alice", "cred-1", 0, nil)
	mustOK(t, err)
}

// TestPasskeyExpiry: ceremonies expire by Config.Now.
func TestPasskeyExpiry(t *testing.T) {
	e := passkeyEnv(t)
	reg, err := e.m.BeginPasskeyRegistration(e.ctx, "alice")
	mustOK(t, err)
	e.clock.Advance(mfa.PasskeyTTL)
	_, err = e.m.FinishPasskeyRegistration(e.ctx, "alice", mfatest.PasskeyAnswer(t, reg.Options, "cred-1", 0))
	mustErr(t, err, mfa.ErrChallengeInvalid)

	e.registerPasskey(t, "alice", "cred-1", "")
	options, err := e.m.BeginPasskeyAuthentication(e.ctx, "alice")
	mustOK(t, err)
	e.clock.Advance(mfa.PasskeyTTL - time.Second)
	_, err = e.m.AuthenticatePasskey(e.ctx, "alice", mfa.PasskeyRequest{Response: mfatest.PasskeyAnswer(t, options, "cred-1", 0)})
	mustOK(t, err)
	options, err = e.m.BeginPasskeyAuthentication(e.ctx, "alice")
	mustOK(t, err)
	e.clock.Advance(mfa.PasskeyTTL)
	_, err = e.m.AuthenticatePasskey(e.ctx, "alice", mfa.PasskeyRequest{Response: mfatest.PasskeyAnswer(t, options, "cred-1", 0)})
	mustErr(t, err, mfa.ErrChallengeInvalid)
	if st := e.state(t, "alice"); st.Lockout.Failures != 0 {
		t.Fatalf("an expired challenge counted as a failure: %+v", st.Lockout)
	}
}

// TestSecondPasskey: adding a second factor needs a credential:link
// token; the same credential cannot be registered twice, by anyone; the
// limit holds; deleting a passkey revokes the user's tokens.
func TestSecondPasskey(t *testing.T) {
	e := passkeyEnv(t, func(c *mfa.Config) { c.Devices.Passkey = 2 })
	first := e.registerPasskey(t, "alice", "cred-1", "")
	_, err := e.m.BeginPasskeyRegistration(e.ctx, "alice")
	mustErr(t, err, mfa.ErrTokenRequired)
	link := func() string {
		res, err := e.loginPasskey(t, "alice", "cred-1", 0, &mfa.TokenRequest{Scopes: []string{mfa.ScopeCredentialLink}})
		mustOK(t, err)
		return res.MFAToken.Value
	}
	// The user handle stays the same across the user's passkeys.
	tok := link()
	reg, err := e.m.BeginPasskeyRegistration(e.ctx, "alice", mfa.WithMFAToken(tok))
	mustOK(t, err)
	if st := e.state(t, "alice"); !bytes.Equal(challengeUser(t, reg.Options), st.Devices[0].Passkey.UserHandle) {
		t.Fatal("the second passkey got another user handle")
	}
	_, err = e.m.BeginPasskeyRegistration(e.ctx, "alice", mfa.WithMFAToken(tok))
	mustErr(t, err, mfa.ErrTokenInvalid) // consumed
	second, err := e.m.FinishPasskeyRegistration(e.ctx, "alice", mfatest.PasskeyAnswer(t, reg.Options, "cred-2", 0))
	mustOK(t, err)
	if second.Default {
		t.Fatal("the second passkey became the default")
	}
	_, err = e.m.BeginPasskeyRegistration(e.ctx, "alice", mfa.WithMFAToken(link()))
	mustErr(t, err, mfa.ErrDeviceLimit)

	// Bob cannot register alice's credential.
	reg, err = e.m.BeginPasskeyRegistration(e.ctx, "bob")
	mustOK(t, err)
	before := e.state(t, "bob")
	_, err = e.m.FinishPasskeyRegistration(e.ctx, "bob", mfatest.PasskeyAnswer(t, reg.Options, "cred-1", 0))
	mustErr(t, err, mfa.ErrPasskeyRegistered)
	e.unchanged(t, "bob", before)

	// Either passkey logs in; deleting one revokes alice's tokens.
	_, err = e.loginPasskey(t, "alice", "cred-2", 0, nil)
	mustOK(t, err)
	keep, err := e.loginPasskey(t, "alice", "cred-1", 0, &mfa.TokenRequest{Scopes: []string{"user:update"}})
	mustOK(t, err)
	unlink, err := e.loginPasskey(t, "alice", "cred-1", 0, &mfa.TokenRequest{Scopes: []string{mfa.ScopeCredentialUnlink}})
	mustOK(t, err)
	mustOK(t, e.m.DeleteDevice(e.ctx, "alice", first.ID, unlink.MFAToken.Value))
	_, err = e.m.ValidateMFAToken(e.ctx, "alice", keep.MFAToken.Value, "user:update")
	mustErr(t, err, mfa.ErrTokenInvalid)
	_, err = e.loginPasskey(t, "alice", "cred-1", 0, nil)
	mustErr(t, err, mfa.ErrPasskeyRefused)
	if st := e.state(t, "alice"); len(st.RecoveryCodes.Hashes) == 0 {
		t.Fatal("deleting one of two passkeys removed the recovery codes")
	}
}

func challengeUser(t *testing.T, options json.RawMessage) []byte {
	t.Helper()
	var o mfatest.PasskeyOptions
	mustOK(t, json.Unmarshal(options, &o))
	return o.PublicKey.UserID
}

// TestPasskeyBadInput: responses no browser sends are refused before
// anything is read or written.
func TestPasskeyBadInput(t *testing.T) {
	e := passkeyEnv(t)
	e.registerPasskey(t, "alice", "cred-1", "")
	_, err := e.m.BeginPasskeyAuthentication(e.ctx, "alice")
	mustOK(t, err)
	before := e.state(t, "alice")
	for _, resp := range []json.RawMessage{nil, json.RawMessage(`{"id":`), json.RawMessage(`"` + strings.Repeat("a", 70<<10) + `"`)} {
		_, err := e.m.AuthenticatePasskey(e.ctx, "alice", mfa.PasskeyRequest{Response: resp})
		mustField(t, err, mfa.ErrInvalidInput, "response")
		_, err = e.m.FinishPasskeyRegistration(e.ctx, "alice", resp)
		mustField(t, err, mfa.ErrInvalidInput, "response")
	}
	e.unchanged(t, "alice", before)
	_, err = e.m.BeginPasskeyAuthentication(e.ctx, "bob")
	mustErr(t, err, mfa.ErrNoDevice)
	_, err = e.m.FinishPasskeyRegistration(e.ctx, "alice", json.RawMessage(`{}`))
	mustErr(t, err, mfa.ErrChallengeInvalid)
}

// TestPasskeyFirstFactorRace: a registration begun without a token, as the
// user's first factor, cannot finish once the user has another factor, so
// a session with the password alone cannot slip a passkey in beside a
// factor imported meanwhile: the import ends the registration.
func TestPasskeyFirstFactorRace(t *testing.T) {
	e := passkeyEnv(t)
	reg, err := e.m.BeginPasskeyRegistration(e.ctx, "alice")
	mustOK(t, err)
	_, err = e.m.ImportTOTPDevice(e.ctx, "alice", mfa.TOTPImport{Secret: "JBSWY3DPEHPK3PXP"})
	mustOK(t, err)
	before := e.state(t, "alice")
	_, err = e.m.FinishPasskeyRegistration(e.ctx, "alice", mfatest.PasskeyAnswer(t, reg.Options, "cred-1", 0))
	mustErr(t, err, mfa.ErrChallengeInvalid)
	e.unchanged(t, "alice", before)
}

// keepsPending is a store whose ImportDevice leaves the user's pending
// devices in place, as the Store contract before 0.2 allowed.
type keepsPending struct{ mfa.Store }

func (s keepsPending) ImportDevice(ctx context.Context, d mfa.DeviceRecord, codes mfa.RecoveryCodeSet, limit int) error {
	st, err := s.Store.LoadUser(ctx, d.UserID, time.Time{})
	if err != nil {
		return err
	}
	if err := s.Store.ImportDevice(ctx, d, codes, limit); err != nil {
		return err
	}
	for _, p := range st.Devices {
		if !p.Verified {
			if err := s.Store.InsertPendingDevice(ctx, p, 100); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestPasskeyFirstFactorOldStore: on a store that keeps the pending
// devices through an import, the registration's own record of how it
// began still refuses it: the token for credential:link is due.
func TestPasskeyFirstFactorOldStore(t *testing.T) {
	e := passkeyEnv(t, func(c *mfa.Config) { c.Store = keepsPending{memstore.New()} })
	reg, err := e.m.BeginPasskeyRegistration(e.ctx, "alice")
	mustOK(t, err)
	_, err = e.m.ImportTOTPDevice(e.ctx, "alice", mfa.TOTPImport{Secret: "JBSWY3DPEHPK3PXP"})
	mustOK(t, err)
	if st := e.state(t, "alice"); len(st.Devices) != 2 {
		t.Fatalf("%d devices, want the imported one and the pending passkey", len(st.Devices))
	}
	before := e.state(t, "alice")
	_, err = e.m.FinishPasskeyRegistration(e.ctx, "alice", mfatest.PasskeyAnswer(t, reg.Options, "cred-1", 0))
	mustErr(t, err, mfa.ErrTokenRequired)
	e.unchanged(t, "alice", before)
}

// importBeforeVerify imports a TOTP device for the user right before a
// passkey registration's VerifyPasskey: after FinishPasskeyRegistration
// found that the user has no factor, before the store makes the passkey
// one.
type importBeforeVerify struct {
	mfa.Store
	m **mfa.MFA
}

func (s importBeforeVerify) VerifyPasskey(ctx context.Context, userID, deviceID string, cred mfa.PasskeyCredential, at time.Time, codes mfa.RecoveryCodeSet, lk mfa.Lockout, limit int) error {
	if _, err := (*s.m).ImportTOTPDevice(ctx, userID, mfa.TOTPImport{Secret: "JBSWY3DPEHPK3PXP"}); err != nil {
		return err
	}
	return s.Store.VerifyPasskey(ctx, userID, deviceID, cred, at, codes, lk, limit)
}

// TestPasskeyFirstFactorImportInWindow: an import that lands between
// FinishPasskeyRegistration's check and the store's write still stops the
// registration, as the store refuses to verify a device the import
// removed.
func TestPasskeyFirstFactorImportInWindow(t *testing.T) {
	var m *mfa.MFA
	e := passkeyEnv(t, func(c *mfa.Config) { c.Store = importBeforeVerify{Store: memstore.New(), m: &m} })
	m = e.m
	reg, err := e.m.BeginPasskeyRegistration(e.ctx, "alice")
	mustOK(t, err)
	_, err = e.m.FinishPasskeyRegistration(e.ctx, "alice", mfatest.PasskeyAnswer(t, reg.Options, "cred-1", 0))
	mustErr(t, err, mfa.ErrChallengeInvalid)
	devices, err := e.m.GetUserDevices(e.ctx, "alice")
	mustOK(t, err)
	if len(devices) != 1 || devices[0].Type != mfa.DeviceTOTP {
		t.Fatalf("devices %+v, want the imported app alone", devices)
	}
}

// TestPasskeyRefusedRegistration: a refused registration is reported and
// leaves the registration in progress.
func TestPasskeyRefusedRegistration(t *testing.T) {
	e := passkeyEnv(t)
	reg, err := e.m.BeginPasskeyRegistration(e.ctx, "alice")
	mustOK(t, err)
	e.events.take()
	_, err = e.m.FinishPasskeyRegistration(e.ctx, "alice", mfatest.PasskeyAnswer(t, reg.Options, "cred-1", 0, mfatest.BadSignature()))
	mustErr(t, err, mfa.ErrPasskeyRefused)
	if !e.events.has(mfa.EventAuthFailed) {
		t.Fatal("a refused registration left no event")
	}
	if s := fmt.Sprint(reg, *reg); strings.Contains(s, "challenge") || !strings.Contains(s, reg.DeviceID) {
		t.Fatalf("PasskeyRegistration prints as %q", s)
	}
	_, err = e.m.FinishPasskeyRegistration(e.ctx, "alice", mfatest.PasskeyAnswer(t, reg.Options, "cred-1", 0))
	mustOK(t, err)
}

// TestFlowWithPendingPasskey: a pending passkey is not a pending TOTP
// device: the flow does not show a QR code for it.
func TestFlowWithPendingPasskey(t *testing.T) {
	e := passkeyEnv(t)
	_, err := e.m.BeginPasskeyRegistration(e.ctx, "alice")
	mustOK(t, err)
	st, err := e.m.NewSyncFlow("alice", nil).Sync(e.ctx, nil)
	mustOK(t, err)
	if st.View == mfa.ViewQRCode || st.Err != nil {
		t.Fatalf("flow with a pending passkey: %+v", st)
	}
}

func TestPasskeysEnabled(t *testing.T) {
	if newEnv(t).m.PasskeysEnabled() || !passkeyEnv(t).m.PasskeysEnabled() {
		t.Fatal("PasskeysEnabled does not follow Config.Passkeys")
	}
}

// TestFlowWithPasskey: the code input lists the user's methods, and a
// passkey answer completes the flow as a code does.
func TestFlowWithPasskey(t *testing.T) {
	e := passkeyEnv(t)
	e.registerPasskey(t, "alice", "cred-1", "")
	mustOK(t, e.m.CompleteAcknowledgement(e.ctx, "alice"))
	f := e.m.NewSyncFlow("alice", nil)
	st, err := f.Sync(e.ctx, []string{mfa.ScopeRequiresAdditionalAuth})
	mustOK(t, err)
	if st.View != mfa.ViewOTP || !slices.Equal(st.Methods, []mfa.Method{mfa.MethodPasskey, mfa.MethodRecoveryCode}) {
		t.Fatalf("flow of a user with a passkey: %+v", st)
	}
	options, err := e.m.BeginPasskeyAuthentication(e.ctx, "alice")
	mustOK(t, err)
	st, err = f.SubmitPasskey(e.ctx, mfatest.PasskeyAnswer(t, options, "cred-1", 0, mfatest.BadSignature()))
	mustErr(t, err, mfa.ErrPasskeyRefused)
	if st.View != mfa.ViewOTP || len(st.Methods) != 2 {
		t.Fatalf("after a refused passkey: %+v", st)
	}
	options, err = e.m.BeginPasskeyAuthentication(e.ctx, "alice")
	mustOK(t, err)
	st, err = f.SubmitPasskey(e.ctx, mfatest.PasskeyAnswer(t, options, "cred-1", 0))
	mustOK(t, err)
	if st.View != mfa.ViewDevices || !st.Complete || slices.Contains(f.Scopes(), mfa.ScopeRequiresAdditionalAuth) {
		t.Fatalf("after the passkey: %+v, scopes %v", st, f.Scopes())
	}
}
