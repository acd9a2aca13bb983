package passkey_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/passkey"
)

const (
	testRPID   = "example.com"
	testOrigin = "https://example.com"
)

var (
	alice = passkey.User{ID: []byte("opaque-handle-of-alice-01"), Name: "alice@example.com", DisplayName: "Alice"}
	bob   = passkey.User{ID: []byte("opaque-handle-of-bob-0002"), Name: "bob@example.com"}
)

// sentinels is every sentinel error of the package.
var sentinels = []error{
	passkey.ErrInvalidConfig, passkey.ErrInvalidInput, passkey.ErrNoCredentials, passkey.ErrSession,
	passkey.ErrInvalidResponse, passkey.ErrChallengeMismatch, passkey.ErrOrigin, passkey.ErrRPID,
	passkey.ErrUserVerification, passkey.ErrUnknownCredential, passkey.ErrSignature,
	passkey.ErrBackupFlags, passkey.ErrAttestation,
}

func newVerifier(tb testing.TB, edit ...func(*passkey.Config)) *passkey.Verifier {
	tb.Helper()
	cfg := passkey.Config{RPID: testRPID, RPDisplayName: "Acme", Origins: []string{testOrigin}}
	for _, e := range edit {
		e(&cfg)
	}
	v, err := passkey.New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return v
}

// register creates a's credential for user through v.
func register(tb testing.TB, v *passkey.Verifier, a *authenticator, user passkey.User, exclude ...passkey.Credential) passkey.Credential {
	tb.Helper()
	options, session, err := v.BeginRegistration(user, exclude)
	if err != nil {
		tb.Fatalf("BeginRegistration: %v", err)
	}
	cred, err := v.FinishRegistration(user, session, a.create(options))
	if err != nil {
		tb.Fatalf("FinishRegistration: %v", err)
	}
	return cred
}

// decode decodes JSON into a generic value, for checking members by name.
func decode(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
	return m
}

// challengeOf returns the challenge of options.
func challengeOf(t *testing.T, options json.RawMessage) string {
	t.Helper()
	c, _ := decode(t, options)["publicKey"].(map[string]any)["challenge"].(string)
	if c == "" {
		t.Fatalf("no challenge in %s", options)
	}
	return c
}

// checkRefusal checks that err matches want, matches no other sentinel
// and says nothing secret.
func checkRefusal(t *testing.T, err, want error, secrets ...[]byte) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	for _, s := range sentinels {
		if s != want && errors.Is(err, s) {
			t.Errorf("error %v also matches %v", err, s)
		}
	}
	var e *passkey.Error
	if !errors.As(err, &e) {
		t.Errorf("error %T is not a *passkey.Error", err)
	}
	msg := err.Error()
	for _, s := range secrets {
		if len(s) == 0 {
			continue
		}
		for _, enc := range []string{string(s), b64.EncodeToString(s), strings.TrimRight(b64.EncodeToString(s), "=")} {
			if strings.Contains(msg, enc) {
				t.Errorf("error message %q contains a secret", msg)
			}
		}
	}
}

func TestRegisterAndLogin(t *testing.T) {
	v := newVerifier(t)
	a := newAuthenticator(t, testRPID, testOrigin)
	a.flags = flagUV | flagBE | flagBS
	a.step = 1

	cred := register(t, v, a, alice)
	if !bytes.Equal(cred.ID, a.credID) {
		t.Errorf("ID %x, want %x", cred.ID, a.credID)
	}
	key, err := webauthncose.ParsePublicKey(cred.PublicKey)
	if err != nil {
		t.Fatalf("PublicKey is not a COSE key: %v", err)
	}
	ec, ok := key.(webauthncose.EC2PublicKeyData)
	raw, _ := a.key.PublicKey.Bytes()
	if !ok || !bytes.Equal(ec.XCoord, raw[1:33]) || !bytes.Equal(ec.YCoord, raw[33:65]) || ec.Algorithm != coseES256 {
		t.Errorf("PublicKey %#v is not the authenticator's ES256 key", key)
	}
	if cred.SignCount != 0 || cred.AAGUID != a.aaguid || !slices.Equal(cred.Transports, []string{"hybrid", "internal"}) ||
		!cred.BackupEligible || !cred.BackupState || !cred.UserVerified ||
		cred.AttestationType != "none" || cred.AttestationFormat != "none" {
		t.Errorf("credential %+v", cred)
	}

	stored := []passkey.Credential{cred}
	for i := uint32(1); i <= 3; i++ {
		if i == 3 {
			a.flags &^= flagBS // the passkey is no longer backed up
		}
		options, session, err := v.BeginLogin(alice, stored)
		if err != nil {
			t.Fatalf("BeginLogin: %v", err)
		}
		got, err := v.FinishLogin(alice, session, stored, a.get(options))
		if err != nil {
			t.Fatalf("FinishLogin %d: %v", i, err)
		}
		want := passkey.Assertion{CredentialID: cred.ID, SignCount: i, BackupState: i < 3, UserVerified: true}
		if !bytes.Equal(got.CredentialID, want.CredentialID) || got.SignCount != want.SignCount ||
			got.BackupState != want.BackupState || got.UserVerified != want.UserVerified {
			t.Errorf("login %d: assertion %+v, want %+v", i, got, want)
		}
		if !passkey.CounterValid(stored[0].SignCount, got.SignCount) {
			t.Errorf("login %d: counter %d after %d refused", i, got.SignCount, stored[0].SignCount)
		}
		stored[0].SignCount, stored[0].BackupState = got.SignCount, got.BackupState
	}
}

