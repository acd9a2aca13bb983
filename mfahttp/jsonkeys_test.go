package mfahttp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
)

// Types that exercise the key check beyond the request types: arrays of
// objects, pointers, maps, an embedded struct, untagged and skipped fields,
// a value that decodes itself, and nesting four objects deep.
type (
	keysLeaf struct {
		Name string   `json:"name"`
		Tags []string `json:"tags,omitempty"`
	}
	keysEmbedded struct {
		Extra int `json:"extra,omitempty"`
	}
	keysDeep struct {
		Level1 *struct {
			Level2 []struct {
				Level3 map[string]*keysLeaf `json:"level3"`
			} `json:"level2"`
		} `json:"level1"`
	}
	keysBody struct {
		keysEmbedded
		ID       string              `json:"id"`
		Items    []keysLeaf          `json:"items,omitempty"`
		Ptrs     []*keysLeaf         `json:"ptrs,omitempty"`
		ByName   map[string]keysLeaf `json:"byName,omitempty"`
		Deep     keysDeep            `json:"deep"`
		Raw      json.RawMessage     `json:"raw,omitempty"`
		Untagged string
		Skipped  string `json:"-"`
	}
)

// decodeBody runs decodeJSON, as a handler does, on body into v.
func decodeBody(body string, v any) error {
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return decodeJSON(httptest.NewRecorder(), r, v, false)
}

// checkRefusal checks that err is a 400 bad_request whose message holds
// msg and whose field is field.
func checkRefusal(t *testing.T, err error, msg, field string) {
	t.Helper()
	var he *httpError
	if !errors.As(err, &he) {
		t.Fatalf("error %v, want a refusal", err)
	}
	if he.status != http.StatusBadRequest || he.code != errBadJSON.code {
		t.Fatalf("refusal %d %s, want %d %s", he.status, he.code, http.StatusBadRequest, errBadJSON.code)
	}
	if !strings.Contains(he.message, msg) || he.field != field {
		t.Fatalf("refusal %q (field %q), want it to hold %q (field %q)", he.message, he.field, msg, field)
	}
}

