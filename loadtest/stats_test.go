package loadtest

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// summary is what the report keeps of a run: figures, not the raw
// latencies, so that holding it does not weigh on the heap measurements.
type summary struct {
	name     string
	elapsed  time.Duration
	requests int
	logins   int
	steps    []stepSummary
	outcomes map[outcome]int
}

type stepSummary struct {
	name          string
	n             int
	p50, p99, max time.Duration
}

// summarize computes the figures of a run that took elapsed.
func summarize(name string, rec *recorder, elapsed time.Duration) summary {
	s := summary{name: name, elapsed: elapsed, logins: rec.logins, outcomes: rec.outcomes}
	for _, n := range rec.outcomes {
		s.requests += n
	}
	for _, st := range reportOrder {
		ds := rec.latency[st.name]
		if len(ds) == 0 {
			continue
		}
		slices.Sort(ds)
		s.steps = append(s.steps, stepSummary{
			name: st.name + " (" + st.method + " " + st.path + ")",
			n:    len(ds), p50: percentile(ds, 0.50), p99: percentile(ds, 0.99), max: ds[len(ds)-1],
		})
	}
	return s
}

// percentile returns the nearest-rank p-th percentile of sorted ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(ds)))) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// String is the report of the run: throughput, then latency per step.
func (s summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d requests in %v: %.0f requests/s, %d logins: %.0f logins/s\n",
		s.name, s.requests, s.elapsed.Round(time.Millisecond), perSecond(s.requests, s.elapsed), s.logins, perSecond(s.logins, s.elapsed))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "step\tn\tp50\tp99\tmax")
	for _, st := range s.steps {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", st.name, st.n, ms(st.p50), ms(st.p99), ms(st.max))
	}
	tw.Flush()
	return strings.TrimSuffix(b.String(), "\n")
}

// outcomesString lists the answers by step, status and error code.
func (s summary) outcomesString() string {
	keys := make([]outcome, 0, len(s.outcomes))
	for k := range s.outcomes {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b outcome) int {
		return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
	})
	var b strings.Builder
	for _, k := range keys {
		code := k.code
		if code == "" {
			code = "-"
		}
		fmt.Fprintf(&b, "  %s: %d %s × %d\n", k.step, k.status, code, s.outcomes[k])
	}
	return b.String()
}

// ms formats d in milliseconds with two decimals.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
