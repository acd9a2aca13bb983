package linearizability

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/mfatest"
)

// simClock is the clock every client of a history reads, in every
// process: it moves in steps of one second, one step every tick of real
// time, counted from start. A child process gets start as wall-clock
// nanoseconds, so that its clock reads what its parent's and its
// sibling's read.
type simClock struct {
	start time.Time
	tick  time.Duration
}

// defaultTick is the real time one second of the injected clock lasts: a
// TOTP step of 5 s passes in 50 ms, the lockout's first wait of 1 s in
// 10 ms, a single-use token's 20 s in 0.2 s.
const defaultTick = 10 * time.Millisecond

func (c simClock) Now() time.Time {
	return epoch.Add(time.Duration(time.Since(c.start)/c.tick) * time.Second)
}

// setupNow is the time of enrolment, before the history starts.
var setupNow = epoch.Add(-time.Minute)

// userInfo is what the clients know of a user: the device's secret, the
// recovery codes of every set they heard of, the tokens issued, and hints
// (which codes look used, the last step accepted) for choosing inputs.
// The model, not these hints, decides what is right.
type userInfo struct {
	ID       string
	DeviceID string
	Secret   []byte
	CredID   string // the passkey's credential ID

	mu         sync.Mutex
	codes      map[int][]string // recovery codes by set
	gen        int              // the newest set heard of
	used       map[[2]int]bool  // set, index: codes seen used
	lastStep   int64
	tokens     []*tokenInfo
	hardLocked bool   // seen refused with no wait: only UnlockUser helps
	signCount  uint32 // the highest passkey signature counter seen accepted
	noCounter  bool   // the passkey keeps no signature counter: it always presents 0
}

// tokenInfo is an MFA token as its issuer saw it.
type tokenInfo struct {
	ID        string   `json:"id"`
	User      string   `json:"user"`
	Value     string   `json:"value"`
	SingleUse bool     `json:"singleUse"`
	Scopes    []string `json:"scopes,omitempty"`
	Created   int64    `json:"created"`
	Expires   int64    `json:"expires"`

	spent atomic.Bool // a hint: seen used up or expired
}

// share is knowledge one process passes to the others: a token issued or
// a recovery code set made.
type share struct {
	User  string     `json:"user"`
	Token *tokenInfo `json:"token,omitempty"`
	Gen   int        `json:"gen,omitempty"`
	Codes []string   `json:"codes,omitempty"`
}

func (u *userInfo) apply(s share) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if s.Token != nil {
		u.tokens = append(u.tokens, s.Token)
	}
	if s.Codes != nil {
		u.codes[s.Gen] = s.Codes
		u.gen = s.Gen
	}
}

// userSetup is a user as enrolled, as the parent passes it to a child.
type userSetup struct {
	ID        string   `json:"id"`
	DeviceID  string   `json:"deviceId"`
	Secret    string   `json:"secret"` // base32, as Registration.Secret
	Codes     []string `json:"codes"`
	LastStep  int64    `json:"lastStep"`
	CredID    string   `json:"credId"`
	SignCount uint32   `json:"signCount"`
}

func (s userSetup) info(tb testing.TB) *userInfo {
	tb.Helper()
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(s.Secret, "=")))
	if err != nil {
		tb.Fatalf("secret of %s: %v", s.ID, err)
	}
	return &userInfo{ID: s.ID, DeviceID: s.DeviceID, Secret: raw, CredID: s.CredID, codes: map[int][]string{0: s.Codes},
		used: map[[2]int]bool{}, lastStep: s.LastStep, signCount: s.SignCount, noCounter: s.SignCount == 0}
}

// totpParams are the devices' TOTP parameters: SHA1 (SHA256 in FIPS
// 140-3 mode), 6 digits, totpPeriod.
func totpParams() mfatest.TOTP {
	return mfatest.TOTP{Algorithm: mfatest.FIPSTOTP().Algorithm, Period: totpPeriod}
}

