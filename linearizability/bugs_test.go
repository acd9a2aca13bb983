package linearizability

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/mfakit/mfa"
)

// The planted bugs: stores that break the contract in the ways a store
// could, each of which the checker must catch.

// racyAcceptStep accepts a time step in two steps: it reads the device
// and the lockout, yields, then writes the step without checking it
// again, so that two callers with the same code can both pass the check.
type racyAcceptStep struct{ mfa.Store }

func (s racyAcceptStep) AcceptStep(ctx context.Context, userID, deviceID string, step int64, at time.Time, lk mfa.Lockout) error {
	st, err := s.LoadUser(ctx, userID, at)
	if err != nil {
		return err
	}
	if !st.Lockout.Equal(lk) {
		return mfa.ErrLockoutChanged
	}
	found := false
	for _, d := range st.Devices {
		if d.ID == deviceID && d.Verified {
			if step <= d.LastStep {
				return mfa.ErrCodeReused
			}
			found = true
		}
	}
	if !found {
		return mfa.ErrDeviceNotFound
	}
	time.Sleep(100 * time.Microsecond) // the yield between check and set
	// The set, as if unconditional: a step written meanwhile is no reason
	// to refuse.
	if err := s.Store.AcceptStep(ctx, userID, deviceID, step, at, lk); err != nil && !errors.Is(err, mfa.ErrCodeReused) {
		return err
	}
	return nil
}

// lossyLockout reports every third failure as counted without writing it.
type lossyLockout struct {
	mfa.Store
	n *atomic.Int64
}

func (s lossyLockout) SwapLockout(ctx context.Context, userID string, old, next mfa.Lockout) (bool, error) {
	if next.Failures > old.Failures && s.n.Add(1)%3 == 0 {
		return true, nil
	}
	return s.Store.SwapLockout(ctx, userID, old, next)
}

// reusableToken consumes a token slowly, and succeeds for a token it
// consumed before: of concurrent callers with one token, all that read it
// before the first consumed it are let through.
type reusableToken struct {
	mfa.Store
	mu       *sync.Mutex
	consumed map[[mfa.HashSize]byte]bool
}

func (s reusableToken) ConsumeToken(ctx context.Context, userID string, hash [mfa.HashSize]byte, now time.Time) error {
	time.Sleep(100 * time.Microsecond)
	err := s.Store.ConsumeToken(ctx, userID, hash, now)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil:
		s.consumed[hash] = true
	case errors.Is(err, mfa.ErrTokenInvalid) && s.consumed[hash]:
		return nil
	}
	return err
}

// reusableChallenge puts a login ceremony back after taking it, so that
// an answer can be checked again: a replayed answer is counted against the
// passkey's counter rather than refused for want of a ceremony.
type reusableChallenge struct{ mfa.Store }

func (s reusableChallenge) TakeChallenge(ctx context.Context, userID string, now time.Time) (mfa.ChallengeRecord, error) {
	c, err := s.Store.TakeChallenge(ctx, userID, now)
	if err == nil {
		err = s.Store.PutChallenge(ctx, c)
	}
	return c, err
}

// TestPlantedBugs checks that the checker catches each planted bug: a
// history of a workload aimed at the bug is not linearizable with the
// buggy store, while the same workload on the real store is. A bug shows
// only when calls interleave so, which bursts of concurrent calls make
// near certain; a run in which it did not show is tried again, up to
// five times. The runs are short whatever MFA_LINEARIZABILITY_DURATION
// says; MFA_LINEARIZABILITY_HISTORIES repeats the whole.
func TestPlantedBugs(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(mfa.Store) mfa.Store
		mix  mix
	}{
		{"AcceptStepChecksThenSets", func(s mfa.Store) mfa.Store { return racyAcceptStep{s} },
			mix{TOTP: 20, TOTPBurst: 60, WrongBurst: 5, Devices: 5, Unlock: 2}},
		{"LockoutLosesFailures", func(s mfa.Store) mfa.Store { return lossyLockout{s, new(atomic.Int64)} },
			mix{TOTP: 30, Recovery: 10, WrongBurst: 30, Unlock: 3}},
		{"TokenConsumedTwice", func(s mfa.Store) mfa.Store {
			return reusableToken{s, new(sync.Mutex), map[[mfa.HashSize]byte]bool{}}
		}, mix{TOTP: 30, TokenUse: 10, TokenBurst: 50, TokenRequest: 0.9}},
		{"PasskeyCeremonyTakenTwice", func(s mfa.Store) mfa.Store { return reusableChallenge{s} },
			mix{Passkey: 30, PasskeyBurst: 60, Unlock: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := memRun{duration: 500 * time.Millisecond, users: 3, clients: 4, mix: tc.mix, checkTimeout: 30 * time.Second}
			const tries = 5
			n, firstTry := histories(t), 0
			for range n {
				s := seed(t)
				run.wrap = nil
				res, h := run.run(t, s)
				logResult(t, "without the bug", s, res, h)
				requireOk(t, "the workload without the bug", s, res)

				run.wrap = tc.wrap
				caught := false
				for i := 1; i <= tries && !caught; i++ {
					s := seed(t)
					res, h := run.run(t, s)
					logResult(t, "with the bug, run "+strconv.Itoa(i), s, res, h)
					if res.Result == porcupine.Illegal {
						t.Logf("caught:\n%s", res.Report)
						caught = true
						if i == 1 {
							firstTry++
						}
					}
				}
				if !caught {
					t.Fatalf("the checker did not catch the bug in %d runs", tries)
				}
			}
			t.Logf("summary: caught in %d of %d histories, at the first run in %d", n, n, firstTry)
		})
	}
}
