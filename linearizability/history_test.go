package linearizability

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/mfakit/mfa"
)

// op is one call as a client recorded it: when it started and ended, by
// the recording process's clock, what it asked and what it saw.
type op struct {
	ID       int64
	Client   int
	In       Input
	Out      Output
	Call     int64
	Return   int64
	Returned bool // false for a call whose process died before it returned
}

// history collects the operations of one run, from any number of clients
// and processes. clockStart is when the injected clock started, in the
// timestamps' own terms, and tick how long its seconds last: together they
// tell when the clock reached a time.
type history struct {
	clockStart int64
	tick       time.Duration

	mu  sync.Mutex
	ops map[int64]*op
}

func newHistory(clockStart int64, tick time.Duration) *history {
	return &history{clockStart: clockStart, tick: tick, ops: map[int64]*op{}}
}

// reached returns the timestamp at which the injected clock reached t.
func (h *history) reached(t int64) int64 {
	return h.clockStart + (t-epoch.UnixNano())/int64(time.Second)*int64(h.tick)
}

func (h *history) addCall(id int64, client int, in Input, at int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops[id] = &op{ID: id, Client: client, In: in, Call: at}
}

func (h *history) addReturn(id int64, out Output, at int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if o := h.ops[id]; o != nil {
		o.Out, o.Return, o.Returned = out, at, true
	}
}

// list returns the operations in the order of their calls.
func (h *history) list() []op {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]op, 0, len(h.ops))
	for _, o := range h.ops {
		out = append(out, *o)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Call < out[j].Call || out[i].Call == out[j].Call && out[i].ID < out[j].ID
	})
	return out
}

// recorder is where a client records its calls: the history itself in
// one process, a pipe to the parent in a child process.
type recorder interface {
	// call records the start of a call by client and returns its ID.
	call(client int, in Input) int64
	// ret records the call's outcome.
	ret(id int64, out Output)
	// at is the time on the clock of call and ret, for the instants a
	// client notes within a call.
	at() int64
}

// localRecorder records into a history in this process. stamp gives the
// timestamps: the monotonic clock when every client runs here, the wall
// clock when other processes add to the same history.
type localRecorder struct {
	h     *history
	stamp func() int64
	next  atomic.Int64
}

func newLocalRecorder(h *history, stamp func() int64) *localRecorder {
	return &localRecorder{h: h, stamp: stamp}
}

func (r *localRecorder) call(client int, in Input) int64 {
	id := r.next.Add(1)
	r.h.addCall(id, client, in, r.stamp())
	return id
}

func (r *localRecorder) ret(id int64, out Output) { r.h.addReturn(id, out, r.stamp()) }

func (r *localRecorder) at() int64 { return r.stamp() }

// monotonicStamp returns the nanoseconds since base on the monotonic
// clock.
func monotonicStamp(base time.Time) func() int64 {
	return func() int64 { return int64(time.Since(base)) }
}

// wallStamp is the wall clock in nanoseconds, which every process on the
// machine reads alike.
func wallStamp() int64 { return time.Now().UnixNano() }

