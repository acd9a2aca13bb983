package mfahttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfahttp"
	"github.com/mfakit/mfa/mfatest"
)

// The fuzz targets below send one request each, built from the fuzzer's
// input, to a Handler over memstore, and check the answer and the users'
// state against the API's promises:
//
//   - the status is one the endpoint documents, never 500, and no input
//     panics;
//   - an error is exactly {"error":{"code":...,"message":...}} with a code
//     the endpoint may give and the status that code maps to, and it
//     echoes no secret;
//   - a refused request changes no device and no recovery code, counts a
//     failure only for a well-formed wrong code, and does not complete the
//     session's MFA.
//
// The handler and its store are kept across inputs and rebuilt,
// identically, only when a request succeeded or changed more than the
// lockout, so that every input starts from the same state.
//
// The session byte of each target picks the session: its low two bits the
// user (alice, enrolled: a verified device, acknowledged recovery codes, a
// persistent MFA token; bob, without a device; carol, with a pending
// device; alice again), bit 2 adds requiresAdditionalAuth (a login waiting
// for its second factor), bit 3 locks the user out before the request.
//
// The fuzzer cannot guess a TOTP code, a recovery code or a token, so
// these placeholders in the input stand for the real ones, to reach the
// paths behind them:
//
//	{totp}      the current code of the user's device (bob: alice's)
//	{recovery}  one of alice's recovery codes
//	{token}     alice's MFA token, persistent and unscoped
//	{device}    the ID of the user's device (bob: alice's)

// fuzzUsers are the users a session byte picks; the first three are all
// the users there are.
var fuzzUsers = [4]string{"alice", "bob", "carol", "alice"}

// fuzzEndpoint is what an endpoint may answer.
type fuzzEndpoint struct {
	method, path string
	success      int      // the status of a success
	codes        []string // the error codes it may answer with
	flow         bool     // step failures come as 200 with the state's error
	authenticate bool     // a success completes a session that needs MFA
}

// Error codes of the body decoding, which every endpoint with a body may
// answer with.
var bodyErrors = []string{"bad_request", "too_large", "unsupported_media_type"}

var (
	endpointRegister = fuzzEndpoint{
		method: "POST", path: "/api/devices/totp", success: 200,
		codes: append([]string{"mfa_invalid_input", "mfa_device_limit", "mfa_token_required", "mfa_token_invalid", "mfa_token_expired"}, bodyErrors...),
	}
	endpointAuthenticate = fuzzEndpoint{
		method: "POST", path: "/api/devices/totp/authenticate", success: 200, authenticate: true,
		codes: append([]string{"mfa_invalid_input", "mfa_invalid_code", "mfa_code_reused", "mfa_rate_limited", "mfa_device_not_found", "mfa_no_device"}, bodyErrors...),
	}
	endpointRecovery = fuzzEndpoint{
		method: "POST", path: "/api/recovery-codes/authenticate", success: 200, authenticate: true,
		codes: append([]string{"mfa_invalid_input", "mfa_invalid_code", "mfa_rate_limited", "mfa_no_device"}, bodyErrors...),
	}
	// flowStepErrors are the errors a flow step reports in its state.
	flowStepErrors  = []string{"mfa_invalid_input", "mfa_invalid_code", "mfa_code_reused", "mfa_rate_limited", "mfa_invalid_step", "mfa_no_device"}
	endpointFlowOTP = fuzzEndpoint{
		method: "POST", path: "/api/flow/otp", success: 200, flow: true, authenticate: true,
		codes: append(slices.Clone(flowStepErrors), bodyErrors...),
	}
	endpointFlowRecovery = fuzzEndpoint{
		method: "POST", path: "/api/flow/recovery-code", success: 200, flow: true, authenticate: true,
		codes: append(slices.Clone(flowStepErrors), bodyErrors...),
	}
	endpointDelete = fuzzEndpoint{
		method: "DELETE", success: 204, // path: /api/devices/{id}
		codes: []string{"mfa_required", "mfa_token_required", "mfa_token_invalid", "mfa_token_expired", "mfa_device_not_found", "mfa_invalid_input", "not_found", "method_not_allowed"},
	}
	endpointNewCodes = fuzzEndpoint{
		method: "POST", path: "/api/recovery-codes", success: 200,
		codes: []string{"mfa_required", "mfa_token_required", "mfa_token_invalid", "mfa_token_expired", "mfa_no_device"},
	}
)

