package mfa

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
)

// View is the screen a custom MFA UI shows, as useSyncMfaFlow switches it.
type View string

// The four views of the guide's custom UI.
const (
	ViewDevices     View = "devices"      // the device list
	ViewQRCode      View = "qr-code"      // a new device's QR code and secret
	ViewOTP         View = "otp"          // the code input
	ViewBackupCodes View = "backup-codes" // recovery codes to save
)

// FlowState is what a UI needs to render after a step of a [SyncFlow].
type FlowState struct {
	View View
	// Registration is the device to add, on ViewQRCode.
	Registration *Registration
	// RecoveryCodes are the codes to save, on ViewBackupCodes.
	RecoveryCodes []string
	// Devices is the user's device list, on ViewDevices.
	Devices []Device
	// Methods are what the user can answer with on ViewOTP (the hosted
	// SDK's getMfaMethods): a UI offers the passkey prompt when it holds
	// MethodPasskey, the code input otherwise, and a way to switch.
	Methods []Method
	// Err is why the last step failed (a wrong code, a refused step, a
	// store failure); nil when it succeeded.
	Err error
	// Complete is true when the session no longer needs additional auth.
	Complete bool
}

// String describes s without the registration's secret or the recovery
// codes, so that a logged FlowState reveals neither.
func (s FlowState) String() string {
	reg := "<nil>"
	if s.Registration != nil {
		reg = s.Registration.String()
	}
	return fmt.Sprintf("mfa.FlowState{View: %s, Registration: %s, RecoveryCodes: [%d redacted], Devices: %d, Err: %v, Complete: %t}",
		s.View, reg, len(s.RecoveryCodes), len(s.Devices), s.Err, s.Complete)
}

// GoString is like String.
func (s FlowState) GoString() string { return s.String() }

// LogValue implements slog.LogValuer like String.
func (s FlowState) LogValue() slog.Value { return slog.StringValue(s.String()) }

// SyncFlow is the view state machine of the hosted SDK's useSyncMfaFlow:
// it tells a custom UI which view to show and moves between views as the
// user acts. It acts when the session's scopes hold
// [ScopeRequiresAdditionalAuth] (a login waiting for its second factor) or
// the user's recovery codes wait for acknowledgement.
//
// A SyncFlow keeps only the session's scopes; it derives where the user
// stands from the store on every step. A stateless server can therefore
// make a new SyncFlow for each request, call [SyncFlow.SetScopes] with the
// session's scopes, and take the step the request asks for, on any
// instance. When a code succeeds the flow drops requiresAdditionalAuth from
// its scopes and reports Complete; the application then upgrades its
// session.
//
// Each step returns the new FlowState and calls the handler with it. A
// step's failure (a wrong code, a step the current view does not allow, a
// store failure) lands in FlowState.Err; the returned error is the same
// value, for callers that prefer to check it. A SyncFlow is safe for
// concurrent use, though one per session and request is the usual way.
type SyncFlow struct {
	m       *MFA
	userID  string
	handler func(context.Context, FlowState)

	mu         sync.Mutex
	scopes     []string
	deviceOpts []DeviceOption
	view       View // the view of the last state, shown again with a refused step
}

// NewSyncFlow returns a flow for userID. handler, if not nil, is called
// with the state after every step.
func (m *MFA) NewSyncFlow(userID string, handler func(context.Context, FlowState)) *SyncFlow {
	return &SyncFlow{m: m, userID: userID, handler: handler}
}

// SetScopes sets the session's scopes without taking a step, for a flow
// rebuilt on a request that goes on with another step.
func (f *SyncFlow) SetScopes(scopes []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scopes = slices.Clone(scopes)
}

// SetDeviceOptions sets the options of the devices the flow adds, e.g.
// [WithAccountName] with the user's email address for the authenticator
// app's label.
func (f *SyncFlow) SetDeviceOptions(opts ...DeviceOption) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deviceOpts = slices.Clone(opts)
}

// Scopes returns the session's scopes as the flow sees them: without
// requiresAdditionalAuth once a code has succeeded.
func (f *SyncFlow) Scopes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.scopes)
}

// phase is where the user stands, derived from the store and the scopes.
type phase int

const (
	phaseNoDevice     phase = iota // needs MFA, no device
	phasePending                   // a pending device: enrolment under way
	phaseVerified                  // needs MFA, verified device
	phaseCodesPending              // recovery codes wait for acknowledgement
	phaseIdle                      // nothing needed
	phaseCount
)

type event int

const (
	eventSync event = iota
	eventAddDevice
	eventContinue
	eventSubmitOTP
	eventSubmitRecoveryCode
	eventSubmitPasskey
	eventAcknowledge
	eventCount
)