// newMFA returns an MFA on store configured as the model expects, with
// the given clock and event handler.
func newMFA(tb testing.TB, store mfa.Store, keys *mfa.Keyring, now func() time.Time, onEvent func(context.Context, mfa.Event)) *mfa.MFA {
	tb.Helper()
	m, err := mfa.New(mfa.Config{
		Store:    store,
		Issuer:   "mfakit",
		Keys:     keys,
		TOTP:     totpParams().Config(),
		Recovery: mfa.RecoveryConfig{Count: recoveryCount},
		Tokens:   tokenConfig,
		Lockout:  lockoutConfig,
		Actions:  actions,
		Passkeys: mfatest.Passkeys{},
		Now:      now,
		OnEvent:  onEvent,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// setupSignCount is the signature counter after enrolment of the passkeys
// that keep one: every other user's. The others present 0 throughout, as
// authenticators without a counter do, and only the single use of each
// ceremony keeps their answers from being replayed.
func setupSignCount(i int) uint32 { return uint32(i % 2) }

// enrol enrols users with a verified device, a passkey added with the
// token the device's first code gave, and acknowledged recovery codes at
// setupNow, and records each as the setup operation of its partition.
func enrol(tb testing.TB, store mfa.Store, keys *mfa.Keyring, prefix string, n int, rec recorder) []userSetup {
	tb.Helper()
	ctx := context.Background()
	m := newMFA(tb, store, keys, func() time.Time { return setupNow }, nil)
	var out []userSetup
	for i := range n {
		id := fmt.Sprintf("%s-user-%d", prefix, i)
		reg, err := m.AddDevice(ctx, id)
		if err != nil {
			tb.Fatal(err)
		}
		code := totpParams().Code(tb, reg.Secret, setupNow)
		res, err := m.AuthenticateDevice(ctx, id, mfa.AuthenticateRequest{Code: code,
			CreateMFAToken: &mfa.TokenRequest{SingleUse: true, Scopes: []string{mfa.ActionCredentialLink}}})
		if err != nil {
			tb.Fatal(err)
		}
		pk, err := m.BeginPasskeyRegistration(ctx, id, mfa.WithMFAToken(res.MFAToken.Value))
		if err != nil {
			tb.Fatal(err)
		}
		credID := id + "-passkey"
		if _, err := m.FinishPasskeyRegistration(ctx, id, mfatest.PasskeyAnswer(tb, pk.Options, credID, setupSignCount(i))); err != nil {
			tb.Fatal(err)
		}
		codes, err := m.GetRecoveryCodes(ctx, id, false)
		if err != nil {
			tb.Fatal(err)
		}
		if err := m.CompleteAcknowledgement(ctx, id); err != nil {
			tb.Fatal(err)
		}
		s := userSetup{ID: id, DeviceID: reg.DeviceID, Secret: reg.Secret, Codes: codes, LastStep: setupNow.Unix() / int64(totpPeriod/time.Second),
			CredID: credID, SignCount: setupSignCount(i)}
		rec.ret(rec.call(-1, Input{Kind: opSetup, User: id, LastStep: s.LastStep, LastUsed: setupNow.UnixNano(), Count: len(codes), SignCount: s.SignCount}), Output{})
		out = append(out, s)
	}
	return out
}

// finalRead records, once every client has stopped, the stored state of
// each user and whether each token is still stored.
func finalRead(tb testing.TB, store mfa.Store, users []*userInfo, rec recorder) {
	tb.Helper()
	ctx := context.Background()
	for _, u := range users {
		id := rec.call(-1, Input{Kind: opFinal, User: u.ID})
		st, err := store.LoadUser(ctx, u.ID, epoch.Add(24*time.Hour))
		if err != nil {
			tb.Fatalf("final read of %s: %v", u.ID, err)
		}
		out := Output{Failures: st.Lockout.Failures, LastFailure: unixNano(st.Lockout.LastFailure), Codes: len(st.RecoveryCodes.Hashes)}
		for _, d := range st.Devices {
			switch {
			case d.ID == u.DeviceID:
				out.LastStep, out.LastUsed = d.LastStep, unixNano(d.LastUsedAt)
			case d.Passkey != nil && string(d.Passkey.ID) == u.CredID:
				out.SignCount, out.PasskeyUsed = d.Passkey.SignCount, unixNano(d.LastUsedAt)
			}
		}
		rec.ret(id, out)
		u.mu.Lock()
		tokens := u.tokens
		u.mu.Unlock()
		for _, tk := range tokens {
			id := rec.call(-1, Input{Kind: opTokenFinal, User: u.ID, Token: tk.ID, Expires: tk.Expires})
			_, err := store.Token(ctx, u.ID, sha256.Sum256([]byte(tk.Value)))
			if err != nil && !errors.Is(err, mfa.ErrTokenInvalid) {
				tb.Fatalf("final read of a token of %s: %v", u.ID, err)
			}
			rec.ret(id, Output{Present: err == nil})
		}
	}
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// mix weighs the kinds of step a client takes.
type mix struct {
	TOTP, TOTPBurst, Recovery, RecoveryBurst, WrongBurst, TokenUse, TokenBurst, Devices, Unlock, Regen, Passkey, PasskeyBurst float64
	// TokenRequest is the chance that a right code asks for an MFA token.
	TokenRequest float64
}

// defaultMix is the mix of the histories on every store.
var defaultMix = mix{TOTP: 25, TOTPBurst: 8, Recovery: 10, RecoveryBurst: 3, WrongBurst: 4, TokenUse: 14, TokenBurst: 6, Devices: 5, Unlock: 3, Regen: 1,
	Passkey: 12, PasskeyBurst: 5, TokenRequest: 0.35}

// workload is one process's share of a history: its clients, the users
// they work on, and how to reach the store.
type workload struct {
	proc     int // the process's number, to keep IDs unique across processes
	users    []*userInfo
	clients  int
	duration time.Duration
	clock    simClock
	rec      recorder
	seed     uint64
	mix      mix
	// store returns the store client c uses: on PostgreSQL some clients
	// use a pool whose statements time out.
	store func(c int) mfa.Store
	keys  *mfa.Keyring
	// publish passes a share to the other processes; nil in one process.
	publish func(share)
	// deadlineRate is the fraction of calls made with a context that
	// times out after a millisecond or two.
	deadlineRate float64
	// tb is the test, for mfatest.PasskeyAnswer.
	tb testing.TB
	// pause is how long a client waits after an unknown outcome, so that
	// a store that is down is not hammered; afterUnknown, if set, then
	// waits until the store answers again.
	pause        time.Duration
	afterUnknown func()
	// openEnded tells whether a store failure may take effect after the
	// call returned; nil for a store whose calls finish when they return
	// (memstore, SQLite in the caller's process).
	openEnded func(error) bool

	nextClient atomic.Int64
	nextToken  atomic.Int64
	nextGen    atomic.Int64
}

// actor is one goroutine's MFA: its own injected clock reading and its
// own event log, so that the time and the failure count of each call are
// known exactly.
type actor struct {
	client int // the client ID in the history; a new one after an unknown outcome, as Jepsen does
	rng    *rand.Rand
	m      *mfa.MFA
	now    time.Time
	events []mfa.Event
	// takeAt and takeEnd are when the call's Store.TakeChallenge started
	// and returned, on the recorder's clock: takeAt 0 when it was not
	// called, takeEnd 0 when it failed, so that it may have taken effect
	// later.
	takeAt, takeEnd int64
}

// takeStamps notes in its actor when TakeChallenge starts and when it
// returns settled: with a ceremony or with none to take.
type takeStamps struct {
	mfa.Store
	a  *actor
	at func() int64
}

func (s takeStamps) TakeChallenge(ctx context.Context, userID string, now time.Time) (mfa.ChallengeRecord, error) {
	s.a.takeAt = s.at()
	c, err := s.Store.TakeChallenge(ctx, userID, now)
	if err == nil || errors.Is(err, mfa.ErrChallengeInvalid) {
		s.a.takeEnd = s.at()
	}
	return c, err
}

func (w *workload) newClientID() int {
	return w.proc*1_000_000 + int(w.nextClient.Add(1))
}

func (w *workload) newActor(tb testing.TB, c, slot int) *actor {
	a := &actor{client: w.newClientID(), rng: rand.New(rand.NewPCG(w.seed^0x5eed, uint64(w.proc*1_000_000+c*100+slot)))}
	a.m = newMFA(tb, takeStamps{w.store(c), a, w.rec.at}, w.keys, func() time.Time { return a.now }, func(_ context.Context, e mfa.Event) {
		a.events = append(a.events, e)
	})
	return a
}

// run runs the workload's clients until its duration has passed.
func (w *workload) run(tb testing.TB) {
	tb.Helper()
	w.tb = tb
	var wg sync.WaitGroup
	deadline := time.Now().Add(w.duration)
	for c := range w.clients {
		cl := &client{w: w, rng: rand.New(rand.NewPCG(w.seed, uint64(w.proc*1000+c)))}
		for slot := range maxBurst {
			cl.actors = append(cl.actors, w.newActor(tb, c, slot))
		}
		wg.Go(func() {
			for time.Now().Before(deadline) {
				cl.step()
			}
		})
	}
	wg.Wait()
}

// maxBurst is the most calls a client makes at once: more than the
// lockout's threshold.
const maxBurst = 6

// client is one client of the workload: it picks a user and something to
// do, alone or as a burst of identical or similar calls released at once.
type client struct {
	w      *workload
	rng    *rand.Rand
	actors []*actor
}

func (c *client) step() {
	u := c.w.users[c.rng.IntN(len(c.w.users))]
	u.mu.Lock()
	hard := u.hardLocked
	u.mu.Unlock()
	if hard && c.rng.IntN(2) == 0 {
		c.unlock(c.actors[0], u)
		return
	}
	m := c.w.mix
	r := c.rng.Float64() * (m.TOTP + m.TOTPBurst + m.Recovery + m.RecoveryBurst + m.WrongBurst + m.TokenUse + m.TokenBurst + m.Devices + m.Unlock + m.Regen + m.Passkey + m.PasskeyBurst)
	pick := func(weight float64) bool {
		r -= weight
		return r < 0
	}
	switch {
	case pick(m.TOTP):
		code, why := c.totpCode(u)
		c.totp(c.actors[0], u, code, why, c.tokenRequest(c.rng, why))
	case pick(m.TOTPBurst):
		// The same code from several callers at once: exactly one may win.
		code, why := c.totpCode(u)
		c.burst(2+c.rng.IntN(maxBurst-1), func(a *actor, i int) {
			c.totp(a, u, code, "burst "+why, c.tokenRequest(a.rng, why))
		})
	case pick(m.Recovery):
		gen, idx, code, why := c.recoveryCode(u)
		c.recovery(c.actors[0], u, gen, idx, code, why, c.tokenRequest(c.rng, why))
	case pick(m.RecoveryBurst):
		gen, idx, code, why := c.recoveryCode(u)
		c.burst(2+c.rng.IntN(maxBurst-1), func(a *actor, i int) {
			c.recovery(a, u, gen, idx, code, "burst "+why, nil)
		})
	case pick(m.WrongBurst):
		// Enough wrong codes at once to reach the lockout's threshold.
		c.burst(lockoutConfig.Threshold+1+c.rng.IntN(maxBurst-lockoutConfig.Threshold), func(a *actor, i int) {
			if i%2 == 0 {
				c.totp(a, u, wrongTOTP(a.rng, u, c.w.clock.Now()), "burst wrong", nil)
				return
			}
			c.recovery(a, u, -1, -1, randomRecoveryCode(a.rng), "burst wrong", nil)
		})
	case pick(m.TokenUse):
		if tk := c.pickToken(u); tk != nil {
			call, scope := c.tokenCall()
			c.useToken(c.actors[0], tk, call, scope)
		}
	case pick(m.TokenBurst):
		// One token presented several times at once: a token that is used
		// up is used once.
		if tk := c.pickToken(u); tk != nil {
			calls := make([][2]string, maxBurst)
			for i := range calls {
				calls[i][0], calls[i][1] = c.tokenCall()
			}
			c.burst(2+c.rng.IntN(maxBurst-1), func(a *actor, i int) { c.useToken(a, tk, calls[i][0], calls[i][1]) })
		}
	case pick(m.Devices):
		c.devices(c.actors[0], u)
	case pick(m.Unlock):
		c.unlock(c.actors[0], u)
	case pick(m.Passkey):
		c.passkeyLogin(u)
	case pick(m.PasskeyBurst):
		c.passkeyBurst(u)
	default:
		c.regen(c.actors[0], u)
	}
}

// burst runs fn on n actors at once.
func (c *client) burst(n int, fn func(a *actor, i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(c.actors[i], i)
		})
	}
	close(start)
	wg.Wait()
}

// exec records one call of a: it reads the clock, builds the input,
// makes the call and records what it saw.
func (c *client) exec(a *actor, in func(now time.Time) Input, call func(ctx context.Context) Output) Output {
	a.now = c.w.clock.Now()
	a.events = a.events[:0]
	a.takeAt, a.takeEnd = 0, 0
	input := in(a.now)
	input.Now = a.now.UnixNano()
	ctx := context.Background()
	if c.w.deadlineRate > 0 && a.rng.Float64() < c.w.deadlineRate {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(500+a.rng.IntN(2500))*time.Microsecond)
		defer cancel()
	}
	id := c.w.rec.call(a.client, input)
	out := call(ctx)
	c.w.rec.ret(id, out)
	switch {
	case out.Unknown:
		a.client = c.w.newClientID()
		if c.w.pause > 0 {
			time.Sleep(c.w.pause/2 + time.Duration(a.rng.Int64N(int64(c.w.pause))))
		}
		if c.w.afterUnknown != nil {
			c.w.afterUnknown()
		}
	case out.Err == mfa.ErrRateLimited.Code:
		// Wait a little, as a client told to retry later would, so that
		// refusals do not crowd the history.
		time.Sleep(time.Duration(100+a.rng.IntN(900)) * time.Microsecond)
	}
	return out
}

// outcome turns what an MFA call returned into an Output: an mfakit error
// code, or an unknown outcome for a store failure. The failure count comes
// from the call's authentication event.
func (c *client) outcome(err error, events []mfa.Event) Output {
	if err == nil {
		return Output{}
	}
	var me *mfa.Error
	if !errors.As(err, &me) || me.Code == mfa.ErrStore.Code {
		out := Output{Unknown: true, Open: c.w.openEnded != nil && c.w.openEnded(err), Cause: faultCause(err)}
		if out.Open {
			out.Cause += " (open: " + err.Error() + ")"
		}
		return out
	}
	out := Output{Err: me.Code, RetryAfter: int64(me.RetryAfter)}
	for _, e := range events {
		if e.Type == mfa.EventAuthFailed || e.Type == mfa.EventReplayRefused || e.Type == mfa.EventPasskeyCounterRefused {
			out.Failures = e.Failures
			break
		}
	}
	if out.Err == mfa.ErrInvalidInput.Code || out.Err == mfa.ErrKey.Code {
		out.Cause = err.Error() // no outcome the model allows: say what it was
	}
	return out
}

// faultCause names the kind of fault behind a store failure.
func faultCause(err error) string {
	msg := err.Error()
	switch {
	case errors.Is(err, mfatest.ErrInjected):
		return "injected error"
	case errors.Is(err, context.DeadlineExceeded):
		return "context deadline"
	case errors.Is(err, context.Canceled):
		return "context cancelled"
	case strings.Contains(msg, "statement timeout"):
		return "statement timeout"
	case strings.Contains(msg, "canceling statement due to user request"):
		return "query cancelled"
	case strings.Contains(msg, "terminating connection"), strings.Contains(msg, "57P01"):
		return "backend terminated"
	case strings.Contains(msg, "shutting down"), strings.Contains(msg, "starting up"), strings.Contains(msg, "57P03"):
		return "server restarting"
	case strings.Contains(msg, "connection refused"), strings.Contains(msg, "dial"):
		return "connection refused"
	case strings.Contains(msg, "SQLITE_BUSY"), strings.Contains(msg, "database is locked"):
		return "database busy"
	case strings.Contains(msg, "EOF"), strings.Contains(msg, "broken pipe"), strings.Contains(msg, "closed"), strings.Contains(msg, "reset by peer"):
		return "connection lost"
	}
	return "store failure: " + msg
}

// totpCode picks a code: mostly of the current step, sometimes of the step
// before or after (the window), a replay of the last step accepted, or a
// wrong one.
func (c *client) totpCode(u *userInfo) (code, why string) {
	now := c.w.clock.Now()
	cur := now.Unix() / int64(totpPeriod/time.Second)
	p := totpParams()
	switch r := c.rng.Float64(); {
	case r < 0.65:
		s := cur
		if r < 0.1 {
			s = cur + int64(c.rng.IntN(2*totpSkew+1)-totpSkew)
		}
		return p.StepCode(u.Secret, s), "right"
	case r < 0.85:
		u.mu.Lock()
		s := u.lastStep
		u.mu.Unlock()
		if c.rng.IntN(3) == 0 {
			s = cur - 1
		}
		return p.StepCode(u.Secret, s), "replay"
	}
	return wrongTOTP(c.rng, u, now), "wrong"
}

// wrongTOTP returns a code that matches no step of the window at now.
func wrongTOTP(rng *rand.Rand, u *userInfo, now time.Time) string {
	cur := now.Unix() / int64(totpPeriod/time.Second)
	p := totpParams()
	for {
		code := fmt.Sprintf("%06d", rng.IntN(1_000_000))
		ok := true
		for s := cur - totpSkew - 1; s <= cur+totpSkew+1; s++ {
			ok = ok && p.StepCode(u.Secret, s) != code
		}
		if ok {
			return code
		}
	}
}

// matchedStep is the step mfakit takes for code at now: the latest step
// of the window whose code it is, or -1.
func matchedStep(u *userInfo, code string, now time.Time) int64 {
	cur := now.Unix() / int64(totpPeriod/time.Second)
	p := totpParams()
	for s := cur + totpSkew; s >= cur-totpSkew; s-- {
		if p.StepCode(u.Secret, s) == code {
			return s
		}
	}
	return -1
}

// tokenRequest asks for an MFA token with some of the right codes.
func (c *client) tokenRequest(rng *rand.Rand, why string) *mfa.TokenRequest {
	if why != "right" || rng.Float64() >= c.w.mix.TokenRequest {
		return nil
	}
	r := &mfa.TokenRequest{SingleUse: rng.IntN(5) < 3}
	switch rng.IntN(4) {
	case 0:
		r.Scopes = []string{actionConsume}
	case 1:
		r.Scopes = []string{actionKeep}
	case 2:
		r.Scopes = []string{actionConsume, actionKeep}
	}
	r.TTL = []time.Duration{0, 10 * time.Second, 45 * time.Second}[rng.IntN(3)]
	return r
}

// totp calls AuthenticateDevice with code.
func (c *client) totp(a *actor, u *userInfo, code, why string, tr *mfa.TokenRequest) {
	var res *mfa.AuthResult
	out := c.exec(a, func(now time.Time) Input {
		return Input{Kind: opTOTP, User: u.ID, Step: matchedStep(u, code, now), Why: why}
	}, func(ctx context.Context) Output {
		var err error
		res, err = a.m.AuthenticateDevice(ctx, u.ID, mfa.AuthenticateRequest{Code: code, CreateMFAToken: tr})
		return c.outcome(err, a.events)
	})
	if out.Err == "" && !out.Unknown {
		step := matchedStep(u, code, a.now)
		u.mu.Lock()
		u.lastStep = max(u.lastStep, step)
		u.mu.Unlock()
		c.issued(a, u, res.MFAToken)
	}
	u.noteHardLock(out)
}

// noteHardLock remembers a refusal by the lockout with no wait: the hard
// limit, which only UnlockUser lifts.
func (u *userInfo) noteHardLock(out Output) {
	if out.Err == mfa.ErrRateLimited.Code && out.RetryAfter == 0 {
		u.mu.Lock()
		u.hardLocked = true
		u.mu.Unlock()
	}
}

// issued makes a token just issued known to every client.
func (c *client) issued(a *actor, u *userInfo, t *mfa.Token) {
	if t == nil {
		return
	}
	tk := &tokenInfo{ID: fmt.Sprintf("p%d-%d", c.w.proc, c.w.nextToken.Add(1)), User: u.ID, Value: t.Value, SingleUse: t.SingleUse,
		Scopes: t.Scopes, Created: a.now.UnixNano(), Expires: t.ExpiresAt.UnixNano()}
	s := share{User: u.ID, Token: tk}
	u.apply(s)
	if c.w.publish != nil {
		c.w.publish(s)
	}
}

// recoveryCode picks a recovery code: an unused one of the newest set, a
// used one or one of an older set, or a code of no set.
func (c *client) recoveryCode(u *userInfo) (gen, idx int, code, why string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	r := c.rng.Float64()
	if r < 0.6 {
		codes := u.codes[u.gen]
		var unused []int
		for i := range codes {
			if !u.used[[2]int{u.gen, i}] {
				unused = append(unused, i)
			}
		}
		if len(unused) > 0 {
			i := unused[c.rng.IntN(len(unused))]
			return u.gen, i, codes[i], "right"
		}
	}
	if r < 0.85 {
		var old [][2]int
		for k := range u.used {
			old = append(old, k)
		}
		for g, codes := range u.codes {
			if g != u.gen && len(codes) > 0 {
				old = append(old, [2]int{g, c.rng.IntN(len(codes))})
			}
		}
		if len(old) > 0 {
			k := old[c.rng.IntN(len(old))]
			if codes := u.codes[k[0]]; k[1] < len(codes) {
				return k[0], k[1], codes[k[1]], "replay"
			}
		}
	}
	return -1, -1, randomRecoveryCode(c.rng), "wrong"
}

// randomRecoveryCode is a code in the right format that belongs to no
// set.
func randomRecoveryCode(rng *rand.Rand) string {
	const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	b := make([]byte, 0, 19)
	for i := range 16 {
		if i > 0 && i%4 == 0 {
			b = append(b, '-')
		}
		b = append(b, alphabet[rng.IntN(len(alphabet))])
	}
	return string(b)
}

// recovery calls AuthenticateRecoveryCode.
func (c *client) recovery(a *actor, u *userInfo, gen, idx int, code, why string, tr *mfa.TokenRequest) {
	var res *mfa.AuthResult
	out := c.exec(a, func(time.Time) Input {
		return Input{Kind: opRecovery, User: u.ID, Gen: gen, Index: idx, Why: why}
	}, func(ctx context.Context) Output {
		var err error
		res, err = a.m.AuthenticateRecoveryCode(ctx, u.ID, mfa.RecoveryRequest{Code: code, CreateMFAToken: tr})
		out := c.outcome(err, a.events)
		if err == nil {
			out.Remaining = res.RecoveryCodesRemaining
		}
		return out
	})
	switch {
	case out.Unknown:
	case out.Err == "":
		u.mu.Lock()
		u.used[[2]int{gen, idx}] = true
		u.mu.Unlock()
		c.issued(a, u, res.MFAToken)
	case out.Err == mfa.ErrInvalidCode.Code && idx >= 0:
		u.mu.Lock()
		u.used[[2]int{gen, idx}] = true
		u.mu.Unlock()
	}
	u.noteHardLock(out)
}

// pickToken picks one of the user's tokens: mostly one not seen used up
// yet, else any.
func (c *client) pickToken(u *userInfo) *tokenInfo {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.tokens) == 0 {
		return nil
	}
	if c.rng.IntN(5) > 0 {
		var live []*tokenInfo
		for _, tk := range u.tokens {
			if !tk.spent.Load() {
				live = append(live, tk)
			}
		}
		if len(live) > 0 {
			return live[c.rng.IntN(len(live))]
		}
	}
	return u.tokens[c.rng.IntN(len(u.tokens))]
}

