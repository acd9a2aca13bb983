package mfa

import (
	"context"
	"time"
)

// maxSwapRetries bounds the compare-and-swap loop of admit. Each lost
// swap means another attempt was admitted, so contention ends quickly:
// once the threshold is reached every caller is refused.
const maxSwapRetries = 1000

// admit reserves one attempt for userID before a code is checked: it counts
// the attempt as a failure up front, atomically in the store, and refuses
// it while the user is locked. A success later resets the count in the same
// store operation that consumes the code. Counting first means that N
// concurrent guesses cost N failures, so parallel requests cannot get more
// guesses than the lockout allows. lk is the state already read, if any.
func (m *MFA) admit(ctx context.Context, userID string, lk Lockout, now time.Time) (Lockout, error) {
	for range maxSwapRetries {
		if wait, locked := m.lockedFor(lk, now); locked {
			return lk, rateLimited(wait)
		}
		next := Lockout{Failures: lk.Failures + 1, LastFailure: now}
		ok, err := m.store.SwapLockout(ctx, userID, lk, next)
		if err != nil {
			return lk, storeError("count attempt", err)
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

// lockedFor reports whether lk locks the user at now, and for how long. A
// wait of zero with locked true is a lockout only ResetUser lifts.
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
// MaxDelay.
func (m *MFA) backoff(failures int) time.Duration {
	d := m.lockout.BaseDelay
	for i := m.lockout.Threshold; i < failures && d < m.lockout.MaxDelay; i++ {
		d *= 2
	}
	return min(d, m.lockout.MaxDelay)
}

// failed reports a failed attempt whose failure admit already counted:
// it emits the failure event, and the lockout event when this failure
// locks the user.
func (m *MFA) failed(ctx context.Context, typ EventType, userID, deviceID, method string, lk Lockout, err error) error {
	m.emit(ctx, Event{Type: typ, UserID: userID, DeviceID: deviceID, Method: method, ErrorCode: ErrorCode(err), Failures: lk.Failures})
	if wait, locked := m.lockedFor(lk, lk.LastFailure); locked {
		m.emit(ctx, Event{Type: EventLockedOut, UserID: userID, Failures: lk.Failures, RetryAfter: wait})
	}
	return err
}