type step func(f *SyncFlow, ctx context.Context, input string) FlowState

// flowTable is the whole state machine: the step each event takes in each
// phase. A nil entry is a refused step (ErrInvalidStep). SubmitOTP and
// SubmitRecoveryCode go to backup-codes when codes wait for
// acknowledgement, else to devices; a wrong code stays on otp with Err.
var flowTable = [phaseCount][eventCount]step{
	phaseNoDevice: {
		eventSync:      (*SyncFlow).newRegistration,
		eventAddDevice: (*SyncFlow).newRegistration,
	},
	phasePending: {
		eventSync:      (*SyncFlow).sameRegistration,
		eventAddDevice: (*SyncFlow).newRegistration,
		eventContinue:  (*SyncFlow).showOTP,
		eventSubmitOTP: (*SyncFlow).submitOTP,
	},
	phaseVerified: {
		eventSync:               (*SyncFlow).showOTP,
		eventAddDevice:          (*SyncFlow).deviceLimit,
		eventSubmitOTP:          (*SyncFlow).submitOTP,
		eventSubmitRecoveryCode: (*SyncFlow).submitRecoveryCode,
		eventSubmitPasskey:      (*SyncFlow).submitPasskey,
	},
	phaseCodesPending: {
		eventSync:        (*SyncFlow).showBackupCodes,
		eventAcknowledge: (*SyncFlow).acknowledge,
	},
	phaseIdle: {
		eventSync:      (*SyncFlow).showDevices,
		eventAddDevice: (*SyncFlow).newRegistration,
	},
}

// phase reads the user's state from the store.
func (f *SyncFlow) phase(ctx context.Context) (phase, error) {
	if err := validateUserID(f.userID); err != nil {
		return 0, err
	}
	now := f.m.now()
	st, err := f.m.store.LoadUser(ctx, f.userID, now)
	if err != nil {
		return 0, f.m.storeErr(ctx, "load user", err)
	}
	verified, pending := false, false
	for _, d := range st.Devices {
		verified = verified || d.Verified
		pending = pending || !d.Verified && d.Type == DeviceTOTP // a pending passkey has no QR code
	}
	needsMFA := slices.Contains(f.scopes, ScopeRequiresAdditionalAuth)
	switch {
	case needsMFA && verified:
		return phaseVerified, nil
	case pending && !verified:
		return phasePending, nil
	case needsMFA:
		return phaseNoDevice, nil
	case verified && f.m.revealable(st.RecoveryCodes, now):
		return phaseCodesPending, nil
	}
	return phaseIdle, nil
}

// run takes one step: it derives the phase, looks the event up in the
// table, and reports the resulting state.
func (f *SyncFlow) run(ctx context.Context, ev event, input string) (FlowState, error) {
	f.mu.Lock()
	p, err := f.phase(ctx)
	var st FlowState
	switch {
	case err != nil:
		st = FlowState{View: f.view, Err: err}
	case flowTable[p][ev] == nil:
		st = FlowState{View: f.view, Err: newError(ErrInvalidStep, "", "")}
	default:
		st = flowTable[p][ev](f, ctx, input)
	}
	if st.View == "" {
		st.View = defaultView[p]
	}
	f.view = st.View
	st.Complete = !slices.Contains(f.scopes, ScopeRequiresAdditionalAuth)
	f.mu.Unlock()
	if f.handler != nil {
		f.handler(ctx, st)
	}
	return st, st.Err
}

// defaultView is shown when a flow without history refuses a step.
var defaultView = [phaseCount]View{
	phaseNoDevice:     ViewQRCode,
	phasePending:      ViewQRCode,
	phaseVerified:     ViewOTP,
	phaseCodesPending: ViewBackupCodes,
	phaseIdle:         ViewDevices,
}

// Sync sets the session's scopes and shows the view the user's state
// calls for: the QR code of a new or pending device, the code input, the
// recovery codes to save, or the device list.
func (f *SyncFlow) Sync(ctx context.Context, scopes []string) (FlowState, error) {
	f.SetScopes(scopes)
	return f.run(ctx, eventSync, "")
}

// AddDevice starts a new device (replacing a pending one) and shows its QR
// code; ErrDeviceLimit while the user has a verified device.
func (f *SyncFlow) AddDevice(ctx context.Context) (FlowState, error) {
	return f.run(ctx, eventAddDevice, "")
}

// Continue moves from a pending device's QR code to the code input.
func (f *SyncFlow) Continue(ctx context.Context) (FlowState, error) {
	return f.run(ctx, eventContinue, "")
}

