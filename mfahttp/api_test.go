package mfahttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfahttp"
	"github.com/mfakit/mfa/mfatest"
)

// testApp takes the session from test headers and records CompleteMFA.
type testApp struct {
	mu        sync.Mutex
	completed []string
}

func (a *testApp) Session(r *http.Request) (mfahttp.Session, error) {
	u := r.Header.Get("X-Test-User")
	if u == "" {
		return mfahttp.Session{}, mfahttp.ErrNoSession
	}
	var scopes []string
	if s := r.Header.Get("X-Test-Scopes"); s != "" {
		scopes = strings.Fields(s)
	}
	return mfahttp.Session{UserID: u, AccountName: r.Header.Get("X-Test-Account"), Scopes: scopes}, nil
}

func (a *testApp) CompleteMFA(_ http.ResponseWriter, _ *http.Request, userID string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.completed = append(a.completed, userID)
	return nil
}

func (a *testApp) completions() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.completed)
}

type server struct {
	t     *testing.T
	m     *mfa.MFA
	h     *mfahttp.Handler
	app   *testApp
	clock *mfatest.Clock
	srv   *httptest.Server
}

func newServer(t *testing.T, mutate ...func(*mfa.Config)) *server {
	t.Helper()
	clock := mfatest.NewClock(time.Date(2026, 7, 1, 12, 0, 5, 0, time.UTC))
	cfg := mfa.Config{
		Store: memstore.New(), Issuer: "Acme", Keys: mfatest.Keyring(t), Now: clock.Now,
		Actions: map[string]mfa.ActionPolicy{"change-email": {}, "update-profile": {AllowUnenrolled: true}, "read-statements": {Persistent: true}},
	}
	for _, f := range mutate {
		f(&cfg)
	}
	m, err := mfa.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	app := &testApp{}
	h := mfahttp.New(m, app)
	mux := http.NewServeMux()
	mux.Handle("/mfa/", http.StripPrefix("/mfa", h))
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := mfahttp.SessionFrom(r.Context())
		io.WriteString(w, "ok "+s.UserID)
	})
	mux.Handle("/account", h.RequireMFA(ok))
	mux.Handle("POST /email", h.RequireMFAToken("change-email")(ok))
	mux.Handle("POST /profile", h.RequireMFAToken("update-profile")(ok))
	mux.Handle("POST /statements", h.RequireMFAToken("read-statements")(ok))
	s := &server{t: t, m: m, h: h, app: app, clock: clock, srv: httptest.NewServer(mux)}
	t.Cleanup(s.srv.Close)
	return s
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response %d %q: %v", r.status, r.body, err)
	}
}

func (r resp) errCode(t *testing.T) string {
	t.Helper()
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	r.json(t, &e)
	return e.Error.Code
}

// do sends a request as user (none if "") with scopes; body is JSON-encoded
// unless it is a string.
func (s *server) do(method, path, user, scopes string, body any, hdr ...string) resp {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, s.srv.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.Header.Set("X-Test-User", user)
	}
	if scopes != "" {
		req.Header.Set("X-Test-Scopes", scopes)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := s.srv.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	mfahttp.RecordExchange(s.t, "/mfa", req, res, b) // with MFA_HTTP_RECORD set: record_test.go
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func expect(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if code != "" {
		if got := r.errCode(t); got != code {
			t.Fatalf("error code %q, want %q; body %s", got, code, r.body)
		}
	}
}

func noStore(t *testing.T, r resp) {
	t.Helper()
	if r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("response with secrets lacks Cache-Control: no-store (got %q)", r.header.Get("Cache-Control"))
	}
}

const raa = mfa.ScopeRequiresAdditionalAuth

type registered struct {
	ID, Secret, URI, QRCode string
}

// enrol registers and verifies a device over the API, returning the secret
// and the recovery codes (acknowledged).
func (s *server) enrol(user string) (string, []string) {
	s.t.Helper()
	r := s.do("POST", "/mfa/api/devices/totp", user, raa, nil)
	expect(s.t, r, 200, "")
	var reg registered
	r.json(s.t, &reg)
	r = s.do("POST", "/mfa/api/devices/totp/authenticate", user, raa, map[string]string{"code": mfatest.Code(s.t, reg.Secret, s.clock.Now())})
	expect(s.t, r, 200, "")
	r = s.do("GET", "/mfa/api/recovery-codes", user, "", nil)
	expect(s.t, r, 200, "")
	var codes struct{ RecoveryCodes []string }
	r.json(s.t, &codes)
	expect(s.t, s.do("POST", "/mfa/api/recovery-codes/acknowledge", user, "", nil), 204, "")
	s.clock.Advance(30 * time.Second)
	return reg.Secret, codes.RecoveryCodes
}

