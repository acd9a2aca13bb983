package loadtest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfahttp"
	"github.com/mfakit/mfa/mfatest"
)

// raceEnabled is set by race_test.go under the race detector.
var raceEnabled bool

// heapSlack is the heap growth from the first login run to the second
// that the test lets pass: the runs are identical, so anything the
// second one keeps is a leak, but a few pool connections opened late or
// a map's growth may add some kilobytes.
const heapSlack = 1 << 20

// goroutineSlack is how many goroutines more than before the runs may
// remain once the server and the client are closed. pgx leaves a
// background reader on a pool connection whose write once had to wait,
// until that connection next reads (pgconn/internal/bgreader): one such
// goroutine shows up now and then on PostgreSQL; it belongs to the pool,
// which stays open, and is not a leak.
const goroutineSlack = 2

// settleTime bounds the wait for the goroutines of closed connections to
// end.
const settleTime = 2 * time.Second

// config is the size of a run.
type config struct {
	users   int           // virtual users
	workers int           // concurrent clients
	rounds  int           // login rounds in each of the two runs
	timeout time.Duration // deadline for each store's test
}

// loadConfig returns the default size, smaller under -race and -short,
// with the MFA_LOAD_* environment variables applied.
func loadConfig(t *testing.T) config {
	t.Helper()
	// The default run takes a few seconds; the deadline leaves room for
	// a CI machine busy with other packages' tests and still ends a hang.
	c := config{users: 200, workers: 16, rounds: 4, timeout: time.Minute}
	if raceEnabled {
		c.users = 60
	}
	if testing.Short() {
		c.users, c.rounds = 40, 2
	}
	for _, v := range []struct {
		env string
		n   *int
	}{{"MFA_LOAD_USERS", &c.users}, {"MFA_LOAD_WORKERS", &c.workers}, {"MFA_LOAD_ROUNDS", &c.rounds}} {
		s := os.Getenv(v.env)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive integer", v.env, s)
		}
		*v.n = n
	}
	if c.rounds > maxRounds {
		t.Fatalf("MFA_LOAD_ROUNDS=%d: at most %d, or two runs use up the users' recovery codes", c.rounds, maxRounds)
	}
	if s := os.Getenv("MFA_LOAD_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("MFA_LOAD_TIMEOUT=%q: want a positive duration such as 2m", s)
		}
		c.timeout = d
	}
	return c
}

func TestLoad(t *testing.T) {
	cfg := loadConfig(t)
	t.Logf("%d users, %d concurrent clients, %d login rounds per run, deadline %v per store; GOMAXPROCS %d, race detector %t",
		cfg.users, cfg.workers, cfg.rounds, cfg.timeout, runtime.GOMAXPROCS(0), raceEnabled)
	t.Run("memstore", func(t *testing.T) { testLoad(t, cfg, memstore.New()) })
	t.Run("PostgreSQL", func(t *testing.T) { testLoad(t, cfg, postgresStore(t, cfg.workers)) })
}

// testLoad enrols cfg.users users on store over HTTP, then runs the login
// rounds twice, and checks the answers, the completions, the goroutines
// and the heap.
func testLoad(t *testing.T, cfg config, store mfa.Store) {
	ctx, cancel := context.WithTimeout(t.Context(), cfg.timeout)
	defer cancel()
	tg := newTarget(t, store)
	users := newUsers(cfg.users)

	goroutinesBefore := runtime.NumGoroutine()
	heapBefore := heapAfterGC()

	enrolment := tg.run(t, "enrolment", cfg.workers, func(r *run) {
		r.parallel(ctx, users, addDevice)
		tg.setCodes(t, users)
		r.parallel(ctx, users, verifyDevice)
	})
	heapEnrolled := heapAfterGC()

	var logins [2]summary
	var heapAfter [2]uint64
	for i := range logins {
		logins[i] = tg.run(t, "login run "+strconv.Itoa(i+1), cfg.workers, func(r *run) {
			for round := range cfg.rounds {
				if ctx.Err() != nil {
					return
				}
				tg.clock.Advance(tg.period)
				tg.setCodes(t, users)
				r.parallel(ctx, users, loginRound(round))
			}
		})
		heapAfter[i] = heapAfterGC()
	}
	goroutinesAfter := settledGoroutines(goroutinesBefore)

	if err := ctx.Err(); err != nil {
		t.Errorf("stopped by the deadline (%v, MFA_LOAD_TIMEOUT) before the %d users and %d rounds were done: %v", cfg.timeout, cfg.users, cfg.rounds, err)
	}
	// A request cut off by the deadline may have completed a login the
	// client never heard of, so the count only holds for a whole run.
	if got, want := tg.app.completions.Load(), int64(enrolment.logins+logins[0].logins+logins[1].logins); ctx.Err() == nil && got != want {
		t.Errorf("App.CompleteMFA called %d times for %d successful logins", got, want)
	}
	t.Logf("goroutines: %d before the runs, %d after", goroutinesBefore, goroutinesAfter)
	switch {
	case goroutinesAfter > goroutinesBefore+goroutineSlack:
		t.Errorf("goroutines leak: %d before the runs, %d after the server and client closed and %v passed\n%s",
			goroutinesBefore, goroutinesAfter, settleTime, goroutineDump())
	case goroutinesAfter > goroutinesBefore:
		t.Logf("goroutines still running after %v, within the slack of %d:\n%s", settleTime, goroutineSlack, goroutineDump())
	}
	// Enrolment grows the heap by the memstore's users, or by the
	// PostgreSQL pool's connections, and by the test's own notes on the
	// users; the login runs should not.
	t.Logf("heap in use after GC: %s before enrolment, %s after (%+d B per user), %s after login run 1, %s after run 2 (%+d B)",
		mib(heapBefore), mib(heapEnrolled), (int64(heapEnrolled)-int64(heapBefore))/int64(cfg.users),
		mib(heapAfter[0]), mib(heapAfter[1]), int64(heapAfter[1])-int64(heapAfter[0]))
	if ctx.Err() == nil && heapAfter[1] > heapAfter[0]+heapSlack {
		t.Errorf("heap grew by %d B from the first login run to the identical second one (slack %d B)", heapAfter[1]-heapAfter[0], heapSlack)
	}
}

