package mfa_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
)

// TestFaultSweep fails every store call of every public operation of
// MFA and SyncFlow that touches the store, one at a time, and checks that
// the operation reports the failure and leaves the user as it found them
// or as a successful run would: never a mix.
//
// For each case the operation first runs once without a fault, which
// gives its store calls (N) and the "after" state. Then, for each call
// i in 1..N and each fault mode, the same starting state is built again
// (the clock, the keys and Config.Rand are deterministic, so secrets, IDs,
// codes and tokens come out byte for byte the same; AES-GCM draws its own
// nonces, so sealed data is compared by key and plaintext), call i is failed and
// the outcome is checked:
//
//   - the operation returns an error that matches mfa.ErrStore and wraps
//     the injected cause (mfatest.ErrInjected, or context.Canceled);
//   - the user's stored state (devices with every field, recovery code
//     hashes as a set, the sealed codes, lockout, and which of the tokens
//     ever issued in the run still exist) equals the "before" state; or the
//     "after" state where a case says why an error is still right there;
//     or a state a case's exception allows, each with its reason;
//   - in every state a verified device has recovery codes and codes exist
//     only beside a verified device.
//
// A wrong code's failure is counted by its one lockout write, so a fault
// at that write legitimately counts nothing: that is the "before" state,
// and it comes with ErrStore, never ErrInvalidCode.
func TestFaultSweep(t *testing.T) {
	keys := newFaultKeys(t)
	cases := 0
	for _, tc := range faultCases {
		t.Run(tc.name, func(t *testing.T) {
			cases += sweepFaults(t, keys, tc)
		})
	}
	t.Logf("%d (operation, failure point, mode) cases", cases)
}

// faultModes are the ways a call fails. A request's context, once
// cancelled, stays cancelled, so the realistic cancellation is the "from"
// one; failing one call only checks that a later call cannot paper over
// an earlier failure.
var faultModes = []struct {
	name           string
	outage, cancel bool
}{
	{"error", false, false},
	{"cancel", false, true},
	{"error-from", true, false},
	{"cancel-from", true, true},
}

// faultCase is one operation from one starting state.
type faultCase struct {
	name  string
	setup func(t *testing.T, e *faultEnv)
	op    func(e *faultEnv) error
	// wantErr is the error the operation returns without a fault (a wrong
	// code); nil when it succeeds.
	wantErr error
	// errAfter, when set, says why the operation may return an error and
	// still leave the "after" state: a store call after the one that
	// commits it failed.
	errAfter string
	// exceptions are the further outcomes a failure may leave.
	exceptions []faultException
	// check inspects the operation's result (e.result) given the state it
	// left: "before", "after" or an exception's name.
	check func(t *testing.T, e *faultEnv, outcome string)
}

// faultException is an outcome other than before and after that a failure
// of one store method may legitimately leave.
type faultException struct {
	name string
	// method is the store method whose failure allows it.
	method string
	// succeeds is set when the operation returns no error: the failed call
	// was a best-effort step.
	succeeds bool
	// state is the state it leaves.
	state func(before, after faultSnap) faultSnap
	// event, when set, must have been emitted with ErrorCode
	// mfa_store_error: the failure is reported.
	event mfa.EventType
}

const (
	faultUserID = "alice"
	faultAction = "change-email"
	// faultPersistentAction is an action whose policy keeps its token.
	faultPersistentAction = "read-statements"
	// faultFailures is the lockout count of a starting state, so that a
	// success (which resets it) and a wrong code (which adds one) change it.
	faultFailures = 2
)

var faultNeedsMFA = []string{mfa.ScopeRequiresAdditionalAuth}

// The exceptions, each allowed only where its method's failure can cause it.
var (
	// AuthenticateDevice re-encrypts an old key's secret after the code is
	// accepted; a failure keeps the old ciphertext, which still opens, and
	// is reported as an event (reseal in device.go).
	faultResealFails = faultException{
		name:     "accepted, secret not re-encrypted",
		method:   "UpdateDeviceSecret",
		succeeds: true,
		state: func(before, after faultSnap) faultSnap {
			s := after.clone()
			s.st.Devices[0].Secret = before.st.Devices[0].Secret
			return s
		},
		event: mfa.EventDeviceReencrypted,
	}
	// A token issued for a login whose code then fails to be accepted is
	// discarded; when that fails too, the token stays until it expires,
	// but its value was never returned to anyone (discardToken in
	// token.go).
	faultDiscardFails = faultException{
		name:   "refused, unreturned token left",
		method: "ConsumeToken",
		state: func(before, after faultSnap) faultSnap {
			s := before.clone()
			for h := range after.tokens {
				s.tokens[h] = true
			}
			return s
		},
		event: mfa.EventTokenRefused,
	}
	// DeleteDevice consumes its token (AuthorizeAction, whatever kind of
	// token) and then deletes the device, in two store calls. When the
	// delete fails the token is spent and the device stays. The token
	// authorised the deletion, and nothing happened without it: the state
	// is the one an application reaches when AuthorizeAction succeeds and
	// its own action then fails. The user needs a new token to try again.
	faultDeleteAfterConsume = faultException{
		name:   "refused, token spent",
		method: "DeleteDevice",
		state: func(before, after faultSnap) faultSnap {
			s := before.clone()
			s.tokens = after.clone().tokens
			return s
		},
	}
)