// token gets a single-use MFA token with scopes for user with a TOTP code
// of secret, and moves the clock to the next code.
func (s *server) token(user, secret string, scopes ...string) string {
	s.t.Helper()
	return s.newToken(user, secret, true, scopes)
}

// persistentToken is like token, for a persistent token.
func (s *server) persistentToken(user, secret string, scopes ...string) string {
	s.t.Helper()
	return s.newToken(user, secret, false, scopes)
}

func (s *server) newToken(user, secret string, singleUse bool, scopes []string) string {
	s.t.Helper()
	r := s.do("POST", "/mfa/api/devices/totp/authenticate", user, "", map[string]any{"code": mfatest.Code(s.t, secret, s.clock.Now()), "createMfaToken": map[string]any{"singleUse": singleUse, "scopes": scopes}})
	expect(s.t, r, 200, "")
	s.clock.Advance(30 * time.Second)
	var res struct{ MFAToken struct{ Value string } }
	r.json(s.t, &res)
	return res.MFAToken.Value
}

// devices returns user's devices, pending ones too.
func (s *server) devices(user string) []mfa.Device {
	s.t.Helper()
	r := s.do("GET", "/mfa/api/devices", user, "", nil)
	expect(s.t, r, 200, "")
	var list struct{ Devices []mfa.Device }
	r.json(s.t, &list)
	return list.Devices
}

func TestUnauthenticated(t *testing.T) {
	s := newServer(t)
	for _, ep := range []struct{ method, path string }{
		{"GET", "/mfa/api/devices"}, {"POST", "/mfa/api/devices/totp"}, {"POST", "/mfa/api/flow"},
		{"GET", "/mfa/api/recovery-codes"}, {"DELETE", "/mfa/api/devices/x"}, {"GET", "/account"}, {"POST", "/email"},
	} {
		expect(t, s.do(ep.method, ep.path, "", "", nil), 401, "unauthenticated")
	}
	expect(t, s.do("GET", "/mfa/api/nope", "alice", "", nil), 404, "not_found")
}

func TestRegisterAndAuthenticate(t *testing.T) {
	s := newServer(t)
	r := s.do("POST", "/mfa/api/devices/totp", "alice", raa, map[string]string{"alias": "Phone"})
	expect(t, r, 200, "")
	noStore(t, r)
	var reg registered
	r.json(t, &reg)
	if reg.ID == "" || len(reg.Secret) != 32 || !strings.HasPrefix(reg.URI, "otpauth://totp/Acme:alice?") || !strings.HasPrefix(reg.QRCode, "data:image/png;base64,") {
		t.Fatalf("registration %+v", reg)
	}
	// Wrong code: 401 mfa_invalid_code; bad input: 400.
	code := mfatest.Code(t, reg.Secret, s.clock.Now())
	bad := []byte(code)
	bad[0] = '0' + (bad[0]-'0'+1)%10
	expect(t, s.do("POST", "/mfa/api/devices/totp/authenticate", "alice", raa, map[string]string{"code": string(bad)}), 401, "mfa_invalid_code")
	expect(t, s.do("POST", "/mfa/api/devices/totp/authenticate", "alice", raa, map[string]string{"code": "12"}), 400, "mfa_invalid_input")
	if s.app.completions() != 0 {
		t.Fatal("CompleteMFA called on failure")
	}
	r = s.do("POST", "/mfa/api/devices/totp/authenticate", "alice", raa, map[string]any{"code": code, "createMfaToken": map[string]any{"singleUse": true, "scopes": []string{"change-email"}}})
	expect(t, r, 200, "")
	noStore(t, r)
	var res struct {
		Method         string
		DeviceVerified bool
		MFAToken       struct {
			Value     string
			SingleUse bool
		}
		RecoveryCodesPending bool
	}
	r.json(t, &res)
	if !res.DeviceVerified || !res.RecoveryCodesPending || !res.MFAToken.SingleUse || !strings.HasPrefix(res.MFAToken.Value, "mfat_") {
		t.Fatalf("authenticate response %s", r.body)
	}
	if s.app.completions() != 1 {
		t.Fatal("CompleteMFA not called for a session that needed MFA")
	}
	// Replay of the same code: 401 mfa_code_reused.
	expect(t, s.do("POST", "/mfa/api/devices/totp/authenticate", "alice", raa, map[string]string{"code": code}), 401, "mfa_code_reused")
	// A second device: 401, as the guide documents.
	expect(t, s.do("POST", "/mfa/api/devices/totp", "alice", "", nil), 401, "mfa_device_limit")
	// The device list never carries the secret.
	r = s.do("GET", "/mfa/api/devices", "alice", "", nil)
	expect(t, r, 200, "")
	if bytes.Contains(r.body, []byte(reg.Secret)) || !bytes.Contains(r.body, []byte(`"verified":true`)) {
		t.Fatalf("devices %s", r.body)
	}
}

