package mfahttp_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/mfahttp"
	"github.com/mfakit/mfa/mfatest"
)

// withPasskeys turns passkeys on, with mfatest's fake verifier.
func withPasskeys(cfg *mfa.Config) { cfg.Passkeys = mfatest.Passkeys{} }

type passkeyReg struct {
	DeviceID string          `json:"deviceId"`
	Options  json.RawMessage `json:"options"`
}

// beginPasskey starts a passkey registration for user over the API; body
// is the request's, nil for none.
func (s *server) beginPasskey(user, scopes string, body any) passkeyReg {
	s.t.Helper()
	r := s.do("POST", "/mfa/api/devices/passkey", user, scopes, body)
	expect(s.t, r, 200, "")
	noStore(s.t, r)
	var reg passkeyReg
	r.json(s.t, &reg)
	if reg.DeviceID == "" || len(reg.Options) == 0 {
		s.t.Fatalf("passkey registration %s", r.body)
	}
	return reg
}

// passkey registers the passkey credID for user, who has no factor yet,
// and returns the device.
func (s *server) passkey(user, credID string) mfa.Device {
	s.t.Helper()
	reg := s.beginPasskey(user, raa, nil)
	return s.finishPasskey(user, raa, reg, credID)
}

func (s *server) finishPasskey(user, scopes string, reg passkeyReg, credID string) mfa.Device {
	s.t.Helper()
	r := s.do("POST", "/mfa/api/devices/passkey/finish", user, scopes, map[string]any{"response": mfatest.PasskeyAnswer(s.t, reg.Options, credID, 0)})
	expect(s.t, r, 200, "")
	var dev mfa.Device
	r.json(s.t, &dev)
	if dev.ID != reg.DeviceID || dev.Type != mfa.DevicePasskey || !dev.Verified {
		s.t.Fatalf("finished passkey %s, want device %s verified", r.body, reg.DeviceID)
	}
	return dev
}

// passkeyOptions starts a passkey authentication for user.
func (s *server) passkeyOptions(user, scopes string) json.RawMessage {
	s.t.Helper()
	r := s.do("POST", "/mfa/api/devices/passkey/authenticate/options", user, scopes, nil)
	expect(s.t, r, 200, "")
	noStore(s.t, r)
	return json.RawMessage(r.body)
}

// passkeyToken authenticates user with credID, presenting counter count,
// for a single-use MFA token with scopes.
func (s *server) passkeyToken(user, credID string, count uint32, scopes ...string) string {
	s.t.Helper()
	answer := mfatest.PasskeyAnswer(s.t, s.passkeyOptions(user, ""), credID, count)
	r := s.do("POST", "/mfa/api/devices/passkey/authenticate", user, "", map[string]any{"response": answer, "createMfaToken": map[string]any{"singleUse": true, "scopes": scopes}})
	expect(s.t, r, 200, "")
	var res struct{ MFAToken struct{ Value string } }
	r.json(s.t, &res)
	return res.MFAToken.Value
}

func (s *server) methods(user, scopes string) []string {
	s.t.Helper()
	r := s.do("GET", "/mfa/api/methods", user, scopes, nil)
	expect(s.t, r, 200, "")
	var out struct{ Methods []string }
	r.json(s.t, &out)
	if out.Methods == nil {
		s.t.Fatalf("methods %s: want a list, not null", r.body)
	}
	return out.Methods
}