// faultFlowCompleteIffAccepted checks a SubmitOTP or SubmitRecoveryCode step:
// the flow reports Complete (and drops requiresAdditionalAuth) exactly when
// the code was accepted.
func faultFlowCompleteIffAccepted(t *testing.T, e *faultEnv, outcome string) {
	t.Helper()
	st, ok := e.result.(mfa.FlowState)
	if !ok {
		t.Fatalf("result %T, want a FlowState", e.result)
	}
	accepted := outcome == "after"
	if st.Complete != accepted || slices.Contains(e.flow.Scopes(), mfa.ScopeRequiresAdditionalAuth) == accepted {
		t.Errorf("code accepted: %t, but the flow reports Complete %t with scopes %v (err %v)", accepted, st.Complete, e.flow.Scopes(), st.Err)
	}
}

// faultCodeAcceptedThenShown is why a SubmitOTP or SubmitRecoveryCode step may
// return an error with the "after" state. The application must then act on
// Complete although Err is set, or the accepted code is spent for nothing.
const faultCodeAcceptedThenShown = "the code was accepted and the flow reports Complete (checked); " +
	"only reading what the next view shows failed, and the next Sync shows it"

var faultCases = []faultCase{
	{
		name:  "AddDevice/new",
		setup: func(t *testing.T, e *faultEnv) {},
		op: func(e *faultEnv) error {
			_, err := e.m.AddDevice(e.ctx, faultUserID, mfa.WithAlias("Phone"))
			return err
		},
	},
	{
		name:  "AddDevice/replacing a pending one",
		setup: func(t *testing.T, e *faultEnv) { e.pending(t, e.m) },
		op: func(e *faultEnv) error {
			_, err := e.m.AddDevice(e.ctx, faultUserID)
			return err
		},
	},
	{
		name:  "PendingRegistration",
		setup: func(t *testing.T, e *faultEnv) { e.pending(t, e.m) },
		op: func(e *faultEnv) error {
			_, err := e.m.PendingRegistration(e.ctx, faultUserID)
			return err
		},
	},
	{
		name:  "AuthenticateDevice/verified",
		setup: func(t *testing.T, e *faultEnv) { e.enrolled(t, e.m, true); e.fail(t, faultFailures) },
		op:    (*faultEnv).login,
	},
	{
		name:  "AuthenticateDevice/verified, old key",
		setup: func(t *testing.T, e *faultEnv) { e.enrolled(t, e.old, true); e.fail(t, faultFailures) },
		op:    (*faultEnv).login,
		// The device was sealed with the old key, so a successful login
		// re-encrypts it: a best-effort third store call.
		exceptions: []faultException{faultResealFails},
	},
	{
		name: "AuthenticateDevice/pending",
		setup: func(t *testing.T, e *faultEnv) {
			e.pending(t, e.m)
			e.fail(t, faultFailures)
		},
		op: (*faultEnv).login,
		check: func(t *testing.T, e *faultEnv, outcome string) {
			if r, _ := e.result.(*mfa.AuthResult); outcome == "after" && (r == nil || !r.DeviceVerified || r.RecoveryCodesRemaining != 10) {
				t.Errorf("result %+v, want a verified device and 10 codes", r)
			}
		},
	},
	{
		name:  "AuthenticateDevice/verified, with token",
		setup: func(t *testing.T, e *faultEnv) { e.enrolled(t, e.m, true); e.fail(t, faultFailures) },
		op: func(e *faultEnv) error {
			r, err := e.m.AuthenticateDevice(e.ctx, faultUserID, mfa.AuthenticateRequest{
				Code:           mfatest.Code(e.t, e.secret, e.clock.Now()),
				CreateMFAToken: &mfa.TokenRequest{SingleUse: true, Scopes: []string{mfa.ScopeCredentialUnlink}},
			})
			e.result = r
			return err
		},
		exceptions: []faultException{faultDiscardFails},
	},
	{
		name:    "AuthenticateDevice/wrong code",
		setup:   func(t *testing.T, e *faultEnv) { e.enrolled(t, e.m, true); e.fail(t, faultFailures) },
		op:      func(e *faultEnv) error { return e.wrongLogin() },
		wantErr: mfa.ErrInvalidCode,
	},
	{
		name: "AuthenticateDevice/replayed code",
		setup: func(t *testing.T, e *faultEnv) {
			e.enrolled(t, e.m, true)
			e.ok(t, "login", e.login())
			e.fail(t, faultFailures)
		},
		op:      (*faultEnv).login,
		wantErr: mfa.ErrCodeReused,
	},
	{
		name:  "AuthenticateRecoveryCode",
		setup: func(t *testing.T, e *faultEnv) { e.enrolled(t, e.m, true); e.fail(t, faultFailures) },
		op: func(e *faultEnv) error {
			r, err := e.m.AuthenticateRecoveryCode(e.ctx, faultUserID, mfa.RecoveryRequest{Code: e.codes[3]})
			e.result = r
			return err
		},
	},
	{
		name:  "AuthenticateRecoveryCode/with token",
		setup: func(t *testing.T, e *faultEnv) { e.enrolled(t, e.m, true); e.fail(t, faultFailures) },
		op: func(e *faultEnv) error {
			r, err := e.m.AuthenticateRecoveryCode(e.ctx, faultUserID, mfa.RecoveryRequest{
				Code:           e.codes[3],
				CreateMFAToken: &mfa.TokenRequest{Scopes: []string{"user:update"}},
			})
			e.result = r
			return err
		},
		exceptions: []faultException{faultDiscardFails},
	},
	{
		name:  "AuthenticateRecoveryCode/wrong code",
		setup: func(t *testing.T, e *faultEnv) { e.enrolled(t, e.m, true); e.fail(t, faultFailures) },
		op: func(e *faultEnv) error {
			_, err := e.m.AuthenticateRecoveryCode(e.ctx, faultUserID, mfa.RecoveryRequest{Code: "aaaa-bbbb-cccc-dddd"})
			return err
		},
		wantErr: mfa.ErrInvalidCode,
	},
	{
		name:  "GetUserDevices",
		setup: func(t *testing.T, e *faultEnv) { e.enrolled(t, e.m, true) },
		op: func(e *faultEnv) error {
			_, err := e.m.GetUserDevices(e.ctx, faultUserID)
			return err
		},
	},
	{
		name: "DeleteDevice/persistent token",
		setup: func(t *testing.T, e *faultEnv) {
			e.enrolled(t, e.m, true)
			e.issue(t, mfa.TokenRequest{Scopes: []string{mfa.ScopeCredentialUnlink}})
		},
		op:         (*faultEnv).deleteDevice,
		exceptions: []faultException{faultDeleteAfterConsume},
	},
	{
		name: "RemoveDevice",
		setup: func(t *testing.T, e *faultEnv) {
			e.enrolled(t, e.m, true)
			e.issue(t, mfa.TokenRequest{})
		},
		op: func(e *faultEnv) error {
			devices, err := e.m.GetUserDevices(e.ctx, faultUserID)
			if err != nil {
				return err
			}
			return e.m.RemoveDevice(e.ctx, faultUserID, devices[0].ID)
		},
	},
	{
		name: "UnlockUser",
		setup: func(t *testing.T, e *faultEnv) {
			e.enrolled(t, e.m, true)
			e.fail(t, faultFailures)
		},
		op: func(e *faultEnv) error { return e.m.UnlockUser(e.ctx, faultUserID) },
	},
	{
		name:  "IsEnrolled",
		setup: func(t *testing.T, e *faultEnv) { e.enrolled(t, e.m, true) },
		op: func(e *faultEnv) error {
			_, err := e.m.IsEnrolled(e.ctx, faultUserID)
			return err
		},
	},
	{
		name: "AuthorizeAction/consuming",
		setup: func(t *testing.T, e *faultEnv) {
			e.enrolled(t, e.m, true)
			e.issue(t, mfa.TokenRequest{Scopes: []string{faultAction}})
		},
		op: func(e *faultEnv) error {
			_, err := e.m.AuthorizeAction(e.ctx, faultUserID, faultAction, e.token)
			return err
		},
	},
	{
		name: "AuthorizeAction/persistent",
		setup: func(t *testing.T, e *faultEnv) {
			e.enrolled(t, e.m, true)
			e.issue(t, mfa.TokenRequest{Scopes: []string{faultPersistentAction}})
		},
		op: func(e *faultEnv) error {
			_, err := e.m.AuthorizeAction(e.ctx, faultUserID, faultPersistentAction, e.token)
			return err
		},
	},
	{
		name: "DeleteDevice/single-use token",
		setup: func(t *testing.T, e *faultEnv) {
			e.enrolled(t, e.m, true)
			e.issue(t, mfa.TokenRequest{SingleUse: true})
		},
		op:         (*faultEnv).deleteDevice,
		exceptions: []faultException{faultDeleteAfterConsume},
	},
	{
		name:  "GetRecoveryCodes",
		setup: func(t *testing.T, e *faultEnv) { e.enrolled(t, e.m, false) },
		op: func(e *faultEnv) error {
			_, err := e.m.GetRecoveryCodes(e.ctx, faultUserID, false)
			return err
		},
	},
	{
		name:  "GetRecoveryCodes/generate new",
		setup: func(t *testing.T, e *faultEnv) { e.enrolled(t, e.m, true) },
		op: func(e *faultEnv) error {
			_, err := e.m.GetRecoveryCodes(e.ctx, faultUserID, true)
			return err
		},
	},
	{
		name:  "GetNewRecoveryCodes",
		setup: func(t *testing.T, e *faultEnv) { e.enrolled(t, e.m, true) },
		op: func(e *faultEnv) error {
			_, err := e.m.GetNewRecoveryCodes(e.ctx, faultUserID)
			return err
		},
	},
	{
		name:  "IsPendingRecoveryCodesAcknowledgment",
		setup: func(t *testing.T, e *faultEnv) { e.enrolled(t, e.m, false) },
		op: func(e *faultEnv) error {
			_, err := e.m.IsPendingRecoveryCodesAcknowledgment(e.ctx, faultUserID)
			return err
		},
	},
	{
		name:  "CompleteAcknowledgement",
		setup: func(t *testing.T, e *faultEnv) { e.enrolled(t, e.m, false) },
		op:    func(e *faultEnv) error { return e.m.CompleteAcknowledgement(e.ctx, faultUserID) },
	},
	{
		name: "ValidateMFAToken/single-use",
		setup: func(t *testing.T, e *faultEnv) {
			e.enrolled(t, e.m, true)
			e.issue(t, mfa.TokenRequest{SingleUse: true, Scopes: []string{"user:update"}})
		},
		op: func(e *faultEnv) error {
			_, err := e.m.ValidateMFAToken(e.ctx, faultUserID, e.token, "user:update")
			return err
		},
	},
	{
		name: "ValidateMFAToken/persistent",
		setup: func(t *testing.T, e *faultEnv) {
			e.enrolled(t, e.m, true)
			e.issue(t, mfa.TokenRequest{Scopes: []string{"user:update"}})
		},
		op: func(e *faultEnv) error {
			_, err := e.m.ValidateMFAToken(e.ctx, faultUserID, e.token, "user:update")
			return err
		},
	},
	{
		name:  "IsMFARequiredForAction",
		setup: func(t *testing.T, e *faultEnv) { e.enrolled(t, e.m, true) },
		op: func(e *faultEnv) error {
			_, err := e.m.IsMFARequiredForAction(e.ctx, faultUserID, faultAction)
			return err
		},
	},
	{
		name: "ResetUser",
		setup: func(t *testing.T, e *faultEnv) {
			e.enrolled(t, e.m, true)
			e.issue(t, mfa.TokenRequest{})
			e.fail(t, faultFailures)
		},
		op: func(e *faultEnv) error { return e.m.ResetUser(e.ctx, faultUserID) },
	},
	{
		name:  "ReencryptUser",
		setup: func(t *testing.T, e *faultEnv) { e.enrolled(t, e.old, true) },
		op: func(e *faultEnv) error {
			n, err := e.m.ReencryptUser(e.ctx, faultUserID)
			e.result = n
			return err
		},
		check: func(t *testing.T, e *faultEnv, outcome string) {
			if n, _ := e.result.(int); outcome == "after" && n != 1 {
				t.Errorf("ReencryptUser re-encrypted %d devices, want 1", n)
			}
		},
	},
	{
		name: "Cleanup",
		setup: func(t *testing.T, e *faultEnv) {
			e.enrolled(t, e.m, true)
			e.issue(t, mfa.TokenRequest{SingleUse: true})
			e.clock.Advance(time.Hour) // the token expires
		},
		op: func(e *faultEnv) error { return e.m.Cleanup(e.ctx) },
	},
	{
		name:  "SyncFlow/Sync/no device",
		setup: func(t *testing.T, e *faultEnv) {},
		op: func(e *faultEnv) error {
			return e.step(func(f *mfa.SyncFlow) (mfa.FlowState, error) { return f.Sync(e.ctx, faultNeedsMFA) })
		},
	},
	{
		name:  "SyncFlow/Sync/codes to save",
		setup: func(t *testing.T, e *faultEnv) { e.enrolled(t, e.m, false) },
		op: func(e *faultEnv) error {
			return e.step(func(f *mfa.SyncFlow) (mfa.FlowState, error) { return f.Sync(e.ctx, nil) })
		},
	},
	{
		name:  "SyncFlow/Sync/pending device",
		setup: func(t *testing.T, e *faultEnv) { e.pending(t, e.m) },
		op: func(e *faultEnv) error {
			return e.step(func(f *mfa.SyncFlow) (mfa.FlowState, error) { return f.Sync(e.ctx, faultNeedsMFA) })
		},
	},
	{
		name:  "SyncFlow/Continue",
		setup: func(t *testing.T, e *faultEnv) { e.pending(t, e.m) },
		op: func(e *faultEnv) error {
			e.flowScopes = faultNeedsMFA
			return e.step(func(f *mfa.SyncFlow) (mfa.FlowState, error) { return f.Continue(e.ctx) })
		},
	},
	{
		name:  "SyncFlow/AddDevice",
		setup: func(t *testing.T, e *faultEnv) { e.pending(t, e.m) },
		op: func(e *faultEnv) error {
			e.flowScopes = faultNeedsMFA
			return e.step(func(f *mfa.SyncFlow) (mfa.FlowState, error) { return f.AddDevice(e.ctx) })
		},
	},
	{
		name:  "SyncFlow/SubmitOTP/pending",
		setup: func(t *testing.T, e *faultEnv) { e.pending(t, e.m); e.fail(t, faultFailures) },
		op: func(e *faultEnv) error {
			e.flowScopes = faultNeedsMFA
			return e.step(func(f *mfa.SyncFlow) (mfa.FlowState, error) {
				return f.SubmitOTP(e.ctx, mfatest.Code(e.t, e.secret, e.clock.Now()))
			})
		},
		errAfter: faultCodeAcceptedThenShown,
		check:    faultFlowCompleteIffAccepted,
	},
	{
		name:  "SyncFlow/SubmitOTP/verified",
		setup: func(t *testing.T, e *faultEnv) { e.enrolled(t, e.m, true); e.fail(t, faultFailures) },
		op: func(e *faultEnv) error {
			e.flowScopes = faultNeedsMFA
			return e.step(func(f *mfa.SyncFlow) (mfa.FlowState, error) {
				return f.SubmitOTP(e.ctx, mfatest.Code(e.t, e.secret, e.clock.Now()))
			})
		},
		errAfter: faultCodeAcceptedThenShown,
		check:    faultFlowCompleteIffAccepted,
	},
	{
		name:  "SyncFlow/SubmitRecoveryCode",
		setup: func(t *testing.T, e *faultEnv) { e.enrolled(t, e.m, true); e.fail(t, faultFailures) },
		op: func(e *faultEnv) error {
			e.flowScopes = faultNeedsMFA
			return e.step(func(f *mfa.SyncFlow) (mfa.FlowState, error) { return f.SubmitRecoveryCode(e.ctx, e.codes[0]) })
		},
		errAfter: faultCodeAcceptedThenShown,
		check:    faultFlowCompleteIffAccepted,
	},
	{
		name:  "SyncFlow/Acknowledge",
		setup: func(t *testing.T, e *faultEnv) { e.enrolled(t, e.m, false) },
		op: func(e *faultEnv) error {
			return e.step(func(f *mfa.SyncFlow) (mfa.FlowState, error) { return f.Acknowledge(e.ctx) })
		},
		errAfter: "the codes were acknowledged; only reading the device list the next view shows failed, " +
			"and the next Sync shows it",
	},
}

