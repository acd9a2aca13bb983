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

// attempt is one authentication attempt: who tries with which method, and
// the lockout state it is checked against.
type attempt struct {
	userID   string
	deviceID string // "" for a recovery code
	method   Method
	lk       Lockout
	now      time.Time
}

// event returns an event of type typ about the attempt.
func (a *attempt) event(typ EventType, err error) Event {
	return Event{Type: typ, UserID: a.userID, DeviceID: a.deviceID, Method: a.method, ErrorCode: ErrorCode(err), Failures: a.lk.Failures}
}

// checkLock returns ErrRateLimited (and emits the failure event) when the
// attempt's lockout state locks the user.
func (m *MFA) checkLock(ctx context.Context, a *attempt) error {
	wait, locked := m.lockedFor(a.lk, a.now)
	if !locked {
		return nil
	}
	err := rateLimited(wait)
	m.emit(ctx, a.event(EventAuthFailed, err))
	return err
}

// accept writes a correct code's success with op, a store operation
// conditional on the lockout state, after issuing the MFA token that tr
// asks for. When the store refuses because the code was used meanwhile
// (ErrCodeReused for a TOTP step or a passkey's signature counter,
// ErrInvalidCode for a recovery code), or
// the user got locked meanwhile, the token is discarded and the attempt
// fails as a wrong code would.
func (m *MFA) accept(ctx context.Context, a *attempt, tr *TokenRequest, op func(Lockout) error) (*Token, error) {
	tok, err := m.issueToken(ctx, a.userID, tr, a.now)
	if err != nil {
		return nil, err
	}
	lk, err := m.succeed(ctx, a.userID, a.lk, a.now, op)
	if err == nil {
		return tok, nil
	}
	m.discardToken(ctx, a.userID, tok, a.now)
	switch {
	case a.method == MethodTOTP && errors.Is(err, ErrCodeReused):
		return nil, m.failed(ctx, EventReplayRefused, a, err)
	case a.method == MethodPasskey && errors.Is(err, ErrCodeReused):
		return nil, m.failed(ctx, EventPasskeyCounterRefused, a, newError(ErrPasskeyRefused, "response", "the passkey's signature counter did not grow: the authenticator may be cloned"))
	case a.method == MethodRecoveryCode && errors.Is(err, ErrInvalidCode):
		return nil, m.failed(ctx, EventAuthFailed, a, newError(ErrInvalidCode, "code", "recovery code already used"))
	case errors.Is(err, ErrRateLimited):
		locked := *a
		locked.lk = lk
		m.emit(ctx, locked.event(EventAuthFailed, err))
		return nil, err
	}
	switch a.method {
	case MethodRecoveryCode:
		return nil, m.storeErr(ctx, "consume recovery code", err)
	case MethodPasskey:
		return nil, m.storeErr(ctx, "accept passkey", err)
	}
	return nil, m.storeErr(ctx, "accept code", err)
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
			return lk, m.storeErr(ctx, "count failure", err)
		}
		if ok {
			return next, nil
		}
		if lk, err = m.store.Lockout(ctx, userID); err != nil {
			return lk, m.storeErr(ctx, "read lockout", err)
		}
	}
	return lk, rateLimited(m.lockout.BaseDelay)
}

// succeed writes a successful attempt with op, a store operation that is
// conditional on the lockout state it is given. When the state changed
// since lk was read, it reads it again and, unless the user is now locked,
// tries again. It returns the lockout state it last saw.
func (m *MFA) succeed(ctx context.Context, userID string, lk Lockout, now time.Time, op func(Lockout) error) (Lockout, error) {
	for range maxSwapRetries {
		err := op(lk)
		if !errors.Is(err, ErrLockoutChanged) {
			return lk, err
		}
		if lk, err = m.store.Lockout(ctx, userID); err != nil {
			return lk, m.storeErr(ctx, "read lockout", err)
		}
		if wait, locked := m.lockedFor(lk, now); locked {
			return lk, rateLimited(wait)
		}
	}
	return lk, rateLimited(m.lockout.BaseDelay)
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
	delay := m.backoff(lk.Failures)
	until := lk.LastFailure.Add(delay)
	if !now.Before(until) {
		return 0, false
	}
	// A failure recorded by an instance whose clock is ahead of this one's
	// lies in the future here: the user stays locked until its time, but
	// the wait given is never longer than the backoff, so never longer
	// than MaxDelay.
	return min(until.Sub(now), delay), true
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

// failed counts the failed attempt a and reports it: an event of type typ,
// and the lockout event when this failure locks the user. It returns err,
// or ErrRateLimited when the user was locked before the failure could be
// counted, or a store error.
func (m *MFA) failed(ctx context.Context, typ EventType, a *attempt, err error) error {
	next, cerr := m.countFailure(ctx, a.userID, a.lk, a.now)
	counted := *a
	counted.lk = next
	if cerr != nil {
		if errors.Is(cerr, ErrRateLimited) {
			m.emit(ctx, counted.event(EventAuthFailed, cerr))
		}
		return cerr
	}
	m.emit(ctx, counted.event(typ, err))
	if wait, locked := m.lockedFor(next, a.now); locked {
		m.emit(ctx, Event{Type: EventLockedOut, UserID: a.userID, Failures: next.Failures, RetryAfter: wait})
	}
	return err
}
