package mfahttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
)

// fixedApp gives every request the same session, or the same error.
type fixedApp struct {
	s   Session
	err error
}

func (a fixedApp) Session(*http.Request) (Session, error) { return a.s, a.err }

func (fixedApp) CompleteMFA(http.ResponseWriter, *http.Request, string) error { return nil }

// TestOpenAPIDocumentServed: GET /api/openapi.json answers, without a
// session, exactly the embedded document, which is openapi.json; other
// methods are 405. mfahttp/internal/openapitest checks the document
// against every exchange of these tests.
func TestOpenAPIDocumentServed(t *testing.T) {
	m, err := mfa.New(mfa.Config{Store: memstore.New(), Issuer: "Acme", Keys: mfatest.Keyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	h := New(m, fixedApp{err: ErrNoSession})
	file, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(openAPIDocument, file) {
		t.Fatal("the embedded document differs from openapi.json")
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct{ Title string }
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil || doc.OpenAPI != "3.1.0" || doc.Info.Title != "mfakit HTTP API" {
		t.Fatalf("document: openapi %q, title %q, %v", doc.OpenAPI, doc.Info.Title, err)
	}

	w := httptest.NewRecorder()
	ServeRecorded(t, h, w, httptest.NewRequest("GET", "/api/openapi.json", nil))
	if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), openAPIDocument) {
		t.Fatalf("GET /api/openapi.json: %d, %d bytes; want 200 and the %d bytes of the document", w.Code, w.Body.Len(), len(openAPIDocument))
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}

	w = httptest.NewRecorder()
	ServeRecorded(t, h, w, httptest.NewRequest("POST", "/api/openapi.json", nil))
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET" {
		t.Fatalf("POST /api/openapi.json: %d, Allow %q; want 405 and GET", w.Code, w.Header().Get("Allow"))
	}
}