func TestLockoutIs429WithRetryAfter(t *testing.T) {
	s := newServer(t)
	s.enrol("alice")
	for range 5 {
		expect(t, s.do("POST", "/mfa/api/devices/totp/authenticate", "alice", raa, map[string]string{"code": "000000"}), 401, "mfa_invalid_code")
	}
	r := s.do("POST", "/mfa/api/devices/totp/authenticate", "alice", raa, map[string]string{"code": "000000"})
	expect(t, r, 429, "mfa_rate_limited")
	if r.header.Get("Retry-After") != "30" {
		t.Fatalf("Retry-After %q, want 30", r.header.Get("Retry-After"))
	}
}

func TestRecoveryCodes(t *testing.T) {
	s := newServer(t)
	_, codes := s.enrol("alice")
	if len(codes) != 10 {
		t.Fatalf("%d codes", len(codes))
	}
	expect(t, s.do("GET", "/mfa/api/recovery-codes", "alice", "", nil), 409, "mfa_recovery_codes_acknowledged")
	expect(t, s.do("GET", "/mfa/api/recovery-codes", "alice", raa, nil), 401, "mfa_required")
	expect(t, s.do("POST", "/mfa/api/recovery-codes", "alice", raa, nil), 401, "mfa_required")

	r := s.do("POST", "/mfa/api/recovery-codes/authenticate", "alice", raa, map[string]string{"code": codes[0]})
	expect(t, r, 200, "")
	noStore(t, r)
	if !bytes.Contains(r.body, []byte(`"recoveryCodesRemaining":9`)) {
		t.Fatalf("recovery response %s", r.body)
	}
	expect(t, s.do("POST", "/mfa/api/recovery-codes/authenticate", "alice", raa, map[string]string{"code": codes[0]}), 401, "mfa_invalid_code")

	// A new set needs an MFA token; a recovery code gets one too.
	r = s.do("POST", "/mfa/api/recovery-codes/authenticate", "alice", "", map[string]any{"code": codes[1], "createMfaToken": map[string]any{"singleUse": true, "scopes": []string{mfahttp.ScopeRegenerateRecoveryCodes}}})
	expect(t, r, 200, "")
	var res struct{ MFAToken struct{ Value string } }
	r.json(t, &res)
	r = s.do("POST", "/mfa/api/recovery-codes", "alice", "", nil, mfahttp.TokenHeader, res.MFAToken.Value)
	expect(t, r, 200, "")
	noStore(t, r)
	var fresh struct{ RecoveryCodes []string }
	r.json(t, &fresh)
	if len(fresh.RecoveryCodes) != 10 {
		t.Fatal("no new codes")
	}
	r = s.do("GET", "/mfa/api/recovery-codes/pending", "alice", "", nil)
	if !bytes.Contains(r.body, []byte(`"pending":true`)) {
		t.Fatalf("pending %s", r.body)
	}
	expect(t, s.do("POST", "/mfa/api/recovery-codes/authenticate", "alice", raa, map[string]string{"code": codes[2]}), 401, "mfa_invalid_code")
	expect(t, s.do("GET", "/mfa/api/recovery-codes", "bob", "", nil), 404, "mfa_no_device")
}

func TestDeleteDeviceNeedsToken(t *testing.T) {
	s := newServer(t)
	secret, _ := s.enrol("alice")
	r := s.do("GET", "/mfa/api/devices", "alice", "", nil)
	var list struct{ Devices []mfa.Device }
	r.json(t, &list)
	id := list.Devices[0].ID
	expect(t, s.do("DELETE", "/mfa/api/devices/"+id, "alice", "", nil), 403, "mfa_token_required")
	expect(t, s.do("DELETE", "/mfa/api/devices/"+id, "alice", "", nil, mfahttp.TokenHeader, "mfat_bogus"), 403, "mfa_token_invalid")
	expect(t, s.do("DELETE", "/mfa/api/devices/"+id, "alice", raa, nil), 401, "mfa_required")
	expect(t, s.do("DELETE", "/mfa/api/devices/nope", "alice", "", nil), 404, "mfa_device_not_found")

	r = s.do("POST", "/mfa/api/devices/totp/authenticate", "alice", "", map[string]any{"code": mfatest.Code(t, secret, s.clock.Now()), "createMfaToken": map[string]any{"singleUse": true, "scopes": []string{mfa.ScopeCredentialUnlink}}})
	expect(t, r, 200, "")
	var res struct{ MFAToken struct{ Value string } }
	r.json(t, &res)
	expect(t, s.do("DELETE", "/mfa/api/devices/"+id, "alice", "", nil, mfahttp.TokenHeader, res.MFAToken.Value), 204, "")
	r = s.do("GET", "/mfa/api/devices", "alice", "", nil)
	if !bytes.Contains(r.body, []byte(`"devices":[]`)) {
		t.Fatalf("devices after delete: %s", r.body)
	}
}

