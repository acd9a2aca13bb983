package linearizability

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/mfakit/mfa"
)

// The model on small histories written by hand, each legal or not for a
// reason that its name gives.

// at is a time of the injected clock, s seconds after the epoch.
func at(s int) int64 { return epoch.Add(time.Duration(s) * time.Second).UnixNano() }

const u1 = "u1"

// setupOp is user u1 enrolled at step 100 with 4 recovery codes.
func setupOp() op {
	return op{In: Input{Kind: opSetup, User: u1, LastStep: 100, LastUsed: at(0), Count: 4}, Returned: true}
}

// hop is one call for a hand-written history.
func hop(call, ret int64, in Input, out Output) op {
	if in.User == "" {
		in.User = u1
	}
	return op{In: in, Out: out, Call: call, Return: ret, Returned: true}
}

func totpOp(call, ret int64, now int, step int64, out Output) op {
	return hop(call, ret, Input{Kind: opTOTP, Now: at(now), Step: step}, out)
}

func failure(code string, failures int) Output { return Output{Err: code, Failures: failures} }

var (
	ok      = Output{}
	invalid = mfa.ErrInvalidCode.Code
	reused  = mfa.ErrCodeReused.Code
)

// final is the final read of u1.
func final(call int64, lastStep int64, lastUsed, failures int, lastFailure, codes int) op {
	lf := int64(0)
	if lastFailure >= 0 {
		lf = at(lastFailure)
	}
	return hop(call, call+1, Input{Kind: opFinal}, Output{LastStep: lastStep, LastUsed: at(lastUsed), Failures: failures, LastFailure: lf, Codes: codes})
}

func checkOps(t *testing.T, ops []op) porcupine.CheckResult {
	t.Helper()
	for i := range ops {
		ops[i].ID = int64(i + 1)
		ops[i].Client = i
	}
	h := newHistory(0, time.Nanosecond)
	return porcupine.CheckOperationsTimeout(model, h.operations(ops), 10*time.Second)
}