// TestDecodeJSONKeys: duplicate keys and case variants of documented keys
// are refused at every level, for the request types and for nested ones;
// bodies with exactly the documented keys pass.
func TestDecodeJSONKeys(t *testing.T) {
	auth := func() any { return new(authenticateRequest) }
	recovery := func() any { return new(recoveryRequest) }
	register := func() any { return new(registerRequest) }
	code := func() any { return new(codeRequest) }
	body := func() any { return new(keysBody) }
	finish := func() any { return new(passkeyFinishRequest) }
	passkey := func() any { return new(passkeyAuthRequest) }
	for _, tc := range []struct {
		name   string
		target func() any
		body   string
		msg    string // "" for accepted; else in the refusal's message
		field  string
	}{
		// Valid bodies, every field set.
		{"authenticate, all fields", auth, `{"code":"123456","deviceId":"d1","createMfaToken":{"singleUse":true,"scopes":["a","b"],"ttl":60}}`, "", ""},
		{"recovery, all fields", recovery, `{"code":"aaaa-bbbb","createMfaToken":{"singleUse":false,"scopes":[],"ttl":0}}`, "", ""},
		{"register, all fields", register, `{"alias":"Phone","mfaToken":"mfat_x"}`, "", ""},
		{"passkey finish, all fields", finish, `{"response":{"id":"x","type":"public-key","response":{"clientDataJSON":"e30"}}}`, "", ""},
		{"passkey authenticate, all fields", passkey, `{"response":{"id":"x"},"createMfaToken":{"singleUse":true,"scopes":["a"],"ttl":60}}`, "", ""},
		// The browser's answer is the browser's: any keys, in any case.
		{"passkey answer, unknown keys", passkey, `{"response":{"id":"x","Code":"1","createMfaToken":{},"clientExtensionResults":{"credProps":{"rk":true}}}}`, "", ""},
		{"flow code", code, `{"code":"123456"}`, "", ""},
		{"null token request", auth, `{"code":"1","createMfaToken":null}`, "", ""},
		{"escaped key", code, `{"\u0063ode":"123456"}`, "", ""},
		{"nested types, all fields", body, `{"id":"x","extra":1,"Untagged":"u",` +
			`"items":[{"name":"a","tags":["t"]},{"name":"b"}],"ptrs":[{"name":"c"},null],` +
			`"byName":{"k":{"name":"d"},"j":{"name":"e"}},` +
			`"deep":{"level1":{"level2":[{"level3":{"x":{"name":"f","tags":[]}}}]}},` +
			`"raw":{"any":1,"other":{"any":2}}}`, "", ""},

		// Duplicates, at the top level and nested.
		{"duplicate", auth, `{"code":"123456","code":"654321"}`, `duplicate key "code"`, "code"},
		{"duplicate, other case", auth, `{"code":"123456","CODE":"654321"}`, `duplicate key "CODE": the same as "code" but for case`, "code"},
		{"duplicate, escaped", code, `{"code":"1","\u0063ode":"2"}`, `duplicate key "code"`, "code"},
		{"duplicate optional", register, `{"alias":"x","alias":"y"}`, `duplicate key "alias"`, "alias"},
		{"duplicate in token request", auth, `{"code":"1","createMfaToken":{"singleUse":true,"singleUse":false}}`, `duplicate key "singleUse"`, "createMfaToken.singleUse"},
		{"duplicate ttl in recovery", recovery, `{"code":"1","createMfaToken":{"ttl":60,"ttl":7200}}`, `duplicate key "ttl"`, "createMfaToken.ttl"},
		{"duplicate token request", auth, `{"code":"1","createMfaToken":{},"createMfaToken":{}}`, `duplicate key "createMfaToken"`, "createMfaToken"},
		{"duplicate unknown key", code, `{"code":"1","x":1,"x":2}`, "duplicate key in a JSON object", ""},
		{"duplicate in array of objects", body, `{"items":[{"name":"a"},{"name":"b","name":"c"}]}`, `duplicate key "name"`, "items[1].name"},
		{"duplicate behind pointers", body, `{"ptrs":[{"tags":[],"TAGS":[]}]}`, `duplicate key "TAGS"`, "ptrs[0].tags"},
		{"duplicate map key", body, `{"byName":{"k":{},"k":{}}}`, "duplicate key in a JSON object", ""},
		{"duplicate map key, other case", body, `{"byName":{"k":{},"K":{}}}`, "duplicate key in a JSON object", ""},
		{"duplicate in map value", body, `{"byName":{"k":{"name":"a","name":"b"}}}`, `duplicate key "name"`, "byName.name"},
		{"duplicate deep", body, `{"deep":{"level1":{"level2":[{},{"level3":{"x":{"tags":[],"tags":[]}}}]}}}`, `duplicate key "tags"`, "deep.level1.level2[1].level3.tags"},
		{"duplicate embedded", body, `{"extra":1,"extra":2}`, `duplicate key "extra"`, "extra"},
		{"duplicate in raw value", body, `{"raw":{"a":1,"a":2}}`, "duplicate key in a JSON object", ""},
		{"duplicate in raw value, other case", body, `{"raw":[{"a":1,"A":2}]}`, "duplicate key in a JSON object", ""},
		{"duplicate in a passkey answer", finish, `{"response":{"id":"x","response":{"a":1,"a":2}}}`, "duplicate key in a JSON object", ""},
		{"duplicate in a passkey answer, other case", passkey, `{"response":{"type":"public-key","Type":"x"}}`, "duplicate key in a JSON object", ""},
		{"duplicate passkey answer", finish, `{"response":{},"response":{}}`, `duplicate key "response"`, "response"},
		{"duplicate in unknown value", body, `{"other":{"a":{"b":1,"B":2}}}`, "duplicate key in a JSON object", ""},

		// Case variants of documented keys, at the top level and nested.
		{"upper case", auth, `{"CODE":"123456"}`, `unknown key "CODE"; keys are case-sensitive (use "code")`, "code"},
		{"title case", code, `{"Code":"123456"}`, `unknown key "Code"`, "code"},
		{"camel case", auth, `{"code":"1","deviceID":"d1"}`, `unknown key "deviceID"`, "deviceId"},
		{"nested token request", auth, `{"code":"1","CreateMfaToken":{}}`, `unknown key "CreateMfaToken"`, "createMfaToken"},
		{"nested singleUse", auth, `{"code":"1","createMfaToken":{"SingleUse":true}}`, `unknown key "SingleUse"`, "createMfaToken.singleUse"},
		{"nested scopes", recovery, `{"code":"1","createMfaToken":{"Scopes":["x"]}}`, `unknown key "Scopes"`, "createMfaToken.scopes"},
		{"nested ttl", auth, `{"code":"1","createMfaToken":{"TTL":60}}`, `unknown key "TTL"`, "createMfaToken.ttl"},
		{"unicode fold", recovery, `{"code":"1","createMfaToken":{"ſcopes":["x"]}}`, `unknown key "ſcopes"`, "createMfaToken.scopes"},
		{"alias", register, `{"Alias":"Phone"}`, `unknown key "Alias"`, "alias"},
		{"mfa token", register, `{"mfatoken":"mfat_x"}`, `unknown key "mfatoken"`, "mfaToken"},
		{"passkey answer", finish, `{"Response":{}}`, `unknown key "Response"`, "response"},
		{"passkey token request", passkey, `{"response":{},"createMFAToken":{}}`, `unknown key "createMFAToken"`, "createMfaToken"},
		{"in array of objects", body, `{"items":[{"name":"a"},{"Name":"b"}]}`, `unknown key "Name"`, "items[1].name"},
		{"deep", body, `{"deep":{"level1":{"level2":[{"level3":{"x":{"NAME":"f"}}}]}}}`, `unknown key "NAME"`, "deep.level1.level2[0].level3.name"},
		{"deep, middle level", body, `{"deep":{"level1":{"Level2":[]}}}`, `unknown key "Level2"`, "deep.level1.level2"},
		{"untagged field", body, `{"untagged":"u"}`, `unknown key "untagged"`, "Untagged"},
		{"embedded", body, `{"EXTRA":1}`, `unknown key "EXTRA"`, "extra"},

		// Left to the decoder: unknown and skipped keys, malformed JSON.
		{"unknown key", auth, `{"code":"1","extra":true}`, "request body must be", ""},
		{"skipped field", body, `{"Skipped":"s"}`, "request body must be", ""},
		{"malformed", auth, `{"code":"1",}`, "request body must be", ""},
		{"truncated", auth, `{"code":"1","createMfaToken":{`, "request body must be", ""},
		{"unknown key beside a passkey answer", finish, `{"response":{},"extra":1}`, "request body must be", ""},
		{"second value", auth, `{"code":"1"} {"code":"1","code":"2"}`, "request body must be", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := decodeBody(tc.body, tc.target())
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("%s refused: %v", tc.body, err)
				}
				return
			}
			checkRefusal(t, err, tc.msg, tc.field)
		})
	}
}

