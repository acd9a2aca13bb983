package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/mfakit/mfa/mfahttp"
)

// step is one kind of request of the scenario and the answer it expects:
// a status and, for a refusal, the error code.
type step struct {
	name   string // the label in the report
	method string
	path   string
	status int
	code   string
}

// outcome is what a step got: the status and error code of the answer, or
// status 0 and "canceled" or "transport error" when there was none.
type outcome struct {
	step   string
	status int
	code   string
}

// maxSamples bounds the unexpected answers a recorder keeps for the
// failure message.
const maxSamples = 10

// recorder collects one client's results. Each client has its own, so
// that recording takes no lock; they are merged after a run.
type recorder struct {
	latency    map[string][]time.Duration // per step name
	outcomes   map[outcome]int
	unexpected int
	samples    []string // the first unexpected answers
	logins     int      // successful second factors: each calls App.CompleteMFA once
}

func newRecorder() *recorder {
	return &recorder{latency: make(map[string][]time.Duration), outcomes: make(map[outcome]int)}
}

func (r *recorder) fail(format string, args ...any) {
	r.unexpected++
	if len(r.samples) < maxSamples {
		r.samples = append(r.samples, fmt.Sprintf(format, args...))
	}
}

func (r *recorder) merge(o *recorder) {
	for name, ds := range o.latency {
		r.latency[name] = append(r.latency[name], ds...)
	}
	for k, n := range o.outcomes {
		r.outcomes[k] += n
	}
	r.unexpected += o.unexpected
	for _, s := range o.samples {
		if len(r.samples) < maxSamples {
			r.samples = append(r.samples, s)
		}
	}
	r.logins += o.logins
}

// client is one concurrent client: it sends one request at a time, on
// keep-alive connections it shares with the other clients of a run.
type client struct {
	http *http.Client
	base string // the server's URL
	rec  *recorder
}

// request is one request of a step: the session it is sent in and what
// it carries.
type request struct {
	user   string
	scopes string // space-separated session scopes
	body   any    // JSON-encoded; nil for none
	token  string // an MFA token for mfahttp.TokenHeader
}

// do sends req as step s and checks the answer's status and error code
// against the step's. It decodes a successful answer's JSON body into out
// unless out is nil, and reports whether the answer was the expected one.
// The latency of every answer is recorded under the step's name.
func (c *client) do(ctx context.Context, s step, req request, out any) bool {
	var body io.Reader
	if req.body != nil {
		js, err := json.Marshal(req.body)
		if err != nil {
			c.rec.fail("%s: encode body: %v", s.name, err)
			return false
		}
		body = bytes.NewReader(js)
	}
	r, err := http.NewRequestWithContext(ctx, s.method, c.base+s.path, body)
	if err != nil {
		c.rec.fail("%s: %v", s.name, err)
		return false
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set(userHeader, req.user)
	if req.scopes != "" {
		r.Header.Set(scopesHeader, req.scopes)
	}
	if req.token != "" {
		r.Header.Set(mfahttp.TokenHeader, req.token)
	}

	start := time.Now()
	res, err := c.http.Do(r)
	var answer []byte
	if err == nil {
		answer, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	elapsed := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			// The deadline, which fails the test by itself.
			c.rec.outcomes[outcome{s.name, 0, "canceled"}]++
			return false
		}
		c.rec.outcomes[outcome{s.name, 0, "transport error"}]++
		c.rec.fail("%s as %s: %v", s.name, req.user, err)
		return false
	}
	c.rec.latency[s.name] = append(c.rec.latency[s.name], elapsed)

	got := outcome{step: s.name, status: res.StatusCode}
	if res.StatusCode >= 300 {
		var e struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if json.Unmarshal(answer, &e) == nil {
			got.code = e.Error.Code
		}
	}
	c.rec.outcomes[got]++
	if got.status != s.status || got.code != s.code {
		c.rec.fail("%s as %s: status %d %q, want %d %q; body %.200s", s.name, req.user, got.status, got.code, s.status, s.code, answer)
		return false
	}
	if out != nil {
		if err := json.Unmarshal(answer, out); err != nil {
			c.rec.fail("%s as %s: decode answer: %v; body %.200s", s.name, req.user, err, answer)
			return false
		}
	}
	return true
}