func TestStrictRequests(t *testing.T) {
	s := newServer(t)
	path := "/mfa/api/devices/totp/authenticate"
	expect(t, s.do("POST", path, "alice", "", `{"code":"123456","extra":1}`), 400, "bad_request")
	expect(t, s.do("POST", path, "alice", "", `{"code":"123456"} {"code":"1"}`), 400, "bad_request")
	expect(t, s.do("POST", path, "alice", "", `{"code":`), 400, "bad_request")
	expect(t, s.do("POST", path, "alice", "", `["123456"]`), 400, "bad_request")
	expect(t, s.do("POST", path, "alice", "", `{"code":"`+strings.Repeat("1", 20<<10)+`"}`), 413, "too_large")
	expect(t, s.do("POST", path, "alice", "", `code=123456`, "Content-Type", "application/x-www-form-urlencoded"), 415, "unsupported_media_type")
	// Cross-site state changes are refused; same-origin ones pass.
	expect(t, s.do("POST", "/mfa/api/devices/totp", "alice", "", nil, "Sec-Fetch-Site", "cross-site"), 403, "cross_origin")
	expect(t, s.do("POST", "/mfa/api/devices/totp", "alice", "", nil, "Origin", "https://evil.example"), 403, "cross_origin")
	expect(t, s.do("POST", "/email", "alice", "", nil, "Sec-Fetch-Site", "cross-site"), 403, "cross_origin")
	expect(t, s.do("POST", "/mfa/api/devices/totp", "alice", "", nil, "Sec-Fetch-Site", "same-origin"), 200, "")
}

func TestFlowEndpoints(t *testing.T) {
	s := newServer(t)
	r := s.do("POST", "/mfa/api/flow", "alice", raa, nil)
	expect(t, r, 200, "")
	noStore(t, r)
	var st struct {
		View          string
		Registration  *registered
		Error         *struct{ Code string }
		Complete      bool
		RecoveryCodes []string
	}
	r.json(t, &st)
	if st.View != "qr-code" || st.Registration == nil || st.Registration.QRCode == "" || st.Complete {
		t.Fatalf("sync: %s", r.body)
	}
	secret := st.Registration.Secret
	r = s.do("POST", "/mfa/api/flow/continue", "alice", raa, nil)
	st.Registration = nil
	r.json(t, &st)
	if st.View != "otp" {
		t.Fatalf("continue: %s", r.body)
	}
	r = s.do("POST", "/mfa/api/flow/otp", "alice", raa, map[string]string{"code": "000000"})
	expect(t, r, 200, "")
	r.json(t, &st)
	if st.View != "otp" || st.Error == nil || st.Error.Code != "mfa_invalid_code" {
		t.Fatalf("wrong code: %s", r.body)
	}
	r = s.do("POST", "/mfa/api/flow/otp", "alice", raa, map[string]string{"code": mfatest.Code(t, secret, s.clock.Now())})
	st.Error = nil
	r.json(t, &st)
	if st.View != "backup-codes" || len(st.RecoveryCodes) != 10 || !st.Complete || st.Error != nil {
		t.Fatalf("right code: %s", r.body)
	}
	if s.app.completions() != 1 {
		t.Fatal("the flow did not complete the session")
	}
	r = s.do("POST", "/mfa/api/flow/acknowledge", "alice", "", nil)
	r.json(t, &st)
	if st.View != "devices" || bytes.Contains(r.body, []byte(secret)) {
		t.Fatalf("acknowledge: %s", r.body)
	}
	r = s.do("POST", "/mfa/api/flow/acknowledge", "alice", "", nil)
	r.json(t, &st)
	if st.Error == nil || st.Error.Code != "mfa_invalid_step" {
		t.Fatalf("refused step: %s", r.body)
	}
	expect(t, s.do("POST", "/mfa/api/flow/jump", "alice", "", nil), 404, "not_found")
}

func TestMiddleware(t *testing.T) {
	s := newServer(t)
	secret, _ := s.enrol("alice")
	expect(t, s.do("GET", "/account", "alice", raa, nil), 401, "mfa_required")
	if r := s.do("GET", "/account", "alice", "", nil); r.status != 200 || string(r.body) != "ok alice" {
		t.Fatalf("account: %d %s", r.status, r.body)
	}
	// The action needs a token; one that allows unenrolled users does
	// not for a user without a device, but does for one with a device.
	expect(t, s.do("POST", "/email", "alice", "", nil), 403, "mfa_token_required")
	expect(t, s.do("POST", "/profile", "bob", "", nil), 200, "")
	expect(t, s.do("POST", "/profile", "alice", "", nil), 403, "mfa_token_required")
	issue := func(scopes ...string) string { return s.token("alice", secret, scopes...) }
	wrongScope := issue("user:update")
	expect(t, s.do("POST", "/email", "alice", "", nil, mfahttp.TokenHeader, wrongScope), 403, "mfa_token_invalid")
	tok := issue("change-email")
	expect(t, s.do("POST", "/email", "bob", "", nil, mfahttp.TokenHeader, tok), 403, "mfa_token_invalid")
	expect(t, s.do("POST", "/email", "alice", "", nil, mfahttp.TokenHeader, tok), 200, "")
	expect(t, s.do("POST", "/email", "alice", "", nil, mfahttp.TokenHeader, tok), 403, "mfa_token_invalid")
	s.clock.Advance(time.Hour)
	expired := issue("change-email")
	s.clock.Advance(6 * time.Minute)
	expect(t, s.do("POST", "/email", "alice", "", nil, mfahttp.TokenHeader, expired), 403, "mfa_token_expired")
}