// sweepFaults runs one case and returns the number of faulted runs.
func sweepFaults(t *testing.T, keys faultKeys, tc faultCase) int {
	base := newFaultEnv(t, keys)
	tc.setup(t, base)
	before := base.snap(t)
	base.fs.Reset()
	err := tc.op(base)
	switch {
	case tc.wantErr == nil && err != nil:
		t.Fatalf("without a fault: %v", err)
	case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
		t.Fatalf("without a fault: got %v, want %v", err, tc.wantErr)
	}
	methods := base.fs.Methods()
	after := base.snap(t)
	checkFaultInvariants(t, "before", before)
	checkFaultInvariants(t, "after", after)
	if tc.check != nil {
		tc.check(t, base, "after")
	}
	if len(methods) == 0 {
		t.Fatal("the operation made no store call")
	}

	runs := 0
	for _, mode := range faultModes {
		for i := 1; i <= len(methods); i++ {
			runs++
			t.Run(fmt.Sprintf("%s/%d-%s", mode.name, i, methods[i-1]), func(t *testing.T) {
				e := newFaultEnv(t, keys)
				tc.setup(t, e)
				if d := diffFaultSnap(e.snap(t), before); d != "" {
					t.Fatalf("the starting state is not deterministic: %s", d)
				}
				e.fs.Reset()
				e.fs.Inject(mfatest.Fault{Call: i, Outage: mode.outage, Cancel: mode.cancel})
				err := tc.op(e)
				e.fs.Clear()
				calls := e.fs.Methods()
				if len(calls) < i || !slices.Equal(calls[:i], methods[:i]) {
					t.Fatalf("calls %v, want them to start with %v", calls, methods[:i])
				}
				if e.fs.Injected() == 0 {
					t.Fatal("the fault did not strike")
				}
				failed := calls[i-1 : i]
				if mode.outage {
					failed = calls[i-1:]
				}
				got := e.snap(t)
				checkFaultInvariants(t, "outcome", got)
				outcome := judgeFault(t, tc, mode.cancel, err, failed, before, after, got)
				for _, ex := range tc.exceptions {
					if outcome == ex.name && ex.event != "" && !e.reported(ex.event) {
						t.Errorf("%s: no %s event with ErrorCode %s", ex.name, ex.event, mfa.ErrStore.Code)
					}
				}
				if tc.check != nil && outcome != "" {
					tc.check(t, e, outcome)
				}
				if t.Failed() {
					t.Logf("store calls: %v; failed: %v", calls, failed)
				}
			})
		}
	}
	return runs
}