// tokenCall picks what to do with a token: validate it for a scope, or
// authorise an action with it.
func (c *client) tokenCall() (call, scope string) {
	switch c.rng.IntN(6) {
	case 0, 1:
		return "authorize", actionConsume
	case 2:
		return "authorize", actionKeep
	case 3:
		return "validate", actionConsume
	case 4:
		return "validate", actionKeep
	}
	return "validate", scopeOther
}

// useToken calls ValidateMFAToken or AuthorizeAction with a token.
func (c *client) useToken(a *actor, tk *tokenInfo, call, scope string) {
	out := c.exec(a, func(time.Time) Input {
		return Input{Kind: opToken, User: tk.User, Token: tk.ID, Call: call, Scope: scope,
			SingleUse: tk.SingleUse, Scopes: tk.Scopes, Created: tk.Created, Expires: tk.Expires}
	}, func(ctx context.Context) Output {
		var res *mfa.Token
		var err error
		if call == "authorize" {
			res, err = a.m.AuthorizeAction(ctx, tk.User, scope, tk.Value)
		} else {
			res, err = a.m.ValidateMFAToken(ctx, tk.User, tk.Value, scope)
		}
		out := c.outcome(err, a.events)
		if err == nil && res != nil {
			out.SingleUse = res.SingleUse
		}
		return out
	})
	if out.Err == mfa.ErrTokenInvalid.Code && scope != scopeOther || out.Err == mfa.ErrTokenExpired.Code && call == "validate" ||
		out.Err == "" && !out.Unknown && tk.SingleUse {
		tk.spent.Store(true)
	}
}

