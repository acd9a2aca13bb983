package mfa

import (
	"context"
	"errors"
	"time"
)

// maxSwapRetries bounds the retries of a lockout compare-and-swap. Each
// lost swap means another attempt changed the state first, so contention
// ends quickly: once the threshold is reached every caller is refused.
const maxSwapRetries = 1000

// Throttling (RFC 4226 §7.3, NIST SP 800-63B §5.2.2) works like this: an
// attempt reads the user's lockout state with the rest of the user,
// refuses at once if it is locked, and checks the code. Its outcome is then
// written in one atomic store operation that is conditional on the lockout
// state being still the one read: a failure adds one to it, a success
// consumes the code and resets it. When another attempt got there first,
// the state is read again and the lock checked again. So every outcome is
// decided against the latest state: N concurrent guesses are N failures,
// or refusals once the user is locked, and a correct code never passes
// while the user is locked. Writing the outcome once keeps a login to one
// write.

// checkLock returns ErrRateLimited (and emits the failure event) when lk
// locks the user at now.
func (m *MFA) checkLock(ctx context.Context, userID, deviceID, method string, lk Lockout, now time.Time) error {
	wait, locked := m.lockedFor(lk, now)
	if !locked {
		return nil
	}
	m.emit(ctx, Event{Type: EventAuthFailed, UserID: userID, DeviceID: deviceID, Method: method, ErrorCode: ErrRateLimited.Code, Failures: lk.Failures})
	return rateLimited(wait)
}

// countFailure records one failed attempt, starting from the state lk that
// the attempt was checked against. If the user is locked by the time the
// failure is written, nothing is counted and ErrRateLimited is returned.
func (m *MFA) countFailure(ctx context.Context, userID string, lk Lockout, now time.Time) (Lockout, error) {
	for range maxSwapRetries {
		if wait, locked := m.lockedFor(lk, now); locked {
			return lk, rateLimited(wait)
		}
		next := Lockout{Failures: lk.Failures + 1, LastFailure: now}
		ok, err := m.store.SwapLockout(ctx, userID, lk, next)
		if err != nil {
			return lk, storeError("count failure", err)
		}
		if ok {
			return next, nil
		}
		if lk, err = m.store.Lockout(ctx, userID); err != nil {
			return lk, storeError("read lockout", err)
		}
	}
	return lk, rateLimited(m.lockout.BaseDelay)
}

// succeed writes a successful attempt with op, a store operation that is
// conditional on the lockout state it is given. When the state changed
// since lk was read, it reads it again and, unless the user is now locked,
// tries again.
func (m *MFA) succeed(ctx context.Context, userID string, lk Lockout, now time.Time, op func(Lockout) error) error {
	for range maxSwapRetries {
		err := op(lk)
		if !errors.Is(err, ErrLockoutChanged) {
			return err
		}
		if lk, err = m.store.Lockout(ctx, userID); err != nil {
			return storeError("read lockout", err)
		}
		if wait, locked := m.lockedFor(lk, now); locked {
			return rateLimited(wait)
		}
	}
	return rateLimited(m.lockout.BaseDelay)
}

// lockedFor reports whether lk locks the user at now, and for how long. A
// wait of zero with locked true is a lockout only UnlockUser lifts.
func (m *MFA) lockedFor(lk Lockout, now time.Time) (time.Duration, bool) {
	if lk.Failures >= m.lockout.MaxFailures {
		return 0, true
	}
	if lk.Failures < m.lockout.Threshold {
		return 0, false
	}
	until := lk.LastFailure.Add(m.backoff(lk.Failures))
	if now.Before(until) {
		return until.Sub(now), true
	}
	return 0, false
}

// backoff is the delay after the given number of consecutive failures:
// BaseDelay at Threshold, doubling with each further failure, at most
// MaxDelay. It stops doubling before the duration could overflow.
func (m *MFA) backoff(failures int) time.Duration {
	d := m.lockout.BaseDelay
	for i := m.lockout.Threshold; i < failures; i++ {
		if d > m.lockout.MaxDelay/2 {
			return m.lockout.MaxDelay
		}
		d *= 2
	}
	return min(d, m.lockout.MaxDelay)
}

// failed counts a failed attempt that was checked against lk and reports
// it: the failure event, and the lockout event when this failure locks the
// user. It returns err, or ErrRateLimited when the user was locked before
// the failure could be counted, or a store error.
func (m *MFA) failed(ctx context.Context, typ EventType, userID, deviceID, method string, lk Lockout, now time.Time, err error) error {
	next, cerr := m.countFailure(ctx, userID, lk, now)
	if cerr != nil {
		if errors.Is(cerr, ErrRateLimited) {
			m.emit(ctx, Event{Type: EventAuthFailed, UserID: userID, DeviceID: deviceID, Method: method, ErrorCode: ErrRateLimited.Code, Failures: next.Failures})
		}
		return cerr
	}
	m.emit(ctx, Event{Type: typ, UserID: userID, DeviceID: deviceID, Method: method, ErrorCode: ErrorCode(err), Failures: next.Failures})
	if wait, locked := m.lockedFor(next, now); locked {
		m.emit(ctx, Event{Type: EventLockedOut, UserID: userID, Failures: next.Failures, RetryAfter: wait})
	}
	return err
}