// judgeFault checks the error and the state a faulted run left, and
// returns the outcome's name ("" when it is not a legal one).
func judgeFault(t *testing.T, tc faultCase, cancel bool, err error, failed []string, before, after, got faultSnap) string {
	t.Helper()
	allowed := func(ex faultException) bool { return slices.Contains(failed, ex.method) }
	if err == nil {
		for _, ex := range tc.exceptions {
			if ex.succeeds && allowed(ex) && diffFaultSnap(got, ex.state(before, after)) == "" {
				return ex.name
			}
		}
		t.Errorf("succeeded although %v failed; state vs after: %s", failed, faultOrSame(diffFaultSnap(got, after)))
		return ""
	}
	cause := mfatest.ErrInjected
	if cancel {
		cause = context.Canceled
	}
	if !errors.Is(err, cause) || !errors.Is(err, mfa.ErrStore) {
		t.Errorf("error %v: want one that matches mfa.ErrStore and wraps %v", err, cause)
	}
	if diffFaultSnap(got, before) == "" {
		return "before"
	}
	dAfter := diffFaultSnap(got, after)
	if dAfter == "" && tc.errAfter != "" {
		return "after"
	}
	for _, ex := range tc.exceptions {
		if !ex.succeeds && allowed(ex) && diffFaultSnap(got, ex.state(before, after)) == "" {
			return ex.name
		}
	}
	if dAfter == "" {
		t.Errorf("returned %v but left the after state: the operation took effect and reports a failure", err)
	} else {
		t.Errorf("left a mixed state:\n  vs before: %s\n  vs after:  %s", diffFaultSnap(got, before), dAfter)
	}
	return ""
}