// target is the server side: one mfa.MFA on a store, on a clock the test
// moves, behind mfahttp. It outlives the runs, each of which serves it on
// a listener of its own.
type target struct {
	app    *app
	clock  *mfatest.Clock
	period time.Duration
	mux    *http.ServeMux
}

func newTarget(t *testing.T, store mfa.Store) *target {
	t.Helper()
	clock := mfatest.NewClock(time.Date(2026, 7, 1, 12, 0, 5, 0, time.UTC))
	m, err := mfa.New(mfa.Config{
		Store: store, Issuer: "Acme", Keys: mfatest.Keyring(t), Now: clock.Now,
		Actions: map[string]mfa.ActionPolicy{action: {}},
	})
	if err != nil {
		t.Fatal(err)
	}
	a := &app{}
	// Server failures are logged by mfahttp; they also come back as 500s,
	// which fail the test.
	h := mfahttp.New(m, a, mfahttp.WithLogger(slog.New(slog.NewTextHandler(testWriter{t}, nil))))
	mux := http.NewServeMux()
	mux.Handle(mfaPrefix+"/", http.StripPrefix(mfaPrefix, h))
	mux.Handle("POST "+actionPath, h.RequireMFAToken(action)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "changed")
	})))
	return &target{app: a, clock: clock, period: m.TOTPPeriod(), mux: mux}
}

// setCodes gives the users their codes for the clock's current time.
func (tg *target) setCodes(t *testing.T, users []*vuser) {
	t.Helper()
	if n := setCodes(t, users, tg.clock.Now(), tg.period); n > 0 {
		t.Logf("%d users sit out a round: their code is also the code of a neighbouring time step", n)
	}
}

// run serves the target on a loopback listener of its own, runs body with
// workers clients, closes server and clients, and returns the summary.
// Unexpected answers fail t.
func (tg *target) run(t *testing.T, name string, workers int, body func(*run)) summary {
	t.Helper()
	srv := httptest.NewServer(tg.mux) // 127.0.0.1:0, or [::1]:0 without IPv4
	transport := &http.Transport{
		// Every client keeps its connection between requests; the default
		// of two idle connections per host would close and reopen the
		// others all the time.
		MaxIdleConns:        workers,
		MaxIdleConnsPerHost: workers,
	}
	r := &run{}
	for range workers {
		r.clients = append(r.clients, &client{http: &http.Client{Transport: transport}, base: srv.URL, rec: newRecorder()})
	}
	start := time.Now()
	body(r)
	elapsed := time.Since(start)
	transport.CloseIdleConnections()
	srv.Close()

	rec := newRecorder()
	for _, c := range r.clients {
		rec.merge(c.rec)
	}
	s := summarize(name, rec, elapsed)
	t.Log(s)
	t.Logf("answers of %s, by step, status and error code:\n%s", name, s.outcomesString())
	if rec.unexpected > 0 {
		t.Errorf("%s: %d unexpected answers; the first:\n  %s", name, rec.unexpected, strings.Join(rec.samples, "\n  "))
	}
	return s
}

// run is one run's clients.
type run struct {
	clients []*client
}

// parallel calls fn for every user, sharing the users out among the
// clients, and returns when all are done or ctx is done.
func (r *run) parallel(ctx context.Context, users []*vuser, fn func(ctx context.Context, c *client, i int, u *vuser)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, c := range r.clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(users) {
					return
				}
				fn(ctx, c, i, users[i])
			}
		})
	}
	wg.Wait()
}

// app takes the session from the X-Test-User and X-Test-Scopes headers,
// like mfahttp's own tests, and counts the logins it is told completed.
type app struct {
	completions atomic.Int64
}

const (
	userHeader   = "X-Test-User"
	scopesHeader = "X-Test-Scopes"
)

func (a *app) Session(r *http.Request) (mfahttp.Session, error) {
	u := r.Header.Get(userHeader)
	if u == "" {
		return mfahttp.Session{}, mfahttp.ErrNoSession
	}
	return mfahttp.Session{UserID: u, Scopes: strings.Fields(r.Header.Get(scopesHeader))}, nil
}

func (a *app) CompleteMFA(http.ResponseWriter, *http.Request, string) error {
	a.completions.Add(1)
	return nil
}

// testWriter writes mfahttp's log to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// heapAfterGC returns the bytes of live heap objects. Two collections
// also empty the sync.Pools, whose contents survive one.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// settledGoroutines waits up to settleTime for the number of goroutines
// to fall to want, and returns the number.
func settledGoroutines(want int) int {
	deadline := time.Now().Add(settleTime)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func goroutineDump() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

func mib(n uint64) string {
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
}