// devices calls GetUserDevices and reads the device's LastUsedAt.
func (c *client) devices(a *actor, u *userInfo) {
	c.exec(a, func(time.Time) Input { return Input{Kind: opDevices, User: u.ID} }, func(ctx context.Context) Output {
		devices, err := a.m.GetUserDevices(ctx, u.ID)
		out := c.outcome(err, a.events)
		for _, d := range devices {
			if d.ID == u.DeviceID && d.LastUsedAt != nil {
				out.LastUsed = d.LastUsedAt.UnixNano()
			}
		}
		return out
	})
}

// unlock calls UnlockUser, as an operator would.
func (c *client) unlock(a *actor, u *userInfo) {
	out := c.exec(a, func(time.Time) Input { return Input{Kind: opUnlock, User: u.ID} }, func(ctx context.Context) Output {
		return c.outcome(a.m.UnlockUser(ctx, u.ID), a.events)
	})
	if out.Err == "" && !out.Unknown {
		u.mu.Lock()
		u.hardLocked = false
		u.mu.Unlock()
	}
}

// regen calls GetNewRecoveryCodes and makes the new set known.
func (c *client) regen(a *actor, u *userInfo) {
	gen := c.w.proc*1_000_000 + int(c.w.nextGen.Add(1))
	var codes []string
	out := c.exec(a, func(time.Time) Input { return Input{Kind: opRegen, User: u.ID, Gen: gen, Count: recoveryCount} }, func(ctx context.Context) Output {
		var err error
		codes, err = a.m.GetNewRecoveryCodes(ctx, u.ID)
		return c.outcome(err, a.events)
	})
	if out.Err == "" && !out.Unknown {
		s := share{User: u.ID, Gen: gen, Codes: codes}
		u.apply(s)
		if c.w.publish != nil {
			c.w.publish(s)
		}
	}
}