func faultOrSame(d string) string {
	if d == "" {
		return "same"
	}
	return d
}

// faultKeys are the fixed keyrings: old seals with the old key only; cur
// seals with a new key and still opens the old key's data.
type faultKeys struct{ old, cur *mfa.Keyring }

func newFaultKeys(t *testing.T) faultKeys {
	t.Helper()
	oldKey := mfa.Key{ID: "old", Secret: bytes.Repeat([]byte{1}, mfa.KeySize)}
	newKey := mfa.Key{ID: "new", Secret: bytes.Repeat([]byte{2}, mfa.KeySize)}
	old, err := mfa.NewKeyring(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := mfa.NewKeyring(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	return faultKeys{old: old, cur: cur}
}

// faultRand is a deterministic Config.Rand, safe for concurrent use as
// Config.Rand must be.
type faultRand struct {
	mu sync.Mutex
	r  *rand.ChaCha8
}

func (s *faultRand) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Read(p)
}

// faultTokenLog is memstore with a log of the hashes of the tokens inserted,
// so that a snapshot can tell which tokens exist.
type faultTokenLog struct {
	*memstore.Store
	mu     sync.Mutex
	hashes [][mfa.HashSize]byte
}

func (s *faultTokenLog) InsertToken(ctx context.Context, t mfa.TokenRecord) error {
	s.mu.Lock()
	s.hashes = append(s.hashes, t.Hash)
	s.mu.Unlock()
	return s.Store.InsertToken(ctx, t)
}

// faultEnv is one run: a store, a FaultStore over it, and two MFAs over
// the FaultStore, m with the current keys and old with the old key only.
type faultEnv struct {
	t     *testing.T
	ctx   context.Context
	keys  faultKeys
	clock *mfatest.Clock
	inner *faultTokenLog
	fs    *mfatest.FaultStore
	m     *mfa.MFA
	old   *mfa.MFA

	mu     sync.Mutex
	events []mfa.Event

	secret     string   // the device's TOTP secret
	codes      []string // the recovery codes
	token      string   // a token issued by the setup
	flowScopes []string // the session scopes of a flow step
	flow       *mfa.SyncFlow
	result     any // what the operation returned
}

func newFaultEnv(t *testing.T, keys faultKeys) *faultEnv {
	t.Helper()
	e := &faultEnv{
		t:     t,
		ctx:   context.Background(),
		keys:  keys,
		clock: mfatest.NewClock(time.Date(2026, 5, 6, 7, 8, 10, 0, time.UTC)),
		inner: &faultTokenLog{Store: memstore.New()},
	}
	e.fs = mfatest.NewFaultStore(e.inner)
	rnd := &faultRand{r: rand.NewChaCha8([32]byte{'f', 'a', 'u', 'l', 't', 's'})}
	newMFA := func(keys *mfa.Keyring) *mfa.MFA {
		m, err := mfa.New(mfa.Config{
			Store:   e.fs,
			Issuer:  "Acme",
			Keys:    keys,
			Actions: map[string]mfa.ActionPolicy{faultAction: {AllowUnenrolled: true}, faultPersistentAction: {Persistent: true}},
			Now:     e.clock.Now,
			Rand:    rnd,
			OnEvent: e.record,
		})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return m
	}
	e.m, e.old = newMFA(keys.cur), newMFA(keys.old)
	return e
}

func (e *faultEnv) record(_ context.Context, ev mfa.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, ev)
}

