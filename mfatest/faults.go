package mfatest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/mfakit/mfa"
)

// ErrInjected is the error a [FaultStore] returns from a call it fails,
// unless the [Fault] names another. The error returned wraps it, so test
// with errors.Is.
var ErrInjected = errors.New("mfatest: injected store failure")

// Fault says which calls a [FaultStore] fails and how. The zero Fault fails
// every call with ErrInjected, as a store that is down.
type Fault struct {
	// Method restricts the fault to calls of the store method of that name,
	// e.g. "AcceptStep" or "Cleanup"; "" matches every method.
	Method string
	// Call is the matching call to fail, counted from 1 when the fault is
	// set: with Method "", Call 3 fails the third store call of whatever
	// method. 0 fails every matching call.
	Call int
	// Outage fails every matching call from the Call-th on rather than
	// that one only, as a store that goes down in the middle of an
	// operation, or a request whose context is cancelled there.
	Outage bool
	// Err is the error a failed call returns, wrapped with the method and
	// the call's position in [FaultStore.Methods]; nil means ErrInjected.
	Err error
	// Cancel makes a failed call reach the inner store with a cancelled
	// context instead of returning Err, and return what the inner store
	// returns. The Store contract requires that to be an error wrapping
	// context.Canceled with nothing changed; when the inner store returns
	// anything else, the call returns an error that says so and does not
	// wrap context.Canceled.
	Cancel bool
}

// FaultStore is an [mfa.Store] that passes every call to an inner store
// and fails the calls its [Fault] selects, so that a test can check what
// mfakit, or code above it, does when the store fails at any point of an
// operation. It logs every call: a test runs an operation once to count
// its calls, then fails each of them in turn.
//
// FaultStore implements [mfa.Cleaner]. When the inner store is a Cleaner
// too, Cleanup is a store call like the others; when it is not, Cleanup
// does nothing, returns nil and is neither logged nor failed, just as
// [mfa.MFA.Cleanup] treats such a store.
//
// A FaultStore is safe for concurrent use; the call log then follows the
// order in which calls arrive.
type FaultStore struct {
	inner mfa.Store

	mu       sync.Mutex
	calls    []string
	fault    *Fault
	matched  int // calls the fault matched since it was set
	injected int
}

var (
	_ mfa.Store   = (*FaultStore)(nil)
	_ mfa.Cleaner = (*FaultStore)(nil)
)

// storeMethods are the names a Fault may select.
var storeMethods = []string{
	"LoadUser", "DeleteUser",
	"InsertPendingDevice", "ImportDevice", "SetDefaultDevice", "VerifyDevice", "AcceptStep", "UpdateDeviceSecret", "DeleteDevice",
	"ReplaceRecoveryCodes", "ConsumeRecoveryCode", "AcknowledgeRecoveryCodes",
	"InsertToken", "Token", "ConsumeToken",
	"Lockout", "SwapLockout",
	"VerifyPasskey", "AcceptPasskey", "PutChallenge", "TakeChallenge",
	"Cleanup",
}

// NewFaultStore returns a FaultStore over inner with no fault set.
func NewFaultStore(inner mfa.Store) *FaultStore {
	return &FaultStore{inner: inner}
}

// Inject sets the fault, replacing any previous one. Its calls are counted
// from this point. It panics when fault.Method names no store method, since
// such a fault would never strike.
func (f *FaultStore) Inject(fault Fault) {
	if fault.Method != "" && !slices.Contains(storeMethods, fault.Method) {
		panic(fmt.Sprintf("mfatest: Fault.Method %q is not a method of mfa.Store or mfa.Cleaner", fault.Method))
	}
	if fault.Call < 0 {
		panic(fmt.Sprintf("mfatest: Fault.Call %d is negative", fault.Call))
	}
	if fault.Err == nil {
		fault.Err = ErrInjected
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault, f.matched = &fault, 0
}

// Clear removes the fault: every call from now on reaches the inner store.
func (f *FaultStore) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = nil
}

// Reset removes the fault and forgets the calls made so far.
func (f *FaultStore) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault, f.calls, f.injected = nil, nil, 0
}

// Calls returns the number of store calls made since the FaultStore was
// made or last Reset, failed ones included.
func (f *FaultStore) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// Methods returns the names of the store methods called since the
// FaultStore was made or last Reset, in order: Methods()[i-1] is the
// method of call i.
func (f *FaultStore) Methods() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Injected returns the number of calls failed since the FaultStore was
// made or last Reset.
func (f *FaultStore) Injected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected
}