// operations turns the recorded calls into porcupine's history. A call
// whose outcome is unknown (a store failure, a timeout) may have taken
// effect or not: its output is Unknown, which the model reads as either.
// When it may have taken effect after it returned, or when it never
// returned (its process was killed), it ends after every other operation,
// as porcupine's documentation has it for a crashed operation: it may
// then take effect at any time after it started. Otherwise the store call
// that failed had finished when the call returned, and so had its effect,
// if any: the operation ends when it returned. MFA_LINEARIZABILITY_OPEN
// set makes every unknown outcome end after every other operation, which
// is as sound, less precise and far slower to check. A TOTP authentication that succeeded
// or may have is split in two, as the model's doc comment says.
func (h *history) operations(ops []op) []porcupine.Operation {
	allOpen := os.Getenv("MFA_LINEARIZABILITY_OPEN") != ""
	var end int64
	for _, o := range ops {
		end = max(end, o.Call, o.Return)
	}
	end++
	clients := map[int]int{}
	out := make([]porcupine.Operation, 0, len(ops)+len(ops)/4)
	for _, o := range ops {
		if !o.Returned {
			o.Out = Output{Unknown: true, Open: true, Cause: "process killed"}
		}
		if o.Out.Unknown && (o.Out.Open || allOpen) {
			o.Return = end
		}
		if o.Out.Unknown {
			if o.In.Kind == opDevices {
				continue // a read whose answer is unknown says nothing
			}
		}
		c, ok := clients[o.Client]
		if !ok {
			c = len(clients)
			clients[o.Client] = c
		}
		if o.In.Kind == opToken || o.In.Kind == opTokenFinal {
			o.In.Purgeable = o.In.Expires != 0 && o.Return >= h.reached(o.In.Expires)
		}
		if o.In.Kind == opTOTP && (o.Out.Unknown || o.Out.Err == "") {
			// The check is at the instant the call started: the model
			// notes any zero lockout state after it.
			check, write := o.In, o.In
			check.Kind, check.Seq = opCheck, o.ID
			write.Kind, write.Seq = opWrite, o.ID
			out = append(out, porcupine.Operation{ClientId: c, Input: check, Output: o.Out, Call: o.Call, Return: o.Call},
				porcupine.Operation{ClientId: c, Input: write, Output: o.Out, Call: o.Call, Return: o.Return})
			continue
		}
		if o.In.Kind == opPasskey {
			out = append(out, passkeyOperations(c, o, end)...)
			continue
		}
		out = append(out, porcupine.Operation{ClientId: c, Input: o.In, Output: o.Out, Call: o.Call, Return: o.Return})
	}
	return out
}

// passkeyOperations splits an AuthenticatePasskey into the take of the
// ceremony, which falls within the call's Store.TakeChallenge (the client
// notes when that started and, when it settled, when it returned), and
// the write, after it. A call
// that returned without reaching TakeChallenge took nothing: only its
// write is left.
// One that found no ceremony to take is its take alone.
func passkeyOperations(c int, o op, end int64) []porcupine.Operation {
	takeAt, takeEnd := o.Out.TakeAt, o.Out.TakeEnd
	o.Out.TakeAt, o.Out.TakeEnd = 0, 0
	if !o.Returned && takeAt == 0 {
		// Its process was killed: it may have taken one, at any time.
		takeAt = o.Call
	}
	if takeAt == 0 {
		write := o.In
		write.Kind, write.Seq = opPKWrite, o.ID
		return []porcupine.Operation{{ClientId: c, Input: write, Output: o.Out, Call: o.Call, Return: o.Return}}
	}
	writeAt := takeEnd
	if takeEnd == 0 {
		// The take failed or never returned: it may have taken effect at
		// any time from its start until the call's end (after every other
		// operation when the call's effect may come later), and the write
		// may follow it at once.
		takeEnd, writeAt = o.Return, takeAt
	}
	if o.Out.Err == mfa.ErrChallengeInvalid.Code {
		return []porcupine.Operation{{ClientId: c, Input: o.In, Output: o.Out, Call: takeAt, Return: takeEnd}}
	}
	take, write := o.In, o.In
	take.Kind, take.Seq = opPKTake, o.ID
	write.Kind, write.Seq = opPKWrite, o.ID
	took := Output{Unknown: o.Out.Unknown, Open: o.Out.Open, Err: o.Out.Err}
	return []porcupine.Operation{
		{ClientId: c, Input: take, Output: took, Call: takeAt, Return: takeEnd},
		{ClientId: c, Input: write, Output: o.Out, Call: min(writeAt, o.Return), Return: o.Return},
	}
}