// TestDecodeJSONKeysAllFields: a body with every documented key decodes
// to every field, so the check takes nothing away.
func TestDecodeJSONKeysAllFields(t *testing.T) {
	var req authenticateRequest
	if err := decodeBody(`{"code":"123456","deviceId":"d1","createMfaToken":{"singleUse":true,"scopes":["a"],"ttl":60}}`, &req); err != nil {
		t.Fatal(err)
	}
	want := authenticateRequest{Code: "123456", DeviceID: "d1", withToken: withToken{CreateMFAToken: &tokenRequest{SingleUse: true, Scopes: []string{"a"}, TTL: 60}}}
	if !reflect.DeepEqual(req, want) {
		t.Fatalf("decoded %+v, want %+v", req, want)
	}
}

// TestCheckKeysDepth: nesting is followed up to maxDepth levels.
func TestCheckKeysDepth(t *testing.T) {
	for _, tc := range []struct {
		open, close string
	}{{"[", "]"}, {`{"a":`, "}"}} {
		nest := func(n int) []byte {
			return []byte(strings.Repeat(tc.open, n) + "1" + strings.Repeat(tc.close, n))
		}
		if err := checkKeys(nest(maxDepth), nil); err != nil {
			t.Errorf("%d levels of %s: %v", maxDepth, tc.open, err)
		}
		if err := checkKeys(nest(maxDepth+1), nil); err == nil {
			t.Errorf("%d levels of %s accepted", maxDepth+1, tc.open)
		}
	}
}

// TestFoldKey: foldKey makes two keys the same exactly when
// strings.EqualFold holds for them, beyond ASCII too.
func TestFoldKey(t *testing.T) {
	keys := []string{"", "a", "A", "b", "k", "K", "\u212a", "s", "S", "\u017f", "ß", "ẞ", "ss", "σ", "ς", "Σ", "µ", "μ", "Μ", "ǅ", "ǆ", "Ǆ", "code", "CODE", "cOdE", "codes", "ſcopes", "Scopes", "scopes", "\ufffd"}
	for _, a := range keys {
		for _, b := range keys {
			if got, want := foldKey(a) == foldKey(b), strings.EqualFold(a, b); got != want {
				t.Errorf("foldKey(%q) == foldKey(%q) is %t, EqualFold %t", a, b, got, want)
			}
		}
	}
}