// TestServerErrorsHideDetail: a store failure is 500 with a generic body;
// the detail goes to the log.
func TestServerErrorsHideDetail(t *testing.T) {
	store := &brokenStore{Store: memstore.New()}
	m, err := mfa.New(mfa.Config{Store: store, Issuer: "Acme", Keys: mfatest.Keyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	h := mfahttp.New(m, &testApp{}, mfahttp.WithLogger(slogTo(&logs)))
	req := httptest.NewRequest("GET", "/api/devices", nil)
	req.Header.Set("X-Test-User", "alice")
	w := httptest.NewRecorder()
	mfahttp.ServeRecorded(t, h, w, req)
	if w.Code != 500 || strings.Contains(w.Body.String(), "secret database host") || !strings.Contains(w.Body.String(), "internal_error") {
		t.Fatalf("store failure: %d %s", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), "secret database host") {
		t.Fatalf("the failure was not logged: %q", logs.String())
	}
}

type brokenStore struct{ *memstore.Store }

func (brokenStore) LoadUser(context.Context, string, time.Time) (mfa.UserState, error) {
	return mfa.UserState{}, errString("dial tcp: secret database host unreachable")
}

type errString string

func (e errString) Error() string { return string(e) }

// TestFlowSyncIsPOST: a sync may add a device, so it is a POST, which the
// cross-origin protection checks; a GET changes nothing.
func TestFlowSyncIsPOST(t *testing.T) {
	s := newServer(t)
	for _, tc := range []struct {
		name, method string
		hdr          []string
		status       int
		code         string
	}{
		{"GET", "GET", nil, 405, "method_not_allowed"},
		{"cross-site GET", "GET", []string{"Sec-Fetch-Site", "cross-site"}, 405, "method_not_allowed"},
		{"cross-site POST", "POST", []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross_origin"},
		{"POST from another origin", "POST", []string{"Origin", "https://evil.example"}, 403, "cross_origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(tc.method, "/mfa/api/flow", "alice", raa, nil, tc.hdr...)
			expect(t, r, tc.status, tc.code)
			if tc.status == 405 && r.header.Get("Allow") != "POST" {
				t.Errorf("Allow %q, want POST", r.header.Get("Allow"))
			}
			if d := s.devices("alice"); len(d) != 0 {
				t.Fatalf("a refused sync added a device: %+v", d)
			}
		})
	}
	expect(t, s.do("GET", "/mfa/api/flow/continue", "alice", raa, nil), 405, "method_not_allowed")
	expect(t, s.do("PUT", "/mfa/api/devices/x", "alice", "", nil), 405, "method_not_allowed")
	r := s.do("POST", "/mfa/api/flow", "alice", raa, nil, "Sec-Fetch-Site", "same-origin")
	expect(t, r, 200, "")
	if d := s.devices("alice"); len(d) != 1 || d[0].Verified {
		t.Fatalf("a same-origin sync of a login that must enrol: devices %+v, want one pending", d)
	}
}

// TestRequireMFARefusesCrossOrigin: RequireMFA checks the origin of
// state-changing requests, as the handler and RequireMFAToken do, and lets
// safe ones through.
func TestRequireMFARefusesCrossOrigin(t *testing.T) {
	s := newServer(t)
	s.enrol("alice")
	expect(t, s.do("POST", "/account", "alice", "", nil, "Sec-Fetch-Site", "cross-site"), 403, "cross_origin")
	expect(t, s.do("DELETE", "/account", "alice", "", nil, "Origin", "https://evil.example"), 403, "cross_origin")
	expect(t, s.do("GET", "/account", "alice", "", nil, "Sec-Fetch-Site", "cross-site"), 200, "")
	expect(t, s.do("POST", "/account", "alice", "", nil, "Sec-Fetch-Site", "same-origin"), 200, "")
}

// TestTokenTTL: a TTL in seconds that a time.Duration cannot hold is
// refused rather than wrapped around into one that mfa accepts.
func TestTokenTTL(t *testing.T) {
	s := newServer(t)
	secret, codes := s.enrol("alice")
	for _, tc := range []struct {
		name string
		ttl  int64
	}{
		{"wraps to one hour", 36028797018967568},
		{"wraps to a negative duration", 1 << 62},
		{"largest int64", 1<<63 - 1},
		{"negative", -1},
		{"wraps from negative", -36028797018963968},
		{"above MaxTTL", 7200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/mfa/api/devices/totp/authenticate", "/mfa/api/recovery-codes/authenticate"} {
				code := codes[0]
				if strings.Contains(path, "totp") {
					code = mfatest.Code(t, secret, s.clock.Now())
				}
				r := s.do("POST", path, "alice", "", map[string]any{"code": code, "createMfaToken": map[string]any{"singleUse": true, "ttl": tc.ttl}})
				expect(t, r, 400, "mfa_invalid_input")
				var e struct{ Error struct{ Field string } }
				r.json(t, &e)
				if e.Error.Field != "createMfaToken.ttl" {
					t.Errorf("%s: error field %q, want createMfaToken.ttl", path, e.Error.Field)
				}
			}
		})
	}
	r := s.do("POST", "/mfa/api/devices/totp/authenticate", "alice", "", map[string]any{"code": mfatest.Code(t, secret, s.clock.Now()), "createMfaToken": map[string]any{"singleUse": true, "ttl": 60}})
	expect(t, r, 200, "")
	var res struct{ MFAToken struct{ ExpiresAt time.Time } }
	r.json(t, &res)
	if want := s.clock.Now().Add(time.Minute); !res.MFAToken.ExpiresAt.Equal(want) {
		t.Errorf("token of 60 s expires at %s, want %s", res.MFAToken.ExpiresAt, want)
	}
}