// TestErrorsOfEveryOperation: the errors that every operation of the API
// shares, each answered by every operation: 401 without a session, 500
// when the application cannot read it, 400 (or, from the flow, a state
// with the error) for a user ID that mfakit refuses, 403 for a
// cross-origin request that may change state, 401 mfa_required from the
// operations that need a completed session, and 413 and 415 for bodies.
// The answers are what openapi.json documents for each operation, which
// mfahttp/internal/openapitest checks.
func TestErrorsOfEveryOperation(t *testing.T) {
	m, err := mfa.New(mfa.Config{Store: memstore.New(), Issuer: "Acme", Keys: mfatest.Keyring(t), Passkeys: mfatest.Passkeys{}})
	if err != nil {
		t.Fatal(err)
	}
	quiet := WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	type answer struct {
		status int
		code   string
	}
	for _, op := range []struct {
		method, path string
		body         string // a valid body, for the operations that take one
		full         bool   // the operation needs a session that completed MFA
		flow         bool   // a flow step: step failures come as a state with status 200
		limit        int    // the largest body, if not maxBody
	}{
		{method: "POST", path: "/api/flow", flow: true},
		{method: "POST", path: "/api/flow/add-device", flow: true},
		{method: "POST", path: "/api/flow/continue", flow: true},
		{method: "POST", path: "/api/flow/otp", body: `{"code":"123456"}`, flow: true},
		{method: "POST", path: "/api/flow/recovery-code", body: `{"code":"aaaa-bbbb-cccc-dddd"}`, flow: true},
		{method: "POST", path: "/api/flow/passkey", body: `{"response":{"id":"cred-1"}}`, flow: true, limit: maxPasskeyBody},
		{method: "POST", path: "/api/flow/acknowledge", flow: true},
		{method: "GET", path: "/api/devices"},
		{method: "POST", path: "/api/devices/totp", body: `{"alias":"Phone"}`},
		{method: "POST", path: "/api/devices/totp/authenticate", body: `{"code":"123456"}`},
		{method: "POST", path: "/api/devices/passkey", body: `{"alias":"Laptop"}`},
		{method: "POST", path: "/api/devices/passkey/finish", body: `{"response":{"id":"cred-1"}}`, limit: maxPasskeyBody},
		{method: "POST", path: "/api/devices/passkey/authenticate/options"},
		{method: "POST", path: "/api/devices/passkey/authenticate", body: `{"response":{"id":"cred-1"}}`, limit: maxPasskeyBody},
		{method: "DELETE", path: "/api/devices/d1", full: true},
		{method: "POST", path: "/api/devices/d1/default", full: true},
		{method: "GET", path: "/api/methods"},
		{method: "POST", path: "/api/recovery-codes/authenticate", body: `{"code":"aaaa-bbbb-cccc-dddd"}`},
		{method: "GET", path: "/api/recovery-codes", full: true},
		{method: "POST", path: "/api/recovery-codes", full: true},
		{method: "POST", path: "/api/recovery-codes/acknowledge", full: true},
		{method: "GET", path: "/api/recovery-codes/pending"},
		{method: "GET", path: "/api/actions/credential:unlink"},
	} {
		send := func(t *testing.T, app App, body, contentType string, hdr ...string) (answer, *httptest.ResponseRecorder) {
			t.Helper()
			var req *http.Request
			if body != "" {
				req = httptest.NewRequest(op.method, op.path, strings.NewReader(body))
				req.Header.Set("Content-Type", contentType)
			} else {
				req = httptest.NewRequest(op.method, op.path, nil)
			}
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			w := httptest.NewRecorder()
			ServeRecorded(t, New(m, app, quiet), w, req)
			var e struct{ Error errorJSON }
			_ = json.Unmarshal(w.Body.Bytes(), &e)
			return answer{w.Code, e.Error.Code}, w
		}
		t.Run(op.method+" "+op.path, func(t *testing.T) {
			check := func(name string, got, want answer, w *httptest.ResponseRecorder) {
				t.Helper()
				if got != want {
					t.Errorf("%s: %d %s, want %d %s: %s", name, got.status, got.code, want.status, want.code, w.Body)
				}
			}
			got, w := send(t, fixedApp{err: ErrNoSession}, op.body, "application/json")
			check("no session", got, answer{401, "unauthenticated"}, w)
			got, w = send(t, fixedApp{err: errors.New("session store unreachable")}, op.body, "application/json")
			check("session failure", got, answer{500, "internal_error"}, w)

			badUser := fixedApp{s: Session{UserID: "alice\x00"}}
			got, w = send(t, badUser, op.body, "application/json")
			if op.flow {
				var st struct{ Error *errorJSON }
				if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || w.Code != 200 || st.Error == nil || st.Error.Code != "mfa_invalid_input" || st.Error.Field != "userID" {
					t.Errorf("user ID refused: %d %s, want 200 and a state with error mfa_invalid_input, field userID", w.Code, w.Body)
				}
			} else {
				check("user ID refused", got, answer{400, "mfa_invalid_input"}, w)
			}

			alice := fixedApp{s: Session{UserID: "alice"}}
			if op.method != "GET" {
				got, w = send(t, alice, op.body, "application/json", "Sec-Fetch-Site", "cross-site")
				check("cross-origin", got, answer{403, "cross_origin"}, w)
			}
			if op.full {
				got, w = send(t, fixedApp{s: Session{UserID: "alice", Scopes: []string{mfa.ScopeRequiresAdditionalAuth}}}, op.body, "application/json")
				check("session waiting for its second factor", got, answer{401, "mfa_required"}, w)
			}
			if op.body != "" {
				got, w = send(t, alice, "code=123456", "application/x-www-form-urlencoded")
				check("form body", got, answer{415, "unsupported_media_type"}, w)
				limit := maxBody
				if op.limit != 0 {
					limit = op.limit
				}
				got, w = send(t, alice, `{"code":"`+strings.Repeat("1", limit)+`"}`, "application/json")
				check("body over the limit", got, answer{413, "too_large"}, w)
			}
		})
	}

	// A user without a device has no recovery codes to acknowledge.
	w := httptest.NewRecorder()
	ServeRecorded(t, New(m, fixedApp{s: Session{UserID: "bob"}}), w, httptest.NewRequest("POST", "/api/recovery-codes/acknowledge", nil))
	if w.Code != 404 || !strings.Contains(w.Body.String(), `"mfa_no_device"`) {
		t.Errorf("acknowledging without a device: %d %s, want 404 mfa_no_device", w.Code, w.Body)
	}
}
