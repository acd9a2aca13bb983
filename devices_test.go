package mfa_test

import (
	"slices"
	"testing"
	"time"

	"github.com/mfakit/mfa"
)

// TestSeveralDevices: with room for two authenticator apps, adding the
// second needs a credential:link token, either app's code logs in, the
// user picks the default, and the recovery codes stay until the last
// device goes.
func TestSeveralDevices(t *testing.T) {
	e := newEnv(t, func(c *mfa.Config) { c.Devices.TOTP = 2 })
	first, codes := e.enrol(t, "alice")
	mustOK(t, e.m.CompleteAcknowledgement(e.ctx, "alice"))
	token := func(scope string) string {
		t.Helper()
		res, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, first, 0), CreateMFAToken: &mfa.TokenRequest{Scopes: []string{scope}}})
		mustOK(t, err)
		e.clock.Advance(30 * time.Second)
		return res.MFAToken.Value
	}

	_, err := e.m.AddDevice(e.ctx, "alice")
	mustErr(t, err, mfa.ErrTokenRequired)
	_, err = e.m.AddDevice(e.ctx, "alice", mfa.WithMFAToken(token("user:update")))
	mustErr(t, err, mfa.ErrTokenInvalid)
	link := token(mfa.ScopeCredentialLink)
	reg, err := e.m.AddDevice(e.ctx, "alice", mfa.WithMFAToken(link), mfa.WithAlias("Tablet"))
	mustOK(t, err)
	_, err = e.m.AddDevice(e.ctx, "alice", mfa.WithMFAToken(link))
	mustErr(t, err, mfa.ErrTokenInvalid) // used up
	res, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, reg.Secret, 0), DeviceID: reg.DeviceID})
	mustOK(t, err)
	if !res.DeviceVerified || res.RecoveryCodesPending || res.RecoveryCodesRemaining != len(codes) || res.Device.Default {
		t.Fatalf("second device's first code: %+v, device %+v; want verified, the codes kept, not the default", res, res.Device)
	}
	e.clock.Advance(30 * time.Second)
	_, err = e.m.AddDevice(e.ctx, "alice", mfa.WithMFAToken(token(mfa.ScopeCredentialLink)))
	mustErr(t, err, mfa.ErrDeviceLimit)

	// Either app's code logs in, without naming the device.
	for _, secret := range []string{first, reg.Secret} {
		_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, secret, 0)})
		mustOK(t, err)
		e.clock.Advance(30 * time.Second)
	}
	methods, err := e.m.GetMFAMethods(e.ctx, "alice")
	mustOK(t, err)
	if !slices.Equal(methods, []mfa.Method{mfa.MethodTOTP, mfa.MethodRecoveryCode}) {
		t.Fatalf("methods %v", methods)
	}

	devices, err := e.m.GetUserDevices(e.ctx, "alice")
	mustOK(t, err)
	if len(devices) != 2 || !devices[0].Default || devices[1].Default {
		t.Fatalf("devices %+v: want two, the first the default", devices)
	}
	mustOK(t, e.m.SetDefaultDevice(e.ctx, "alice", reg.DeviceID))
	devices, err = e.m.GetUserDevices(e.ctx, "alice")
	mustOK(t, err)
	if devices[0].Default || !devices[1].Default {
		t.Fatalf("after SetDefaultDevice: %+v", devices)
	}
	mustErr(t, e.m.SetDefaultDevice(e.ctx, "alice", "nope"), mfa.ErrDeviceNotFound)
	mustErr(t, e.m.SetDefaultDevice(e.ctx, "bob", reg.DeviceID), mfa.ErrDeviceNotFound)
	if !e.events.has(mfa.EventDeviceDefaultSet) {
		t.Fatal("no device.default_set event")
	}

	// One of two goes: the codes stay. The last goes: they go too.
	mustOK(t, e.m.DeleteDevice(e.ctx, "alice", devices[0].ID, token(mfa.ScopeCredentialUnlink)))
	if st := e.state(t, "alice"); len(st.RecoveryCodes.Hashes) != len(codes) {
		t.Fatalf("%d codes after deleting one of two devices, want %d", len(st.RecoveryCodes.Hashes), len(codes))
	}
	_, err = e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: codes[0]})
	mustOK(t, err)
	mustOK(t, e.m.RemoveDevice(e.ctx, "alice", reg.DeviceID))
	if st := e.state(t, "alice"); len(st.RecoveryCodes.Hashes) != 0 {
		t.Fatal("codes kept after the last device went")
	}
	methods, err = e.m.GetMFAMethods(e.ctx, "alice")
	mustOK(t, err)
	if len(methods) != 0 {
		t.Fatalf("methods of a user without devices: %v", methods)
	}
}

// TestDeviceLimitsConfig: the defaults are one authenticator app and ten
// passkeys, and the limits are bounded.
func TestDeviceLimitsConfig(t *testing.T) {
	e := newEnv(t)
	e.enrol(t, "alice")
	_, err := e.m.AddDevice(e.ctx, "alice")
	mustErr(t, err, mfa.ErrDeviceLimit)
	for _, tc := range []struct {
		limits mfa.DeviceLimits
		field  string
	}{
		{mfa.DeviceLimits{TOTP: 11}, "Devices.TOTP"},
		{mfa.DeviceLimits{TOTP: -1}, "Devices.TOTP"},
		{mfa.DeviceLimits{Passkey: 101}, "Devices.Passkey"},
	} {
		cfg := mfa.Config{Store: e.store, Issuer: "Acme", Keys: e.keys, Devices: tc.limits}
		_, err := mfa.New(cfg)
		mustField(t, err, mfa.ErrInvalidConfig, tc.field)
	}
}
