package mfatest

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mfakit/mfa"
)

// flowTests drive whole flows through mfa.MFA on the store under test, so
// that the guarantees users rely on (a code, a recovery code or a token
// accepted once; one lockout across instances) are checked end to end.
var flowTests = []struct {
	name string
	fn   func(*testing.T, *flowHarness)
}{
	{"EnrolAndLogin", testFlowEnrol},
	{"RaceOneTOTPCode", testFlowRaceCode},
	{"RaceOneRecoveryCode", testFlowRaceRecovery},
	{"RaceOneSingleUseToken", testFlowRaceToken},
	{"RaceOneTokenForAnAction", testFlowRaceAction},
	{"DeleteDeviceRevokesTokens", testFlowDeleteRevokes},
	{"KeyRotation", testFlowKeyRotation},
	{"DeviceKeepsItsParameters", testFlowDeviceParameters},
	{"LockoutSharedByInstances", testFlowLockout},
}

// flowActions are the actions of the flow tests: one that consumes its
// token, as actions do by default.
var flowActions = map[string]mfa.ActionPolicy{"change-email": {}}

type flowHarness struct {
	store  mfa.Store
	totp   TOTP // SHA256 in FIPS 140-3 mode
	clock  *Clock
	keys   *mfa.Keyring
	ctx    context.Context
	prefix string
}

func newFlowHarness(t *testing.T, s mfa.Store) *flowHarness {
	return &flowHarness{store: s, totp: FIPSTOTP(), clock: NewClock(base), keys: Keyring(t), ctx: context.Background(), prefix: uniquePrefix()}
}

// instance returns an MFA over the harness's store, as one service
// instance would have.
func (h *flowHarness) instance(t *testing.T) *mfa.MFA {
	t.Helper()
	return h.instanceWith(t, h.keys)
}