// SubmitOTP checks a TOTP code. On success the session is complete and the
// flow shows the recovery codes if they wait for acknowledgement (always
// after a new device), else the device list; on failure it stays on the
// code input with Err set.
func (f *SyncFlow) SubmitOTP(ctx context.Context, code string) (FlowState, error) {
	return f.run(ctx, eventSubmitOTP, code)
}

// SubmitRecoveryCode checks a recovery code in place of a TOTP code, with
// the same outcomes as [SyncFlow.SubmitOTP].
func (f *SyncFlow) SubmitRecoveryCode(ctx context.Context, code string) (FlowState, error) {
	return f.run(ctx, eventSubmitRecoveryCode, code)
}

// SubmitPasskey checks the browser's answer to
// [MFA.BeginPasskeyAuthentication] in place of a TOTP code, with the same
// outcomes as [SyncFlow.SubmitOTP].
func (f *SyncFlow) SubmitPasskey(ctx context.Context, response json.RawMessage) (FlowState, error) {
	return f.run(ctx, eventSubmitPasskey, string(response))
}

// Acknowledge records that the user saved the recovery codes and shows the
// device list.
func (f *SyncFlow) Acknowledge(ctx context.Context) (FlowState, error) {
	return f.run(ctx, eventAcknowledge, "")
}

func (f *SyncFlow) newRegistration(ctx context.Context, _ string) FlowState {
	reg, err := f.m.AddDevice(ctx, f.userID, f.deviceOpts...)
	if err != nil {
		return FlowState{View: f.view, Err: err}
	}
	return FlowState{View: ViewQRCode, Registration: reg}
}

func (f *SyncFlow) sameRegistration(ctx context.Context, _ string) FlowState {
	reg, err := f.m.PendingRegistration(ctx, f.userID)
	return FlowState{View: ViewQRCode, Registration: reg, Err: err}
}

func (f *SyncFlow) showOTP(ctx context.Context, _ string) FlowState { return f.otp(ctx, nil) }

// otp is the code input with the user's methods, and err.
func (f *SyncFlow) otp(ctx context.Context, err error) FlowState {
	methods, merr := f.m.GetMFAMethods(ctx, f.userID)
	if err == nil {
		err = merr
	}
	return FlowState{View: ViewOTP, Methods: methods, Err: err}
}

func (f *SyncFlow) deviceLimit(ctx context.Context, _ string) FlowState {
	return f.otp(ctx, newError(ErrDeviceLimit, "", ""))
}

func (f *SyncFlow) submitOTP(ctx context.Context, code string) FlowState {
	res, err := f.m.AuthenticateDevice(ctx, f.userID, AuthenticateRequest{Code: code})
	return f.afterCode(ctx, res, err)
}

func (f *SyncFlow) submitRecoveryCode(ctx context.Context, code string) FlowState {
	res, err := f.m.AuthenticateRecoveryCode(ctx, f.userID, RecoveryRequest{Code: code})
	return f.afterCode(ctx, res, err)
}

func (f *SyncFlow) submitPasskey(ctx context.Context, response string) FlowState {
	res, err := f.m.AuthenticatePasskey(ctx, f.userID, PasskeyRequest{Response: json.RawMessage(response)})
	return f.afterCode(ctx, res, err)
}

// afterCode completes the session after a correct code and shows what
// comes next.
func (f *SyncFlow) afterCode(ctx context.Context, res *AuthResult, err error) FlowState {
	if err != nil {
		return f.otp(ctx, err)
	}
	f.scopes = slices.DeleteFunc(f.scopes, func(s string) bool { return s == ScopeRequiresAdditionalAuth })
	if res.RecoveryCodesPending {
		return f.showBackupCodes(ctx, "")
	}
	return f.showDevices(ctx, "")
}

func (f *SyncFlow) showBackupCodes(ctx context.Context, _ string) FlowState {
	codes, err := f.m.GetRecoveryCodes(ctx, f.userID, false)
	return FlowState{View: ViewBackupCodes, RecoveryCodes: codes, Err: err}
}

func (f *SyncFlow) acknowledge(ctx context.Context, _ string) FlowState {
	if err := f.m.CompleteAcknowledgement(ctx, f.userID); err != nil {
		return FlowState{View: ViewBackupCodes, Err: err}
	}
	return f.showDevices(ctx, "")
}

func (f *SyncFlow) showDevices(ctx context.Context, _ string) FlowState {
	devices, err := f.m.GetUserDevices(ctx, f.userID)
	return FlowState{View: ViewDevices, Devices: devices, Err: err}
}
