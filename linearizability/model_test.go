package linearizability

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/mfakit/mfa"
)

// The configuration of every MFA under test, which the model mirrors: a
// small lockout so that bursts of wrong codes reach its threshold, its
// backoff and its hard limit, short token lifetimes so that tokens expire
// within a history, and two actions, one that uses up its token and one
// that lets a persistent token through.
var (
	lockoutConfig = mfa.LockoutConfig{Threshold: 3, BaseDelay: time.Second, MaxDelay: 8 * time.Second, MaxFailures: 10}
	tokenConfig   = mfa.TokenConfig{SingleUseTTL: 20 * time.Second, PersistentTTL: 60 * time.Second, MaxTTL: 5 * time.Minute}
	actions       = map[string]mfa.ActionPolicy{
		actionConsume: {MaxTokenAge: 30 * time.Second},
		actionKeep:    {Persistent: true},
	}
)

const (
	recoveryCount = 8 // codes in a set; at most 64, the model's bitmask
	// totpPeriod is a TOTP step: short, so that a history sees many
	// steps, each of which can be accepted once.
	totpPeriod = 5 * time.Second
	totpSkew   = 1 // mfakit's default: the step before and after the current one

	actionConsume = "change-email" // consumes the token that authorises it
	actionKeep    = "view-audit"   // Persistent: a persistent token stays
	scopeOther    = "other-scope"  // an action no token in the workload names
)

// epoch is the time the injected clock reads when a history starts.
var epoch = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// The kinds of operation in a history.
const (
	opSetup      = "setup"       // the user as enrolled before the history: device, first recovery code set
	opTOTP       = "totp"        // AuthenticateDevice that was refused (wrong code, replay, lockout)
	opCheck      = "totp-check"  // the first half of an AuthenticateDevice that succeeded or whose outcome is unknown
	opWrite      = "totp-write"  // its second half; see state
	opRecovery   = "recovery"    // AuthenticateRecoveryCode
	opUnlock     = "unlock"      // UnlockUser
	opRegen      = "regen"       // GetNewRecoveryCodes
	opDevices    = "devices"     // GetUserDevices: the device's LastUsedAt
	opFinal      = "final"       // a read of the user's stored state once every client has stopped
	opToken      = "token"       // ValidateMFAToken or AuthorizeAction
	opTokenFinal = "token-final" // whether the token is still stored, once every client has stopped

	opPKBegin = "passkey-begin" // BeginPasskeyAuthentication: the user's login ceremony replaced
	opPasskey = "passkey"       // AuthenticatePasskey that found no ceremony to take, recorded whole
	opPKTake  = "passkey-take"  // the first half of any other AuthenticatePasskey: the ceremony taken
	opPKWrite = "passkey-write" // its second half: the assertion's outcome; see state
)

// passkeyTTL is mfa.PasskeyTTL, how long a login ceremony lasts.
const passkeyTTL = int64(mfa.PasskeyTTL)

// Input is what a client asked for, with what the model needs to know
// about it: the time the call's clock read, the TOTP time step its code
// matches in the window around that time, the recovery code it sent, the
// token it presented.
type Input struct {
	Kind  string `json:"k"`
	User  string `json:"u,omitempty"`
	Token string `json:"t,omitempty"` // the token's ID in the workload, for token operations
	Now   int64  `json:"now,omitempty"`

	// TOTP: the latest step in the window around Now whose code is the
	// code sent (as mfakit takes it), or -1 when none is; Seq pairs the
	// halves of a split operation.
	Step int64 `json:"step,omitempty"`
	Seq  int64 `json:"seq,omitempty"`

	// Recovery codes: the set a code comes from and its index in it, -1
	// for a code of no set; the set that setup or regen makes, and its
	// size.
	Gen   int `json:"gen,omitempty"`
	Index int `json:"idx,omitempty"`
	Count int `json:"n,omitempty"`

	// Setup: the device's state after enrolment.
	LastStep int64 `json:"ls,omitempty"`
	LastUsed int64 `json:"lu,omitempty"`

	// Passkeys: the ceremony an answer is for (its challenge), the
	// signature counter the answer presents, and whether its signature is
	// bad. For setup, SignCount is the counter after enrolment.
	Challenge string `json:"ch,omitempty"`
	SignCount uint32 `json:"sc,omitempty"`
	BadSig    bool   `json:"bad,omitempty"`

	// Token operations: ValidateMFAToken ("validate", with a scope) or
	// AuthorizeAction ("authorize", with an action), and the token as it
	// was issued.
	Call      string   `json:"call,omitempty"`
	Scope     string   `json:"scope,omitempty"`
	SingleUse bool     `json:"su,omitempty"`
	Scopes    []string `json:"scopes,omitempty"`
	Created   int64    `json:"created,omitempty"`
	Expires   int64    `json:"expires,omitempty"`
	// Purgeable: the call ended after the clock reached the token's
	// expiry, so the token may have been removed by then (see
	// tokenOutcomes).
	// Set when the history is built.
	Purgeable bool `json:"-"`

	// Why the client sent this ("right", "replay", "wrong", "burst"):
	// for descriptions only, the model does not read it.
	Why string `json:"why,omitempty"`
}