// errorStatus is the status each error code comes with.
var errorStatus = map[string]int{
	"unauthenticated": 401, "mfa_required": 401, "cross_origin": 403, "bad_request": 400,
	"too_large": 413, "unsupported_media_type": 415, "not_found": 404, "method_not_allowed": 405,
	"mfa_invalid_input": 400, "mfa_invalid_code": 401, "mfa_code_reused": 401, "mfa_device_limit": 401,
	"mfa_token_required": 403, "mfa_token_invalid": 403, "mfa_token_expired": 403, "mfa_rate_limited": 429,
	"mfa_device_not_found": 404, "mfa_no_device": 404, "mfa_recovery_codes_acknowledged": 409, "mfa_invalid_step": 409,
	"mfa_passkey_refused": 401, "mfa_challenge_invalid": 409, "mfa_passkey_registered": 409,
}

// FuzzRegisterDeviceBody fuzzes the body of POST /api/devices/totp.
func FuzzRegisterDeviceBody(f *testing.F) {
	for _, body := range []string{``, `{}`, `{"alias":"Phone"}`, `{"alias":""}`, `{"alias":"a:b"}`, `{"alias":"\u0000"}`, `null`, `{"alias":1}`, `{"alias":"x","alias":"y"}`, `{"mfaToken":"mfat_x"}`, `{"alias":"Phone","mfaToken":"{token}"}`} {
		f.Add(uint8(1), []byte(body))
		f.Add(uint8(0), []byte(body))
	}
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, session uint8, body []byte) {
		fx.run(t, endpointRegister, session, endpointRegister.path, body, "", false)
	})
}

// FuzzAuthenticateDeviceBody fuzzes the body of POST
// /api/devices/totp/authenticate.
func FuzzAuthenticateDeviceBody(f *testing.F) {
	for _, s := range []struct {
		session uint8
		body    string
	}{
		{0, `{"code":"{totp}"}`},
		{4, `{"code":"{totp}","createMfaToken":{"singleUse":true,"scopes":["credential:unlink"],"ttl":60}}`},
		{2, `{"code":"{totp}","deviceId":"{device}"}`},
		{0, `{"code":"123456"}`},
		{8, `{"code":"{totp}"}`},
		{1, `{"code":"123456"}`},
		{0, `{"code":"12 34 56","deviceId":"nope"}`},
		{0, `{"code":"{totp}","createMfaToken":{"ttl":-1}}`},
		{0, `{"code":"{totp}","createMfaToken":{"scopes":["a b"]}}`},
		{0, `{"code":"１２３４５６"}`},
		{0, `{"code":null}`},
		{0, `{"code":"123456","extra":true}`},
		{0, `[]`},
	} {
		f.Add(s.session, []byte(s.body))
	}
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, session uint8, body []byte) {
		fx.run(t, endpointAuthenticate, session, endpointAuthenticate.path, body, "", false)
	})
}

// FuzzAuthenticateRecoveryCodeBody fuzzes the body of POST
// /api/recovery-codes/authenticate.
func FuzzAuthenticateRecoveryCodeBody(f *testing.F) {
	for _, s := range []struct {
		session uint8
		body    string
	}{
		{4, `{"code":"{recovery}"}`},
		{0, `{"code":"{recovery}","createMfaToken":{"singleUse":true,"scopes":["recovery_codes:regenerate"]}}`},
		{8, `{"code":"{recovery}"}`},
		{1, `{"code":"{recovery}"}`},
		{2, `{"code":"{recovery}"}`},
		{0, `{"code":"aaaa-aaaa-aaaa-aaaa"}`},
		{0, `{"code":"0O1I-lLuU-aaaa-aaaa"}`},
		{0, `{"code":"{recovery}","createMfaToken":{"ttl":9223372036854775807}}`},
		{0, `{"code":""}`},
		{0, `{"code":"{recovery}"} {}`},
	} {
		f.Add(s.session, []byte(s.body))
	}
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, session uint8, body []byte) {
		fx.run(t, endpointRecovery, session, endpointRecovery.path, body, "", false)
	})
}

