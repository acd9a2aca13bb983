package mfa_test

import (
	"context"
	"encoding/base32"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// The benchmarks of the performance targets in docs/DESIGN.md; docs/PERFORMANCE.md
// has the commands and the results.

// benchPeriod is how far the clock moves per iteration: three TOTP periods.
// The code of the previous step sometimes (about once in a million) matches
// the next step too, and is then accepted at that later step, as matchStep
// takes the latest; with the clock one period on, the next iteration's code
// would be a replay.
const benchPeriod = 3 * 30 * time.Second

var benchStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// benchIDLen is the length of the fixture's user IDs, "user-" and seven
// digits, so that the IDs of a run can be laid out one after another.
const benchIDLen = 12

// raceEnabled is set by race_test.go when the race detector is on.
var raceEnabled bool

// benchClock is Config.Now for a benchmark that runs in one goroutine: a
// plain variable, so that reading the time costs nothing measurable.
type benchClock struct{ t time.Time }

func (c *benchClock) Now() time.Time { return c.t }

// benchFixture is an MFA on a memstore holding enrolled users: each has a
// verified device whose last accepted step is the one of enrolment, and
// acknowledged recovery codes. The users' IDs and secrets are laid out in
// one string and one array, so that the fixture adds two objects, not two
// per user, for the garbage collector to mark.
type benchFixture struct {
	m       *mfa.MFA
	clock   *benchClock
	ids     string // the user IDs, benchIDLen bytes each
	secrets []byte // the TOTP secrets, benchSecretLen bytes each
}

// benchSecretLen is the length of the secrets AddDevice makes: 160 bits.
const benchSecretLen = 20

func (f *benchFixture) user(i int) string { return f.ids[benchIDLen*i : benchIDLen*(i+1)] }

func (f *benchFixture) secret(i int) []byte {
	return f.secrets[benchSecretLen*i : benchSecretLen*(i+1)]
}

func newBenchFixture(tb testing.TB, users int) *benchFixture {
	tb.Helper()
	f := &benchFixture{clock: &benchClock{t: benchStart}}
	m, err := mfa.New(mfa.Config{Store: memstore.New(), Issuer: "bench", Keys: mfatest.Keyring(tb), Now: f.clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	f.m = m
	var ids strings.Builder
	ids.Grow(benchIDLen * users)
	for i := range users {
		fmt.Fprintf(&ids, "user-%0*d", benchIDLen-5, i)
	}
	f.ids = ids.String()
	f.secrets = make([]byte, 0, benchSecretLen*users)
	for i := range users {
		secret := enrol(tb, m, f.user(i), f.clock.t)
		if len(secret) != benchSecretLen {
			tb.Fatalf("AddDevice made a secret of %d bytes, want %d", len(secret), benchSecretLen)
		}
		f.secrets = append(f.secrets, secret...)
	}
	// The code computed here must be the one an authenticator app shows.
	if got, want := mfatest.StepCode(f.secret(0), benchStart.Unix()/30), mfatest.Code(tb, b32(f.secret(0)), benchStart); got != want {
		tb.Fatalf("mfatest.StepCode = %s, pquerna/otp computes %s", got, want)
	}
	// The step before the clock's must be fresh for the first iteration.
	f.clock.t = f.clock.t.Add(benchPeriod)
	return f
}

// enrol adds a device for userID, verifies it with the code of at and
// acknowledges the recovery codes, as a user does, and returns the secret.
func enrol(tb testing.TB, m *mfa.MFA, userID string, at time.Time) []byte {
	tb.Helper()
	ctx := context.Background()
	reg, err := m.AddDevice(ctx, userID)
	if err != nil {
		tb.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(reg.Secret)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := m.AuthenticateDevice(ctx, userID, mfa.AuthenticateRequest{Code: mfatest.StepCode(secret, at.Unix()/30)}); err != nil {
		tb.Fatal(err)
	}
	if err := m.CompleteAcknowledgement(ctx, userID); err != nil {
		tb.Fatal(err)
	}
	return secret
}

func b32(secret []byte) string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
}

// authenticate runs b.N authentications of the first active users of the
// fixture, in a random order, as the requests of a service come. Iteration
// i moves the clock one period on and sends the code of the previous step,
// so that every step of the skew window is computed and every code is
// fresh. The user IDs and codes are laid out before the timer starts, one
// after another in the order they are sent, as a request brings its own:
// the fixture's memory adds no cache misses, and the garbage collector has
// no b.N pointers to scan.
func (f *benchFixture) authenticate(b *testing.B, active int) {
	ctx := context.Background()
	order := rand.New(rand.NewPCG(1, 2)).Perm(active)
	var ids, codes strings.Builder
	ids.Grow(benchIDLen * b.N)
	codes.Grow(6 * b.N)
	for i := range b.N {
		u := order[i%active]
		at := f.clock.t.Add(time.Duration(i+1) * benchPeriod)
		ids.WriteString(f.user(u))
		codes.WriteString(mfatest.StepCode(f.secret(u), at.Unix()/30-1))
	}
	idAt, codeAt := ids.String(), codes.String()
	b.ReportAllocs()
	stop := measureCPU(b)
	b.ResetTimer()
	for i := range b.N {
		f.clock.t = f.clock.t.Add(benchPeriod)
		id := idAt[benchIDLen*i : benchIDLen*(i+1)]
		res, err := f.m.AuthenticateDevice(ctx, id, mfa.AuthenticateRequest{Code: codeAt[6*i : 6*i+6]})
		if err != nil || res.DeviceVerified {
			b.Fatalf("iteration %d: %v", i, err)
		}
	}
	b.StopTimer()
	stop()
}

// measureCPU makes the benchmark report the CPU time of the whole process
// per operation, as cpu-ns/op, beside ns/op: every thread counts, the
// garbage collector's too, but not time spent waiting for a CPU, so that a
// comparison stays meaningful on a machine shared with other work. Call it
// right before the timed loop and stop right after. It reports nothing
// where /proc/self/task/*/schedstat (Linux) is missing.
func measureCPU(b *testing.B) (stop func()) {
	start, ok := processCPU()
	return func() {
		if end, ok2 := processCPU(); ok && ok2 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func processCPU() (time.Duration, bool) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, false
	}
	var total time.Duration
	for _, t := range tasks {
		stat, err := os.ReadFile("/proc/self/task/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread has exited
		}
		// The first field is the time the thread has run, in nanoseconds.
		ran, _, _ := strings.Cut(string(stat), " ")
		ns, err := strconv.ParseInt(ran, 10, 64)
		if err != nil {
			return 0, false
		}
		total += time.Duration(ns)
	}
	return total, true
}

// BenchmarkAuthenticateDevice measures a successful AuthenticateDevice on
// memstore: load the user, open the sealed secret (AES-GCM), count the
// attempt in the lockout, three HMAC-SHA1 for the skew window, record the
// step. worst is one enrolled user. users=N/active=M holds N enrolled users
// and authenticates M of them in a random order: across N at the same M it
// shows what the size of the store costs, across M what the working set
// does, which decides how much of the state is in the CPU caches.
func BenchmarkAuthenticateDevice(b *testing.B) {
	// The framework runs each sub-benchmark several times; they share a
	// fixture, as enrolling many users takes seconds. The fixtures go at
	// the end, so that the benchmarks after this one (the baseline among
	// them) do not pay the garbage collector for their heap.
	fixtures := make(map[int]*benchFixture)
	defer func() {
		clear(fixtures)
		runtime.GC()
	}()
	b.Run("worst", func(b *testing.B) {
		newBenchFixture(b, 1).authenticate(b, 1)
	})
	for _, tc := range []struct{ users, active int }{
		{1, 1},
		{1000, 1}, {1000, 1000},
		{100000, 1}, {100000, 1000}, {100000, 100000},
		{1000000, 1}, {1000000, 1000},
	} {
		name := "users=" + strconv.Itoa(tc.users) + "/active=" + strconv.Itoa(tc.active)
		b.Run(name, func(b *testing.B) {
			if testing.Short() && tc.users > 1000 {
				b.Skip("enrolling many users is slow")
			}
			f := fixtures[tc.users]
			if f == nil {
				// One fixture at a time, so that a larger one does not
				// pay for the heap of the one before.
				clear(fixtures)
				runtime.GC()
				f = newBenchFixture(b, tc.users)
				fixtures[tc.users] = f
			}
			f.authenticate(b, tc.active)
		})
	}
}

// BenchmarkPquernaValidateCustom is the baseline of docs/DESIGN.md: bare
// pquerna/otp validation with the same parameters and the code of the
// previous step, without decryption, replay or lockout bookkeeping.
func BenchmarkPquernaValidateCustom(b *testing.B) {
	secret := b32([]byte("12345678901234567890"))
	now := benchStart
	opts := totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	code, err := totp.GenerateCodeCustom(secret, now.Add(-30*time.Second), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	stop := measureCPU(b)
	for b.Loop() {
		ok, err := totp.ValidateCustom(code, secret, now, opts)
		if !ok || err != nil {
			b.Fatalf("ValidateCustom = %t, %v", ok, err)
		}
	}
	stop()
}

// BenchmarkMemstoreBytesPerUser enrols b.N users through the public API:
// ns/op, B/op and allocs/op are the cost of enrolling one, B/user the heap
// the store keeps for each (a verified device and 10 acknowledged codes).
func BenchmarkMemstoreBytesPerUser(b *testing.B) {
	b.ReportAllocs()
	b.ReportMetric(memstoreBytesPerUser(b, b.N), "B/user")
}

// TestAuthenticateDeviceAllocs checks the allocation target of
// docs/DESIGN.md: the worst case of a successful AuthenticateDevice on
// memstore (the code of the previous step, every step of the window
// computed) allocates at most 12 times.
func TestAuthenticateDeviceAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	const runs, limit = 100, 12
	f := newBenchFixture(t, 1)
	ctx := context.Background()
	// AllocsPerRun calls the function once more than runs, to warm up.
	codes := make([]string, runs+1)
	for i := range codes {
		at := f.clock.t.Add(time.Duration(i+1) * benchPeriod)
		codes[i] = mfatest.StepCode(f.secret(0), at.Unix()/30-1)
	}
	i := 0
	allocs := testing.AllocsPerRun(runs, func() {
		f.clock.t = f.clock.t.Add(benchPeriod)
		if _, err := f.m.AuthenticateDevice(ctx, f.user(0), mfa.AuthenticateRequest{Code: codes[i]}); err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		i++
	})
	if allocs > limit {
		t.Errorf("AuthenticateDevice allocates %.0f times, want at most %d", allocs, limit)
	} else {
		t.Logf("AuthenticateDevice allocates %.0f times", allocs)
	}
}

// TestMemstoreBytesPerUser checks the memory target of docs/DESIGN.md: memstore
// holds an enrolled user in at most 1 KiB.
func TestMemstoreBytesPerUser(t *testing.T) {
	if testing.Short() {
		t.Skip("enrols 20k users")
	}
	if raceEnabled {
		t.Skip("the race detector inflates memory")
	}
	const users, limit = 20000, 1024
	if got := memstoreBytesPerUser(t, users); got > limit {
		t.Errorf("memstore holds %.0f bytes per enrolled user, want at most %d", got, limit)
	} else {
		t.Logf("memstore holds %.0f bytes per enrolled user", got)
	}
}

// memstoreBytesPerUser enrols users users in a new memstore and returns the
// growth of the live heap divided by users. Under a benchmark only the
// enrolment is timed.
func memstoreBytesPerUser(tb testing.TB, users int) float64 {
	clock := &benchClock{t: benchStart}
	store := memstore.New()
	m, err := mfa.New(mfa.Config{Store: store, Issuer: "bench", Keys: mfatest.Keyring(tb), Now: clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	before := liveHeap()
	if b, ok := tb.(*testing.B); ok {
		b.ResetTimer()
	}
	for i := range users {
		enrol(tb, m, "user-"+strconv.Itoa(i), clock.t)
	}
	if b, ok := tb.(*testing.B); ok {
		b.StopTimer()
	}
	after := liveHeap()
	runtime.KeepAlive(m)
	runtime.KeepAlive(store)
	return float64(int64(after)-int64(before)) / float64(users)
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