// Output is what the client saw: an mfakit error code ("" for success),
// or that the outcome is unknown; and what the call reported besides.
type Output struct {
	Unknown bool `json:"unknown,omitempty"`
	// Open: the call may take effect after it returned, as a statement
	// that a PostgreSQL server goes on running after its client gave up.
	// An unknown outcome that is not open was settled when the call
	// returned: the store call had finished, whatever it did.
	Open bool   `json:"open,omitempty"`
	Err  string `json:"err,omitempty"`

	// Failures is the failure count an authentication's event reported:
	// the count after the failure it added, or the count that locked it
	// out. For a final read, the stored count.
	Failures   int   `json:"f,omitempty"`
	RetryAfter int64 `json:"ra,omitempty"` // ErrRateLimited's wait
	Remaining  int   `json:"rem,omitempty"`

	// Reads: the device's LastUsedAt (0 for none); a final read also has
	// the last step, the last failure and the number of unused codes.
	LastUsed    int64 `json:"lu,omitempty"`
	LastStep    int64 `json:"ls,omitempty"`
	LastFailure int64 `json:"lf,omitempty"`
	Codes       int   `json:"codes,omitempty"`

	SingleUse bool `json:"su,omitempty"` // the token a successful token call described
	Present   bool `json:"present,omitempty"`

	// Challenge is the ceremony a BeginPasskeyAuthentication started; a
	// final read also has the passkey's counter and LastUsedAt.
	Challenge   string `json:"ch,omitempty"`
	SignCount   uint32 `json:"sc,omitempty"`
	PasskeyUsed int64  `json:"pu,omitempty"`

	// Cause says why an outcome is unknown (its kind of fault), for the
	// figures and descriptions; the model does not read it.
	Cause string `json:"cause,omitempty"`

	// TakeAt and TakeEnd are when an AuthenticatePasskey's
	// Store.TakeChallenge started and returned (0 for not at all), for
	// the history to place the take; the model does not read them.
	TakeAt  int64 `json:"ta,omitempty"`
	TakeEnd int64 `json:"te,omitempty"`
}

// state is the model's state of one partition: a user's device, lockout
// and recovery codes, or one token.
//
// The latitude of Store.AcceptStep: when the caller checked the zero
// lockout state, the store may compare it as of the start of the
// operation, and failures counted meanwhile are then ordered after the
// success and kept. So a TOTP authentication that succeeded, or may have,
// is two operations: opCheck, at the instant the call started, and
// opWrite, which writes the step. Pending notes each check until its
// write, with whether the lockout has been the zero state at some instant
// since: at the check, or at a reset after it. A write whose check saw the
// zero state may succeed keeping the failures counted since, whatever the
// lockout then says; any write may also have the outcome of an attempt
// made at once, under a lockout that does not lock, resetting it.
//
// A passkey authentication is split too: opPKTake, when it takes the
// user's ceremony, notes whether the ceremony was the one its answer is
// for and whether the lockout state is zero; opPKWrite then counts the
// failure or writes the success, with the same latitude as a code on the
// zero state (Store.AcceptPasskey has it too). The user's ceremony is
// Challenge, "" for none and "?" for one that no client knows (a begin
// whose outcome is unknown).
type state struct {
	Init        bool
	LastStep    int64
	LastUsed    int64
	Failures    int
	LastFailure int64
	Gen         int
	Unused      uint64 // bit i: code i of set Gen is unused
	Pending     string // checks and takes awaiting their writes: 9 bytes each, Seq then flags (pendingZero, pendingMine), sorted

	Challenge    string // the user's login ceremony
	ChallengeExp int64  // when it expires
	SignCount    uint32 // the passkey's signature counter
	PasskeyUsed  int64  // the passkey's LastUsedAt

	// A token's partition: the token was used up, or removed once
	// expired.
	Consumed, Purged bool
}