// passkeyLogin begins a passkey login and answers it: mostly rightly,
// with a counter above any seen; sometimes with a counter seen already
// (a cloned authenticator), a bad signature, or after another begin
// replaced the ceremony, so that the answer meets a ceremony not its own.
func (c *client) passkeyLogin(u *userInfo) {
	a := c.actors[0]
	options, ch := c.passkeyBegin(a, u)
	if options == nil {
		return
	}
	count, why := c.passkeyCount(u)
	bad := false
	switch r := c.rng.Float64(); {
	case r < 0.1:
		bad, why = true, "bad signature"
	case r < 0.2:
		c.passkeyBegin(c.actors[1], u)
		why = "replaced " + why
	}
	c.passkeyAuth(a, u, options, ch, count, bad, why, c.tokenRequest(c.rng, why))
}

// passkeyBurst sends one answer from several callers at once: one may
// take the ceremony. Sometimes half of them begin new ceremonies instead,
// which the others' answers then meet.
func (c *client) passkeyBurst(u *userInfo) {
	options, ch := c.passkeyBegin(c.actors[0], u)
	if options == nil {
		return
	}
	count, why := c.passkeyCount(u)
	begins := c.rng.IntN(3) == 0
	c.burst(2+c.rng.IntN(maxBurst-1), func(a *actor, i int) {
		if begins && i%2 == 1 {
			c.passkeyBegin(a, u)
			return
		}
		c.passkeyAuth(a, u, options, ch, count, false, "burst "+why, nil)
	})
}

