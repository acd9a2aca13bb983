package mfa_test

import (
	"context"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
)

func retryAfter(t *testing.T, err error) time.Duration {
	t.Helper()
	var e *mfa.Error
	if !errors.Is(err, mfa.ErrRateLimited) || !errors.As(err, &e) {
		t.Fatalf("got %v, want ErrRateLimited", err)
	}
	return e.RetryAfter
}

func TestLockoutBackoff(t *testing.T) {
	e := newEnv(t)
	secret, _ := e.enrol(t, "alice")
	login := func(code string) error {
		_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: code})
		return err
	}
	// Five failures are allowed without delay.
	for range 5 {
		mustErr(t, login(wrong(e.code(t, secret, 0))), mfa.ErrInvalidCode)
	}
	if !e.events.has(mfa.EventLockedOut) {
		t.Fatal("no locked_out event at the fifth failure")
	}
	// Locked: even the correct code is refused, and nothing is counted.
	before := e.state(t, "alice")
	if got := retryAfter(t, login(e.code(t, secret, 0))); got != 30*time.Second {
		t.Fatalf("first wait %s, want 30s", got)
	}
	e.unchanged(t, "alice", before)
	e.clock.Advance(29 * time.Second)
	if got := retryAfter(t, login(e.code(t, secret, 0))); got != time.Second {
		t.Fatalf("wait after 29s %s, want 1s", got)
	}
	// Each further failure doubles the wait, up to an hour.
	want := 30 * time.Second
	for range 10 {
		e.clock.Advance(retryAfter(t, login("000000")))
		mustErr(t, login(wrong(e.code(t, secret, 0))), mfa.ErrInvalidCode)
		want = min(2*want, time.Hour)
		if got := retryAfter(t, login(e.code(t, secret, 0))); got != want {
			t.Fatalf("wait %s, want %s", got, want)
		}
	}
	// A success resets the count: five failures are allowed again.
	e.clock.Advance(time.Hour)
	mustOK(t, login(e.code(t, secret, 0)))
	e.clock.Advance(30 * time.Second)
	for range 5 {
		mustErr(t, login(wrong(e.code(t, secret, 0))), mfa.ErrInvalidCode)
	}
	retryAfter(t, login(e.code(t, secret, 0)))
}

// TestLockoutCountsRecoveryCodesToo: TOTP and recovery code failures add up.
func TestLockoutCountsRecoveryCodesToo(t *testing.T) {
	e := newEnv(t)
	secret, codes := e.enrol(t, "alice")
	for i := range 5 {
		var err error
		if i%2 == 0 {
			_, err = e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: "aaaa-bbbb-cccc-dddd"})
		} else {
			_, err = e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: wrong(e.code(t, secret, 0))})
		}
		mustErr(t, err, mfa.ErrInvalidCode)
	}
	_, err := e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: codes[0]})
	retryAfter(t, err)
	e.clock.Advance(30 * time.Second)
	_, err = e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: codes[0]})
	mustOK(t, err)
}

// TestLockoutHardLimit: after 100 consecutive failures (NIST SP 800-63B
// §5.2.2) no wait unlocks the user; only ResetUser does.
func TestLockoutHardLimit(t *testing.T) {
	e := newEnv(t)
	secret, _ := e.enrol(t, "alice")
	for i := range 100 {
		_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: wrong(e.code(t, secret, 0))})
		if !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
		e.clock.Advance(time.Hour)
	}
	e.clock.Advance(1000 * time.Hour)
	_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, secret, 0)})
	if wait := retryAfter(t, err); wait != 0 {
		t.Fatalf("hard lockout says wait %s; want 0 (until an operator unlocks)", wait)
	}
	// UnlockUser lifts the lockout and changes nothing else: the device
	// and the recovery codes stay, so nobody can enrol a device of their
	// own on the way out of a lockout.
	before := e.state(t, "alice")
	mustOK(t, e.m.UnlockUser(e.ctx, "alice"))
	after := e.state(t, "alice")
	if !after.Lockout.Equal(mfa.Lockout{}) {
		t.Fatalf("lockout after UnlockUser: %+v", after.Lockout)
	}
	before.Lockout = mfa.Lockout{}
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("UnlockUser changed more than the lockout:\nbefore %+v\nafter  %+v", before, after)
	}
	var unlocked []mfa.Event
	for _, ev := range e.events.take() {
		if ev.Type == mfa.EventUserUnlocked {
			unlocked = append(unlocked, ev)
		}
	}
	if len(unlocked) != 1 || unlocked[0].UserID != "alice" || unlocked[0].Failures != 100 {
		t.Fatalf("user.unlocked events %+v, want one for alice after 100 failures", unlocked)
	}
	_, err = e.m.AddDevice(e.ctx, "alice")
	mustErr(t, err, mfa.ErrDeviceLimit)
	_, err = e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, secret, 0)})
	mustOK(t, err)
	// Unlocking a user who is not locked is harmless.
	mustOK(t, e.m.UnlockUser(e.ctx, "alice"))
	mustOK(t, e.m.UnlockUser(e.ctx, "nobody"))
}