// The flags of a pending entry.
const (
	pendingZero = 1 << iota // the lockout state has been zero since the entry was noted
	pendingMine             // a passkey's take found the ceremony its answer is for
)

// pending returns whether the check of seq is noted, and whether it found
// the zero lockout state.
func (s state) pending(seq int64) (zero, ok bool) {
	f, ok := s.pendingFlags(seq)
	return f&pendingZero != 0, ok
}

// pendingFlags returns the flags of seq's entry, and whether there is one.
func (s state) pendingFlags(seq int64) (byte, bool) {
	for i := 0; i+9 <= len(s.Pending); i += 9 {
		if int64(binary.BigEndian.Uint64([]byte(s.Pending[i:i+8]))) == seq {
			return s.Pending[i+8], true
		}
	}
	return 0, false
}

// withPending returns s with the check of seq noted, in order.
func (s state) withPending(seq int64, zero bool) state {
	var f byte
	if zero {
		f = pendingZero
	}
	return s.withPendingFlags(seq, f)
}

// withPendingFlags returns s with an entry for seq with flags f, in order.
func (s state) withPendingFlags(seq int64, f byte) state {
	var e [9]byte
	binary.BigEndian.PutUint64(e[:8], uint64(seq))
	e[8] = f
	i := 0
	for i+9 <= len(s.Pending) && int64(binary.BigEndian.Uint64([]byte(s.Pending[i:i+8]))) < seq {
		i += 9
	}
	s.Pending = s.Pending[:i] + string(e[:]) + s.Pending[i:]
	return s
}

// withoutPending returns s without the check of seq.
func (s state) withoutPending(seq int64) state {
	for i := 0; i+9 <= len(s.Pending); i += 9 {
		if int64(binary.BigEndian.Uint64([]byte(s.Pending[i:i+8]))) == seq {
			s.Pending = s.Pending[:i] + s.Pending[i+9:]
			return s
		}
	}
	return s
}

// backoff is the wait after the given number of consecutive failures, as
// LockoutConfig documents it: BaseDelay at Threshold, doubling with every
// further failure, at most MaxDelay.
func backoff(failures int) time.Duration {
	d := lockoutConfig.BaseDelay
	for i := lockoutConfig.Threshold; i < failures && d < lockoutConfig.MaxDelay; i++ {
		d *= 2
	}
	return min(d, lockoutConfig.MaxDelay)
}

// lockedFor reports whether s locks its user out at now, and for how
// long: zero at the hard limit, which only UnlockUser lifts.
func (s state) lockedFor(now int64) (time.Duration, bool) {
	switch {
	case s.Failures >= lockoutConfig.MaxFailures:
		return 0, true
	case s.Failures < lockoutConfig.Threshold:
		return 0, false
	}
	delay := backoff(s.Failures)
	until := s.LastFailure + int64(delay)
	if now < until {
		return min(time.Duration(until-now), delay), true
	}
	return 0, false
}

// failed returns s after a failure at now.
func (s state) failed(now int64) state {
	s.Failures, s.LastFailure = s.Failures+1, now
	return s
}

// reset returns s with the zero lockout state: every pending check has
// now seen it.
func (s state) reset() state {
	s.Failures, s.LastFailure = 0, 0
	if s.Pending != "" {
		b := []byte(s.Pending)
		for i := 8; i < len(b); i += 9 {
			b[i] |= pendingZero
		}
		s.Pending = string(b)
	}
	return s
}

// fullSet is the bitmask of a set of n unused codes.
func fullSet(n int) uint64 {
	if n >= 64 {
		return ^uint64(0)
	}
	return 1<<n - 1
}

// alt is one outcome the specification allows for an operation: what the
// client sees and the state after it.
type alt struct {
	out  Output
	next state
}