// TestJSONFields: the documented keys follow encoding/json's naming.
func TestJSONFields(t *testing.T) {
	type self struct {
		*self
		A int `json:"a"`
	}
	for _, tc := range []struct {
		t    reflect.Type
		want []string
	}{
		{reflect.TypeFor[authenticateRequest](), []string{"code", "deviceId", "createMfaToken"}},
		{reflect.TypeFor[tokenRequest](), []string{"singleUse", "scopes", "ttl"}},
		{reflect.TypeFor[registerRequest](), []string{"alias", "mfaToken"}},
		{reflect.TypeFor[passkeyAuthRequest](), []string{"response", "createMfaToken"}},
		{reflect.TypeFor[keysBody](), []string{"extra", "id", "items", "ptrs", "byName", "deep", "raw", "Untagged"}},
		{reflect.TypeOf(self{self: &self{}}), []string{"a"}},
	} {
		var got []string
		for _, f := range jsonFields(tc.t, nil) {
			got = append(got, f.name)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: keys %q, want %q", tc.t, got, tc.want)
		}
	}
}

// pendingApp is one session of alice, waiting for her second factor.
type pendingApp struct{ completed int }

func (*pendingApp) Session(*http.Request) (Session, error) {
	return Session{UserID: "alice", Scopes: []string{mfa.ScopeRequiresAdditionalAuth}}, nil
}

func (a *pendingApp) CompleteMFA(http.ResponseWriter, *http.Request, string) error {
	a.completed++
	return nil
}

// TestStrictKeysAuthenticate: through the handler, a body with a repeated
// code or a code under another case is 400 and changes nothing: no
// failure is counted, the code is not spent, the session stays pending.
// encoding/json alone would have taken the last code, or the "Code" for
// "code", and tried it.
func TestStrictKeysAuthenticate(t *testing.T) {
	ctx := context.Background()
	clock := mfatest.NewClock(time.Date(2026, 7, 1, 12, 0, 5, 0, time.UTC))
	store := memstore.New()
	m, err := mfa.New(mfa.Config{Store: store, Issuer: "Acme", Keys: mfatest.Keyring(t), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := m.AddDevice(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.AuthenticateDevice(ctx, "alice", mfa.AuthenticateRequest{Code: mfatest.Code(t, reg.Secret, clock.Now())}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Second)
	app := &pendingApp{}
	h := New(m, app, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	post := func(body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/api/devices/totp/authenticate", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		ServeRecorded(t, h, w, req)
		return w
	}
	devices := func() []mfa.Device {
		d, err := m.GetUserDevices(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	lockout := func() mfa.Lockout {
		lk, err := store.Lockout(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		return lk
	}
	before := devices()
	right := mfatest.Code(t, reg.Secret, clock.Now())
	wrong := []byte(right)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10

	for _, body := range []string{
		`{"code":"123456","code":"654321"}`,
		`{"Code":"123456"}`,
		`{"code":"` + string(wrong) + `","code":"` + right + `"}`,
		`{"code":"` + right + `","CODE":"` + right + `"}`,
		`{"CODE":"` + right + `"}`,
		`{"code":"` + right + `","createMfaToken":{"ttl":60,"TTL":60}}`,
		`{"code":"` + right + `","createMfaToken":{"singleUse":true,"singleUse":false}}`,
		`{"code":"` + right + `","createMfaToken":{"Scopes":["x"]}}`,
	} {
		w := post(body)
		var e struct{ Error errorJSON }
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != http.StatusBadRequest || e.Error.Code != "bad_request" {
			t.Fatalf("%s: %d %s, want 400 bad_request", body, w.Code, w.Body)
		}
		if lk := lockout(); !lk.Equal(mfa.Lockout{}) {
			t.Fatalf("%s: lockout %+v, want none", body, lk)
		}
		if after := devices(); !reflect.DeepEqual(after, before) {
			t.Fatalf("%s: devices %+v, want %+v", body, after, before)
		}
		if app.completed != 0 {
			t.Fatalf("%s completed the session", body)
		}
	}

	// A well-formed wrong code is counted, so the checks above could see
	// one; the right code, not spent by the refused bodies, still passes.
	if w := post(`{"code":"` + string(wrong) + `"}`); w.Code != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d %s", w.Code, w.Body)
	}
	if lk := lockout(); lk.Failures != 1 {
		t.Fatalf("lockout after a wrong code %+v, want one failure", lk)
	}
	if w := post(`{"code":"` + right + `"}`); w.Code != http.StatusOK || app.completed != 1 {
		t.Fatalf("right code: %d %s, %d completions", w.Code, w.Body, app.completed)
	}
}