// TestLockoutBackoffDoesNotOverflow doubles a BaseDelay of 1 s towards
// the largest MaxDelay a Duration holds. Doubling 62 times and more would
// overflow into a negative wait that locks nobody; every wait must stay
// positive and never shrink.
func TestLockoutBackoffDoesNotOverflow(t *testing.T) {
	e := newEnv(t, func(c *mfa.Config) {
		c.Lockout = mfa.LockoutConfig{Threshold: 1, BaseDelay: time.Second, MaxDelay: math.MaxInt64, MaxFailures: 100}
	})
	secret, _ := e.enrol(t, "alice")
	last := time.Duration(0)
	prev := mfa.Lockout{}
	for failures := 1; failures < 100; failures++ {
		// Set the count directly: waiting out 2^62 seconds is not a test.
		next := mfa.Lockout{Failures: failures, LastFailure: e.clock.Now()}
		if ok, err := e.store.SwapLockout(e.ctx, "alice", prev, next); err != nil || !ok {
			t.Fatalf("SwapLockout: %t, %v", ok, err)
		}
		prev = next
		_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, secret, 0)})
		wait := retryAfter(t, err)
		if wait <= 0 || wait < last {
			t.Fatalf("after %d failures a correct code got wait %s (the one before: %s)", failures, wait, last)
		}
		last = wait
	}
	if last != math.MaxInt64 {
		t.Fatalf("longest wait %s, want MaxDelay", last)
	}
}

func TestLockoutConfig(t *testing.T) {
	e := newEnv(t, func(c *mfa.Config) {
		c.Lockout = mfa.LockoutConfig{Threshold: 2, BaseDelay: time.Minute, MaxDelay: 3 * time.Minute, MaxFailures: 4}
	})
	secret, _ := e.enrol(t, "alice")
	login := func(code string) error {
		_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: code})
		return err
	}
	for range 2 {
		mustErr(t, login(wrong(e.code(t, secret, 0))), mfa.ErrInvalidCode)
	}
	if got := retryAfter(t, login(e.code(t, secret, 0))); got != time.Minute {
		t.Fatalf("wait %s, want 1m", got)
	}
	e.clock.Advance(time.Minute)
	mustErr(t, login(wrong(e.code(t, secret, 0))), mfa.ErrInvalidCode)
	if got := retryAfter(t, login(e.code(t, secret, 0))); got != 2*time.Minute {
		t.Fatalf("wait %s, want 2m", got)
	}
	e.clock.Advance(2 * time.Minute)
	mustErr(t, login(wrong(e.code(t, secret, 0))), mfa.ErrInvalidCode)
	e.clock.Advance(time.Hour)
	if got := retryAfter(t, login(e.code(t, secret, 0))); got != 0 {
		t.Fatalf("after MaxFailures: wait %s, want a hard lock", got)
	}
}

// stuckStore keeps a user locked: every swap of the lockout loses.
type stuckStore struct{ mfa.Store }

func (stuckStore) SwapLockout(context.Context, string, mfa.Lockout, mfa.Lockout) (bool, error) {
	return false, nil
}

// TestUnlockUserReportsFailure: an unlock that never gets its write in
// says so rather than reporting success.
func TestUnlockUserReportsFailure(t *testing.T) {
	inner := memstore.New()
	e := newEnv(t, func(c *mfa.Config) { c.Store = stuckStore{inner} })
	locked := mfa.Lockout{Failures: 100, LastFailure: start}
	if ok, err := inner.SwapLockout(e.ctx, "alice", mfa.Lockout{}, locked); err != nil || !ok {
		t.Fatal(ok, err)
	}
	mustErr(t, e.m.UnlockUser(e.ctx, "alice"), mfa.ErrStore)
	if e.events.has(mfa.EventUserUnlocked) {
		t.Fatal("user.unlocked emitted for an unlock that did not happen")
	}
}

// TestLockoutClockAhead: a failure stamped ahead of this instance's clock,
// by an instance whose clock runs ahead, keeps the user locked until its
// time, but the wait given is never longer than the backoff.
func TestLockoutClockAhead(t *testing.T) {
	store := memstore.New()
	e := newEnv(t, func(c *mfa.Config) { c.Store = store })
	secret, _ := e.enrol(t, "alice")
	lk, err := store.Lockout(e.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	ahead := mfa.Lockout{Failures: 5, LastFailure: e.clock.Now().Add(2 * time.Hour)}
	if ok, err := store.SwapLockout(e.ctx, "alice", lk, ahead); err != nil || !ok {
		t.Fatal(ok, err)
	}
	login := func() error {
		_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, secret, 0)})
		return err
	}
	if got := retryAfter(t, login()); got != 30*time.Second {
		t.Fatalf("wait %s, want the 30s backoff", got)
	}
	// Still locked after that wait: the failure's own time has not come.
	e.clock.Advance(2 * time.Hour)
	if got := retryAfter(t, login()); got != 30*time.Second {
		t.Fatalf("wait two hours on %s, want 30s", got)
	}
	e.clock.Advance(30 * time.Second)
	mustOK(t, login())
}