// outcomes is the sequential specification: the outcomes the operation
// in may have on s. It has one outcome but where the Store contract
// leaves a choice (the latitude of AcceptStep, an expired token's
// removal); none when in cannot come next at all.
func outcomes(s state, in Input) []alt {
	if in.Kind == opToken || in.Kind == opTokenFinal {
		return tokenOutcomes(s, in)
	}
	if in.Kind == opSetup {
		if s.Init {
			return nil
		}
		return []alt{{Output{}, state{Init: true, LastStep: in.LastStep, LastUsed: in.LastUsed, Gen: in.Gen, Unused: fullSet(in.Count), SignCount: in.SignCount}}}
	}
	if !s.Init {
		return nil
	}
	// refused is the lockout refusing an attempt; failed counts a failure.
	refused := func(wait time.Duration) []alt {
		return []alt{{Output{Err: mfa.ErrRateLimited.Code, Failures: s.Failures, RetryAfter: int64(wait)}, s}}
	}
	failed := func(code string, s state) []alt {
		return []alt{{Output{Err: code, Failures: s.Failures + 1}, s.failed(in.Now)}}
	}
	switch in.Kind {
	case opTOTP, opWrite:
		// opTOTP is an attempt that was refused, recorded whole; opWrite
		// the second half of one that succeeded or may have.
		var alts []alt
		if in.Kind == opWrite {
			zero, ok := s.pending(in.Seq)
			if !ok {
				return nil // its check comes first
			}
			s = s.withoutPending(in.Seq)
			if zero && in.Step >= 0 && in.Step > s.LastStep {
				// Checked against the zero lockout state: failures counted
				// since are ordered after this success and kept.
				keep := s
				keep.LastStep, keep.LastUsed = in.Step, in.Now
				alts = append(alts, alt{Output{}, keep})
			}
		}
		if wait, locked := s.lockedFor(in.Now); locked {
			return append(alts, refused(wait)...)
		}
		switch {
		case in.Step >= 0 && in.Step > s.LastStep:
			s.LastStep, s.LastUsed = in.Step, in.Now
			return append(alts, alt{Output{}, s.reset()})
		case in.Step >= 0:
			return append(alts, failed(mfa.ErrCodeReused.Code, s)...)
		}
		return append(alts, failed(mfa.ErrInvalidCode.Code, s)...)

	case opCheck:
		return []alt{{Output{}, s.withPending(in.Seq, s.Failures == 0 && s.LastFailure == 0)}}

	case opRecovery:
		if wait, locked := s.lockedFor(in.Now); locked {
			return refused(wait)
		}
		bit := uint64(0)
		if in.Gen == s.Gen && in.Index >= 0 && in.Index < 64 {
			bit = 1 << in.Index
		}
		if s.Unused&bit == 0 {
			return failed(mfa.ErrInvalidCode.Code, s)
		}
		s.Unused &^= bit
		return []alt{{Output{Remaining: bits.OnesCount64(s.Unused)}, s.reset()}}

	case opUnlock:
		return []alt{{Output{}, s.reset()}}

	case opRegen:
		s.Gen, s.Unused = in.Gen, fullSet(in.Count)
		return []alt{{Output{}, s}}

	case opDevices:
		return []alt{{Output{LastUsed: s.LastUsed}, s}}

	case opFinal:
		return []alt{{Output{LastStep: s.LastStep, LastUsed: s.LastUsed, Failures: s.Failures, LastFailure: s.LastFailure, Codes: bits.OnesCount64(s.Unused),
			SignCount: s.SignCount, PasskeyUsed: s.PasskeyUsed}, s}}

	case opPKBegin:
		// Known outcomes are handled by step, which reads the ceremony
		// from the output; an unknown one may have started a ceremony no
		// client knows.
		s.Challenge, s.ChallengeExp = "?", in.Now+passkeyTTL
		return []alt{{Output{}, s}}

	case opPasskey:
		// No ceremony to take: none, or an expired one, which goes.
		if s.hasChallenge(in.Now) {
			return nil
		}
		s.Challenge, s.ChallengeExp = "", 0
		return []alt{{Output{Err: mfa.ErrChallengeInvalid.Code}, s}}

	case opPKTake:
		return takeOutcomes(s, in)

	case opPKWrite:
		return passkeyWriteOutcomes(s, in, refused, failed)
	}
	return nil
}