// TestRequireMFATokenUnknownAction: an action without a policy would leave
// the route unprotected, so wrapping it panics.
func TestRequireMFATokenUnknownAction(t *testing.T) {
	s := newServer(t)
	defer func() {
		const want = `mfahttp: RequireMFAToken("chnage-email"): action has no policy in mfa.Config.Actions`
		if got := recover(); got != want {
			t.Errorf("panic %v, want %q", got, want)
		}
	}()
	s.h.RequireMFAToken("chnage-email")
	t.Error("RequireMFAToken accepted an action without a policy")
}

// TestRegenerateRecoveryCodesNeedsToken: a session alone cannot make new
// recovery codes, which would be a second factor of its own.
func TestRegenerateRecoveryCodesNeedsToken(t *testing.T) {
	s := newServer(t)
	secret, _ := s.enrol("alice")
	const path = "/mfa/api/recovery-codes"
	expect(t, s.do("POST", path, "alice", "", nil), 403, "mfa_token_required")
	expect(t, s.do("POST", path, "alice", "", nil, mfahttp.TokenHeader, "mfat_bogus"), 403, "mfa_token_invalid")
	expect(t, s.do("POST", path, "alice", "", nil, mfahttp.TokenHeader, s.token("alice", secret, mfa.ScopeCredentialUnlink)), 403, "mfa_token_invalid")
	if r := s.do("GET", "/mfa/api/recovery-codes/pending", "alice", "", nil); !bytes.Contains(r.body, []byte(`"pending":false`)) {
		t.Fatalf("refused requests made new codes: pending %s", r.body)
	}

	tok := s.token("alice", secret, mfahttp.ScopeRegenerateRecoveryCodes)
	expect(t, s.do("POST", path, "bob", "", nil, mfahttp.TokenHeader, tok), 403, "mfa_token_invalid")
	r := s.do("POST", path, "alice", "", nil, mfahttp.TokenHeader, tok)
	expect(t, r, 200, "")
	noStore(t, r)
	var fresh struct{ RecoveryCodes []string }
	r.json(t, &fresh)
	if len(fresh.RecoveryCodes) != 10 {
		t.Fatalf("new codes: %s", r.body)
	}
	expect(t, s.do("POST", path, "alice", "", nil, mfahttp.TokenHeader, tok), 403, "mfa_token_invalid")

	// The flow shows the new set to save; an unscoped token works too.
	r = s.do("POST", "/mfa/api/flow", "alice", "", nil)
	var st struct {
		View          string
		RecoveryCodes []string
	}
	r.json(t, &st)
	if st.View != "backup-codes" || len(st.RecoveryCodes) != 10 || st.RecoveryCodes[0] != fresh.RecoveryCodes[0] {
		t.Fatalf("flow after new codes: %s", r.body)
	}
	expect(t, s.do("POST", path, "alice", "", nil, mfahttp.TokenHeader, s.token("alice", secret)), 200, "")
}