// reported reports whether an event of type typ came with a store error.
func (e *faultEnv) reported(typ mfa.EventType) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.ContainsFunc(e.events, func(ev mfa.Event) bool { return ev.Type == typ && ev.ErrorCode == mfa.ErrStore.Code })
}

func (e *faultEnv) ok(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("setup: %s: %v", what, err)
	}
}

// pending adds a pending device with m.
func (e *faultEnv) pending(t *testing.T, m *mfa.MFA) {
	t.Helper()
	reg, err := m.AddDevice(e.ctx, faultUserID)
	e.ok(t, "AddDevice", err)
	e.secret = reg.Secret
}

// enrolled adds and verifies a device with m, keeps its recovery codes
// and, if ack, acknowledges them. The clock moves to the next step.
func (e *faultEnv) enrolled(t *testing.T, m *mfa.MFA, ack bool) {
	t.Helper()
	e.pending(t, m)
	_, err := m.AuthenticateDevice(e.ctx, faultUserID, mfa.AuthenticateRequest{Code: mfatest.Code(t, e.secret, e.clock.Now())})
	e.ok(t, "AuthenticateDevice", err)
	e.codes, err = m.GetRecoveryCodes(e.ctx, faultUserID, false)
	e.ok(t, "GetRecoveryCodes", err)
	if ack {
		e.ok(t, "CompleteAcknowledgement", m.CompleteAcknowledgement(e.ctx, faultUserID))
	}
	e.clock.Advance(30 * time.Second)
}