// TestPasskeyRegisterAndAuthenticate: a login that must enrol registers a
// passkey, which completes it, then authenticates with it as with a TOTP
// code; a replayed answer and a counter that does not grow are refused.
func TestPasskeyRegisterAndAuthenticate(t *testing.T) {
	s := newServer(t, withPasskeys)
	if got := s.methods("alice", raa); len(got) != 0 {
		t.Fatalf("methods before enrolling: %v", got)
	}
	reg := s.beginPasskey("alice", raa, map[string]string{"alias": "Laptop"})
	var opts mfatest.PasskeyOptions
	if err := json.Unmarshal(reg.Options, &opts); err != nil || len(opts.PublicKey.Challenge) == 0 || opts.PublicKey.UserName != "alice" {
		t.Fatalf("registration options %s: %v", reg.Options, err)
	}
	dev := s.finishPasskey("alice", raa, reg, "cred-1")
	if dev.Alias != "Laptop" || !dev.Default || dev.Digits != 0 {
		t.Fatalf("passkey %+v", dev)
	}
	if s.app.completions() != 1 {
		t.Fatal("registering the first factor did not complete the session")
	}
	// The registration is finished: finishing it again is refused.
	expect(t, s.do("POST", "/mfa/api/devices/passkey/finish", "alice", "", map[string]any{"response": mfatest.PasskeyAnswer(t, reg.Options, "cred-1", 0)}), 409, "mfa_challenge_invalid")
	if got := s.methods("alice", raa); !slices.Equal(got, []string{"passkey", "recovery_code"}) {
		t.Fatalf("methods %v, want passkey and recovery_code", got)
	}
	r := s.do("GET", "/mfa/api/recovery-codes", "alice", "", nil)
	expect(t, r, 200, "")
	expect(t, s.do("POST", "/mfa/api/recovery-codes/acknowledge", "alice", "", nil), 204, "")

	// A pending session authenticates with the passkey and is completed.
	answer := mfatest.PasskeyAnswer(t, s.passkeyOptions("alice", raa), "cred-1", 5)
	r = s.do("POST", "/mfa/api/devices/passkey/authenticate", "alice", raa, map[string]any{"response": answer, "createMfaToken": map[string]any{"singleUse": true, "scopes": []string{"change-email"}}})
	expect(t, r, 200, "")
	noStore(t, r)
	var res struct {
		Method         string
		Device         mfa.Device
		DeviceVerified bool
		MFAToken       struct{ Value string }
	}
	r.json(t, &res)
	if res.Method != "passkey" || res.Device.ID != dev.ID || res.DeviceVerified || !strings.HasPrefix(res.MFAToken.Value, "mfat_") {
		t.Fatalf("authenticate response %s", r.body)
	}
	if s.app.completions() != 2 {
		t.Fatal("CompleteMFA not called for a pending session that gave a passkey")
	}
	expect(t, s.do("POST", "/email", "alice", "", nil, mfahttp.TokenHeader, res.MFAToken.Value), 200, "")

	// The same answer again: its challenge is spent.
	expect(t, s.do("POST", "/mfa/api/devices/passkey/authenticate", "alice", raa, map[string]any{"response": answer}), 409, "mfa_challenge_invalid")
	// A fresh challenge, but the counter does not grow: a clone, refused.
	stale := mfatest.PasskeyAnswer(t, s.passkeyOptions("alice", raa), "cred-1", 5)
	expect(t, s.do("POST", "/mfa/api/devices/passkey/authenticate", "alice", raa, map[string]any{"response": stale}), 401, "mfa_passkey_refused")
	if s.app.completions() != 2 {
		t.Fatal("CompleteMFA called on failure")
	}
	fresh := mfatest.PasskeyAnswer(t, s.passkeyOptions("alice", raa), "cred-1", 6)
	expect(t, s.do("POST", "/mfa/api/devices/passkey/authenticate", "alice", raa, map[string]any{"response": fresh}), 200, "")

	// Without an authentication or a registration in progress.
	expect(t, s.do("POST", "/mfa/api/devices/passkey/authenticate", "alice", raa, map[string]any{"response": fresh}), 409, "mfa_challenge_invalid")
	expect(t, s.do("POST", "/mfa/api/devices/passkey/finish", "bob", raa, map[string]any{"response": fresh}), 409, "mfa_challenge_invalid")
	// A user without a passkey gets no options.
	expect(t, s.do("POST", "/mfa/api/devices/passkey/authenticate/options", "bob", raa, nil), 404, "mfa_no_device")
}

