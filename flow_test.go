package mfa_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
)

var raa = []string{mfa.ScopeRequiresAdditionalAuth}

// flowSetup brings a fresh user into one row of the transition table and
// returns the scopes of its session and, where there is one, the device's
// secret.
type flowSetup struct {
	name   string
	scopes []string
	setup  func(t *testing.T, e *env) string
}

var flowRows = []flowSetup{
	{"needs MFA, no device", raa, func(*testing.T, *env) string { return "" }},
	{"needs MFA, pending device", raa, func(t *testing.T, e *env) string {
		reg, err := e.m.AddDevice(e.ctx, "alice")
		mustOK(t, err)
		return reg.Secret
	}},
	{"needs MFA, verified device", raa, func(t *testing.T, e *env) string {
		secret, _ := e.enrol(t, "alice")
		mustOK(t, e.m.CompleteAcknowledgement(e.ctx, "alice"))
		return secret
	}},
	{"codes pending ack", nil, func(t *testing.T, e *env) string {
		secret, _ := e.enrol(t, "alice")
		return secret
	}},
	{"nothing needed", nil, func(t *testing.T, e *env) string {
		secret, _ := e.enrol(t, "alice")
		mustOK(t, e.m.CompleteAcknowledgement(e.ctx, "alice"))
		return secret
	}},
}

type flowEvent struct {
	name string
	do   func(t *testing.T, e *env, f *mfa.SyncFlow, secret string) (mfa.FlowState, error)
}

var flowEvents = []flowEvent{
	{"Sync", func(t *testing.T, e *env, f *mfa.SyncFlow, _ string) (mfa.FlowState, error) {
		return f.Sync(e.ctx, f.Scopes())
	}},
	{"AddDevice", func(t *testing.T, e *env, f *mfa.SyncFlow, _ string) (mfa.FlowState, error) {
		return f.AddDevice(e.ctx)
	}},
	{"Continue", func(t *testing.T, e *env, f *mfa.SyncFlow, _ string) (mfa.FlowState, error) { return f.Continue(e.ctx) }},
	{"SubmitOTP ok", func(t *testing.T, e *env, f *mfa.SyncFlow, secret string) (mfa.FlowState, error) {
		code := "123456"
		if secret != "" {
			code = e.code(t, secret, 0)
		}
		return f.SubmitOTP(e.ctx, code)
	}},
	{"SubmitOTP bad", func(t *testing.T, e *env, f *mfa.SyncFlow, secret string) (mfa.FlowState, error) {
		code := "123456"
		if secret != "" {
			code = wrong(e.code(t, secret, 0))
		}
		return f.SubmitOTP(e.ctx, code)
	}},
	{"Acknowledge", func(t *testing.T, e *env, f *mfa.SyncFlow, _ string) (mfa.FlowState, error) {
		return f.Acknowledge(e.ctx)
	}},
}

// want describes the expected outcome of one (row, event) pair.
type want struct {
	view     mfa.View
	err      error // nil: success
	reg      string
	codes    bool
	devices  int
	complete bool
}

// The transition table of docs/DESIGN.md, pair by pair. reg is "new" for a new
// registration, "same" for the pending device's, "" for none.
var flowWant = map[string]map[string]want{
	"needs MFA, no device": {
		"Sync":          {view: mfa.ViewQRCode, reg: "new"},
		"AddDevice":     {view: mfa.ViewQRCode, reg: "new"},
		"Continue":      {view: mfa.ViewQRCode, err: mfa.ErrInvalidStep},
		"SubmitOTP ok":  {view: mfa.ViewQRCode, err: mfa.ErrInvalidStep},
		"SubmitOTP bad": {view: mfa.ViewQRCode, err: mfa.ErrInvalidStep},
		"Acknowledge":   {view: mfa.ViewQRCode, err: mfa.ErrInvalidStep},
	},
	"needs MFA, pending device": {
		"Sync":          {view: mfa.ViewQRCode, reg: "same"},
		"AddDevice":     {view: mfa.ViewQRCode, reg: "new"},
		"Continue":      {view: mfa.ViewOTP},
		"SubmitOTP ok":  {view: mfa.ViewBackupCodes, codes: true, complete: true},
		"SubmitOTP bad": {view: mfa.ViewOTP, err: mfa.ErrInvalidCode},
		"Acknowledge":   {view: mfa.ViewQRCode, err: mfa.ErrInvalidStep},
	},
	"needs MFA, verified device": {
		"Sync":          {view: mfa.ViewOTP},
		"AddDevice":     {view: mfa.ViewOTP, err: mfa.ErrDeviceLimit},
		"Continue":      {view: mfa.ViewOTP, err: mfa.ErrInvalidStep},
		"SubmitOTP ok":  {view: mfa.ViewDevices, devices: 1, complete: true},
		"SubmitOTP bad": {view: mfa.ViewOTP, err: mfa.ErrInvalidCode},
		"Acknowledge":   {view: mfa.ViewOTP, err: mfa.ErrInvalidStep},
	},
	"codes pending ack": {
		"Sync":          {view: mfa.ViewBackupCodes, codes: true, complete: true},
		"AddDevice":     {view: mfa.ViewBackupCodes, err: mfa.ErrInvalidStep, complete: true},
		"Continue":      {view: mfa.ViewBackupCodes, err: mfa.ErrInvalidStep, complete: true},
		"SubmitOTP ok":  {view: mfa.ViewBackupCodes, err: mfa.ErrInvalidStep, complete: true},
		"SubmitOTP bad": {view: mfa.ViewBackupCodes, err: mfa.ErrInvalidStep, complete: true},
		"Acknowledge":   {view: mfa.ViewDevices, devices: 1, complete: true},
	},
	"nothing needed": {
		"Sync":          {view: mfa.ViewDevices, devices: 1, complete: true},
		"AddDevice":     {view: mfa.ViewDevices, err: mfa.ErrDeviceLimit, complete: true},
		"Continue":      {view: mfa.ViewDevices, err: mfa.ErrInvalidStep, complete: true},
		"SubmitOTP ok":  {view: mfa.ViewDevices, err: mfa.ErrInvalidStep, complete: true},
		"SubmitOTP bad": {view: mfa.ViewDevices, err: mfa.ErrInvalidStep, complete: true},
		"Acknowledge":   {view: mfa.ViewDevices, err: mfa.ErrInvalidStep, complete: true},
	},
}