// passkeyCount picks the signature counter of an answer: above the
// highest seen accepted, or that one again.
func (c *client) passkeyCount(u *userInfo) (uint32, string) {
	u.mu.Lock()
	n := u.signCount
	u.mu.Unlock()
	if u.noCounter {
		return 0, "no counter"
	}
	if c.rng.IntN(8) == 0 {
		return n, "counter again"
	}
	return n + 1 + uint32(c.rng.IntN(3)), "right"
}

// passkeyBegin calls BeginPasskeyAuthentication and returns the options
// and the ceremony's challenge, or nil when it failed.
func (c *client) passkeyBegin(a *actor, u *userInfo) (json.RawMessage, string) {
	var options json.RawMessage
	out := c.exec(a, func(time.Time) Input { return Input{Kind: opPKBegin, User: u.ID} }, func(ctx context.Context) Output {
		var err error
		options, err = a.m.BeginPasskeyAuthentication(ctx, u.ID)
		out := c.outcome(err, a.events)
		if err == nil {
			out.Challenge = challengeOf(c.w.tb, options)
		}
		return out
	})
	if out.Unknown || out.Err != "" {
		return nil, ""
	}
	return options, out.Challenge
}

// challengeOf returns the challenge of passkey options, in hexadecimal.
func challengeOf(tb testing.TB, options json.RawMessage) string {
	var o mfatest.PasskeyOptions
	if err := json.Unmarshal(options, &o); err != nil || len(o.PublicKey.Challenge) == 0 {
		tb.Errorf("passkey options without a challenge: %s", options)
		return "none"
	}
	return hex.EncodeToString(o.PublicKey.Challenge)
}