// FuzzFlowOTPBody fuzzes the body of POST /api/flow/otp.
func FuzzFlowOTPBody(f *testing.F) {
	for _, s := range []struct {
		session uint8
		body    string
	}{
		{4, `{"code":"{totp}"}`},
		{6, `{"code":"{totp}"}`},
		{0, `{"code":"{totp}"}`},
		{5, `{"code":"{totp}"}`},
		{12, `{"code":"{totp}"}`},
		{4, `{"code":"000000"}`},
		{4, `{"code":"00000"}`},
		{4, `{}`},
		{4, ``},
	} {
		f.Add(s.session, []byte(s.body))
	}
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, session uint8, body []byte) {
		fx.run(t, endpointFlowOTP, session, endpointFlowOTP.path, body, "", false)
	})
}

// FuzzFlowRecoveryCodeBody fuzzes the body of POST /api/flow/recovery-code.
func FuzzFlowRecoveryCodeBody(f *testing.F) {
	for _, s := range []struct {
		session uint8
		body    string
	}{
		{4, `{"code":"{recovery}"}`},
		{0, `{"code":"{recovery}"}`},
		{12, `{"code":"{recovery}"}`},
		{6, `{"code":"{recovery}"}`},
		{4, `{"code":"AAAA AAAA AAAA AAAA"}`},
		{4, `{"code":"{totp}"}`},
		{4, `{"code":1}`},
	} {
		f.Add(s.session, []byte(s.body))
	}
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, session uint8, body []byte) {
		fx.run(t, endpointFlowRecovery, session, endpointFlowRecovery.path, body, "", false)
	})
}

// FuzzDeleteDeviceToken fuzzes the device ID in the path and the token
// header of DELETE /api/devices/{id}.
func FuzzDeleteDeviceToken(f *testing.F) {
	for _, s := range []struct {
		session   uint8
		id, token string
	}{
		{0, "{device}", "{token}"},
		{4, "{device}", "{token}"},
		{2, "{device}", "{token}"},
		{1, "{device}", "{token}"},
		{0, "{device}", ""},
		{0, "{device}", "mfat_bogus"},
		{0, "{device}", "{token}x"},
		{0, "{device}", "mfat_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{0, "nope", "{token}"},
		{0, "", "{token}"},
		{0, "a/b", "{token}"},
		{0, strings.Repeat("d", 65), "{token}"},
	} {
		f.Add(s.session, s.id, s.token)
	}
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, session uint8, id, token string) {
		if id == "." || id == ".." {
			t.Skip("the mux redirects a path with a dot segment to its clean form")
		}
		id = fx.expand(t, session, id)
		fx.run(t, endpointDelete, session, "/api/devices/"+url.PathEscape(id), nil, token, true)
	})
}

// FuzzNewRecoveryCodesToken fuzzes the token header of POST
// /api/recovery-codes.
func FuzzNewRecoveryCodesToken(f *testing.F) {
	for _, s := range []struct {
		session uint8
		token   string
	}{
		{0, "{token}"},
		{4, "{token}"},
		{1, "{token}"},
		{2, "{token}"},
		{0, ""},
		{0, "mfat_"},
		{0, "{token}{token}"},
		{0, "MFAT_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
	} {
		f.Add(s.session, s.token)
	}
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, session uint8, token string) {
		fx.run(t, endpointNewCodes, session, endpointNewCodes.path, nil, token, true)
	})
}

// fuzzFixture is the handler and the users the targets send requests to.
type fuzzFixture struct {
	mu  sync.Mutex // one request at a time: the state checks need it
	now time.Time

	store    *memstore.Store
	h        *mfahttp.Handler
	app      *testApp
	secrets  map[string]string // the TOTP secret of each user's device
	devices  map[string]string // the device ID of each user
	recovery string            // one of alice's recovery codes
	token    string            // alice's persistent unscoped MFA token
	baseline map[string]mfa.UserState
}

func newFuzzFixture(tb testing.TB) *fuzzFixture {
	fx := &fuzzFixture{}
	fx.build(tb)
	return fx
}