// TestFlowTable takes every event in every row of the transition table,
// on a flow rebuilt from the store as a stateless server would.
func TestFlowTable(t *testing.T) {
	for _, row := range flowRows {
		for _, ev := range flowEvents {
			t.Run(row.name+"/"+ev.name, func(t *testing.T) {
				w := flowWant[row.name][ev.name]
				e := newEnv(t)
				secret := row.setup(t, e)
				var before *mfa.Registration
				if secret != "" && row.name == "needs MFA, pending device" {
					before, _ = e.m.PendingRegistration(e.ctx, "alice")
				}
				var calls []mfa.FlowState
				f := e.m.NewSyncFlow("alice", func(_ context.Context, st mfa.FlowState) { calls = append(calls, st) })
				f.SetScopes(row.scopes)
				st, err := ev.do(t, e, f, secret)
				if len(calls) != 1 || calls[0].View != st.View {
					t.Fatalf("handler called %d times with %+v; want once with the returned state", len(calls), calls)
				}
				if !errors.Is(err, st.Err) || (err == nil) != (st.Err == nil) {
					t.Fatalf("returned error %v differs from FlowState.Err %v", err, st.Err)
				}
				check(t, st, w, before)
			})
		}
	}
}

func check(t *testing.T, st mfa.FlowState, w want, pending *mfa.Registration) {
	t.Helper()
	if st.View != w.view {
		t.Errorf("view %q, want %q", st.View, w.view)
	}
	switch {
	case w.err == nil && st.Err != nil:
		t.Errorf("Err %v, want none", st.Err)
	case w.err != nil && !errors.Is(st.Err, w.err):
		t.Errorf("Err %v, want %v", st.Err, w.err)
	}
	switch w.reg {
	case "":
		if st.Registration != nil {
			t.Errorf("unexpected registration")
		}
	case "new":
		if st.Registration == nil || st.Registration.URI == "" || (pending != nil && st.Registration.DeviceID == pending.DeviceID) {
			t.Errorf("registration %v, want a new one", st.Registration)
		}
	case "same":
		if st.Registration == nil || pending == nil || st.Registration.DeviceID != pending.DeviceID || st.Registration.Secret != pending.Secret {
			t.Errorf("registration %v, want the pending device's", st.Registration)
		}
	}
	if w.codes != (len(st.RecoveryCodes) == 10) {
		t.Errorf("%d recovery codes, want codes: %t", len(st.RecoveryCodes), w.codes)
	}
	if len(st.Devices) != w.devices {
		t.Errorf("%d devices, want %d", len(st.Devices), w.devices)
	}
	if st.Complete != w.complete {
		t.Errorf("Complete %t, want %t", st.Complete, w.complete)
	}
}

