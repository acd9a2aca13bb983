package mfa_test

import (
	"encoding/base32"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
)

func TestAddDeviceRegistration(t *testing.T) {
	e := newEnv(t)
	reg, err := e.m.AddDevice(e.ctx, "u-1", mfa.WithAccountName("ann+test@example.com"), mfa.WithAlias("Phone"))
	mustOK(t, err)
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(reg.Secret)
	if err != nil || len(secret) != 20 {
		t.Fatalf("secret decodes to %d bytes (%v), want 20", len(secret), err)
	}
	u, err := url.Parse(reg.URI)
	mustOK(t, err)
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/Acme:ann+test@example.com" {
		t.Fatalf("URI %q: wrong scheme, type or label", reg.URI)
	}
	q := u.Query()
	if q.Get("secret") != reg.Secret || q.Get("issuer") != "Acme" {
		t.Fatalf("URI %q: wrong secret or issuer", reg.URI)
	}
	devices, err := e.m.GetUserDevices(e.ctx, "u-1")
	mustOK(t, err)
	if len(devices) != 1 || devices[0].ID != reg.DeviceID || devices[0].Verified || devices[0].Default || devices[0].Alias != "Phone" || devices[0].Type != mfa.DeviceTOTP {
		t.Fatalf("devices %+v", devices)
	}
	if !e.events.has(mfa.EventDeviceAdded) {
		t.Fatal("no device.added event")
	}
	for _, bad := range []mfa.DeviceOption{mfa.WithAccountName("a:b"), mfa.WithAccountName(""), mfa.WithAlias(strings.Repeat("x", 200)), mfa.WithAlias("a\x00b")} {
		_, err := e.m.AddDevice(e.ctx, "u-1", bad)
		mustErr(t, err, mfa.ErrInvalidInput)
	}
	// The device added first is still the pending one: bad options changed nothing.
	devices, _ = e.m.GetUserDevices(e.ctx, "u-1")
	if len(devices) != 1 || devices[0].ID != reg.DeviceID {
		t.Fatal("a refused AddDevice replaced the pending device")
	}
}

func TestPendingDeviceIsReplaced(t *testing.T) {
	e := newEnv(t)
	old, err := e.m.AddDevice(e.ctx, "alice")
	mustOK(t, err)
	reg, err := e.m.AddDevice(e.ctx, "alice")
	mustOK(t, err)
	devices, _ := e.m.GetUserDevices(e.ctx, "alice")
	if len(devices) != 1 || devices[0].ID != reg.DeviceID {
		t.Fatalf("devices after a second AddDevice: %+v", devices)
	}
	// The replaced secret stops working.
	_, err = e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, old.Secret, 0), DeviceID: old.DeviceID})
	mustErr(t, err, mfa.ErrDeviceNotFound)
	_, err = e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, old.Secret, 0)})
	mustErr(t, err, mfa.ErrInvalidCode)
	res, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, reg.Secret, 0), DeviceID: reg.DeviceID})
	mustOK(t, err)
	if !res.DeviceVerified || !res.Device.Verified || !res.Device.Default || res.Method != mfa.MethodTOTP || res.RecoveryCodesRemaining != 10 || !res.RecoveryCodesPending {
		t.Fatalf("verification result %+v", res)
	}
	if !e.events.has(mfa.EventDeviceVerified) {
		t.Fatal("no device.verified event")
	}
}

func TestOneVerifiedDevice(t *testing.T) {
	e := newEnv(t)
	e.enrol(t, "alice")
	before := e.state(t, "alice")
	_, err := e.m.AddDevice(e.ctx, "alice")
	mustErr(t, err, mfa.ErrDeviceLimit)
	e.unchanged(t, "alice", before)
}

func TestSkewWindow(t *testing.T) {
	for _, tc := range []struct {
		steps int
		ok    bool
	}{{-3, false}, {-2, false}, {-1, true}, {0, true}, {1, true}, {2, false}} {
		e := newEnv(t)
		secret, _ := e.enrol(t, "alice")
		e.clock.Advance(5 * time.Minute) // far from the step that verified the device
		_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, secret, tc.steps)})
		if tc.ok {
			mustOK(t, err)
		} else {
			mustErr(t, err, mfa.ErrInvalidCode)
		}
	}
	// Without skew only the current step counts.
	e := newEnv(t, func(c *mfa.Config) { c.TOTP.Skew = mfa.NoSkew })
	secret, _ := e.enrol(t, "alice")
	e.clock.Advance(5 * time.Minute)
	for _, steps := range []int{-1, 1} {
		_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, secret, steps)})
		mustErr(t, err, mfa.ErrInvalidCode)
	}
	_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, secret, 0)})
	mustOK(t, err)
}

// TestSkewBoundaries checks the edges of a step: the last second of a step
// and the first of the next, where the window slides by one.
func TestSkewBoundaries(t *testing.T) {
	e := newEnv(t)
	secret, _ := e.enrol(t, "alice")
	stepStart := e.clock.Now().Truncate(30 * time.Second).Add(300 * time.Second)
	e.clock.Set(stepStart.Add(29 * time.Second)) // last second of step S
	codeSMinus1 := e.code(t, secret, -1)
	e.clock.Set(stepStart.Add(30 * time.Second)) // first second of S+1: S-1 left the window
	_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: codeSMinus1})
	mustErr(t, err, mfa.ErrInvalidCode)
	e.clock.Set(stepStart.Add(29 * time.Second))
	_, err = e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: codeSMinus1})
	mustOK(t, err)
}