// checkResult is the verdict on one history, with its figures.
type checkResult struct {
	Result  porcupine.CheckResult
	Ops     int           // calls recorded
	Unknown int           // of which with an unknown outcome
	Elapsed time.Duration // checking time
	Report  string        // for an illegal history: where it fails
}

// checkTimeout bounds the checking of one history.
func checkTimeout() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("MFA_LINEARIZABILITY_CHECK_TIMEOUT")); err == nil && d > 0 {
		return d
	}
	return 3 * time.Minute
}

// check runs porcupine on the history. On an illegal history it finds the
// partitions that fail and describes the first; with
// MFA_LINEARIZABILITY_VIS set to a directory it writes porcupine's
// visualization of the history there, named after the test.
func check(t testing.TB, h *history, timeout time.Duration) checkResult {
	t.Helper()
	if timeout <= 0 {
		timeout = checkTimeout()
	}
	ops := h.list()
	r := checkResult{Ops: len(ops)}
	for _, o := range ops {
		if !o.Returned || o.Out.Unknown {
			r.Unknown++
		}
	}
	hist := h.operations(ops)
	if os.Getenv("MFA_LINEARIZABILITY_PARTITIONS") != "" {
		// The checking time of each partition.
		single := model
		single.Partition = nil
		var tokens, tokenOps int
		var tokenTime time.Duration
		for _, part := range partition(hist) {
			start := time.Now()
			res := porcupine.CheckOperationsTimeout(single, part, timeout)
			key := partitionKey(part[0].Input.(Input))
			if strings.HasPrefix(key, "token ") {
				tokens, tokenOps, tokenTime = tokens+1, tokenOps+len(part), tokenTime+time.Since(start)
				continue
			}
			unknown := 0
			for _, o := range part {
				if o.Output.(Output).Unknown {
					unknown++
				}
			}
			t.Logf("partition %s: %d operations, %d with an unknown outcome: %s in %s", key, len(part), unknown, res, time.Since(start))
		}
		t.Logf("%d token partitions: %d operations in %s", tokens, tokenOps, tokenTime)
	}
	start := time.Now()
	r.Result = porcupine.CheckOperationsTimeout(model, hist, timeout)
	r.Elapsed = time.Since(start)
	if r.Result == porcupine.Illegal {
		r.Report = explain(hist, timeout)
	}
	if dir := os.Getenv("MFA_LINEARIZABILITY_VIS"); dir != "" {
		_, info := porcupine.CheckOperationsVerbose(model, hist, timeout)
		path := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+".html")
		if err := porcupine.VisualizePath(model, info, path); err != nil {
			t.Logf("visualization: %v", err)
		} else {
			t.Logf("visualization: %s", path)
		}
	}
	return r
}

// explain describes where an illegal history fails: the first partition
// that has no linearization, the end of its longest linearizable prefix
// and the operations none of which can come next.
func explain(hist []porcupine.Operation, timeout time.Duration) string {
	single := model
	single.Partition = nil
	for _, part := range partition(hist) {
		if porcupine.CheckOperationsTimeout(single, part, timeout) != porcupine.Illegal {
			continue
		}
		_, info := porcupine.CheckOperationsVerbose(single, part, timeout)
		var longest []porcupine.Operation
		for _, p := range info.PartialLinearizationsOperations() {
			for _, l := range p {
				if len(l) > len(longest) {
					longest = l
				}
			}
		}
		var b strings.Builder
		in := part[0].Input.(Input)
		fmt.Fprintf(&b, "%s: %d operations, the longest linearizable prefix has %d\n", partitionKey(in), len(part), len(longest))
		s := model.Init()
		for _, o := range longest {
			_, s = model.Step(s, o.Input, o.Output)
		}
		from := max(0, len(longest)-12)
		if from > 0 {
			b.WriteString("  ...\n")
		}
		for _, o := range longest[from:] {
			fmt.Fprintf(&b, "  [%d, %d] client %d: %s\n", o.Call, o.Return, o.ClientId, describe(o.Input.(Input), o.Output.(Output)))
		}
		fmt.Fprintf(&b, "state then: %s\n", model.DescribeState(s))
		done := map[opID]bool{}
		for _, o := range longest {
			done[opKey(o)] = true
		}
		b.WriteString("none of these can come next:\n")
		n := 0
		for _, o := range part {
			if done[opKey(o)] {
				continue
			}
			fmt.Fprintf(&b, "  [%d, %d] client %d: %s\n", o.Call, o.Return, o.ClientId, describe(o.Input.(Input), o.Output.(Output)))
			if n++; n == 12 {
				break
			}
		}
		return b.String()
	}
	return "porcupine found the history illegal, but no partition alone"
}