// passkeyAuth calls AuthenticatePasskey with an answer to options.
func (c *client) passkeyAuth(a *actor, u *userInfo, options json.RawMessage, ch string, count uint32, bad bool, why string, tr *mfa.TokenRequest) {
	var opts []mfatest.PasskeyAnswerOption
	if bad {
		opts = append(opts, mfatest.BadSignature())
	}
	answer := mfatest.PasskeyAnswer(c.w.tb, options, u.CredID, count, opts...)
	var res *mfa.AuthResult
	out := c.exec(a, func(time.Time) Input {
		return Input{Kind: opPasskey, User: u.ID, Challenge: ch, SignCount: count, BadSig: bad, Why: why}
	}, func(ctx context.Context) Output {
		var err error
		res, err = a.m.AuthenticatePasskey(ctx, u.ID, mfa.PasskeyRequest{Response: answer, CreateMFAToken: tr})
		out := c.outcome(err, a.events)
		out.TakeAt, out.TakeEnd = a.takeAt, a.takeEnd
		return out
	})
	if out.Err == "" && !out.Unknown {
		u.mu.Lock()
		u.signCount = max(u.signCount, count)
		u.mu.Unlock()
		c.issued(a, u, res.MFAToken)
	}
	u.noteHardLock(out)
}

// Settings from the environment, for longer runs.