// hasChallenge reports whether the user has a login ceremony at now.
func (s state) hasChallenge(now int64) bool {
	return s.Challenge != "" && now < s.ChallengeExp
}

// takeOutcomes is outcomes for opPKTake, whose call took a ceremony: the
// ceremony taken, noting whether it was the answer's and whether the
// lockout state is zero. Whatever the call's outcome (a success, a
// refusal, the lockout's refusal as the success was written), the take
// is the same. A call whose outcome is unknown may also have taken
// nothing, or removed an expired ceremony; those alternatives carry an
// unknown output, which no known outcome matches.
func takeOutcomes(s state, in Input) []alt {
	alts := []alt{{Output{Unknown: true}, s}}
	if s.hasChallenge(in.Now) {
		var f byte
		if s.Challenge == in.Challenge {
			f |= pendingMine
		}
		if s.Failures == 0 && s.LastFailure == 0 {
			f |= pendingZero
		}
		taken := s
		taken.Challenge, taken.ChallengeExp = "", 0
		taken = taken.withPendingFlags(in.Seq, f)
		for _, code := range []string{"", mfa.ErrPasskeyRefused.Code, mfa.ErrRateLimited.Code} {
			alts = append(alts, alt{Output{Err: code}, taken})
		}
	} else if s.Challenge != "" {
		gone := s
		gone.Challenge, gone.ChallengeExp = "", 0
		alts = append(alts, alt{Output{Unknown: true}, gone})
	}
	return alts
}

// passkeyWriteOutcomes is outcomes for opPKWrite. After a take, the
// assertion is refused (another ceremony's answer, a bad signature, a
// counter that does not follow) and counts as a failure, or succeeds,
// unless the lockout refuses it; without a take only the lockout's
// refusal is left.
func passkeyWriteOutcomes(s state, in Input, refused func(time.Duration) []alt, failed func(string, state) []alt) []alt {
	f, ok := s.pendingFlags(in.Seq)
	if !ok {
		if wait, locked := s.lockedFor(in.Now); locked {
			return refused(wait)
		}
		return nil
	}
	s = s.withoutPending(in.Seq)
	valid := f&pendingMine != 0 && !in.BadSig && counterFollows(s.SignCount, in.SignCount)
	var alts []alt
	if valid && f&pendingZero != 0 {
		// Checked against the zero lockout state: failures counted since
		// are ordered after this success and kept.
		keep := s
		keep.SignCount, keep.PasskeyUsed = in.SignCount, in.Now
		alts = append(alts, alt{Output{}, keep})
	}
	if wait, locked := s.lockedFor(in.Now); locked {
		return append(alts, refused(wait)...)
	}
	if !valid {
		return append(alts, failed(mfa.ErrPasskeyRefused.Code, s)...)
	}
	s.SignCount, s.PasskeyUsed = in.SignCount, in.Now
	return append(alts, alt{Output{}, s.reset()})
}

// counterFollows is WebAuthn's rule for the signature counter, as
// Store.AcceptPasskey applies it: both 0 (no counter kept), or greater.
func counterFollows(stored, got uint32) bool {
	return stored == 0 && got == 0 || got > stored
}

// tokenOutcomes is outcomes for a token's partition. The token exists
// from the start: no client knows its value before the call that issued
// it returned.
//
// An expired token may be removed: Store.Token returns a token expired or
// not, but the stores drop a user's expired tokens when they insert a new
// one (and in Cleanup), so an expired token may read as unknown from then
// on. The removal happens in a call whose clock read the expiry or later,
// so a call that sees it ended after the clock reached the expiry
// (Purgeable).
func tokenOutcomes(s state, in Input) []alt {
	var alts []alt
	if in.Purgeable && !s.Consumed && !s.Purged {
		purged := s
		purged.Purged = true
		alts = append(alts, tokenOutcomes(purged, in)...)
	}
	if in.Kind == opTokenFinal {
		return append(alts, alt{Output{Present: !s.Consumed && !s.Purged}, s})
	}
	code, consume := tokenOutcome(s, in)
	if code != "" {
		return append(alts, alt{Output{Err: code}, s})
	}
	s.Consumed = consume
	return append(alts, alt{Output{SingleUse: in.SingleUse}, s})
}