// opID identifies an operation of a partition for explain.
type opID struct {
	kind             string
	seq, now, step   int64
	client           int
	call, returnedAt int64
}

func opKey(o porcupine.Operation) opID {
	in := o.Input.(Input)
	return opID{kind: in.Kind, seq: in.Seq, now: in.Now, step: in.Step, client: o.ClientId, call: o.Call, returnedAt: o.Return}
}

// figures counts a history's calls by kind and outcome and its unknown
// outcomes by cause, for the log and docs/RELIABILITY.md.
func figures(h *history) string {
	byOutcome := map[string]int{}
	causes := map[string]int{}
	for _, o := range h.list() {
		outcome := o.Out.Err
		switch {
		case !o.Returned:
			outcome = "unknown"
			causes["process killed"]++
		case o.Out.Unknown:
			outcome = "unknown"
			causes[o.Out.Cause]++
		case outcome == "":
			outcome = "ok"
		}
		byOutcome[o.In.Kind+" "+strings.TrimPrefix(outcome, "mfa_")]++
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(byOutcome)) {
		fmt.Fprintf(&b, "%s=%d ", k, byOutcome[k])
	}
	if len(causes) > 0 {
		b.WriteString("| unknown by cause:")
		for _, k := range slices.Sorted(maps.Keys(causes)) {
			fmt.Fprintf(&b, " %s=%d", k, causes[k])
		}
	}
	return strings.TrimSpace(b.String())
}

// tally adds up the histories of one test for its summary, the figures
// that docs/RELIABILITY.md reports.
type tally struct {
	histories, calls, unknown int
	check                     time.Duration
	faults                    map[string]int // by kind
	causes                    map[string]int // unknown outcomes by cause
}

// add counts a history that was checked.
func (ta *tally) add(r checkResult, h *history) {
	ta.histories++
	ta.calls += r.Ops
	ta.unknown += r.Unknown
	ta.check += r.Elapsed
	if ta.causes == nil {
		ta.causes = map[string]int{}
	}
	for _, o := range h.list() {
		switch {
		case !o.Returned:
			ta.causes["process killed"]++
		case o.Out.Unknown:
			cause, _, _ := strings.Cut(o.Out.Cause, " (open")
			ta.causes[cause]++
		}
	}
}

// fault counts faults of a kind.
func (ta *tally) fault(kind string, n int) {
	if ta.faults == nil {
		ta.faults = map[string]int{}
	}
	ta.faults[kind] += n
}

func (ta *tally) log(t *testing.T) {
	t.Helper()
	var faults, causes []string
	for _, k := range slices.Sorted(maps.Keys(ta.faults)) {
		faults = append(faults, fmt.Sprintf("%s %d", k, ta.faults[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(ta.causes)) {
		causes = append(causes, fmt.Sprintf("%s %d", k, ta.causes[k]))
	}
	t.Logf("summary: %d histories, %d calls (%d with an unknown outcome: %s), checked in %s, all linearizable; faults: %s",
		ta.histories, ta.calls, ta.unknown, strings.Join(causes, ", "), ta.check.Round(time.Millisecond), strings.Join(faults, ", "))
}