func TestReplayRefused(t *testing.T) {
	e := newEnv(t)
	secret, _ := e.enrol(t, "alice")
	code := e.code(t, secret, 0)
	_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: code})
	mustOK(t, err)
	e.events.take()
	_, err = e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: code})
	mustErr(t, err, mfa.ErrCodeReused)
	if !e.events.has(mfa.EventReplayRefused) {
		t.Fatal("no replay event")
	}
	// A newer step locks out the older ones still in the window.
	e.clock.Advance(30 * time.Second)
	_, err = e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, secret, 1)})
	mustOK(t, err)
	_, err = e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, secret, 0)})
	mustErr(t, err, mfa.ErrCodeReused)
	// The code that verified the device cannot log in again either.
	e2 := newEnv(t)
	reg, _ := e2.m.AddDevice(e2.ctx, "bob")
	first := e2.code(t, reg.Secret, 0)
	_, err = e2.m.AuthenticateDevice(e2.ctx, "bob", mfa.AuthenticateRequest{Code: first})
	mustOK(t, err)
	_, err = e2.m.AuthenticateDevice(e2.ctx, "bob", mfa.AuthenticateRequest{Code: first})
	mustErr(t, err, mfa.ErrCodeReused)
}

func TestDeleteDeviceNeedsToken(t *testing.T) {
	e := newEnv(t)
	secret, _ := e.enrol(t, "alice")
	dev, _ := e.m.GetUserDevices(e.ctx, "alice")
	id := dev[0].ID
	before := e.state(t, "alice")
	mustErr(t, e.m.DeleteDevice(e.ctx, "alice", id, ""), mfa.ErrTokenRequired)
	mustErr(t, e.m.DeleteDevice(e.ctx, "alice", id, "mfat_bogus"), mfa.ErrTokenInvalid)
	mustErr(t, e.m.DeleteDevice(e.ctx, "alice", "no-such-device", ""), mfa.ErrDeviceNotFound)
	e.unchanged(t, "alice", before)

	issue := func(scopes ...string) string {
		res, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{
			Code: e.code(t, secret, 0), CreateMFAToken: &mfa.TokenRequest{SingleUse: true, Scopes: scopes},
		})
		mustOK(t, err)
		e.clock.Advance(30 * time.Second)
		return res.MFAToken.Value
	}
	// A token scoped to something else does not unlink a credential.
	mustErr(t, e.m.DeleteDevice(e.ctx, "alice", id, issue("user:update")), mfa.ErrTokenInvalid)
	mustOK(t, e.m.DeleteDevice(e.ctx, "alice", id, issue(mfa.ScopeCredentialUnlink)))
	if !e.events.has(mfa.EventDeviceDeleted) {
		t.Fatal("no device.deleted event")
	}
	st := e.state(t, "alice")
	if len(st.Devices) != 0 || len(st.RecoveryCodes.Hashes) != 0 {
		t.Fatalf("device or codes left after delete: %+v", st)
	}
	// Now a new device can be added. Deleting it needs a token too, which a
	// user without a verified device cannot have: it expires by itself.
	reg, err := e.m.AddDevice(e.ctx, "alice")
	mustOK(t, err)
	mustErr(t, e.m.DeleteDevice(e.ctx, "alice", reg.DeviceID, ""), mfa.ErrTokenRequired)
	if devices, _ := e.m.GetUserDevices(e.ctx, "alice"); len(devices) != 1 {
		t.Fatal("pending device deleted without a token")
	}
}

func TestDeleteDeviceWithOtherUsersToken(t *testing.T) {
	e := newEnv(t)
	e.enrol(t, "alice")
	bob, _ := e.enrol(t, "bob")
	res, err := e.m.AuthenticateDevice(e.ctx, "bob", mfa.AuthenticateRequest{Code: e.code(t, bob, 0), CreateMFAToken: &mfa.TokenRequest{}})
	mustOK(t, err)
	dev, _ := e.m.GetUserDevices(e.ctx, "alice")
	before := e.state(t, "alice")
	mustErr(t, e.m.DeleteDevice(e.ctx, "alice", dev[0].ID, res.MFAToken.Value), mfa.ErrTokenInvalid)
	e.unchanged(t, "alice", before)
}

func TestDeviceJSON(t *testing.T) {
	e := newEnv(t)
	e.enrol(t, "alice")
	devices, _ := e.m.GetUserDevices(e.ctx, "alice")
	b, err := json.Marshal(devices[0])
	mustOK(t, err)
	var m map[string]any
	mustOK(t, json.Unmarshal(b, &m))
	for _, k := range []string{"id", "type", "verified", "createdAt", "verifiedAt", "default"} {
		if _, ok := m[k]; !ok {
			t.Errorf("device JSON %s lacks %q", b, k)
		}
	}
	if _, ok := m["UserID"]; ok {
		t.Errorf("device JSON has the user ID: %s", b)
	}
}