// step is the model's step: the states the operation in with outcome out
// may lead to from s, none when it cannot come next. An unknown outcome
// may be any outcome the specification allows, or none at all: the call
// may not have happened.
func step(s state, in Input, out Output) []state {
	var next []state
	if in.Kind == opPKBegin && !out.Unknown {
		if !s.Init || out.Err != "" {
			return nil
		}
		s.Challenge, s.ChallengeExp = out.Challenge, in.Now+passkeyTTL
		return []state{s}
	}
	if out.Unknown {
		if in.Kind != opCheck && in.Kind != opPKTake {
			next = append(next, s.withoutPending(in.Seq)) // it did not happen
		}
		for _, a := range outcomes(s, in) {
			next = append(next, a.next)
		}
		return next
	}
	out.Cause, out.Open, out.TakeAt, out.TakeEnd = "", false, 0, 0
	for _, a := range outcomes(s, in) {
		if a.out == out {
			next = append(next, a.next)
		}
	}
	return next
}

// tokenOutcome is what ValidateMFAToken or AuthorizeAction does with the
// token in s: the error code it returns ("" for success) and whether a
// success uses the token up.
func tokenOutcome(s state, in Input) (string, bool) {
	scope, maxAge, persistent := in.Scope, time.Duration(0), false
	if in.Call == "authorize" {
		p := actions[in.Scope]
		scope, maxAge, persistent = in.Scope, p.MaxTokenAge, p.Persistent
	}
	switch {
	case s.Consumed || s.Purged:
		return mfa.ErrTokenInvalid.Code, false
	case in.Now >= in.Expires:
		return mfa.ErrTokenExpired.Code, false
	case len(in.Scopes) > 0 && !slices.Contains(in.Scopes, scope):
		return mfa.ErrTokenInvalid.Code, false
	case maxAge > 0 && in.Now >= in.Created+int64(maxAge):
		return mfa.ErrTokenExpired.Code, false
	}
	if in.Call == "authorize" {
		return "", in.SingleUse || !persistent
	}
	return "", in.SingleUse
}

// partitionKey names the partition an operation belongs to.
func partitionKey(in Input) string {
	if in.Kind == opToken || in.Kind == opTokenFinal {
		return "token " + in.Token
	}
	return "user " + in.User
}

// partition splits a history by user and by token: a user's operations
// touch only that user's device, lockout and codes, and a token's only
// that token, so the history is linearizable when every partition is.
func partition(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	for _, op := range history {
		k := partitionKey(op.Input.(Input))
		byKey[k] = append(byKey[k], op)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][]porcupine.Operation, len(keys))
	for i, k := range keys {
		out[i] = byKey[k]
	}
	return out
}

// nondeterministic is the porcupine model of mfakit's API; model is its
// deterministic form, whose states are sets of the model's states.
var (
	nondeterministic = porcupine.NondeterministicModel{
		Partition: partition,
		Init:      func() []any { return []any{state{}} },
		Step: func(s, in, out any) []any {
			var next []any
			for _, n := range step(s.(state), in.(Input), out.(Output)) {
				next = append(next, n)
			}
			return next
		},
		Equal:             func(a, b any) bool { return a.(state) == b.(state) },
		Hash:              func(s any) uint64 { return hashState(s.(state)) },
		DescribeOperation: func(in, out any) string { return describe(in.(Input), out.(Output)) },
		DescribeState:     func(s any) string { return describeState(s.(state)) },
	}
	model = nondeterministic.ToModel()
)

func hashState(st state) uint64 {
	h := fnv.New64a()
	var b [8]byte
	for _, v := range []int64{st.LastStep, st.LastUsed, int64(st.Failures), st.LastFailure, int64(st.Gen), int64(st.Unused)} {
		binary.LittleEndian.PutUint64(b[:], uint64(v))
		h.Write(b[:])
	}
	h.Write([]byte(st.Pending))
	for _, v := range []int64{st.ChallengeExp, int64(st.SignCount), st.PasskeyUsed} {
		binary.LittleEndian.PutUint64(b[:], uint64(v))
		h.Write(b[:])
	}
	h.Write([]byte(st.Challenge))
	for i, f := range []bool{st.Init, st.Consumed, st.Purged} {
		if f {
			h.Write([]byte{byte(i + 1)})
		}
	}
	return h.Sum64()
}