// A passkey that keeps no counter (most synced ones) presents 0 every time.
func TestLoginWithoutCounter(t *testing.T) {
	v := newVerifier(t, func(c *passkey.Config) { c.UserVerification = passkey.UserVerificationDiscouraged })
	a := newAuthenticator(t, testRPID, testOrigin)
	a.flags = 0 // no UV either
	cred := register(t, v, a, alice)
	for range 2 {
		options, session, err := v.BeginLogin(alice, []passkey.Credential{cred})
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.FinishLogin(alice, session, []passkey.Credential{cred}, a.get(options))
		if err != nil {
			t.Fatalf("FinishLogin: %v", err)
		}
		if got.SignCount != 0 || got.UserVerified || !passkey.CounterValid(cred.SignCount, got.SignCount) {
			t.Errorf("assertion %+v", got)
		}
	}
}

func TestRegistrationOptions(t *testing.T) {
	v := newVerifier(t, func(c *passkey.Config) { c.UserVerification = passkey.UserVerificationRequired })
	exclude := []passkey.Credential{
		{ID: []byte{1, 2, 3}, PublicKey: []byte{0xa0}, Transports: []string{"internal", "hybrid"}},
		{ID: []byte{4, 5, 6}, PublicKey: []byte{0xa0}},
	}
	options, session, err := v.BeginRegistration(alice, exclude)
	if err != nil {
		t.Fatal(err)
	}
	if len(session) == 0 {
		t.Fatal("no session")
	}
	root := decode(t, options)
	pk, ok := root["publicKey"].(map[string]any)
	if !ok || len(root) != 1 {
		t.Fatalf("options are not {\"publicKey\": {...}}: %s", options)
	}
	want := map[string]any{
		"rp":   map[string]any{"id": testRPID, "name": "Acme"},
		"user": map[string]any{"id": b64.EncodeToString(alice.ID), "name": alice.Name, "displayName": alice.DisplayName},
		"authenticatorSelection": map[string]any{
			"residentKey": "preferred", "requireResidentKey": false, "userVerification": "required",
		},
		"attestation": "none",
		"timeout":     float64(300000),
		"excludeCredentials": []any{
			map[string]any{"type": "public-key", "id": b64.EncodeToString([]byte{1, 2, 3}), "transports": []any{"internal", "hybrid"}},
			map[string]any{"type": "public-key", "id": b64.EncodeToString([]byte{4, 5, 6})},
		},
	}
	for k, w := range want {
		if g, _ := json.Marshal(pk[k]); string(g) != mustJSON(t, w) {
			t.Errorf("publicKey.%s = %s, want %s", k, g, mustJSON(t, w))
		}
	}
	challenge, err := b64.DecodeString(challengeOf(t, options))
	if err != nil || len(challenge) < 16 {
		t.Errorf("challenge %q: %d bytes, %v; want 16 or more, base64url", pk["challenge"], len(challenge), err)
	}
	var algs []float64
	params, _ := pk["pubKeyCredParams"].([]any)
	for _, p := range params {
		p := p.(map[string]any)
		if p["type"] != "public-key" {
			t.Errorf("pubKeyCredParams member %v", p)
		}
		algs = append(algs, p["alg"].(float64))
	}
	// ES256 and RS256 between them cover every authenticator in use.
	if !slices.Contains(algs, -7) || !slices.Contains(algs, -257) {
		t.Errorf("pubKeyCredParams algorithms %v lack -7 or -257", algs)
	}
	if _, ok := pk["extensions"]; ok {
		t.Errorf("extensions requested: %v", pk["extensions"])
	}

	// Without credentials to exclude there is no excludeCredentials; with
	// DisplayName empty, the Name stands in.
	options, _, err = v.BeginRegistration(passkey.User{ID: bob.ID, Name: bob.Name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pk = decode(t, options)["publicKey"].(map[string]any)
	if _, ok := pk["excludeCredentials"]; ok {
		t.Errorf("excludeCredentials without credentials: %v", pk["excludeCredentials"])
	}
	if u := pk["user"].(map[string]any); u["displayName"] != bob.Name {
		t.Errorf("user.displayName = %v, want the name", u["displayName"])
	}
	if challengeOf(t, options) == b64.EncodeToString(challenge) {
		t.Error("two registrations got the same challenge")
	}
}

func TestLoginOptions(t *testing.T) {
	v := newVerifier(t, func(c *passkey.Config) {
		c.UserVerification = passkey.UserVerificationDiscouraged
		c.Timeout = 90 * time.Second
	})
	creds := []passkey.Credential{
		{ID: []byte("credential-one"), PublicKey: []byte{0xa0}, Transports: []string{"usb", "nfc"}},
		{ID: []byte("credential-two"), PublicKey: []byte{0xa0}},
	}
	options, session, err := v.BeginLogin(alice, creds)
	if err != nil {
		t.Fatal(err)
	}
	if len(session) == 0 {
		t.Fatal("no session")
	}
	root := decode(t, options)
	pk, ok := root["publicKey"].(map[string]any)
	if !ok || len(root) != 1 {
		t.Fatalf("options are not {\"publicKey\": {...}}: %s", options)
	}
	want := map[string]any{
		"rpId":             testRPID,
		"userVerification": "discouraged",
		"timeout":          float64(90000),
		"allowCredentials": []any{
			map[string]any{"type": "public-key", "id": b64.EncodeToString(creds[0].ID), "transports": []any{"usb", "nfc"}},
			map[string]any{"type": "public-key", "id": b64.EncodeToString(creds[1].ID)},
		},
	}
	for k, w := range want {
		if g, _ := json.Marshal(pk[k]); string(g) != mustJSON(t, w) {
			t.Errorf("publicKey.%s = %s, want %s", k, g, mustJSON(t, w))
		}
	}
	if challenge, err := b64.DecodeString(challengeOf(t, options)); err != nil || len(challenge) < 16 {
		t.Errorf("challenge: %d bytes, %v", len(challenge), err)
	}
	if _, ok := pk["extensions"]; ok {
		t.Errorf("extensions requested: %v", pk["extensions"])
	}
}

// The session never expires by go-webauthn's wall clock: the caller keeps
// the expiry.
func TestSessionHasNoExpiry(t *testing.T) {
	v := newVerifier(t)
	for name, begin := range map[string]func() ([]byte, error){
		"registration": func() ([]byte, error) { _, s, err := v.BeginRegistration(alice, nil); return s, err },
		"login": func() ([]byte, error) {
			_, s, err := v.BeginLogin(alice, []passkey.Credential{{ID: []byte{1}, PublicKey: []byte{0xa0}}})
			return s, err
		},
	} {
		session, err := begin()
		if err != nil {
			t.Fatal(err)
		}
		var blob struct {
			Data struct {
				Expires string `json:"expires"`
			} `json:"data"`
		}
		if err := json.Unmarshal(session, &blob); err != nil {
			t.Fatal(err)
		}
		if blob.Data.Expires != "0001-01-01T00:00:00Z" {
			t.Errorf("%s session expires at %q", name, blob.Data.Expires)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// finish is what a FinishLogin case passes.
type finish struct {
	user     passkey.User
	session  []byte
	creds    []passkey.Credential
	response json.RawMessage
}

// loginFixture is a registered credential and a login begun with it.
type loginFixture struct {
	v       *passkey.Verifier
	a       *authenticator
	cred    passkey.Credential
	options json.RawMessage
	session []byte
}

func newLoginFixture(t *testing.T, cfg func(*passkey.Config)) *loginFixture {
	t.Helper()
	f := &loginFixture{v: newVerifier(t, func(c *passkey.Config) {
		if cfg != nil {
			cfg(c)
		}
	})}
	f.a = newAuthenticator(t, testRPID, testOrigin)
	f.a.flags = flagUV | flagBE | flagBS
	f.cred = register(t, f.v, f.a, alice)
	var err error
	f.options, f.session, err = f.v.BeginLogin(alice, []passkey.Credential{f.cred})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFinishLoginRefusals(t *testing.T) {
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// set edits a member of the credential JSON.
	set := func(t *testing.T, f *finish, path []string, value any) {
		t.Helper()
		m := decode(t, f.response)
		inner := m
		for _, p := range path[:len(path)-1] {
			inner = inner[p].(map[string]any)
		}
		if value == nil {
			delete(inner, path[len(path)-1])
		} else {
			inner[path[len(path)-1]] = value
		}
		f.response = json.RawMessage(mustJSON(t, m))
	}

	cases := []struct {
		name   string
		cfg    func(*passkey.Config)
		tweaks []tweak
		edit   func(t *testing.T, fx *loginFixture, f *finish)
		want   error
	}{
		{name: "origin of another site", tweaks: []tweak{func(c *call) { c.origin = "https://evil.example" }}, want: passkey.ErrOrigin},
		{name: "origin of a subdomain not configured", tweaks: []tweak{func(c *call) { c.origin = "https://login.example.com" }}, want: passkey.ErrOrigin},
		{name: "http origin", tweaks: []tweak{func(c *call) { c.origin = "http://example.com" }}, want: passkey.ErrOrigin},
		{name: "cross-origin frame", tweaks: []tweak{func(c *call) { c.crossOrigin = true; c.topOrigin = "https://evil.example" }}, want: passkey.ErrOrigin},
		{name: "RP ID of another site", tweaks: []tweak{func(c *call) { c.rpID = "evil.example" }}, want: passkey.ErrRPID},
		{name: "RP ID of a parent domain", tweaks: []tweak{func(c *call) { c.rpID = "com" }}, want: passkey.ErrRPID},
		{name: "forged challenge", tweaks: []tweak{func(c *call) { c.challenge = b64.EncodeToString(make([]byte, 32)) }}, want: passkey.ErrChallengeMismatch},
		{name: "empty challenge", tweaks: []tweak{func(c *call) { c.challenge = "" }}, want: passkey.ErrChallengeMismatch},
		{
			name: "session of another login",
			edit: func(t *testing.T, fx *loginFixture, f *finish) {
				_, session, err := fx.v.BeginLogin(alice, f.creds)
				if err != nil {
					t.Fatal(err)
				}
				f.session = session
			},
			want: passkey.ErrChallengeMismatch,
		},
		{
			name: "session of a registration",
			edit: func(t *testing.T, fx *loginFixture, f *finish) {
				_, session, err := fx.v.BeginRegistration(alice, nil)
				if err != nil {
					t.Fatal(err)
				}
				f.session = session
			},
			want: passkey.ErrSession,
		},
		{
			name: "session of another user",
			edit: func(t *testing.T, fx *loginFixture, f *finish) {
				_, session, err := fx.v.BeginLogin(bob, f.creds)
				if err != nil {
					t.Fatal(err)
				}
				f.session = session
			},
			want: passkey.ErrSession,
		},
		{
			name: "session for another user's account",
			edit: func(t *testing.T, fx *loginFixture, f *finish) { f.user = bob },
			want: passkey.ErrSession,
		},
		{
			name: "session of another relying party",
			edit: func(t *testing.T, fx *loginFixture, f *finish) {
				other := newVerifier(t, func(c *passkey.Config) {
					c.RPID, c.Origins = "example.org", []string{"https://example.org"}
				})
				_, session, err := other.BeginLogin(alice, f.creds)
				if err != nil {
					t.Fatal(err)
				}
				f.session = session
			},
			want: passkey.ErrSession,
		},
		{name: "empty session", edit: func(t *testing.T, fx *loginFixture, f *finish) { f.session = nil }, want: passkey.ErrSession},
		{name: "corrupt session", edit: func(t *testing.T, fx *loginFixture, f *finish) { f.session = f.session[:len(f.session)/2] }, want: passkey.ErrSession},
		{
			name: "session of another layout",
			edit: func(t *testing.T, fx *loginFixture, f *finish) {
				f.session = bytes.Replace(f.session, []byte(`"v":1`), []byte(`"v":2`), 1)
			},
			want: passkey.ErrSession,
		},
		{
			name: "passkeys changed since BeginLogin",
			edit: func(t *testing.T, fx *loginFixture, f *finish) {
				more := append(slices.Clone(f.creds), passkey.Credential{ID: []byte("removed since"), PublicKey: []byte{0xa0}})
				options, session, err := fx.v.BeginLogin(alice, more)
				if err != nil {
					t.Fatal(err)
				}
				f.session = session
				f.response = fx.a.get(options)
			},
			want: passkey.ErrSession,
		},
		{
			name:   "user verification required, not performed",
			cfg:    func(c *passkey.Config) { c.UserVerification = passkey.UserVerificationRequired },
			tweaks: []tweak{func(c *call) { c.clearFlags = flagUV }},
			want:   passkey.ErrUserVerification,
		},
		{name: "user not present", tweaks: []tweak{func(c *call) { c.clearFlags = flagUP }}, want: passkey.ErrUserVerification},
		{name: "signature by another key", tweaks: []tweak{func(c *call) { c.signer = otherKey }}, want: passkey.ErrSignature},
		{
			name: "client data tampered with after signing",
			tweaks: []tweak{func(c *call) {
				c.tamperClientData = func(b []byte) []byte { return bytes.Replace(b, []byte(`{`), []byte(`{ `), 1) }
			}},
			want: passkey.ErrSignature,
		},
		{
			name: "counter tampered with after signing",
			tweaks: []tweak{func(c *call) {
				c.tamperAuthData = func(b []byte) []byte { b = slices.Clone(b); b[36]++; return b }
			}},
			want: passkey.ErrSignature,
		},
		{
			name: "signature truncated",
			edit: func(t *testing.T, fx *loginFixture, f *finish) {
				sig := decode(t, f.response)["response"].(map[string]any)["signature"].(string)
				set(t, f, []string{"response", "signature"}, sig[:len(sig)-8])
			},
			want: passkey.ErrSignature,
		},
		{name: "unknown credential", tweaks: []tweak{func(c *call) { c.credID = []byte("a credential nobody registered") }}, want: passkey.ErrUnknownCredential},
		{
			name: "credential of the user not offered in this login",
			edit: func(t *testing.T, fx *loginFixture, f *finish) {
				b := newAuthenticator(t, testRPID, testOrigin)
				other := register(t, fx.v, b, alice)
				f.creds = append(f.creds, other)
				f.response = b.get(fx.options)
			},
			want: passkey.ErrUnknownCredential,
		},
		{name: "another user's handle", tweaks: []tweak{func(c *call) { c.userHandle = bob.ID }}, want: passkey.ErrUnknownCredential},
		{name: "backup eligibility lost", tweaks: []tweak{func(c *call) { c.clearFlags = flagBE | flagBS }}, want: passkey.ErrBackupFlags},
		{name: "backed up, not backup eligible", tweaks: []tweak{func(c *call) { c.clearFlags = flagBE }}, want: passkey.ErrBackupFlags},
		{name: "registration ceremony type", tweaks: []tweak{func(c *call) { c.typ = "webauthn.create" }}, want: passkey.ErrInvalidResponse},
		{name: "unknown ceremony type", tweaks: []tweak{func(c *call) { c.typ = "payment.get" }}, want: passkey.ErrInvalidResponse},
		{name: "not JSON", edit: func(t *testing.T, fx *loginFixture, f *finish) { f.response = json.RawMessage(`{"id":`) }, want: passkey.ErrInvalidResponse},
		{name: "empty response", edit: func(t *testing.T, fx *loginFixture, f *finish) { f.response = nil }, want: passkey.ErrInvalidResponse},
		{name: "JSON null", edit: func(t *testing.T, fx *loginFixture, f *finish) { f.response = json.RawMessage(`null`) }, want: passkey.ErrInvalidResponse},
		{name: "JSON array", edit: func(t *testing.T, fx *loginFixture, f *finish) { f.response = json.RawMessage(`[1,2]`) }, want: passkey.ErrInvalidResponse},
		{
			name: "trailing data",
			edit: func(t *testing.T, fx *loginFixture, f *finish) { f.response = append(f.response, []byte(`{}`)...) },
			want: passkey.ErrInvalidResponse,
		},
		{name: "type not public-key", edit: func(t *testing.T, fx *loginFixture, f *finish) { set(t, f, []string{"type"}, "password") }, want: passkey.ErrInvalidResponse},
		{name: "id and rawId differ", edit: func(t *testing.T, fx *loginFixture, f *finish) { set(t, f, []string{"id"}, "AAAA") }, want: passkey.ErrInvalidResponse},
		{name: "rawId not base64url", edit: func(t *testing.T, fx *loginFixture, f *finish) { set(t, f, []string{"rawId"}, "*!*") }, want: passkey.ErrInvalidResponse},
		{name: "rawId a number", edit: func(t *testing.T, fx *loginFixture, f *finish) { set(t, f, []string{"rawId"}, 42) }, want: passkey.ErrInvalidResponse},
		{name: "no response member", edit: func(t *testing.T, fx *loginFixture, f *finish) { set(t, f, []string{"response"}, nil) }, want: passkey.ErrInvalidResponse},
		{
			name: "client data not JSON",
			edit: func(t *testing.T, fx *loginFixture, f *finish) {
				set(t, f, []string{"response", "clientDataJSON"}, b64.EncodeToString([]byte("not json")))
			},
			want: passkey.ErrInvalidResponse,
		},
		{
			name: "authenticator data too short",
			edit: func(t *testing.T, fx *loginFixture, f *finish) {
				set(t, f, []string{"response", "authenticatorData"}, b64.EncodeToString(make([]byte, 36)))
			},
			want: passkey.ErrInvalidResponse,
		},
		{
			name: "response too long",
			edit: func(t *testing.T, fx *loginFixture, f *finish) {
				set(t, f, []string{"padding"}, strings.Repeat("x", 70<<10))
			},
			want: passkey.ErrInvalidResponse,
		},
		{
			name: "a registration's response",
			edit: func(t *testing.T, fx *loginFixture, f *finish) {
				options, _, err := fx.v.BeginRegistration(alice, nil)
				if err != nil {
					t.Fatal(err)
				}
				f.response = fx.a.create(options)
			},
			want: passkey.ErrInvalidResponse,
		},
		{
			name: "stored public key unusable",
			edit: func(t *testing.T, fx *loginFixture, f *finish) { f.creds[0].PublicKey = []byte{0xa1, 0x01, 0x02} },
			want: passkey.ErrInvalidInput,
		},
		{
			name: "stored credential without a key",
			edit: func(t *testing.T, fx *loginFixture, f *finish) { f.creds[0].PublicKey = nil },
			want: passkey.ErrInvalidInput,
		},
		{
			name: "user handle too long",
			edit: func(t *testing.T, fx *loginFixture, f *finish) { f.user.ID = make([]byte, 65) },
			want: passkey.ErrInvalidInput,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newLoginFixture(t, tc.cfg)
			f := finish{user: alice, session: fx.session, creds: []passkey.Credential{fx.cred}, response: fx.a.get(fx.options, tc.tweaks...)}
			if tc.edit != nil {
				tc.edit(t, fx, &f)
			}
			_, err := fx.v.FinishLogin(f.user, f.session, f.creds, f.response)
			checkRefusal(t, err, tc.want, append(fx.a.keyMaterial(), []byte(challengeOf(t, fx.options)), fx.cred.PublicKey)...)
		})
	}
}

// A response replayed against a later session answers that session's
// challenge wrongly. (Against its own session it is refused only if the
// caller deleted the session after the first use: this package keeps no
// state.)
func TestReplayedResponse(t *testing.T) {
	fx := newLoginFixture(t, nil)
	creds := []passkey.Credential{fx.cred}
	response := fx.a.get(fx.options)
	if _, err := fx.v.FinishLogin(alice, fx.session, creds, response); err != nil {
		t.Fatalf("first use: %v", err)
	}
	_, session, err := fx.v.BeginLogin(alice, creds)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fx.v.FinishLogin(alice, session, creds, response)
	checkRefusal(t, err, passkey.ErrChallengeMismatch)
}

func TestFinishRegistrationRefusals(t *testing.T) {
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		cfg    func(*passkey.Config)
		tweaks []tweak
		// edit changes the session or the response.
		edit func(t *testing.T, v *passkey.Verifier, session *[]byte, response *json.RawMessage)
		want error
		// reason is part of the message, when the refusal names the cause.
		reason string
	}{
		{name: "origin of another site", tweaks: []tweak{func(c *call) { c.origin = "https://evil.example" }}, want: passkey.ErrOrigin},
		{name: "cross-origin frame", tweaks: []tweak{func(c *call) { c.crossOrigin = true }}, want: passkey.ErrOrigin},
		{name: "RP ID of another site", tweaks: []tweak{func(c *call) { c.rpID = "evil.example" }}, want: passkey.ErrRPID},
		{name: "forged challenge", tweaks: []tweak{func(c *call) { c.challenge = b64.EncodeToString(make([]byte, 32)) }}, want: passkey.ErrChallengeMismatch},
		{
			name: "session of another registration",
			edit: func(t *testing.T, v *passkey.Verifier, session *[]byte, _ *json.RawMessage) {
				_, s, err := v.BeginRegistration(alice, nil)
				if err != nil {
					t.Fatal(err)
				}
				*session = s
			},
			want: passkey.ErrChallengeMismatch,
		},
		{
			name: "session of a login",
			edit: func(t *testing.T, v *passkey.Verifier, session *[]byte, _ *json.RawMessage) {
				_, s, err := v.BeginLogin(alice, []passkey.Credential{{ID: []byte{1}, PublicKey: []byte{0xa0}}})
				if err != nil {
					t.Fatal(err)
				}
				*session = s
			},
			want: passkey.ErrSession,
		},
		{
			name: "session of another user",
			edit: func(t *testing.T, v *passkey.Verifier, session *[]byte, _ *json.RawMessage) {
				_, s, err := v.BeginRegistration(bob, nil)
				if err != nil {
					t.Fatal(err)
				}
				*session = s
			},
			want: passkey.ErrSession,
		},
		{
			name:   "user verification required, not performed",
			cfg:    func(c *passkey.Config) { c.UserVerification = passkey.UserVerificationRequired },
			tweaks: []tweak{func(c *call) { c.clearFlags = flagUV }},
			want:   passkey.ErrUserVerification,
		},
		{name: "user not present", tweaks: []tweak{func(c *call) { c.clearFlags = flagUP }}, want: passkey.ErrUserVerification},
		{name: "backed up, not backup eligible", tweaks: []tweak{func(c *call) { c.flags |= flagBS }}, want: passkey.ErrBackupFlags},
		{name: "login ceremony type", tweaks: []tweak{func(c *call) { c.typ = "webauthn.get" }}, want: passkey.ErrInvalidResponse},
		{
			name: `format "none" with a statement`,
			tweaks: []tweak{func(c *call) {
				c.attStmt = func(_, _ []byte) []byte { return cborMap(cborText("alg"), cborInt(coseES256)) }
			}},
			want: passkey.ErrAttestation,
		},
		{
			name:   "packed self attestation signed by another key",
			tweaks: []tweak{func(c *call) { c.format = "packed"; c.attStmt = packedSelf(t, otherKey) }},
			want:   passkey.ErrAttestation,
		},
		{
			name: "unknown attestation format", tweaks: []tweak{func(c *call) { c.format = "made-up" }},
			want: passkey.ErrAttestation, reason: `attestation format "made-up" is not supported`,
		},
		{
			name: "key algorithm not offered", tweaks: []tweak{func(c *call) { c.coseAlg = -65535 }},
			want: passkey.ErrAttestation, reason: "the key's algorithm -65535 was not offered",
		},
		{
			name: "rawId not the attested credential ID",
			tweaks: []tweak{func(c *call) {
				c.responseExtra = map[string]any{"id": b64.EncodeToString([]byte("other")), "rawId": b64.EncodeToString([]byte("other"))}
			}},
			want: passkey.ErrInvalidResponse,
		},
		{name: "not JSON", edit: func(t *testing.T, _ *passkey.Verifier, _ *[]byte, r *json.RawMessage) { *r = json.RawMessage(`{`) }, want: passkey.ErrInvalidResponse},
		{
			name: "attestation object not CBOR",
			edit: func(t *testing.T, _ *passkey.Verifier, _ *[]byte, r *json.RawMessage) {
				m := decode(t, *r)
				m["response"].(map[string]any)["attestationObject"] = b64.EncodeToString([]byte("not cbor"))
				*r = json.RawMessage(mustJSON(t, m))
			},
			want: passkey.ErrInvalidResponse,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, func(c *passkey.Config) {
				if tc.cfg != nil {
					tc.cfg(c)
				}
			})
			a := newAuthenticator(t, testRPID, testOrigin)
			options, session, err := v.BeginRegistration(alice, nil)
			if err != nil {
				t.Fatal(err)
			}
			response := a.create(options, tc.tweaks...)
			if tc.edit != nil {
				tc.edit(t, v, &session, &response)
			}
			_, err = v.FinishRegistration(alice, session, response)
			checkRefusal(t, err, tc.want, append(a.keyMaterial(), []byte(challengeOf(t, options)))...)
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
		})
	}
}

// Browsers add members over time, to the credential, to its response, to
// the client data and to the extension results, and authenticators add
// extension outputs: a response with members this package does not know,
// or outputs it did not ask for, is accepted.
func TestUnknownMembersAccepted(t *testing.T) {
	extra := func(c *call) {
		c.responseExtra = map[string]any{"futureMember": map[string]any{"nested": []int{1, 2}}, "authenticatorAttachment": "holographic"}
		c.innerExtra = map[string]any{"somethingNew": "x", "transports": []string{"internal", "smoke-signal"}}
		c.clientExtra = map[string]any{"other_keys_can_be_added_here": "do not compare clientDataJSON against a template"}
		c.extensionResults = map[string]any{"credProps": map[string]any{"rk": true}, "someFutureExtension": 1}
		// Some security keys apply credProtect unasked and say so.
		c.authExt = cborMap(cborText("credProtect"), cborInt(2))
	}
	v := newVerifier(t)
	a := newAuthenticator(t, testRPID, testOrigin)
	options, session, err := v.BeginRegistration(alice, nil)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := v.FinishRegistration(alice, session, a.create(options, extra))
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	if !slices.Equal(cred.Transports, []string{"internal", "smoke-signal"}) {
		t.Errorf("transports %v", cred.Transports)
	}
	creds := []passkey.Credential{cred}
	options, session, err = v.BeginLogin(alice, creds)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.FinishLogin(alice, session, creds, a.get(options, extra)); err != nil {
		t.Fatalf("FinishLogin: %v", err)
	}
}

// With Attestation "direct" the options ask for it, and a "packed" self
// attestation is verified and reported.
func TestDirectAttestation(t *testing.T) {
	v := newVerifier(t, func(c *passkey.Config) { c.Attestation = passkey.AttestationDirect })
	a := newAuthenticator(t, testRPID, testOrigin)
	options, session, err := v.BeginRegistration(alice, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(t, options)["publicKey"].(map[string]any)["attestation"]; got != "direct" {
		t.Errorf("attestation %v, want direct", got)
	}
	cred, err := v.FinishRegistration(alice, session, a.create(options, func(c *call) { c.format = "packed"; c.attStmt = packedSelf(t, a.key) }))
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	if cred.AttestationFormat != "packed" || cred.AttestationType != "basic_surrogate" {
		t.Errorf("attestation %q/%q, want packed/basic_surrogate", cred.AttestationFormat, cred.AttestationType)
	}
}

// A Verifier is used by many requests at once.
func TestConcurrentLogins(t *testing.T) {
	v := newVerifier(t)
	var wg sync.WaitGroup
	for range 8 {
		a := newAuthenticator(t, testRPID, testOrigin)
		cred := register(t, v, a, alice)
		wg.Go(func() {
			creds := []passkey.Credential{cred}
			for range 5 {
				options, session, err := v.BeginLogin(alice, creds)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := v.FinishLogin(alice, session, creds, a.get(options)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestCounterValid(t *testing.T) {
	for _, tc := range []struct {
		stored, presented uint32
		want              bool
	}{
		{0, 0, true},  // no counter
		{0, 1, true},  // first use of a counting authenticator
		{5, 6, true},  // advanced
		{5, 90, true}, // advanced by more than one: used elsewhere (another RP)
		{5, 5, false}, // not advanced: replay or clone
		{5, 4, false}, // went back: clone
		{5, 0, false}, // a counting authenticator now presents 0
		{1<<32 - 2, 1<<32 - 1, true},
		{1<<32 - 1, 0, false}, // no wrap-around
	} {
		if got := passkey.CounterValid(tc.stored, tc.presented); got != tc.want {
			t.Errorf("CounterValid(%d, %d) = %v, want %v", tc.stored, tc.presented, got, tc.want)
		}
	}
}

func TestNewRefusesConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(*passkey.Config)
		field string
	}{
		{"no RPID", func(c *passkey.Config) { c.RPID = "" }, "RPID"},
		{"RPID with a scheme", func(c *passkey.Config) { c.RPID = "https://example.com" }, "RPID"},
		{"RPID with a port", func(c *passkey.Config) { c.RPID = "example.com:443" }, "RPID"},
		{"RPID an IP address", func(c *passkey.Config) { c.RPID = "192.0.2.1" }, "RPID"},
		{"RPID in upper case", func(c *passkey.Config) { c.RPID = "Example.com" }, "RPID"},
		{"RPID with a trailing dot", func(c *passkey.Config) { c.RPID = "example.com." }, "RPID"},
		{"RPID a single label", func(c *passkey.Config) { c.RPID = "intranet" }, "RPID"},
		{"no display name", func(c *passkey.Config) { c.RPDisplayName = " " }, "RPDisplayName"},
		{"no origins", func(c *passkey.Config) { c.Origins = nil }, "Origins"},
		{"origin over http", func(c *passkey.Config) { c.Origins = []string{"http://example.com"} }, "Origins[0]"},
		{"origin with a path", func(c *passkey.Config) { c.Origins = []string{testOrigin, "https://example.com/login"} }, "Origins[1]"},
		{"origin with a trailing slash", func(c *passkey.Config) { c.Origins = []string{"https://example.com/"} }, "Origins[0]"},
		{"origin with a query", func(c *passkey.Config) { c.Origins = []string{"https://example.com?x"} }, "Origins[0]"},
		{"origin of another site", func(c *passkey.Config) { c.Origins = []string{"https://example.org"} }, "Origins[0]"},
		{"origin of a look-alike", func(c *passkey.Config) { c.Origins = []string{"https://badexample.com"} }, "Origins[0]"},
		{"origin without a scheme", func(c *passkey.Config) { c.Origins = []string{"example.com"} }, "Origins[0]"},
		{"origin of an app", func(c *passkey.Config) { c.Origins = []string{"android:apk-key-hash:abc"} }, "Origins[0]"},
		{"unknown user verification", func(c *passkey.Config) { c.UserVerification = "always" }, "UserVerification"},
		{"unknown attestation", func(c *passkey.Config) { c.Attestation = "enterprise" }, "Attestation"},
		{"negative timeout", func(c *passkey.Config) { c.Timeout = -1 }, "Timeout"},
		{"timeout under a second", func(c *passkey.Config) { c.Timeout = 999 * time.Millisecond }, "Timeout"},
		{"timeout past mfa.PasskeyTTL", func(c *passkey.Config) { c.Timeout = mfa.PasskeyTTL + time.Second }, "Timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := passkey.Config{RPID: testRPID, RPDisplayName: "Acme", Origins: []string{testOrigin}}
			tc.edit(&cfg)
			v, err := passkey.New(cfg)
			if v != nil || !errors.Is(err, passkey.ErrInvalidConfig) {
				t.Fatalf("New = %v, %v; want an ErrInvalidConfig", v, err)
			}
			var e *passkey.Error
			if !errors.As(err, &e) || e.Field != tc.field {
				t.Errorf("error %v names field %q, want %q", err, e.Field, tc.field)
			}
		})
	}
}

func TestNewAccepts(t *testing.T) {
	for _, cfg := range []passkey.Config{
		{RPID: "example.com", RPDisplayName: "Acme", Origins: []string{"https://example.com", "https://login.example.com:8443", "HTTPS://WWW.Example.com"}},
		{RPID: "localhost", RPDisplayName: "Dev", Origins: []string{"http://localhost:8080", "https://localhost"}},
		{RPID: "login.example.com", RPDisplayName: "Acme", Origins: []string{"https://login.example.com"}, UserVerification: "required", Attestation: "indirect", Timeout: time.Second},
	} {
		if _, err := passkey.New(cfg); err != nil {
			t.Errorf("New(%+v): %v", cfg, err)
		}
	}
}

// An origin configured in another case than the browser writes it still
// matches.
func TestOriginCase(t *testing.T) {
	v := newVerifier(t, func(c *passkey.Config) { c.Origins = []string{"HTTPS://Example.COM"} })
	a := newAuthenticator(t, testRPID, testOrigin)
	register(t, v, a, alice)
}

func TestBeginRefusesInput(t *testing.T) {
	v := newVerifier(t)
	key := []byte{0xa0}
	for _, tc := range []struct {
		name  string
		call  func() error
		want  error
		field string
	}{
		{"registration without a user handle", func() error {
			_, _, err := v.BeginRegistration(passkey.User{Name: "x"}, nil)
			return err
		}, passkey.ErrInvalidInput, "User.ID"},
		{"registration with a 65-byte user handle", func() error {
			_, _, err := v.BeginRegistration(passkey.User{ID: make([]byte, 65), Name: "x"}, nil)
			return err
		}, passkey.ErrInvalidInput, "User.ID"},
		{"registration without a name", func() error {
			_, _, err := v.BeginRegistration(passkey.User{ID: []byte{1}}, nil)
			return err
		}, passkey.ErrInvalidInput, "User.Name"},
		{"registration excluding a credential without an ID", func() error {
			_, _, err := v.BeginRegistration(alice, []passkey.Credential{{ID: []byte{1}}, {}})
			return err
		}, passkey.ErrInvalidInput, "exclude[1].ID"},
		{"login without credentials", func() error {
			_, _, err := v.BeginLogin(alice, nil)
			return err
		}, passkey.ErrNoCredentials, ""},
		{"login with a credential without a key", func() error {
			_, _, err := v.BeginLogin(alice, []passkey.Credential{{ID: []byte{1}, PublicKey: key}, {ID: []byte{2}}})
			return err
		}, passkey.ErrInvalidInput, "credentials[1].PublicKey"},
		{"login without a user handle", func() error {
			_, _, err := v.BeginLogin(passkey.User{}, []passkey.Credential{{ID: []byte{1}, PublicKey: key}})
			return err
		}, passkey.ErrInvalidInput, "User.ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			checkRefusal(t, err, tc.want)
			var e *passkey.Error
			if errors.As(err, &e) && e.Field != tc.field {
				t.Errorf("error %v names field %q, want %q", err, e.Field, tc.field)
			}
		})
	}
	// A 64-byte handle is the longest allowed.
	if _, _, err := v.BeginRegistration(passkey.User{ID: make([]byte, passkey.MaxUserIDLength), Name: "x"}, nil); err != nil {
		t.Errorf("64-byte user handle: %v", err)
	}
}

func TestErrorText(t *testing.T) {
	_, err := passkey.New(passkey.Config{RPID: testRPID, RPDisplayName: "Acme", Origins: []string{"http://example.com"}})
	const want = `passkey: invalid configuration: Origins[0]: "http://example.com": http is allowed only for localhost; use https`
	if err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}