// TestAccountName: the authenticator app shows the session's account name,
// e.g. the email address, rather than the opaque user ID.
func TestAccountName(t *testing.T) {
	s := newServer(t)
	for _, tc := range []struct {
		name, user, account, method, path, want string
	}{
		{"register", "u_1", "ann@example.com", "POST", "/mfa/api/devices/totp", "otpauth://totp/Acme:ann%40example.com?"},
		{"flow sync", "u_2", "bob@example.com", "POST", "/mfa/api/flow", "otpauth://totp/Acme:bob%40example.com?"},
		{"flow add-device", "u_3", "cy@example.com", "POST", "/mfa/api/flow/add-device", "otpauth://totp/Acme:cy%40example.com?"},
		{"default", "u_4", "", "POST", "/mfa/api/devices/totp", "otpauth://totp/Acme:u_4?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(tc.method, tc.path, tc.user, raa, nil, "X-Test-Account", tc.account)
			expect(t, r, 200, "")
			var out struct {
				URI          string
				Registration struct{ URI string }
			}
			r.json(t, &out)
			uri := out.URI + out.Registration.URI
			if !strings.HasPrefix(uri, tc.want) {
				t.Errorf("registration URI %q, want it to start with %q", uri, tc.want)
			}
		})
	}
}

// TestFlowCompletesEvenWhenALaterReadFails: once the flow has accepted a
// code, the session is completed even if reading what to show next fails,
// since the code is spent.
func TestFlowCompletesEvenWhenALaterReadFails(t *testing.T) {
	fs := mfatest.NewFaultStore(memstore.New())
	clock := mfatest.NewClock(time.Date(2026, 7, 1, 12, 0, 5, 0, time.UTC))
	m, err := mfa.New(mfa.Config{Store: fs, Issuer: "Acme", Keys: mfatest.Keyring(t), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reg, err := m.AddDevice(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.AuthenticateDevice(ctx, "alice", mfa.AuthenticateRequest{Code: mfatest.Code(t, reg.Secret, clock.Now())}); err != nil {
		t.Fatal(err)
	}
	if err := m.CompleteAcknowledgement(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	codes, err := m.GetNewRecoveryCodes(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CompleteAcknowledgement(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	app := &testApp{}
	h := mfahttp.New(m, app, mfahttp.WithLogger(slogTo(io.Discard)))
	// The step's calls: the flow's LoadUser, the recovery code's LoadUser,
	// ConsumeRecoveryCode, then the device list's LoadUser, which fails.
	fs.Inject(mfatest.Fault{Method: "LoadUser", Call: 3})
	req := httptest.NewRequest("POST", "/api/flow/recovery-code", strings.NewReader(`{"code":"`+codes[0]+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Test-User", "alice")
	req.Header.Set("X-Test-Scopes", raa)
	w := httptest.NewRecorder()
	mfahttp.ServeRecorded(t, h, w, req)
	if fs.Injected() != 1 {
		t.Fatalf("the fault did not fire (%d store calls: %v)", fs.Calls(), fs.Methods())
	}
	if w.Code != 500 || app.completions() != 1 {
		t.Fatalf("status %d, CompleteMFA called %d times; want 500 and once", w.Code, app.completions())
	}
}

// TestAbandonedRequestIsNotAServerError: a request whose client went away
// is logged at Info, not as a failure.
func TestAbandonedRequestIsNotAServerError(t *testing.T) {
	m, err := mfa.New(mfa.Config{Store: memstore.New(), Issuer: "Acme", Keys: mfatest.Keyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	h := mfahttp.New(m, &testApp{}, mfahttp.WithLogger(slogTo(&logs)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("GET", "/api/devices", nil).WithContext(ctx)
	req.Header.Set("X-Test-User", "alice")
	mfahttp.ServeRecorded(t, h, httptest.NewRecorder(), req)
	if !strings.Contains(logs.String(), "level=INFO") || strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("logs %q: want the abandoned request at INFO", logs.String())
	}
}

// deviceKeys returns the JSON keys of each device that GET /api/devices
// gives a session with scopes.
func (s *server) deviceKeys(user, scopes string) []map[string]json.RawMessage {
	s.t.Helper()
	r := s.do("GET", "/mfa/api/devices", user, scopes, nil)
	expect(s.t, r, 200, "")
	var list struct {
		Devices []map[string]json.RawMessage `json:"devices"`
	}
	r.json(s.t, &list)
	return list.Devices
}

// aliasedDevice registers a device with an alias for user and verifies it,
// so that it has every field: alias, createdAt, verifiedAt, lastUsedAt.
func (s *server) aliasedDevice(user string) string {
	s.t.Helper()
	r := s.do("POST", "/mfa/api/devices/totp", user, raa, map[string]string{"alias": "Work phone"})
	expect(s.t, r, 200, "")
	var reg registered
	r.json(s.t, &reg)
	r = s.do("POST", "/mfa/api/devices/totp/authenticate", user, raa, map[string]string{"code": mfatest.Code(s.t, reg.Secret, s.clock.Now())})
	expect(s.t, r, 200, "")
	s.clock.Advance(30 * time.Second)
	return reg.ID
}

// TestListDevicesPendingSession: a session still waiting for its second
// factor learns of each device only what the code prompt needs: no alias
// and no dates.
func TestListDevicesPendingSession(t *testing.T) {
	s := newServer(t)
	id := s.aliasedDevice("alice")
	devices := s.deviceKeys("alice", raa)
	if len(devices) != 1 {
		t.Fatalf("%d devices, want 1", len(devices))
	}
	d := devices[0]
	for _, key := range []string{"alias", "createdAt", "verifiedAt", "lastUsedAt"} {
		if v, ok := d[key]; ok {
			t.Errorf("a pending session got %q: %s", key, v)
		}
	}
	want := map[string]string{"id": `"` + id + `"`, "type": `"totp"`, "verified": "true", "default": "true", "digits": "6"}
	if len(d) != len(want) {
		t.Errorf("a pending session got keys %v, want only %v", slices.Sorted(maps.Keys(d)), slices.Sorted(maps.Keys(want)))
	}
	for key, v := range want {
		if string(d[key]) != v {
			t.Errorf("%s is %s, want %s", key, d[key], v)
		}
	}
	// A user without devices gets an empty list, not null.
	if r := s.do("GET", "/mfa/api/devices", "bob", raa, nil); !bytes.Contains(r.body, []byte(`"devices":[]`)) {
		t.Errorf("no devices, pending session: %s", r.body)
	}
}

// TestListDevicesFullSession: a session that completed MFA gets the
// devices whole.
func TestListDevicesFullSession(t *testing.T) {
	s := newServer(t)
	id := s.aliasedDevice("alice")
	devices := s.deviceKeys("alice", "")
	if len(devices) != 1 {
		t.Fatalf("%d devices, want 1", len(devices))
	}
	d := devices[0]
	for _, key := range []string{"id", "type", "verified", "default", "alias", "createdAt", "verifiedAt", "lastUsedAt"} {
		if _, ok := d[key]; !ok {
			t.Errorf("a full session did not get %q: %v", key, d)
		}
	}
	if string(d["id"]) != `"`+id+`"` || string(d["alias"]) != `"Work phone"` {
		t.Errorf("device %v, want id %s and alias Work phone", d, id)
	}
	if dev := s.devices("alice")[0]; dev.CreatedAt.IsZero() || dev.VerifiedAt == nil || dev.LastUsedAt == nil {
		t.Errorf("device dates %+v", dev)
	}
}

// TestServerDecidesTokenUse: the client asks for a persistent token, and
// each action's policy on the server decides whether it is used up.
func TestServerDecidesTokenUse(t *testing.T) {
	s := newServer(t)
	secret, _ := s.enrol("alice")

	tok := s.persistentToken("alice", secret)
	expect(t, s.do("POST", "/email", "alice", "", nil, mfahttp.TokenHeader, tok), 200, "")
	expect(t, s.do("POST", "/email", "alice", "", nil, mfahttp.TokenHeader, tok), 403, "mfa_token_invalid")

	tok = s.persistentToken("alice", secret)
	for range 3 {
		expect(t, s.do("POST", "/statements", "alice", "", nil, mfahttp.TokenHeader, tok), 200, "")
	}
	// The built-in actions consume a persistent token too.
	expect(t, s.do("POST", "/mfa/api/recovery-codes", "alice", "", nil, mfahttp.TokenHeader, tok), 200, "")
	expect(t, s.do("POST", "/statements", "alice", "", nil, mfahttp.TokenHeader, tok), 403, "mfa_token_invalid")

	// An unknown action is refused, not answered "no MFA needed".
	expect(t, s.do("GET", "/mfa/api/actions/tranfser", "alice", "", nil), 400, "mfa_invalid_input")
	r := s.do("GET", "/mfa/api/actions/credential:unlink", "alice", "", nil)
	expect(t, r, 200, "")
	if !bytes.Contains(r.body, []byte(`"required":true`)) {
		t.Fatalf("credential:unlink: %s", r.body)
	}
}

// TestDeleteDeviceRevokesTokens: no token outlives the device that issued
// it.
func TestDeleteDeviceRevokesTokens(t *testing.T) {
	s := newServer(t)
	secret, _ := s.enrol("alice")
	kept := s.persistentToken("alice", secret)
	unlink := s.token("alice", secret, mfa.ScopeCredentialUnlink)
	id := s.devices("alice")[0].ID
	expect(t, s.do("DELETE", "/mfa/api/devices/"+id, "alice", "", nil, mfahttp.TokenHeader, unlink), 204, "")
	expect(t, s.do("POST", "/statements", "alice", "", nil, mfahttp.TokenHeader, kept), 403, "mfa_token_invalid")
}