// TestFlowRecoveryCode: a recovery code completes a login like a TOTP code.
func TestFlowRecoveryCode(t *testing.T) {
	e := newEnv(t)
	_, codes := e.enrol(t, "alice")
	mustOK(t, e.m.CompleteAcknowledgement(e.ctx, "alice"))
	f := e.m.NewSyncFlow("alice", nil)
	st, err := f.Sync(e.ctx, raa)
	mustOK(t, err)
	if st.View != mfa.ViewOTP {
		t.Fatalf("view %s", st.View)
	}
	st, _ = f.SubmitRecoveryCode(e.ctx, "aaaa-bbbb-cccc-dddd")
	if st.View != mfa.ViewOTP || !errors.Is(st.Err, mfa.ErrInvalidCode) || st.Complete {
		t.Fatalf("bad recovery code: %+v", st)
	}
	st, err = f.SubmitRecoveryCode(e.ctx, codes[0])
	mustOK(t, err)
	if st.View != mfa.ViewDevices || !st.Complete || len(f.Scopes()) != 0 {
		t.Fatalf("recovery code: %+v, scopes %v", st, f.Scopes())
	}
	// The flow is complete now: a recovery code is not a step of it any more.
	st, _ = f.SubmitRecoveryCode(e.ctx, codes[1])
	mustErr(t, st.Err, mfa.ErrInvalidStep)
}

// TestFlowWholeGuide walks the guide: a login that needs MFA on an account
// without a device, QR code, Continue, the first code, backup codes,
// acknowledgement, then a later login with the code input.
func TestFlowWholeGuide(t *testing.T) {
	e := newEnv(t)
	var views []mfa.View
	f := e.m.NewSyncFlow("alice", func(_ context.Context, st mfa.FlowState) { views = append(views, st.View) })
	st, err := f.Sync(e.ctx, []string{"openid", mfa.ScopeRequiresAdditionalAuth})
	mustOK(t, err)
	secret := st.Registration.Secret
	_, err = f.Continue(e.ctx)
	mustOK(t, err)
	st, _ = f.SubmitOTP(e.ctx, wrong(e.code(t, secret, 0)))
	mustErr(t, st.Err, mfa.ErrInvalidCode)
	st, err = f.SubmitOTP(e.ctx, e.code(t, secret, 0))
	mustOK(t, err)
	if len(st.RecoveryCodes) != 10 || !st.Complete || fmt.Sprint(f.Scopes()) != "[openid]" {
		t.Fatalf("after the first code: %+v, scopes %v", st, f.Scopes())
	}
	// A stateless server rebuilds the flow on the next request.
	g := e.m.NewSyncFlow("alice", nil)
	st, err = g.Sync(e.ctx, f.Scopes())
	mustOK(t, err)
	if st.View != mfa.ViewBackupCodes {
		t.Fatalf("rebuilt flow shows %s", st.View)
	}
	st, err = g.Acknowledge(e.ctx)
	mustOK(t, err)
	if st.View != mfa.ViewDevices || len(st.Devices) != 1 || !st.Devices[0].Verified {
		t.Fatalf("after acknowledging: %+v", st)
	}
	e.clock.Advance(60e9)
	h := e.m.NewSyncFlow("alice", nil)
	st, _ = h.Sync(e.ctx, raa)
	if st.View != mfa.ViewOTP {
		t.Fatalf("next login shows %s", st.View)
	}
	st, err = h.SubmitOTP(e.ctx, e.code(t, secret, 0))
	mustOK(t, err)
	if st.View != mfa.ViewDevices || !st.Complete {
		t.Fatalf("next login: %+v", st)
	}
	want := []mfa.View{mfa.ViewQRCode, mfa.ViewOTP, mfa.ViewOTP, mfa.ViewBackupCodes}
	if fmt.Sprint(views) != fmt.Sprint(want) {
		t.Fatalf("views %v, want %v", views, want)
	}
}

func TestFlowStoreFailureLandsInErr(t *testing.T) {
	fs := &failingStore{Store: memstore.New()}
	e := newEnv(t, func(c *mfa.Config) { c.Store = fs })
	fs.method, fs.err = "LoadUser", errors.New("database down")
	var got mfa.FlowState
	f := e.m.NewSyncFlow("alice", func(_ context.Context, st mfa.FlowState) { got = st })
	st, err := f.Sync(e.ctx, raa)
	if !errors.Is(err, mfa.ErrStore) || !errors.Is(st.Err, mfa.ErrStore) || !errors.Is(got.Err, fs.err) {
		t.Fatalf("store failure: returned %v, state %+v, handler saw %+v", err, st, got)
	}
}

func TestFlowDeviceOptions(t *testing.T) {
	e := newEnv(t)
	f := e.m.NewSyncFlow("u-17", nil)
	f.SetDeviceOptions(mfa.WithAccountName("ann@example.com"), mfa.WithAlias("Phone"))
	st, err := f.Sync(e.ctx, raa)
	mustOK(t, err)
	if !strings.Contains(st.Registration.URI, "Acme:ann%40example.com") {
		t.Fatalf("URI %q lacks the account name", st.Registration.URI)
	}
	devices, _ := e.m.GetUserDevices(e.ctx, "u-17")
	if len(devices) != 1 || devices[0].Alias != "Phone" {
		t.Fatalf("devices %+v", devices)
	}
	if e.m.TOTPDigits() != 6 || e.m.TOTPPeriod() != 30*time.Second {
		t.Fatal("TOTP parameters")
	}
}