// TestPasskeyEnvelopeIsStrict: the body around the browser's answer is
// checked as every body is; the answer itself is the browser's, whose
// members are not known in advance.
func TestPasskeyEnvelopeIsStrict(t *testing.T) {
	s := newServer(t, withPasskeys)
	reg := s.beginPasskey("alice", raa, nil)
	answer := string(mfatest.PasskeyAnswer(t, reg.Options, "cred-1", 0))
	// The answer with members a browser adds: the browser's business.
	extended := strings.TrimSuffix(answer, "}") + `,"authenticatorAttachment":"platform","clientExtensionResults":{"credProps":{"rk":true}},"type":"public-key"}`
	// But no object in it may repeat a key, even in another case: the
	// verifier's encoding/json would take either.
	ambiguous := strings.TrimSuffix(answer, "}") + `,"Type":"x","type":"public-key"}`
	const finish = "/mfa/api/devices/passkey/finish"
	for _, tc := range []struct{ name, body, field string }{
		{"unknown key", `{"response":` + answer + `,"extra":1}`, ""},
		{"key in another case", `{"Response":` + answer + `}`, "response"},
		{"repeated key", `{"response":` + answer + `,"response":` + answer + `}`, "response"},
		{"truncated", `{"response":` + answer, ""},
		{"two objects", `{"response":` + answer + `} {}`, ""},
		{"not an object", `[` + answer + `]`, ""},
		{"repeated key in the answer", `{"response":` + ambiguous + `}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{finish, "/mfa/api/devices/passkey/authenticate"} {
				r := s.do("POST", path, "alice", raa, tc.body)
				expect(t, r, 400, "bad_request")
				var e struct{ Error struct{ Field string } }
				r.json(t, &e)
				if e.Error.Field != tc.field {
					t.Errorf("%s: field %q, want %q", path, e.Error.Field, tc.field)
				}
			}
		})
	}
	r := s.do("POST", finish, "alice", raa, `{}`)
	expect(t, r, 400, "mfa_invalid_input")
	if !bytes.Contains(r.body, []byte(`"field":"response"`)) {
		t.Errorf("no response: %s", r.body)
	}
	expect(t, s.do("POST", finish, "alice", raa, `{"response":"not an answer"}`), 401, "mfa_passkey_refused")
	expect(t, s.do("POST", finish, "alice", raa, `{"response":`+strings.Repeat(" ", 70<<10)+answer+`}`), 200, "")
	expect(t, s.do("POST", finish, "alice", raa, `{"response":`+extended+`}`), 409, "mfa_challenge_invalid")

	reg = s.beginPasskey("bob", raa, nil)
	extended = strings.TrimSuffix(string(mfatest.PasskeyAnswer(t, reg.Options, "cred-2", 0)), "}") + `,"authenticatorAttachment":"platform","clientExtensionResults":{}}`
	expect(t, s.do("POST", finish, "bob", raa, `{"response":`+extended+`}`), 200, "")
	answer = string(mfatest.PasskeyAnswer(t, s.passkeyOptions("bob", raa), "cred-2", 0))
	extended = strings.TrimSuffix(answer, "}") + `,"authenticatorAttachment":"cross-platform","clientExtensionResults":{}}`
	expect(t, s.do("POST", "/mfa/api/devices/passkey/authenticate", "bob", raa, `{"response":`+extended+`,"createMfaToken":null}`), 200, "")
	// A token TTL out of range is refused before the challenge is taken.
	answer = string(mfatest.PasskeyAnswer(t, s.passkeyOptions("bob", raa), "cred-2", 0))
	expect(t, s.do("POST", "/mfa/api/devices/passkey/authenticate", "bob", raa, `{"response":`+answer+`,"createMfaToken":{"ttl":-1}}`), 400, "mfa_invalid_input")
	expect(t, s.do("POST", "/mfa/api/devices/passkey/authenticate", "bob", raa, `{"response":`+answer+`}`), 200, "")
	// The alias is checked, as for a TOTP device.
	expect(t, s.do("POST", "/mfa/api/devices/passkey", "carol", raa, `{"alias":"a\u0000b"}`), 400, "mfa_invalid_input")
}

// TestSecondFactorNeedsToken: a user with a factor adds another, of
// either kind, only with an MFA token for credential:link, in a pending
// session as in a full one.
func TestSecondFactorNeedsToken(t *testing.T) {
	s := newServer(t, withPasskeys)
	secret, _ := s.enrol("alice")
	const path = "/mfa/api/devices/passkey"
	expect(t, s.do("POST", path, "alice", raa, nil), 403, "mfa_token_required")
	expect(t, s.do("POST", path, "alice", "", nil), 403, "mfa_token_required")
	expect(t, s.do("POST", path, "alice", "", map[string]string{"mfaToken": "mfat_bogus"}), 403, "mfa_token_invalid")
	expect(t, s.do("POST", path, "alice", "", map[string]string{"mfaToken": s.token("alice", secret, mfa.ScopeCredentialUnlink)}), 403, "mfa_token_invalid")
	tok := s.token("alice", secret, mfa.ActionCredentialLink)
	reg := s.beginPasskey("alice", "", map[string]string{"mfaToken": tok, "alias": "Key"})
	expect(t, s.do("POST", path, "alice", "", map[string]string{"mfaToken": tok}), 403, "mfa_token_invalid")
	s.finishPasskey("alice", "", reg, "cred-1")
	if got := s.methods("alice", ""); !slices.Equal(got, []string{"totp", "passkey", "recovery_code"}) {
		t.Fatalf("methods %v", got)
	}

	// The other way round: a TOTP device for a user with a passkey.
	s.passkey("bob", "cred-2")
	const totp = "/mfa/api/devices/totp"
	expect(t, s.do("POST", totp, "bob", raa, nil), 403, "mfa_token_required")
	expect(t, s.do("POST", totp, "bob", "", map[string]string{"mfaToken": "mfat_bogus"}), 403, "mfa_token_invalid")
	tok = s.passkeyToken("bob", "cred-2", 0, mfa.ActionCredentialLink)
	r := s.do("POST", totp, "bob", "", map[string]string{"mfaToken": tok, "alias": "Phone"})
	expect(t, r, 200, "")
	var added registered
	r.json(t, &added)
	expect(t, s.do("POST", "/mfa/api/devices/totp/authenticate", "bob", "", map[string]string{"code": mfatest.Code(t, added.Secret, s.clock.Now()), "deviceId": added.ID}), 200, "")
	if got := s.methods("bob", raa); !slices.Equal(got, []string{"totp", "passkey", "recovery_code"}) {
		t.Fatalf("methods %v", got)
	}
}

// TestPasskeyLimit: a user has at most Config.Devices.Passkey passkeys,
// and one passkey is one user's.
func TestPasskeyLimit(t *testing.T) {
	s := newServer(t, withPasskeys, func(cfg *mfa.Config) { cfg.Devices.Passkey = 2 })
	s.passkey("alice", "cred-1")
	reg := s.beginPasskey("alice", "", map[string]string{"mfaToken": s.passkeyToken("alice", "cred-1", 0, mfa.ActionCredentialLink)})
	s.finishPasskey("alice", "", reg, "cred-2")
	r := s.do("POST", "/mfa/api/devices/passkey", "alice", "", map[string]string{"mfaToken": s.passkeyToken("alice", "cred-1", 0, mfa.ActionCredentialLink)})
	expect(t, r, 401, "mfa_device_limit")

	// Bob's authenticator answers with Alice's credential.
	reg = s.beginPasskey("bob", raa, nil)
	expect(t, s.do("POST", "/mfa/api/devices/passkey/finish", "bob", raa, map[string]any{"response": mfatest.PasskeyAnswer(t, reg.Options, "cred-1", 0)}), 409, "mfa_passkey_registered")
	if s.app.completions() != 1 {
		t.Fatalf("CompleteMFA called %d times, want once, for Alice's first passkey", s.app.completions())
	}
}

// TestPasskeyLockout: refused answers count towards the lockout, during
// which every passkey answer is 429.
func TestPasskeyLockout(t *testing.T) {
	s := newServer(t, withPasskeys)
	s.passkey("alice", "cred-1")
	// A registration in progress, begun before the lockout.
	reg := s.beginPasskey("alice", "", map[string]string{"mfaToken": s.passkeyToken("alice", "cred-1", 0, mfa.ActionCredentialLink)})
	for range 5 {
		bad := mfatest.PasskeyAnswer(t, s.passkeyOptions("alice", raa), "cred-1", 0, mfatest.BadSignature())
		expect(t, s.do("POST", "/mfa/api/devices/passkey/authenticate", "alice", raa, map[string]any{"response": bad}), 401, "mfa_passkey_refused")
	}
	good := mfatest.PasskeyAnswer(t, s.passkeyOptions("alice", raa), "cred-1", 0)
	r := s.do("POST", "/mfa/api/devices/passkey/authenticate", "alice", raa, map[string]any{"response": good})
	expect(t, r, 429, "mfa_rate_limited")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	r = s.do("POST", "/mfa/api/devices/passkey/finish", "alice", "", map[string]any{"response": mfatest.PasskeyAnswer(t, reg.Options, "cred-2", 0)})
	expect(t, r, 429, "mfa_rate_limited")
}

// TestSetDefaultDevice: a full session chooses the device whose codes are
// checked by default.
func TestSetDefaultDevice(t *testing.T) {
	s := newServer(t, withPasskeys)
	secret, _ := s.enrol("alice")
	reg := s.beginPasskey("alice", "", map[string]string{"mfaToken": s.token("alice", secret, mfa.ActionCredentialLink)})
	pk := s.finishPasskey("alice", "", reg, "cred-1")
	if pk.Default {
		t.Fatal("a second factor became the default")
	}
	path := "/mfa/api/devices/" + pk.ID + "/default"
	expect(t, s.do("POST", path, "alice", raa, nil), 401, "mfa_required")
	r := s.do("POST", path, "alice", "", nil)
	expect(t, r, 204, "")
	if len(r.body) != 0 {
		t.Fatalf("204 with a body %q", r.body)
	}
	for _, d := range s.devices("alice") {
		if d.Default != (d.ID == pk.ID) {
			t.Fatalf("after setting the passkey default: %+v", s.devices("alice"))
		}
	}
	expect(t, s.do("POST", "/mfa/api/devices/nope/default", "alice", "", nil), 404, "mfa_device_not_found")
	expect(t, s.do("POST", "/mfa/api/devices/"+pk.ID+"/default", "bob", "", nil), 404, "mfa_device_not_found")
	expect(t, s.do("POST", "/mfa/api/devices/"+strings.Repeat("x", 65)+"/default", "alice", "", nil), 400, "mfa_invalid_input")
	expect(t, s.do("GET", path, "alice", "", nil), 405, "method_not_allowed")
}

// TestPasskeysOff: without mfa.Config.Passkeys the passkey endpoints are
// 404, as if absent, and the rest of the API is unchanged.
func TestPasskeysOff(t *testing.T) {
	s := newServer(t)
	for _, ep := range []struct{ path, body string }{
		{"/mfa/api/devices/passkey", ""},
		{"/mfa/api/devices/passkey/finish", `{"response":{}}`},
		{"/mfa/api/devices/passkey/authenticate/options", ""},
		{"/mfa/api/devices/passkey/authenticate", `{"response":{}}`},
	} {
		var body any
		if ep.body != "" {
			body = ep.body
		}
		r := s.do("POST", ep.path, "alice", raa, body)
		expect(t, r, 404, "mfa_invalid_config")
		if bytes.Contains(r.body, []byte("Passkeys")) {
			t.Errorf("%s: %s names the Config field", ep.path, r.body)
		}
	}
	if got := s.methods("alice", raa); len(got) != 0 {
		t.Fatalf("methods %v", got)
	}
	s.enrol("alice")
	if got := s.methods("alice", raa); !slices.Equal(got, []string{"totp", "recovery_code"}) {
		t.Fatalf("methods %v", got)
	}
}

// TestFlowPasskey: the flow's code input lists the user's methods, and
// POST /api/flow/passkey completes a login with a passkey as the otp step
// does with a code; a refused answer stays on the code input.
func TestFlowPasskey(t *testing.T) {
	s := newServer(t, withPasskeys)
	s.passkey("alice", "cred-1")
	expect(t, s.do("POST", "/mfa/api/recovery-codes/acknowledge", "alice", "", nil), 204, "")
	completions := s.app.completions()

	var st struct {
		View     string
		Methods  []string
		Error    *struct{ Code string }
		Complete bool
	}
	r := s.do("POST", "/mfa/api/flow", "alice", raa, nil)
	expect(t, r, 200, "")
	r.json(t, &st)
	if st.View != "otp" || !slices.Equal(st.Methods, []string{"passkey", "recovery_code"}) {
		t.Fatalf("flow %s", r.body)
	}
	bad := mfatest.PasskeyAnswer(t, s.passkeyOptions("alice", raa), "cred-1", 0, mfatest.BadSignature())
	r = s.do("POST", "/mfa/api/flow/passkey", "alice", raa, map[string]any{"response": bad})
	expect(t, r, 200, "")
	st.Error = nil
	r.json(t, &st)
	if st.View != "otp" || st.Error == nil || st.Error.Code != "mfa_passkey_refused" || st.Complete || s.app.completions() != completions {
		t.Fatalf("flow after a refused passkey %s", r.body)
	}
	good := mfatest.PasskeyAnswer(t, s.passkeyOptions("alice", raa), "cred-1", 0)
	// The envelope is strict, as every body's is.
	expect(t, s.do("POST", "/mfa/api/flow/passkey", "alice", raa, map[string]any{"response": good, "code": "123456"}), 400, "bad_request")
	r = s.do("POST", "/mfa/api/flow/passkey", "alice", raa, map[string]any{"response": good})
	expect(t, r, 200, "")
	st.Error = nil
	r.json(t, &st)
	if st.View != "devices" || !st.Complete || st.Error != nil || s.app.completions() != completions+1 {
		t.Fatalf("flow after the passkey %s", r.body)
	}
}