// runDuration is how long each history runs: short by default, so that CI
// checks every store in a minute or two; MFA_LINEARIZABILITY_DURATION
// sets it for every store.
func runDuration(tb testing.TB, short time.Duration) time.Duration {
	tb.Helper()
	v := os.Getenv("MFA_LINEARIZABILITY_DURATION")
	if v == "" {
		return short
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		tb.Fatalf("MFA_LINEARIZABILITY_DURATION=%q: want a duration such as 30s", v)
	}
	return d
}

// histories is how many histories each store runs:
// MFA_LINEARIZABILITY_HISTORIES, default 1.
func histories(tb testing.TB) int {
	tb.Helper()
	v := os.Getenv("MFA_LINEARIZABILITY_HISTORIES")
	if v == "" {
		return 1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		tb.Fatalf("MFA_LINEARIZABILITY_HISTORIES=%q: want a positive number", v)
	}
	return n
}

// seed is the workload's seed: MFA_LINEARIZABILITY_SEED, or random. It
// fixes the clients' choices, not the scheduling, so a history is not
// replayed exactly; the log gives it for a failed run.
func seed(tb testing.TB) uint64 {
	tb.Helper()
	if v := os.Getenv("MFA_LINEARIZABILITY_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			tb.Fatalf("MFA_LINEARIZABILITY_SEED=%q: want a number", v)
		}
		return s
	}
	return rand.Uint64()
}