// lockedReader makes a deterministic source safe for concurrent use, as
// Config.Rand must be.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// build makes the handler and its users afresh. Its randomness is seeded,
// so every build makes the same secrets, IDs, codes and token.
func (fx *fuzzFixture) build(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	start := time.Date(2026, 7, 1, 12, 0, 5, 0, time.UTC)
	clock := mfatest.NewClock(start)
	keys, err := mfa.NewKeyring(mfa.Key{ID: "fuzz", Secret: bytes.Repeat([]byte{7}, mfa.KeySize)})
	if err != nil {
		tb.Fatal(err)
	}
	store := memstore.New()
	m, err := mfa.New(mfa.Config{
		Store: store, Issuer: "Acme", Keys: keys, Now: clock.Now,
		Rand: &lockedReader{r: rand.NewChaCha8([32]byte{'f', 'u', 'z', 'z'})},
	})
	if err != nil {
		tb.Fatal(err)
	}
	fx.store, fx.app = store, &testApp{}
	fx.h = mfahttp.New(m, fx.app)
	fx.secrets, fx.devices = map[string]string{}, map[string]string{}

	reg, err := m.AddDevice(ctx, "alice")
	if err != nil {
		tb.Fatal(err)
	}
	fx.secrets["alice"], fx.devices["alice"] = reg.Secret, reg.DeviceID
	res, err := m.AuthenticateDevice(ctx, "alice", mfa.AuthenticateRequest{Code: mfatest.Code(tb, reg.Secret, start), CreateMFAToken: &mfa.TokenRequest{}})
	if err != nil {
		tb.Fatal(err)
	}
	fx.token = res.MFAToken.Value
	codes, err := m.GetRecoveryCodes(ctx, "alice", false)
	if err != nil {
		tb.Fatal(err)
	}
	fx.recovery = codes[3]
	if err := m.CompleteAcknowledgement(ctx, "alice"); err != nil {
		tb.Fatal(err)
	}
	if reg, err = m.AddDevice(ctx, "carol"); err != nil {
		tb.Fatal(err)
	}
	fx.secrets["carol"], fx.devices["carol"] = reg.Secret, reg.DeviceID

	// Requests come one step later, where alice's next code is fresh.
	clock.Advance(30 * time.Second)
	fx.now = clock.Now()
	fx.baseline = map[string]mfa.UserState{}
	for _, u := range fuzzUsers[:3] {
		fx.baseline[u] = fx.load(tb, u)
	}
}

func (fx *fuzzFixture) load(tb testing.TB, user string) mfa.UserState {
	tb.Helper()
	st, err := fx.store.LoadUser(context.Background(), user, fx.now)
	if err != nil {
		tb.Fatalf("load %s: %v", user, err)
	}
	return st
}

// userOf returns the user the session byte picks, and the user whose
// device stands for it in placeholders.
func userOf(session uint8) (user, deviceUser string) {
	user = fuzzUsers[session&3]
	if user == "bob" {
		return user, "alice"
	}
	return user, user
}

// expand replaces the placeholders in s.
func (fx *fuzzFixture) expand(tb testing.TB, session uint8, s string) string {
	if !strings.Contains(s, "{") {
		return s
	}
	_, du := userOf(session)
	return strings.NewReplacer(
		"{totp}", mfatest.Code(tb, fx.secrets[du], fx.now),
		"{recovery}", fx.recovery,
		"{token}", fx.token,
		"{device}", fx.devices[du],
	).Replace(s)
}

// validHeaderValue reports whether s can arrive as a header value: no
// control characters but tab, and no white space around it, which the
// server would trim.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return strings.Trim(s, " \t") == s
}