// instanceWith is instance with other keys.
func (h *flowHarness) instanceWith(t *testing.T, keys *mfa.Keyring) *mfa.MFA {
	t.Helper()
	m, err := mfa.New(mfa.Config{Store: h.store, Issuer: "mfatest", Keys: keys, Now: h.clock.Now, Actions: flowActions,
		TOTP: mfa.TOTPConfig{Algorithm: h.totp.Algorithm}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// enrol adds and verifies a device for a new user and acknowledges the
// recovery codes, returning the user, the secret and the codes.
func (h *flowHarness) enrol(t *testing.T, m *mfa.MFA, name string) (string, string, []string) {
	t.Helper()
	u := h.prefix + name
	reg, err := m.AddDevice(h.ctx, u)
	noErr(t, "AddDevice", err)
	res, err := m.AuthenticateDevice(h.ctx, u, mfa.AuthenticateRequest{Code: h.totp.Code(t, reg.Secret, h.clock.Now())})
	noErr(t, "AuthenticateDevice", err)
	if !res.DeviceVerified || !res.RecoveryCodesPending {
		t.Fatalf("first code: %+v, want a verified device and pending codes", res)
	}
	codes, err := m.GetRecoveryCodes(h.ctx, u, false)
	noErr(t, "GetRecoveryCodes", err)
	noErr(t, "CompleteAcknowledgement", m.CompleteAcknowledgement(h.ctx, u))
	h.clock.Advance(30 * time.Second)
	return u, reg.Secret, codes
}

func testFlowEnrol(t *testing.T, h *flowHarness) {
	m := h.instance(t)
	u, secret, codes := h.enrol(t, m, "alice")
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes, want 10", len(codes))
	}
	_, err := m.GetRecoveryCodes(h.ctx, u, false)
	wantErr(t, "GetRecoveryCodes after acknowledgement", err, mfa.ErrRecoveryCodesAcknowledged)

	// A second instance on the same store accepts the next code and refuses
	// it again.
	other := h.instance(t)
	code := h.totp.Code(t, secret, h.clock.Now())
	res, err := other.AuthenticateDevice(h.ctx, u, mfa.AuthenticateRequest{Code: code})
	noErr(t, "AuthenticateDevice on another instance", err)
	if res.DeviceVerified || res.RecoveryCodesRemaining != 10 || res.Device == nil || !res.Device.Verified {
		t.Fatalf("login result %+v", res)
	}
	_, err = m.AuthenticateDevice(h.ctx, u, mfa.AuthenticateRequest{Code: code})
	wantErr(t, "replay on the first instance", err, mfa.ErrCodeReused)

	res, err = m.AuthenticateRecoveryCode(h.ctx, u, mfa.RecoveryRequest{Code: codes[3]})
	noErr(t, "AuthenticateRecoveryCode", err)
	if res.RecoveryCodesRemaining != 9 {
		t.Fatalf("remaining %d, want 9", res.RecoveryCodesRemaining)
	}
	devices, err := other.GetUserDevices(h.ctx, u)
	noErr(t, "GetUserDevices", err)
	if len(devices) != 1 || !devices[0].Verified {
		t.Fatalf("devices %+v", devices)
	}
}

func testFlowRaceCode(t *testing.T, h *flowHarness) {
	m := h.instance(t)
	u, secret, _ := h.enrol(t, m, "alice")
	code := h.totp.Code(t, secret, h.clock.Now())
	// Losers are refused as a replay, or by the lockout that the racing
	// attempts trip, since every attempt counts until it succeeds.
	wins := raceAny(t, []error{mfa.ErrCodeReused, mfa.ErrRateLimited}, func() error {
		_, err := m.AuthenticateDevice(h.ctx, u, mfa.AuthenticateRequest{Code: code})
		return err
	})
	exactlyOne(t, "AuthenticateDevice with one code", wins)
}

func testFlowRaceRecovery(t *testing.T, h *flowHarness) {
	m := h.instance(t)
	u, _, codes := h.enrol(t, m, "alice")
	wins := raceAny(t, []error{mfa.ErrInvalidCode, mfa.ErrRateLimited}, func() error {
		_, err := m.AuthenticateRecoveryCode(h.ctx, u, mfa.RecoveryRequest{Code: codes[0]})
		return err
	})
	exactlyOne(t, "AuthenticateRecoveryCode with one code", wins)
	h.clock.Advance(2 * time.Hour) // past any lockout the race caused
	_, err := m.AuthenticateRecoveryCode(h.ctx, u, mfa.RecoveryRequest{Code: codes[0]})
	wantErr(t, "used recovery code", err, mfa.ErrInvalidCode)
}

func testFlowRaceToken(t *testing.T, h *flowHarness) {
	m := h.instance(t)
	u, secret, _ := h.enrol(t, m, "alice")
	res, err := m.AuthenticateDevice(h.ctx, u, mfa.AuthenticateRequest{
		Code:           h.totp.Code(t, secret, h.clock.Now()),
		CreateMFAToken: &mfa.TokenRequest{SingleUse: true, Scopes: []string{"user:update"}},
	})
	noErr(t, "AuthenticateDevice with a token", err)
	if res.MFAToken == nil || res.MFAToken.Value == "" {
		t.Fatal("no token issued")
	}
	wins := race(t, mfa.ErrTokenInvalid, func() error {
		_, err := m.ValidateMFAToken(h.ctx, u, res.MFAToken.Value, "user:update")
		return err
	})
	exactlyOne(t, "ValidateMFAToken with a single-use token", wins)
}

// issue returns a persistent token for u from the next TOTP code.
func (h *flowHarness) issue(t *testing.T, m *mfa.MFA, u, secret string) string {
	t.Helper()
	res, err := m.AuthenticateDevice(h.ctx, u, mfa.AuthenticateRequest{
		Code:           h.totp.Code(t, secret, h.clock.Now()),
		CreateMFAToken: &mfa.TokenRequest{},
	})
	noErr(t, "AuthenticateDevice with a token", err)
	h.clock.Advance(30 * time.Second)
	return res.MFAToken.Value
}

// testFlowRaceAction races a persistent token on an action that consumes
// it, on two instances: exactly one request is authorised.
func testFlowRaceAction(t *testing.T, h *flowHarness) {
	a, b := h.instance(t), h.instance(t)
	u, secret, _ := h.enrol(t, a, "alice")
	tok := h.issue(t, a, u, secret)
	var n atomic.Int32
	wins := race(t, mfa.ErrTokenInvalid, func() error {
		m := []*mfa.MFA{a, b}[n.Add(1)%2]
		_, err := m.AuthorizeAction(h.ctx, u, "change-email", tok)
		return err
	})
	exactlyOne(t, "AuthorizeAction with one persistent token", wins)
}

// testFlowDeleteRevokesTokens: deleting a device revokes every token of
// its user, on every instance.
func testFlowDeleteRevokes(t *testing.T, h *flowHarness) {
	a, b := h.instance(t), h.instance(t)
	u, secret, _ := h.enrol(t, a, "alice")
	kept := h.issue(t, a, u, secret)
	unlink := h.issue(t, a, u, secret)
	devices, err := a.GetUserDevices(h.ctx, u)
	noErr(t, "GetUserDevices", err)
	noErr(t, "DeleteDevice", a.DeleteDevice(h.ctx, u, devices[0].ID, unlink))
	_, err = b.ValidateMFAToken(h.ctx, u, kept, "user:update")
	wantErr(t, "a token after its device was deleted", err, mfa.ErrTokenInvalid)
}

// testFlowKeyRotation enrols under one key, then moves to a keyring whose
// primary is a new key: the old data still opens, a login re-encrypts the
// secret, ReencryptUser finds nothing left, and a new set of recovery codes
// is keyed by the new key.
func testFlowKeyRotation(t *testing.T, h *flowHarness) {
	oldKey, err := mfa.GenerateKey("rotation-old")
	noErr(t, "GenerateKey", err)
	newKey, err := mfa.GenerateKey("rotation-new")
	noErr(t, "GenerateKey", err)
	oldRing, err := mfa.NewKeyring(oldKey)
	noErr(t, "NewKeyring", err)
	u, secret, codes := h.enrol(t, h.instanceWith(t, oldRing), "alice")

	ring, err := mfa.NewKeyring(newKey, oldKey)
	noErr(t, "NewKeyring", err)
	m := h.instanceWith(t, ring)
	_, err = m.AuthenticateRecoveryCode(h.ctx, u, mfa.RecoveryRequest{Code: codes[0]})
	noErr(t, "a recovery code keyed by the old key", err)
	_, err = m.AuthenticateDevice(h.ctx, u, mfa.AuthenticateRequest{Code: h.totp.Code(t, secret, h.clock.Now())})
	noErr(t, "a code of a secret sealed by the old key", err)
	h.clock.Advance(30 * time.Second)
	n, err := m.ReencryptUser(h.ctx, u)
	noErr(t, "ReencryptUser", err)
	if n != 0 {
		t.Fatalf("ReencryptUser re-encrypted %d secrets after a login did, want 0", n)
	}
	// The secret is the new key's now: a keyring without the old key opens it.
	newOnly, err := mfa.NewKeyring(newKey)
	noErr(t, "NewKeyring", err)
	_, err = h.instanceWith(t, newOnly).AuthenticateDevice(h.ctx, u, mfa.AuthenticateRequest{Code: h.totp.Code(t, secret, h.clock.Now())})
	noErr(t, "a code after re-encryption, without the old key", err)
	h.clock.Advance(30 * time.Second)
	fresh, err := m.GetNewRecoveryCodes(h.ctx, u)
	noErr(t, "GetNewRecoveryCodes", err)
	_, err = h.instanceWith(t, newOnly).AuthenticateRecoveryCode(h.ctx, u, mfa.RecoveryRequest{Code: fresh[0]})
	noErr(t, "a new recovery code without the old key", err)
}

// testFlowDeviceParameters enrols a device, then reads it through an
// instance whose TOTPConfig differs: the device keeps the algorithm,
// digits and period it was enrolled with, and a new device gets the new
// ones.
func testFlowDeviceParameters(t *testing.T, h *flowHarness) {
	u, secret, _ := h.enrol(t, h.instance(t), "alice")
	next := TOTP{Algorithm: mfa.SHA512, Digits: 8, Period: 60 * time.Second}
	m, err := mfa.New(mfa.Config{Store: h.store, Issuer: "mfatest", Keys: h.keys, Now: h.clock.Now,
		TOTP: mfa.TOTPConfig{Algorithm: next.Algorithm, Digits: next.Digits, Period: next.Period}})
	noErr(t, "New", err)
	_, err = m.AuthenticateDevice(h.ctx, u, mfa.AuthenticateRequest{Code: h.totp.Code(t, secret, h.clock.Now())})
	noErr(t, "a code of the device's own parameters", err)
	devices, err := m.GetUserDevices(h.ctx, u)
	noErr(t, "GetUserDevices", err)
	if len(devices) != 1 || devices[0].Digits != 6 {
		t.Fatalf("devices %+v, want one of 6 digits", devices)
	}

	v := h.prefix + "bob"
	reg, err := m.AddDevice(h.ctx, v)
	noErr(t, "AddDevice", err)
	if reg.Digits != 8 {
		t.Fatalf("registration of %d digits, want 8", reg.Digits)
	}
	_, err = h.instance(t).AuthenticateDevice(h.ctx, v, mfa.AuthenticateRequest{Code: next.Code(t, reg.Secret, h.clock.Now())})
	noErr(t, "a code of the new device's parameters, through an instance configured otherwise", err)
}

func testFlowLockout(t *testing.T, h *flowHarness) {
	a, b := h.instance(t), h.instance(t)
	u, secret, _ := h.enrol(t, a, "alice")
	for i := range 5 {
		m := []*mfa.MFA{a, b}[i%2]
		_, err := m.AuthenticateDevice(h.ctx, u, mfa.AuthenticateRequest{Code: wrongCode(h.totp.Code(t, secret, h.clock.Now()))})
		wantErr(t, "wrong code", err, mfa.ErrInvalidCode)
	}
	_, err := b.AuthenticateDevice(h.ctx, u, mfa.AuthenticateRequest{Code: h.totp.Code(t, secret, h.clock.Now())})
	wantErr(t, "correct code while locked", err, mfa.ErrRateLimited)
	var e *mfa.Error
	if !errors.As(err, &e) || e.RetryAfter != 30*time.Second {
		t.Fatalf("lockout error %v: want a 30s wait", err)
	}
	h.clock.Advance(30 * time.Second)
	_, err = a.AuthenticateDevice(h.ctx, u, mfa.AuthenticateRequest{Code: h.totp.Code(t, secret, h.clock.Now())})
	noErr(t, "correct code after the wait", err)
}

// wrongCode returns a 6-digit code that differs from code.
func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}