// issue logs in with the current code to get a token; the clock moves to
// the next step.
func (e *faultEnv) issue(t *testing.T, req mfa.TokenRequest) {
	t.Helper()
	r, err := e.m.AuthenticateDevice(e.ctx, faultUserID, mfa.AuthenticateRequest{Code: mfatest.Code(t, e.secret, e.clock.Now()), CreateMFAToken: &req})
	e.ok(t, "AuthenticateDevice with a token", err)
	e.token = r.MFAToken.Value
	e.clock.Advance(30 * time.Second)
}

// fail makes n wrong login attempts.
func (e *faultEnv) fail(t *testing.T, n int) {
	t.Helper()
	for range n {
		if err := e.wrongLogin(); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("setup: wrong code: %v", err)
		}
	}
}

func (e *faultEnv) wrongLogin() error {
	_, err := e.m.AuthenticateDevice(e.ctx, faultUserID, mfa.AuthenticateRequest{Code: faultWrongCode(mfatest.Code(e.t, e.secret, e.clock.Now()))})
	return err
}

// faultWrongCode returns a code of the same length that differs from code.
func faultWrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// login logs in with the current code.
func (e *faultEnv) login() error {
	r, err := e.m.AuthenticateDevice(e.ctx, faultUserID, mfa.AuthenticateRequest{Code: mfatest.Code(e.t, e.secret, e.clock.Now())})
	e.result = r
	return err
}

func (e *faultEnv) deleteDevice() error {
	devices, err := e.inner.LoadUser(e.ctx, faultUserID, e.clock.Now())
	if err != nil || len(devices.Devices) != 1 {
		e.t.Fatalf("devices %+v, %v: want one", devices.Devices, err)
	}
	return e.m.DeleteDevice(e.ctx, faultUserID, devices.Devices[0].ID, e.token)
}

// step takes a step of a SyncFlow made for it, as a stateless server does
// for a request, with the session scopes e.flowScopes.
func (e *faultEnv) step(run func(*mfa.SyncFlow) (mfa.FlowState, error)) error {
	e.flow = e.m.NewSyncFlow(faultUserID, nil)
	e.flow.SetScopes(e.flowScopes)
	st, err := run(e.flow)
	e.result = st
	if err != st.Err {
		e.t.Errorf("step returned %v and FlowState.Err %v, want the same", err, st.Err)
	}
	return err
}

// faultSnap is the user's stored state: what LoadUser returns and which
// of the tokens inserted in the run still exist.
type faultSnap struct {
	st     mfa.UserState
	tokens map[[mfa.HashSize]byte]bool
}

func (s faultSnap) clone() faultSnap {
	c := faultSnap{st: s.st, tokens: make(map[[mfa.HashSize]byte]bool, len(s.tokens))}
	c.st.Devices = slices.Clone(s.st.Devices)
	for h := range s.tokens {
		c.tokens[h] = true
	}
	return c
}

// snap reads the state from the inner store, around the faults.
func (e *faultEnv) snap(t *testing.T) faultSnap {
	t.Helper()
	st, err := e.inner.LoadUser(e.ctx, faultUserID, e.clock.Now())
	if err != nil {
		t.Fatalf("LoadUser: %v", err)
	}
	// Sealed data reads as its key and plaintext: the nonces are random.
	for i, d := range st.Devices {
		st.Devices[i].Secret = []byte(mfa.SealedFingerprint(e.keys.cur, d.Secret, d.UserID, d.ID))
	}
	if st.RecoveryCodes.Sealed != nil {
		st.RecoveryCodes.Sealed = []byte(mfa.SealedFingerprint(e.keys.cur, st.RecoveryCodes.Sealed, faultUserID, ""))
	}
	s := faultSnap{st: st, tokens: map[[mfa.HashSize]byte]bool{}}
	e.inner.mu.Lock()
	hashes := slices.Clone(e.inner.hashes)
	e.inner.mu.Unlock()
	for _, h := range hashes {
		_, err := e.inner.Token(e.ctx, faultUserID, h)
		switch {
		case err == nil:
			s.tokens[h] = true
		case !errors.Is(err, mfa.ErrTokenInvalid):
			t.Fatalf("Token: %v", err)
		}
	}
	return s
}