// begin logs a call of method and decides its fate: a nil ctx and nil
// error to pass it on unchanged; a cancelled ctx to pass on instead; or
// the error to return without calling the inner store.
func (f *FaultStore) begin(ctx context.Context, method string) (context.Context, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, method)
	n := len(f.calls)
	fl := f.fault
	if fl == nil || (fl.Method != "" && fl.Method != method) {
		return nil, nil
	}
	f.matched++
	switch {
	case fl.Call == 0, f.matched == fl.Call, fl.Outage && f.matched > fl.Call:
	default:
		return nil, nil
	}
	f.injected++
	if fl.Cancel {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		return cctx, nil
	}
	return nil, fmt.Errorf("%w (call %d, %s)", fl.Err, n, method)
}

// cancelled checks what the inner store returned for a call made with a
// cancelled context.
func cancelled(method string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("mfatest: %s with a cancelled context returned %v, want an error wrapping context.Canceled (Store contract)", method, err)
}

// call makes one store call of method, fn, through the fault: it fails the
// call, makes it with a cancelled context, or passes it on.
func call[T any](f *FaultStore, ctx context.Context, method string, fn func(context.Context) (T, error)) (T, error) {
	cctx, err := f.begin(ctx, method)
	switch {
	case err != nil:
		var zero T
		return zero, err
	case cctx != nil:
		v, err := fn(cctx)
		return v, cancelled(method, err)
	}
	return fn(ctx)
}

// call0 is call for a method that returns only an error.
func call0(f *FaultStore, ctx context.Context, method string, fn func(context.Context) error) error {
	_, err := call(f, ctx, method, func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) })
	return err
}

// LoadUser implements mfa.UserStore.
func (f *FaultStore) LoadUser(ctx context.Context, userID string, now time.Time) (mfa.UserState, error) {
	return call(f, ctx, "LoadUser", func(ctx context.Context) (mfa.UserState, error) { return f.inner.LoadUser(ctx, userID, now) })
}

// DeleteUser implements mfa.UserStore.
func (f *FaultStore) DeleteUser(ctx context.Context, userID string) error {
	return call0(f, ctx, "DeleteUser", func(ctx context.Context) error { return f.inner.DeleteUser(ctx, userID) })
}

// InsertPendingDevice implements mfa.DeviceStore.
func (f *FaultStore) InsertPendingDevice(ctx context.Context, d mfa.DeviceRecord, limit int) error {
	return call0(f, ctx, "InsertPendingDevice", func(ctx context.Context) error { return f.inner.InsertPendingDevice(ctx, d, limit) })
}

// ImportDevice implements mfa.DeviceStore.
func (f *FaultStore) ImportDevice(ctx context.Context, d mfa.DeviceRecord, codes mfa.RecoveryCodeSet, limit int) error {
	return call0(f, ctx, "ImportDevice", func(ctx context.Context) error { return f.inner.ImportDevice(ctx, d, codes, limit) })
}

// SetDefaultDevice implements mfa.DeviceStore.
func (f *FaultStore) SetDefaultDevice(ctx context.Context, userID, deviceID string) error {
	return call0(f, ctx, "SetDefaultDevice", func(ctx context.Context) error { return f.inner.SetDefaultDevice(ctx, userID, deviceID) })
}

// VerifyDevice implements mfa.DeviceStore.
func (f *FaultStore) VerifyDevice(ctx context.Context, userID, deviceID string, step int64, at time.Time, codes mfa.RecoveryCodeSet, lk mfa.Lockout, limit int) error {
	return call0(f, ctx, "VerifyDevice", func(ctx context.Context) error {
		return f.inner.VerifyDevice(ctx, userID, deviceID, step, at, codes, lk, limit)
	})
}

// AcceptStep implements mfa.DeviceStore.
func (f *FaultStore) AcceptStep(ctx context.Context, userID, deviceID string, step int64, at time.Time, lk mfa.Lockout) error {
	return call0(f, ctx, "AcceptStep", func(ctx context.Context) error { return f.inner.AcceptStep(ctx, userID, deviceID, step, at, lk) })
}

// UpdateDeviceSecret implements mfa.DeviceStore.
func (f *FaultStore) UpdateDeviceSecret(ctx context.Context, userID, deviceID string, secret []byte) error {
	return call0(f, ctx, "UpdateDeviceSecret", func(ctx context.Context) error {
		return f.inner.UpdateDeviceSecret(ctx, userID, deviceID, secret)
	})
}

// DeleteDevice implements mfa.DeviceStore.
func (f *FaultStore) DeleteDevice(ctx context.Context, userID, deviceID string) error {
	return call0(f, ctx, "DeleteDevice", func(ctx context.Context) error { return f.inner.DeleteDevice(ctx, userID, deviceID) })
}

// ReplaceRecoveryCodes implements mfa.RecoveryCodeStore.
func (f *FaultStore) ReplaceRecoveryCodes(ctx context.Context, userID string, set mfa.RecoveryCodeSet) error {
	return call0(f, ctx, "ReplaceRecoveryCodes", func(ctx context.Context) error { return f.inner.ReplaceRecoveryCodes(ctx, userID, set) })
}

