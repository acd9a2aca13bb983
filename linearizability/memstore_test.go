package linearizability

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
)

// faultMethods are the store methods the workload's calls use, which the
// fault driver picks from ("" is any method).
var faultMethods = []string{"", "LoadUser", "AcceptStep", "SwapLockout", "Lockout", "ConsumeRecoveryCode",
	"ReplaceRecoveryCodes", "InsertToken", "Token", "ConsumeToken", "PutChallenge", "TakeChallenge", "AcceptPasskey"}

// faultDriver arms mfatest.FaultStore faults one after another while a
// history runs: each fails one upcoming call of a method (or of any
// method), by returning an error or by passing the call on with a
// cancelled context.
type faultDriver struct {
	fs     *mfatest.FaultStore
	cancel bool // Fault.Cancel: the cancel mode
	every  time.Duration
	armed  map[string]int // by method, "" as "any"
	// failed and calls are the FaultStore's counts once the run ended.
	failed, calls int
}

func (d *faultDriver) run(ctx context.Context, rng *rand.Rand) {
	d.armed = map[string]int{}
	t := time.NewTicker(d.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			d.fs.Clear()
			return
		case <-t.C:
		}
		f := mfatest.Fault{Method: faultMethods[rng.IntN(len(faultMethods))], Call: 1 + rng.IntN(6), Cancel: d.cancel}
		d.armed[f.Method]++
		d.fs.Inject(f)
	}
}

// memRun is one history on memstore, wrapped by wrap (for the planted
// bugs) and by a FaultStore, whose faults a driver arms while the clients
// run when faults is set.
type memRun struct {
	duration time.Duration
	users    int
	clients  int
	mix      mix
	wrap     func(mfa.Store) mfa.Store
	faults   bool
	cancel   bool // the faults' mode
	// checkTimeout bounds the check; 0 for checkTimeout().
	checkTimeout time.Duration
}

func (r memRun) run(t *testing.T, seed uint64) (checkResult, *history) {
	res, h, _ := r.runFaults(t, seed)
	return res, h
}

// runFaults is run that also returns the fault driver, nil without
// faults, and the FaultStore.
func (r memRun) runFaults(t *testing.T, seed uint64) (checkResult, *history, *faultDriver) {
	t.Helper()
	var store mfa.Store = memstore.New()
	inner := store
	if r.wrap != nil {
		store = r.wrap(store)
	}
	fs := mfatest.NewFaultStore(store)
	keys := mfatest.Keyring(t)
	start := time.Now()
	h := newHistory(0, defaultTick)
	rec := newLocalRecorder(h, monotonicStamp(start))
	var users []*userInfo
	for _, s := range enrol(t, fs, keys, "mem", r.users, rec) {
		users = append(users, s.info(t))
	}
	w := &workload{users: users, clients: r.clients, duration: r.duration, clock: simClock{start: start, tick: defaultTick},
		rec: rec, seed: seed, mix: r.mix, store: func(int) mfa.Store { return fs }, keys: keys}
	var d *faultDriver
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if r.faults {
		d = &faultDriver{fs: fs, cancel: r.cancel, every: 3 * time.Millisecond}
		wg.Go(func() { d.run(ctx, rand.New(rand.NewPCG(seed, 7))) })
	}
	w.run(t)
	stop()
	wg.Wait()
	finalRead(t, inner, users, rec)
	res := check(t, h, r.checkTimeout)
	if d != nil {
		d.failed, d.calls = fs.Injected(), fs.Calls()
		t.Logf("faults: %d armed by method %v, %d store calls failed of %d", sum(d.armed), d.armed, d.failed, d.calls)
	}
	return res, h, d
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// logResult logs a history's verdict and figures.
func logResult(t *testing.T, what string, seed uint64, r checkResult, h *history) {
	t.Helper()
	t.Logf("%s (seed %d): %s, %d calls, %d with an unknown outcome, checked in %s", what, seed, r.Result, r.Ops, r.Unknown, r.Elapsed.Round(time.Millisecond))
	t.Logf("%s outcomes: %s", what, figures(h))
}

// requireOk fails the test unless the history is linearizable.
func requireOk(t *testing.T, what string, seed uint64, r checkResult) {
	t.Helper()
	switch r.Result {
	case porcupine.Ok:
	case porcupine.Illegal:
		t.Fatalf("%s (seed %d) is not linearizable:\n%s", what, seed, r.Report)
	default:
		t.Fatalf("%s (seed %d): checking did not finish within %s (MFA_LINEARIZABILITY_CHECK_TIMEOUT)", what, seed, checkTimeout())
	}
}

// TestMemstore checks histories of many clients on one memstore while a
// FaultStore fails store calls, by returning an error or by cancelling
// their context.
func TestMemstore(t *testing.T) {
	for _, mode := range []struct {
		name   string
		cancel bool
	}{{"InjectedErrors", false}, {"CancelledContexts", true}} {
		t.Run(mode.name, func(t *testing.T) {
			var ta tally
			for i := range histories(t) {
				s := seed(t)
				r := memRun{duration: runDuration(t, 2*time.Second), users: 4, clients: 6, mix: defaultMix, faults: true, cancel: mode.cancel}
				res, h, d := r.runFaults(t, s)
				logResult(t, "memstore history "+strconv.Itoa(i+1), s, res, h)
				requireOk(t, "memstore history", s, res)
				ta.add(res, h)
				ta.fault("store calls failed", d.failed)
				ta.fault("store calls", d.calls)
			}
			ta.log(t)
		})
	}
}