// diffFaultSnap describes how a differs from b; "" when it does not.
func diffFaultSnap(a, b faultSnap) string {
	var d []string
	ad, bd := faultSortedDevices(a.st.Devices), faultSortedDevices(b.st.Devices)
	if len(ad) != len(bd) {
		d = append(d, fmt.Sprintf("%d devices, want %d", len(ad), len(bd)))
	} else {
		for i := range ad {
			if x := diffFaultDevice(ad[i], bd[i]); x != "" {
				d = append(d, "device "+ad[i].ID+": "+x)
			}
		}
	}
	ac, bc := a.st.RecoveryCodes, b.st.RecoveryCodes
	switch {
	case ac.KeyID != bc.KeyID:
		d = append(d, fmt.Sprintf("code key %q, want %q", ac.KeyID, bc.KeyID))
	case !sameFaultHashes(ac.Hashes, bc.Hashes):
		d = append(d, fmt.Sprintf("%d code hashes, want %d others", len(ac.Hashes), len(bc.Hashes)))
	}
	if ac.Pending() != bc.Pending() || !bytes.Equal(ac.Sealed, bc.Sealed) {
		d = append(d, fmt.Sprintf("codes pending %t, want %t (or other sealed codes)", ac.Pending(), bc.Pending()))
	}
	if !ac.CreatedAt.Equal(bc.CreatedAt) {
		d = append(d, "codes created at "+ac.CreatedAt.String())
	}
	if !a.st.Lockout.Equal(b.st.Lockout) {
		d = append(d, fmt.Sprintf("lockout %+v, want %+v", a.st.Lockout, b.st.Lockout))
	}
	if len(a.tokens) != len(b.tokens) {
		d = append(d, fmt.Sprintf("%d tokens, want %d", len(a.tokens), len(b.tokens)))
	} else {
		for h := range a.tokens {
			if !b.tokens[h] {
				d = append(d, "another token")
				break
			}
		}
	}
	return strings.Join(d, "; ")
}

func faultSortedDevices(ds []mfa.DeviceRecord) []mfa.DeviceRecord {
	ds = slices.Clone(ds)
	slices.SortFunc(ds, func(a, b mfa.DeviceRecord) int { return strings.Compare(a.ID, b.ID) })
	return ds
}

func diffFaultDevice(a, b mfa.DeviceRecord) string {
	var d []string
	field := func(name string, same bool) {
		if !same {
			d = append(d, name)
		}
	}
	field("ID", a.ID == b.ID)
	field("UserID", a.UserID == b.UserID)
	field("Type", a.Type == b.Type)
	field("Alias", a.Alias == b.Alias)
	field("AccountName", a.AccountName == b.AccountName)
	field("Secret", bytes.Equal(a.Secret, b.Secret))
	field("Verified", a.Verified == b.Verified)
	field("CreatedAt", a.CreatedAt.Equal(b.CreatedAt))
	field("ExpiresAt", a.ExpiresAt.Equal(b.ExpiresAt))
	field("VerifiedAt", a.VerifiedAt.Equal(b.VerifiedAt))
	field("LastUsedAt", a.LastUsedAt.Equal(b.LastUsedAt))
	field("LastStep", a.LastStep == b.LastStep)
	if len(d) == 0 {
		return ""
	}
	return strings.Join(d, ", ") + " differ"
}

func sameFaultHashes(a, b [][mfa.HashSize]byte) bool {
	count := make(map[[mfa.HashSize]byte]int, len(a))
	for _, h := range a {
		count[h]++
	}
	for _, h := range b {
		count[h]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

// checkFaultInvariants checks what must hold in every state: at most one
// verified and one pending device, recovery codes beside a verified device
// and never without one.
func checkFaultInvariants(t *testing.T, name string, s faultSnap) {
	t.Helper()
	verified, pending := 0, 0
	for _, d := range s.st.Devices {
		if d.Verified {
			verified++
		} else {
			pending++
		}
	}
	codes := s.st.RecoveryCodes
	hasCodes := codes.KeyID != "" || len(codes.Hashes) > 0 || codes.Sealed != nil
	switch {
	case verified > 1 || pending > 1:
		t.Errorf("%s state: %d verified and %d pending devices", name, verified, pending)
	case verified == 1 && !hasCodes:
		t.Errorf("%s state: a verified device without recovery codes", name)
	case verified == 0 && hasCodes:
		t.Errorf("%s state: recovery codes without a verified device", name)
	}
}