func TestModel(t *testing.T) {
	for _, tc := range []struct {
		name string
		want porcupine.CheckResult
		ops  []op
	}{
		{"SequentialLogin", porcupine.Ok, []op{setupOp(),
			totpOp(10, 20, 40, 101, ok),
			totpOp(30, 40, 41, 101, failure(reused, 1)),
			totpOp(50, 60, 42, -1, failure(invalid, 2)),
			final(100, 101, 40, 2, 42, 4),
		}},
		{"OneStepAcceptedTwice", porcupine.Illegal, []op{setupOp(),
			totpOp(10, 50, 40, 101, ok),
			totpOp(20, 60, 40, 101, ok),
		}},
		{"ConcurrentSameCodeOneWins", porcupine.Ok, []op{setupOp(),
			totpOp(10, 50, 40, 101, failure(reused, 1)),
			totpOp(20, 60, 40, 101, ok),
			final(100, 101, 40, 1, 40, 4),
		}},
		{"FailureLost", porcupine.Illegal, []op{setupOp(),
			totpOp(10, 20, 40, -1, failure(invalid, 1)),
			totpOp(30, 40, 40, -1, failure(invalid, 1)),
		}},
		{"LockedOutWithTheRightWait", porcupine.Ok, []op{setupOp(),
			totpOp(10, 20, 40, -1, failure(invalid, 1)),
			totpOp(30, 40, 40, -1, failure(invalid, 2)),
			totpOp(50, 60, 40, -1, failure(invalid, 3)),
			totpOp(70, 80, 40, 101, Output{Err: mfa.ErrRateLimited.Code, Failures: 3, RetryAfter: int64(time.Second)}),
			totpOp(90, 95, 41, 101, ok), // the wait is over
		}},
		{"LockedOutWithAWrongWait", porcupine.Illegal, []op{setupOp(),
			totpOp(10, 20, 40, -1, failure(invalid, 1)),
			totpOp(30, 40, 40, -1, failure(invalid, 2)),
			totpOp(50, 60, 40, -1, failure(invalid, 3)),
			totpOp(70, 80, 40, 101, Output{Err: mfa.ErrRateLimited.Code, Failures: 3, RetryAfter: int64(2 * time.Second)}),
		}},
		{"RightCodeWhileLockedOut", porcupine.Illegal, []op{setupOp(),
			totpOp(10, 20, 40, -1, failure(invalid, 1)),
			totpOp(30, 40, 40, -1, failure(invalid, 2)),
			totpOp(50, 60, 40, -1, failure(invalid, 3)),
			totpOp(70, 80, 40, 101, ok),
		}},
		// The latitude of AcceptStep: a success checked against the zero
		// lockout state keeps a failure counted while it ran, and a reader
		// may see the failure before the step.
		{"FailureDuringSuccessKept", porcupine.Ok, []op{setupOp(),
			totpOp(10, 100, 40, 101, ok),
			totpOp(20, 30, 40, -1, failure(invalid, 1)),
			hop(40, 50, Input{Kind: opDevices}, Output{LastUsed: at(0)}),
			final(200, 101, 40, 1, 40, 4),
		}},
		{"FailureBeforeSuccessKept", porcupine.Illegal, []op{setupOp(),
			totpOp(10, 20, 40, -1, failure(invalid, 1)),
			totpOp(30, 100, 40, 101, ok),
			final(200, 101, 40, 1, 40, 4),
		}},
		{"FailureKeptAfterAResetDuringSuccess", porcupine.Ok, []op{setupOp(),
			totpOp(1, 2, 40, -1, failure(invalid, 1)),
			totpOp(10, 100, 40, 101, ok),
			hop(20, 30, Input{Kind: opUnlock, Now: at(40)}, ok),
			totpOp(40, 50, 40, -1, failure(invalid, 1)),
			hop(60, 70, Input{Kind: opDevices}, Output{LastUsed: at(0)}),
			final(200, 101, 40, 1, 40, 4),
		}},
		{"FailureDuringLockedOutSuccess", porcupine.Illegal, []op{setupOp(),
			totpOp(1, 2, 40, -1, failure(invalid, 1)),
			totpOp(3, 4, 40, -1, failure(invalid, 2)),
			totpOp(5, 6, 40, -1, failure(invalid, 3)),
			totpOp(10, 100, 40, 101, ok),
			totpOp(20, 30, 40, -1, Output{Err: mfa.ErrRateLimited.Code, Failures: 3, RetryAfter: int64(time.Second)}),
		}},
		{"RecoveryCodeOnce", porcupine.Illegal, []op{setupOp(),
			hop(10, 50, Input{Kind: opRecovery, Now: at(40), Index: 2}, Output{Remaining: 3}),
			hop(20, 60, Input{Kind: opRecovery, Now: at(40), Index: 2}, Output{Remaining: 3}),
		}},
		{"RecoveryCodeOfAnOldSet", porcupine.Ok, []op{setupOp(),
			hop(10, 20, Input{Kind: opRegen, Now: at(40), Gen: 7, Count: 4}, ok),
			hop(30, 40, Input{Kind: opRecovery, Now: at(40), Index: 2}, failure(invalid, 1)),
			hop(50, 60, Input{Kind: opRecovery, Now: at(40), Gen: 7, Index: 2}, Output{Remaining: 3}),
			final(100, 100, 0, 0, -1, 3),
		}},
		{"UnknownOutcomeHappened", porcupine.Ok, []op{setupOp(),
			totpOp(10, 20, 40, 101, Output{Unknown: true}),
			totpOp(30, 40, 40, 101, failure(reused, 1)),
		}},
		{"UnknownOutcomeDidNotHappen", porcupine.Ok, []op{setupOp(),
			totpOp(10, 20, 40, 101, Output{Unknown: true}),
			totpOp(30, 40, 40, 101, ok),
			final(100, 101, 40, 0, -1, 4),
		}},
		{"UnknownOutcomeNotBeforeItsCall", porcupine.Illegal, []op{setupOp(),
			totpOp(10, 20, 40, 101, failure(reused, 1)),
			totpOp(30, 40, 40, 101, Output{Unknown: true}),
		}},
		{"TokenUsedOnce", porcupine.Illegal, []op{
			hop(10, 50, Input{Kind: opToken, Token: "t", Call: "validate", Scope: actionConsume, Now: at(40), SingleUse: true, Created: at(39), Expires: at(59)}, Output{SingleUse: true}),
			hop(20, 60, Input{Kind: opToken, Token: "t", Call: "authorize", Scope: actionKeep, Now: at(40), SingleUse: true, Created: at(39), Expires: at(59)}, Output{SingleUse: true}),
		}},
		{"PersistentTokenKept", porcupine.Ok, []op{
			hop(10, 50, Input{Kind: opToken, Token: "t", Call: "authorize", Scope: actionKeep, Now: at(40), Created: at(39), Expires: at(99)}, ok),
			hop(60, 70, Input{Kind: opToken, Token: "t", Call: "validate", Scope: actionConsume, Now: at(40), Created: at(39), Expires: at(99)}, ok),
			hop(80, 90, Input{Kind: opToken, Token: "t", Call: "authorize", Scope: actionConsume, Now: at(40), Created: at(39), Expires: at(99)}, ok),
			hop(100, 110, Input{Kind: opToken, Token: "t", Call: "validate", Scope: actionKeep, Now: at(40), Created: at(39), Expires: at(99)}, Output{Err: mfa.ErrTokenInvalid.Code}),
			hop(120, 130, Input{Kind: opTokenFinal, Token: "t"}, Output{Present: false}),
		}},
		{"TokenTooOldForTheAction", porcupine.Ok, []op{
			hop(10, 50, Input{Kind: opToken, Token: "t", Call: "authorize", Scope: actionConsume, Now: at(70), Created: at(39), Expires: at(99)}, Output{Err: mfa.ErrTokenExpired.Code}),
			hop(60, 70, Input{Kind: opToken, Token: "t", Call: "validate", Scope: scopeOther, Now: at(100), Created: at(39), Expires: at(99)}, Output{Err: mfa.ErrTokenExpired.Code}),
			hop(120, 130, Input{Kind: opTokenFinal, Token: "t"}, Output{Present: true}),
		}},
		// Stamps here are seconds of the injected clock: an expired token
		// may be removed, but not before the clock reached its expiry.
		{"ExpiredTokenRemoved", porcupine.Ok, []op{
			hop(60, 62, Input{Kind: opToken, Token: "t", Call: "validate", Scope: actionKeep, Now: at(58), Created: at(39), Expires: at(59)}, Output{Err: mfa.ErrTokenInvalid.Code}),
			hop(70, 72, Input{Kind: opToken, Token: "t", Call: "validate", Scope: actionKeep, Now: at(70), Created: at(39), Expires: at(59)}, Output{Err: mfa.ErrTokenInvalid.Code}),
			hop(80, 81, Input{Kind: opTokenFinal, Token: "t", Expires: at(59)}, Output{Present: false}),
		}},
		{"TokenRemovedBeforeItExpired", porcupine.Illegal, []op{
			hop(50, 52, Input{Kind: opToken, Token: "t", Call: "validate", Scope: actionKeep, Now: at(50), Created: at(39), Expires: at(59)}, Output{Err: mfa.ErrTokenInvalid.Code}),
		}},
		{"RemovedTokenBackAgain", porcupine.Illegal, []op{
			hop(60, 62, Input{Kind: opToken, Token: "t", Call: "validate", Scope: actionKeep, Now: at(58), Created: at(39), Expires: at(59)}, Output{Err: mfa.ErrTokenInvalid.Code}),
			hop(70, 72, Input{Kind: opToken, Token: "t", Call: "validate", Scope: actionKeep, Now: at(70), Created: at(39), Expires: at(59)}, Output{Err: mfa.ErrTokenExpired.Code}),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkOps(t, tc.ops); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// pkSetupOp is user u1 enrolled as setupOp, with a passkey whose counter
// is 5.
func pkSetupOp() op {
	o := setupOp()
	o.In.SignCount = 5
	return o
}

func pkBegin(call, ret int64, now int, challenge string) op {
	return hop(call, ret, Input{Kind: opPKBegin, Now: at(now)}, Output{Challenge: challenge})
}

// pkAuth is an AuthenticatePasskey whose TakeChallenge ran throughout the
// call.
func pkAuth(call, ret int64, now int, challenge string, count uint32, out Output) op {
	out.TakeAt, out.TakeEnd = call, ret
	return hop(call, ret, Input{Kind: opPasskey, Now: at(now), Challenge: challenge, SignCount: count}, out)
}

// pkFinal is the final read of u1 after passkey logins alone.
func pkFinal(call int64, signCount uint32, used, failures, lastFailure int) op {
	o := final(call, 100, 0, failures, lastFailure, 4)
	o.Out.SignCount = signCount
	if used >= 0 {
		o.Out.PasskeyUsed = at(used)
	}
	return o
}

var (
	refusedPK  = mfa.ErrPasskeyRefused.Code
	noCeremony = Output{Err: mfa.ErrChallengeInvalid.Code}
)

func TestModelPasskeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		want porcupine.CheckResult
		ops  []op
	}{
		{"Login", porcupine.Ok, []op{pkSetupOp(),
			pkBegin(10, 20, 40, "a"),
			pkAuth(30, 40, 41, "a", 6, ok),
			pkFinal(100, 6, 41, 0, -1),
		}},
		{"CeremonyTakenTwice", porcupine.Illegal, []op{pkSetupOp(),
			pkBegin(10, 20, 40, "a"),
			pkAuth(30, 40, 41, "a", 6, ok),
			pkAuth(50, 60, 42, "a", 7, ok),
		}},
		{"ConcurrentAnswersOneTakes", porcupine.Ok, []op{pkSetupOp(),
			pkBegin(10, 20, 40, "a"),
			pkAuth(30, 60, 41, "a", 6, noCeremony),
			pkAuth(40, 70, 41, "a", 6, ok),
			pkFinal(100, 6, 41, 0, -1),
		}},
		{"SecondAnswerRefusedNotInvalid", porcupine.Illegal, []op{pkSetupOp(),
			pkBegin(10, 20, 40, "a"),
			pkAuth(30, 40, 41, "a", 6, ok),
			pkAuth(50, 60, 42, "a", 6, failure(refusedPK, 1)),
		}},
		{"CounterMustGrow", porcupine.Illegal, []op{pkSetupOp(),
			pkBegin(10, 20, 40, "a"),
			pkAuth(30, 40, 41, "a", 5, ok),
		}},
		{"CounterRefusedCounts", porcupine.Ok, []op{pkSetupOp(),
			pkBegin(10, 20, 40, "a"),
			pkAuth(30, 40, 41, "a", 5, failure(refusedPK, 1)),
			pkFinal(100, 5, -1, 1, 41),
		}},
		{"AnswerMeetsAnotherCeremony", porcupine.Ok, []op{pkSetupOp(),
			pkBegin(10, 20, 40, "a"),
			pkBegin(30, 40, 40, "b"),
			pkAuth(50, 60, 41, "a", 6, failure(refusedPK, 1)),
			pkAuth(70, 80, 42, "b", 6, noCeremony),
			pkFinal(100, 5, -1, 1, 41),
		}},
		{"AnswerToAReplacedCeremonyAccepted", porcupine.Illegal, []op{pkSetupOp(),
			pkBegin(10, 20, 40, "a"),
			pkBegin(30, 40, 40, "b"),
			pkAuth(50, 60, 41, "a", 6, ok),
		}},
		// The latitude of AcceptPasskey, as of AcceptStep.
		{"FailureDuringPasskeySuccessKept", porcupine.Ok, []op{pkSetupOp(),
			pkBegin(1, 2, 40, "a"),
			pkAuth(10, 100, 41, "a", 6, ok),
			totpOp(20, 30, 41, -1, failure(invalid, 1)),
			pkFinal(200, 6, 41, 1, 41),
		}},
		{"FailureBeforePasskeySuccessKept", porcupine.Illegal, []op{pkSetupOp(),
			pkBegin(1, 2, 40, "a"),
			totpOp(5, 8, 41, -1, failure(invalid, 1)),
			pkAuth(10, 100, 41, "a", 6, ok),
			pkFinal(200, 6, 41, 1, 41),
		}},
		{"UnknownBeginMayReplace", porcupine.Ok, []op{pkSetupOp(),
			pkBegin(10, 20, 40, "a"),
			hop(30, 40, Input{Kind: opPKBegin, Now: at(40)}, Output{Unknown: true}),
			pkAuth(50, 60, 41, "a", 6, failure(refusedPK, 1)),
		}},
		// A call refused by the lockout before it took a ceremony leaves
		// the ceremony for the next answer.
		{"LockedBeforeTheTake", porcupine.Ok, []op{pkSetupOp(),
			totpOp(1, 2, 40, -1, failure(invalid, 1)),
			totpOp(3, 4, 40, -1, failure(invalid, 2)),
			totpOp(5, 6, 40, -1, failure(invalid, 3)),
			pkBegin(10, 20, 40, "a"),
			hop(30, 40, Input{Kind: opPasskey, Now: at(40), Challenge: "a", SignCount: 6}, Output{Err: mfa.ErrRateLimited.Code, Failures: 3, RetryAfter: int64(time.Second)}),
			pkAuth(50, 60, 41, "a", 6, ok),
		}},
		{"LockedAfterTheTake", porcupine.Illegal, []op{pkSetupOp(),
			totpOp(1, 2, 40, -1, failure(invalid, 1)),
			totpOp(3, 4, 40, -1, failure(invalid, 2)),
			totpOp(5, 6, 40, -1, failure(invalid, 3)),
			pkBegin(10, 20, 40, "a"),
			pkAuth(30, 40, 40, "a", 6, Output{Err: mfa.ErrRateLimited.Code, Failures: 3, RetryAfter: int64(time.Second)}),
			pkAuth(50, 60, 41, "a", 6, ok),
		}},
		// A call whose effect is unknown may have written it before later
		// calls saw it, however late its take may have been.
		{"KilledSuccessSeenLater", porcupine.Ok, []op{pkSetupOp(),
			pkBegin(10, 20, 40, "a"),
			{In: Input{Kind: opPasskey, User: u1, Now: at(40), Challenge: "a", SignCount: 9}, Call: 25},
			pkBegin(50, 60, 41, "b"),
			pkAuth(70, 80, 41, "b", 8, failure(refusedPK, 1)),
		}},
		{"OpenSuccessSeenLater", porcupine.Ok, []op{pkSetupOp(),
			pkBegin(10, 20, 40, "a"),
			hop(25, 30, Input{Kind: opPasskey, Now: at(40), Challenge: "a", SignCount: 9}, Output{Unknown: true, Open: true, TakeAt: 26, TakeEnd: 27}),
			pkBegin(50, 60, 41, "b"),
			pkAuth(70, 80, 41, "b", 8, failure(refusedPK, 1)),
		}},
		{"TakeFailedSuccessSeenLater", porcupine.Ok, []op{pkSetupOp(),
			pkBegin(10, 20, 40, "a"),
			hop(25, 30, Input{Kind: opPasskey, Now: at(40), Challenge: "a", SignCount: 9}, Output{Unknown: true, Open: true, TakeAt: 26}),
			pkBegin(50, 60, 41, "b"),
			pkAuth(70, 80, 41, "b", 8, failure(refusedPK, 1)),
		}},
		{"KilledFailureSeenLater", porcupine.Ok, []op{pkSetupOp(),
			pkBegin(10, 20, 40, "a"),
			{In: Input{Kind: opPasskey, User: u1, Now: at(40), Challenge: "x", SignCount: 9}, Call: 25},
			totpOp(50, 60, 41, -1, failure(invalid, 2)),
		}},
		{"ExpiredCeremony", porcupine.Ok, []op{pkSetupOp(),
			pkBegin(10, 20, 40, "a"),
			pkAuth(30, 40, 40+int(mfa.PasskeyTTL/time.Second), "a", 6, noCeremony),
		}},
		{"ExpiredCeremonyAccepted", porcupine.Illegal, []op{pkSetupOp(),
			pkBegin(10, 20, 40, "a"),
			pkAuth(30, 40, 40+int(mfa.PasskeyTTL/time.Second), "a", 6, ok),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkOps(t, tc.ops); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	// Threshold 3, BaseDelay 1 s doubling up to MaxDelay 8 s, hard limit
	// at 10.
	for failures, want := range map[int]time.Duration{3: time.Second, 4: 2 * time.Second, 5: 4 * time.Second, 6: 8 * time.Second, 9: 8 * time.Second} {
		if got := backoff(failures); got != want {
			t.Errorf("backoff(%d) = %s, want %s", failures, got, want)
		}
	}
	s := state{Failures: 10, LastFailure: at(0)}
	if wait, locked := s.lockedFor(at(1000)); !locked || wait != 0 {
		t.Errorf("at the hard limit: locked %t for %s, want locked with no wait", locked, wait)
	}
}