// run sends one request to ep and checks the answer and the state. body
// nil sends none; withToken sends token in the token header.
func (fx *fuzzFixture) run(t *testing.T, ep fuzzEndpoint, session uint8, path string, body []byte, token string, withToken bool) {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	ctx := context.Background()
	user, _ := userOf(session)
	needsMFA := session&4 != 0

	var req *http.Request
	if body != nil {
		body = []byte(fx.expand(t, session, string(body)))
		req = httptest.NewRequest(ep.method, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req = httptest.NewRequest(ep.method, path, nil)
	}
	if withToken {
		token = fx.expand(t, session, token)
		if !validHeaderValue(token) {
			t.Skip("not a header value that can arrive over HTTP")
		}
		if token != "" {
			req.Header.Set(mfahttp.TokenHeader, token)
		}
	}
	req.Header.Set("X-Test-User", user)
	if needsMFA {
		req.Header.Set("X-Test-Scopes", raa)
	}

	// A locked user has just failed Threshold times in a row.
	before := fx.baseline[user].Lockout
	if session&8 != 0 {
		locked := mfa.Lockout{Failures: 5, LastFailure: fx.now}
		if ok, err := fx.store.SwapLockout(ctx, user, before, locked); err != nil || !ok {
			t.Fatalf("lock %s: %t, %v", user, ok, err)
		}
		before = locked
	}
	completions := fx.app.completions()

	succeeded := true // until the answer says otherwise: rebuild on a failed check
	defer func() { fx.restore(t, succeeded) }()

	w := httptest.NewRecorder()
	mfahttp.ServeRecorded(t, fx.h, w, req)
	res := w.Result()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	answer := func() string { return strconv.Itoa(res.StatusCode) + " " + string(got) }

	var code string // the error code, of the answer or of the flow state
	switch {
	case res.StatusCode == ep.success && ep.flow:
		code = checkFlowState(t, res, got)
	case res.StatusCode == ep.success:
		checkSuccess(t, res, got)
	default:
		code = checkError(t, res, got)
	}
	succeeded = code == ""
	if code != "" && !slices.Contains(ep.codes, code) {
		t.Fatalf("%s %s as %s (session %#x): error %q is not one this endpoint gives: %s", ep.method, path, user, session, code, answer())
	}

	if succeeded {
		want := completions
		if ep.authenticate && needsMFA {
			want++
		}
		if n := fx.app.completions(); n != want {
			t.Fatalf("a success completed MFA %d times, want %d: %s", n-completions, want-completions, answer())
		}
		return
	}
	if fx.app.completions() != completions {
		t.Fatalf("a refused request completed the session's MFA: %s", answer())
	}
	for _, secret := range []string{fx.secrets["alice"], fx.secrets["carol"], fx.recovery, fx.token} {
		if bytes.Contains(got, []byte(secret)) {
			t.Fatalf("a refused request's answer holds a secret: %s", answer())
		}
	}
	for _, u := range fuzzUsers[:3] {
		st := fx.load(t, u)
		if err := sameState(st, fx.baseline[u]); err != nil {
			t.Fatalf("a refused request (%s) changed %s's %v", answer(), u, err)
		}
		want := fx.baseline[u].Lockout
		if u == user {
			want = before
			if code == "mfa_invalid_code" || code == "mfa_code_reused" {
				want = mfa.Lockout{Failures: before.Failures + 1, LastFailure: fx.now}
			}
		}
		if !st.Lockout.Equal(want) {
			t.Fatalf("a refused request (%s) left %s's lockout at %+v, want %+v", answer(), u, st.Lockout, want)
		}
	}
}

// restore brings the state back to the baseline: by building everything
// again after a success, else by resetting the lockouts if only they
// changed.
func (fx *fuzzFixture) restore(tb testing.TB, rebuild bool) {
	if rebuild || !fx.resetLockouts(tb) {
		fx.build(tb)
	}
}

// resetLockouts sets the users' lockouts back to the baseline. It reports
// false when anything else changed.
func (fx *fuzzFixture) resetLockouts(tb testing.TB) bool {
	for _, u := range fuzzUsers[:3] {
		st := fx.load(tb, u)
		if sameState(st, fx.baseline[u]) != nil {
			return false
		}
		if st.Lockout.Equal(fx.baseline[u].Lockout) {
			continue
		}
		if ok, err := fx.store.SwapLockout(context.Background(), u, st.Lockout, fx.baseline[u].Lockout); err != nil || !ok {
			return false
		}
	}
	return true
}

// sameState reports how a's devices and recovery codes differ from b's.
func sameState(a, b mfa.UserState) error {
	if !slices.EqualFunc(a.Devices, b.Devices, func(x, y mfa.DeviceRecord) bool {
		return x.ID == y.ID && x.UserID == y.UserID && x.Type == y.Type && x.Alias == y.Alias &&
			x.AccountName == y.AccountName && bytes.Equal(x.Secret, y.Secret) && x.Verified == y.Verified &&
			x.CreatedAt.Equal(y.CreatedAt) && x.ExpiresAt.Equal(y.ExpiresAt) && x.VerifiedAt.Equal(y.VerifiedAt) &&
			x.LastUsedAt.Equal(y.LastUsedAt) && x.LastStep == y.LastStep
	}) {
		return errors.New("devices")
	}
	x, y := a.RecoveryCodes, b.RecoveryCodes
	if x.KeyID != y.KeyID || !slices.Equal(x.Hashes, y.Hashes) || !bytes.Equal(x.Sealed, y.Sealed) || x.Pending() != y.Pending() || !x.CreatedAt.Equal(y.CreatedAt) {
		return errors.New("recovery codes")
	}
	return nil
}

// strictDecode decodes exactly one JSON value with known fields into v.
func strictDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("more than one JSON value")
	}
	return nil
}

