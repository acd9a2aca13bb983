package mfahttp

// Recording the tests' exchanges.
//
// With MFA_HTTP_RECORD set to a file's path, every request the tests send
// to a Handler, and its answer, is appended to that file as one line of
// JSON (JSON Lines). The module mfahttp/internal/openapitest runs these
// tests so and checks each exchange against openapi.json, so that the
// document cannot drift from the handler. Without the variable nothing is
// recorded and the tests run as they always do.
//
// The tests reach the handler two ways, and each has its hook:
// RecordExchange for a request sent over HTTP to a test server (the
// helper server.do), ServeRecorded for one served in process through an
// httptest.ResponseRecorder.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
)

// recordEnv names the file the exchanges are appended to.
const recordEnv = "MFA_HTTP_RECORD"

// recordedExchange is one line of the file: a request to the handler and
// its answer. Path is relative to where the handler is mounted, escaped,
// with the query if any; bodies are base64 in the JSON, since a fuzzed one
// need not be UTF-8.
type recordedExchange struct {
	Test           string      `json:"test"`
	Method         string      `json:"method"`
	Path           string      `json:"path"`
	RequestHeader  http.Header `json:"requestHeader"`
	RequestBody    []byte      `json:"requestBody"`
	Status         int         `json:"status"`
	ResponseHeader http.Header `json:"responseHeader"`
	ResponseBody   []byte      `json:"responseBody"`
}

// recording is the open file, shared by the tests of the package, which
// may run in parallel.
var recording struct {
	once sync.Once
	mu   sync.Mutex
	f    *os.File
	err  error
}

// recordFile returns the file to append to, nil when not recording.
func recordFile() (*os.File, error) {
	recording.once.Do(func() {
		if name := os.Getenv(recordEnv); name != "" {
			recording.f, recording.err = os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		}
	})
	return recording.f, recording.err
}

// record appends x to the file, if recording.
func record(tb testing.TB, x recordedExchange) {
	tb.Helper()
	f, err := recordFile()
	if err != nil {
		tb.Fatalf("%s: %v", recordEnv, err)
	}
	if f == nil {
		return
	}
	x.Test = tb.Name()
	line, err := json.Marshal(x)
	if err != nil {
		tb.Fatalf("%s: %v", recordEnv, err)
	}
	recording.mu.Lock()
	defer recording.mu.Unlock()
	if _, err := f.Write(append(line, '\n')); err != nil {
		tb.Fatalf("%s: %v", recordEnv, err)
	}
}

// RecordExchange records a request that a test sent over HTTP to a
// handler mounted under mount (e.g. "/mfa"), and the answer res with its
// body, already read. Requests outside the mount point, to the
// application's own routes, are not the handler's and are left out. The
// request's body is read again through req.GetBody, which
// http.NewRequest sets for the bodies the tests send.
func RecordExchange(tb testing.TB, mount string, req *http.Request, res *http.Response, body []byte) {
	tb.Helper()
	if os.Getenv(recordEnv) == "" {
		return
	}
	path, ok := strings.CutPrefix(req.URL.EscapedPath(), mount)
	if !ok || !strings.HasPrefix(path, "/") {
		return
	}
	var reqBody []byte
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			tb.Fatal(err)
		}
		if reqBody, err = io.ReadAll(rc); err != nil {
			tb.Fatal(err)
		}
	}
	record(tb, recordedExchange{
		Method: req.Method, Path: withQuery(path, req.URL.RawQuery),
		RequestHeader: req.Header, RequestBody: reqBody,
		Status: res.StatusCode, ResponseHeader: res.Header, ResponseBody: body,
	})
}

// ServeRecorded serves req with h into w, as h.ServeHTTP(w, req) does,
// and records the exchange. req's path is the handler's own, as when the
// handler is called directly.
func ServeRecorded(tb testing.TB, h http.Handler, w *httptest.ResponseRecorder, req *http.Request) {
	tb.Helper()
	if os.Getenv(recordEnv) == "" {
		h.ServeHTTP(w, req)
		return
	}
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			tb.Fatal(err)
		}
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	// The handler may change the request's header map; keep it as sent.
	reqHeader := req.Header.Clone()
	h.ServeHTTP(w, req)
	res := w.Result()
	record(tb, recordedExchange{
		Method: req.Method, Path: withQuery(req.URL.EscapedPath(), req.URL.RawQuery),
		RequestHeader: reqHeader, RequestBody: reqBody,
		Status: res.StatusCode, ResponseHeader: res.Header, ResponseBody: w.Body.Bytes(),
	})
}

func withQuery(path, query string) string {
	if query == "" {
		return path
	}
	return path + "?" + query
}