func describeState(st state) string {
	if !st.Init {
		return fmt.Sprintf("consumed=%t purged=%t", st.Consumed, st.Purged)
	}
	return fmt.Sprintf("lastStep=%d lastUsed=%s failures=%d lastFailure=%s codes=%d/%b pending=%d challenge=%q signCount=%d passkeyUsed=%s",
		st.LastStep, clockString(st.LastUsed), st.Failures, clockString(st.LastFailure), st.Gen, st.Unused, len(st.Pending)/9,
		shortChallenge(st.Challenge), st.SignCount, clockString(st.PasskeyUsed))
}

// clockString writes a time of the injected clock as seconds after the
// epoch of the histories.
func clockString(ns int64) string {
	if ns == 0 {
		return "-"
	}
	return fmt.Sprintf("%+ds", (ns-epoch.UnixNano())/int64(time.Second))
}

// describe writes one operation for a failure message or a visualization.
func describe(in Input, out Output) string {
	var b strings.Builder
	switch in.Kind {
	case opSetup:
		fmt.Fprintf(&b, "setup(step %d, codes %d/%d)", in.LastStep, in.Gen, in.Count)
	case opTOTP, opCheck, opWrite:
		fmt.Fprintf(&b, "%s(%s step %d", in.Kind, in.Why, in.Step)
		if in.Kind != opTOTP {
			fmt.Fprintf(&b, " #%d", in.Seq)
		}
		b.WriteString(")")
	case opRecovery:
		fmt.Fprintf(&b, "recovery(%s code %d/%d)", in.Why, in.Gen, in.Index)
	case opRegen:
		fmt.Fprintf(&b, "regen(%d)", in.Gen)
	case opPasskey, opPKTake, opPKWrite:
		fmt.Fprintf(&b, "%s(%s challenge %s count %d", in.Kind, in.Why, shortChallenge(in.Challenge), in.SignCount)
		if in.BadSig {
			b.WriteString(" bad signature")
		}
		if in.Kind != opPasskey {
			fmt.Fprintf(&b, " #%d", in.Seq)
		}
		b.WriteString(")")
	case opToken:
		fmt.Fprintf(&b, "%s(%s, single-use %t, scopes %v, created %s, expires %s)", in.Call, in.Scope, in.SingleUse, in.Scopes, clockString(in.Created), clockString(in.Expires))
	default:
		b.WriteString(in.Kind + "()")
	}
	if in.Now != 0 {
		fmt.Fprintf(&b, " at %s", clockString(in.Now))
	}
	b.WriteString(" -> ")
	switch {
	case out.Unknown:
		b.WriteString("unknown")
		if out.Cause != "" {
			b.WriteString(" (" + out.Cause + ")")
		}
	case out.Err != "":
		b.WriteString(out.Err)
		if out.Err == mfa.ErrRateLimited.Code {
			fmt.Fprintf(&b, " (failures %d, retry after %s)", out.Failures, time.Duration(out.RetryAfter))
		} else if out.Failures != 0 {
			fmt.Fprintf(&b, " (failures %d)", out.Failures)
		}
	case in.Kind == opRecovery:
		fmt.Fprintf(&b, "ok (%d left)", out.Remaining)
	case in.Kind == opDevices:
		fmt.Fprintf(&b, "lastUsed %s", clockString(out.LastUsed))
	case in.Kind == opFinal:
		fmt.Fprintf(&b, "lastStep %d lastUsed %s failures %d lastFailure %s codes %d signCount %d passkeyUsed %s", out.LastStep, clockString(out.LastUsed),
			out.Failures, clockString(out.LastFailure), out.Codes, out.SignCount, clockString(out.PasskeyUsed))
	case in.Kind == opPKBegin:
		fmt.Fprintf(&b, "challenge %s", shortChallenge(out.Challenge))
	case in.Kind == opTokenFinal:
		fmt.Fprintf(&b, "present %t", out.Present)
	default:
		b.WriteString("ok")
	}
	return b.String()
}

// shortChallenge abbreviates a challenge for descriptions.
func shortChallenge(c string) string {
	if len(c) > 8 {
		return c[:8]
	}
	return c
}