func checkJSON(t *testing.T, res *http.Response, body []byte) {
	t.Helper()
	if ct := res.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("%d answer with Content-Type %q: %s", res.StatusCode, ct, body)
	}
	if !json.Valid(body) {
		t.Fatalf("%d answer is not JSON: %q", res.StatusCode, body)
	}
}

// checkSuccess checks a success: no body for 204, else JSON that no cache
// may keep, since every success here carries a secret, codes or a token.
func checkSuccess(t *testing.T, res *http.Response, body []byte) {
	t.Helper()
	if res.StatusCode == http.StatusNoContent {
		if len(body) != 0 {
			t.Fatalf("204 with a body: %q", body)
		}
		return
	}
	checkJSON(t, res, body)
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%d answer without Cache-Control: no-store: %s", res.StatusCode, body)
	}
}

type fuzzErrorJSON struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	Field      string `json:"field"`
	RetryAfter int    `json:"retryAfter"`
}

// checkErrorJSON checks an error object against the status it comes with
// (0: a flow state's error, whose status is 200) and returns its code.
func checkErrorJSON(t *testing.T, e fuzzErrorJSON, status int, retryAfter string, answer []byte) string {
	t.Helper()
	want, known := errorStatus[e.Code]
	switch {
	case !known:
		t.Fatalf("unknown error code %q: %d %s", e.Code, status, answer)
	case status != 0 && want != status:
		t.Fatalf("error %q with status %d, want %d: %s", e.Code, status, want, answer)
	case e.Message == "":
		t.Fatalf("error %q without a message: %s", e.Code, answer)
	case e.RetryAfter < 0 || (e.RetryAfter > 0 && e.Code != "mfa_rate_limited"):
		t.Fatalf("error %q with retryAfter %d: %s", e.Code, e.RetryAfter, answer)
	case e.RetryAfter > 0 && retryAfter != strconv.Itoa(e.RetryAfter):
		t.Fatalf("retryAfter %d but Retry-After %q: %s", e.RetryAfter, retryAfter, answer)
	}
	return e.Code
}

// checkError checks an error answer and returns its code.
func checkError(t *testing.T, res *http.Response, body []byte) string {
	t.Helper()
	if res.StatusCode < 400 || res.StatusCode == http.StatusInternalServerError {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	checkJSON(t, res, body)
	var e struct {
		Error *fuzzErrorJSON `json:"error"`
	}
	if err := strictDecode(body, &e); err != nil || e.Error == nil {
		t.Fatalf("%d answer is not {\"error\":{...}} (%v): %s", res.StatusCode, err, body)
	}
	return checkErrorJSON(t, *e.Error, res.StatusCode, res.Header.Get("Retry-After"), body)
}

// checkFlowState checks a flow step's 200 answer and returns the code of
// its error, "" for none.
func checkFlowState(t *testing.T, res *http.Response, body []byte) string {
	t.Helper()
	checkSuccess(t, res, body)
	var st struct {
		View         mfa.View `json:"view"`
		Registration *struct {
			ID, Secret, URI, QRCode string
		} `json:"registration"`
		RecoveryCodes []string       `json:"recoveryCodes"`
		Devices       []mfa.Device   `json:"devices"`
		Methods       []mfa.Method   `json:"methods"`
		Error         *fuzzErrorJSON `json:"error"`
		Complete      bool           `json:"complete"`
	}
	if err := strictDecode(body, &st); err != nil {
		t.Fatalf("flow state %s: %v", body, err)
	}
	if !slices.Contains([]mfa.View{mfa.ViewDevices, mfa.ViewQRCode, mfa.ViewOTP, mfa.ViewBackupCodes}, st.View) {
		t.Fatalf("flow state with view %q: %s", st.View, body)
	}
	if len(st.Methods) > 0 && st.View != mfa.ViewOTP {
		t.Fatalf("flow state with methods outside the code input: %s", body)
	}
	if st.Error == nil {
		return ""
	}
	return checkErrorJSON(t, *st.Error, 0, res.Header.Get("Retry-After"), body)
}