// ConsumeRecoveryCode implements mfa.RecoveryCodeStore.
func (f *FaultStore) ConsumeRecoveryCode(ctx context.Context, userID string, hash [mfa.HashSize]byte, at time.Time, lk mfa.Lockout) (int, error) {
	return call(f, ctx, "ConsumeRecoveryCode", func(ctx context.Context) (int, error) {
		return f.inner.ConsumeRecoveryCode(ctx, userID, hash, at, lk)
	})
}

// AcknowledgeRecoveryCodes implements mfa.RecoveryCodeStore.
func (f *FaultStore) AcknowledgeRecoveryCodes(ctx context.Context, userID string, notAfter time.Time) error {
	return call0(f, ctx, "AcknowledgeRecoveryCodes", func(ctx context.Context) error {
		return f.inner.AcknowledgeRecoveryCodes(ctx, userID, notAfter)
	})
}

// InsertToken implements mfa.TokenStore.
func (f *FaultStore) InsertToken(ctx context.Context, t mfa.TokenRecord) error {
	return call0(f, ctx, "InsertToken", func(ctx context.Context) error { return f.inner.InsertToken(ctx, t) })
}

// Token implements mfa.TokenStore.
func (f *FaultStore) Token(ctx context.Context, userID string, hash [mfa.HashSize]byte) (mfa.TokenRecord, error) {
	return call(f, ctx, "Token", func(ctx context.Context) (mfa.TokenRecord, error) { return f.inner.Token(ctx, userID, hash) })
}

// ConsumeToken implements mfa.TokenStore.
func (f *FaultStore) ConsumeToken(ctx context.Context, userID string, hash [mfa.HashSize]byte, now time.Time) error {
	return call0(f, ctx, "ConsumeToken", func(ctx context.Context) error { return f.inner.ConsumeToken(ctx, userID, hash, now) })
}

// Lockout implements mfa.LockoutStore.
func (f *FaultStore) Lockout(ctx context.Context, userID string) (mfa.Lockout, error) {
	return call(f, ctx, "Lockout", func(ctx context.Context) (mfa.Lockout, error) { return f.inner.Lockout(ctx, userID) })
}

// SwapLockout implements mfa.LockoutStore.
func (f *FaultStore) SwapLockout(ctx context.Context, userID string, old, next mfa.Lockout) (bool, error) {
	return call(f, ctx, "SwapLockout", func(ctx context.Context) (bool, error) { return f.inner.SwapLockout(ctx, userID, old, next) })
}

// VerifyPasskey implements mfa.PasskeyStore.
func (f *FaultStore) VerifyPasskey(ctx context.Context, userID, deviceID string, cred mfa.PasskeyCredential, at time.Time, codes mfa.RecoveryCodeSet, lk mfa.Lockout, limit int) error {
	return call0(f, ctx, "VerifyPasskey", func(ctx context.Context) error {
		return f.inner.VerifyPasskey(ctx, userID, deviceID, cred, at, codes, lk, limit)
	})
}

// AcceptPasskey implements mfa.PasskeyStore.
func (f *FaultStore) AcceptPasskey(ctx context.Context, userID, deviceID string, signCount uint32, backupState bool, at time.Time, lk mfa.Lockout) error {
	return call0(f, ctx, "AcceptPasskey", func(ctx context.Context) error {
		return f.inner.AcceptPasskey(ctx, userID, deviceID, signCount, backupState, at, lk)
	})
}

// PutChallenge implements mfa.PasskeyStore.
func (f *FaultStore) PutChallenge(ctx context.Context, c mfa.ChallengeRecord) error {
	return call0(f, ctx, "PutChallenge", func(ctx context.Context) error { return f.inner.PutChallenge(ctx, c) })
}

// TakeChallenge implements mfa.PasskeyStore.
func (f *FaultStore) TakeChallenge(ctx context.Context, userID string, now time.Time) (mfa.ChallengeRecord, error) {
	return call(f, ctx, "TakeChallenge", func(ctx context.Context) (mfa.ChallengeRecord, error) {
		return f.inner.TakeChallenge(ctx, userID, now)
	})
}

// Cleanup implements mfa.Cleaner by passing the call to the inner store
// when it is a Cleaner; otherwise it does nothing (see [FaultStore]).
func (f *FaultStore) Cleanup(ctx context.Context, now, sealedNotAfter time.Time) error {
	c, ok := f.inner.(mfa.Cleaner)
	if !ok {
		return nil
	}
	return call0(f, ctx, "Cleanup", func(ctx context.Context) error { return c.Cleanup(ctx, now, sealedNotAfter) })
}
