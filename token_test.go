package mfa_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
)

func TestTokens(t *testing.T) {
	e := newEnv(t)
	secret, _ := e.enrol(t, "alice")
	issue := func(r mfa.TokenRequest) *mfa.Token {
		t.Helper()
		res, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, secret, 0), CreateMFAToken: &r})
		mustOK(t, err)
		e.clock.Advance(30 * time.Second)
		if res.MFAToken == nil || !strings.HasPrefix(res.MFAToken.Value, "mfat_") || len(res.MFAToken.Value) != 48 {
			t.Fatalf("token %+v", res.MFAToken)
		}
		return res.MFAToken
	}

	t.Run("SingleUse", func(t *testing.T) {
		tok := issue(mfa.TokenRequest{SingleUse: true, Scopes: []string{"user:update"}})
		if !tok.ExpiresAt.Equal(e.clock.Now().Add(-30 * time.Second).Add(5 * time.Minute)) {
			t.Fatalf("single-use token expires at %v, want 5 min after issue", tok.ExpiresAt)
		}
		got, err := e.m.ValidateMFAToken(e.ctx, "alice", tok.Value, "user:update")
		mustOK(t, err)
		if got.Value != "" || !got.SingleUse {
			t.Fatalf("validated token %+v", got)
		}
		_, err = e.m.ValidateMFAToken(e.ctx, "alice", tok.Value, "user:update")
		mustErr(t, err, mfa.ErrTokenInvalid)
		if !e.events.has(mfa.EventTokenConsumed) || !e.events.has(mfa.EventTokenRefused) {
			t.Fatal("missing token events")
		}
	})
	t.Run("Persistent", func(t *testing.T) {
		tok := issue(mfa.TokenRequest{})
		for range 3 {
			_, err := e.m.ValidateMFAToken(e.ctx, "alice", tok.Value, "anything")
			mustOK(t, err)
		}
		e.clock.Set(tok.ExpiresAt.Add(-time.Nanosecond))
		_, err := e.m.ValidateMFAToken(e.ctx, "alice", tok.Value, "anything")
		mustOK(t, err)
		e.clock.Set(tok.ExpiresAt)
		_, err = e.m.ValidateMFAToken(e.ctx, "alice", tok.Value, "anything")
		mustErr(t, err, mfa.ErrTokenExpired)
	})
	t.Run("Scopes", func(t *testing.T) {
		tok := issue(mfa.TokenRequest{Scopes: []string{"user:update"}})
		_, err := e.m.ValidateMFAToken(e.ctx, "alice", tok.Value, mfa.ScopeCredentialUnlink)
		mustErr(t, err, mfa.ErrTokenInvalid)
		_, err = e.m.ValidateMFAToken(e.ctx, "alice", tok.Value, "user:update")
		mustOK(t, err)
	})
	t.Run("TTL", func(t *testing.T) {
		tok := issue(mfa.TokenRequest{TTL: 42 * time.Second})
		if got := tok.ExpiresAt.Sub(e.clock.Now().Add(-30 * time.Second)); got != 42*time.Second {
			t.Fatalf("TTL %s, want 42s", got)
		}
		tok = issue(mfa.TokenRequest{})
		if got := tok.ExpiresAt.Sub(e.clock.Now().Add(-30 * time.Second)); got != 10*time.Minute {
			t.Fatalf("persistent default TTL %s, want 10m", got)
		}
		before := e.state(t, "alice")
		for _, r := range []mfa.TokenRequest{{TTL: 2 * time.Hour}, {TTL: -time.Second}, {Scopes: []string{""}}, {Scopes: []string{"a b"}}, {Scopes: make([]string, 17)}} {
			_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, secret, 0), CreateMFAToken: &r})
			mustErr(t, err, mfa.ErrInvalidInput)
		}
		e.unchanged(t, "alice", before)
	})
	t.Run("WrongUser", func(t *testing.T) {
		tok := issue(mfa.TokenRequest{})
		_, err := e.m.ValidateMFAToken(e.ctx, "bob", tok.Value, "user:update")
		mustErr(t, err, mfa.ErrTokenInvalid)
	})
	t.Run("EmptyScope", func(t *testing.T) {
		tok := issue(mfa.TokenRequest{SingleUse: true})
		_, err := e.m.ValidateMFAToken(e.ctx, "alice", tok.Value, "")
		mustField(t, err, mfa.ErrInvalidInput, "scope")
		// The refusal left the single-use token unspent.
		_, err = e.m.ValidateMFAToken(e.ctx, "alice", tok.Value, "user:update")
		mustOK(t, err)
	})
	t.Run("Malformed", func(t *testing.T) {
		_, err := e.m.ValidateMFAToken(e.ctx, "alice", "", "user:update")
		mustErr(t, err, mfa.ErrTokenRequired)
		for _, bad := range []string{"mfat_", "x", strings.Repeat("a", 48), "mfat_" + strings.Repeat("!", 43), "mfat_" + strings.Repeat("a", 44), strings.Repeat("m", 1<<16)} {
			_, err := e.m.ValidateMFAToken(e.ctx, "alice", bad, "user:update")
			mustErr(t, err, mfa.ErrTokenInvalid)
		}
		_, err = e.m.ValidateMFAToken(e.ctx, "alice", "mfat_"+strings.Repeat("a", 43), "user:update")
		mustErr(t, err, mfa.ErrTokenInvalid)
	})
	t.Run("ResetUserRevokes", func(t *testing.T) {
		tok := issue(mfa.TokenRequest{})
		mustOK(t, e.m.ResetUser(e.ctx, "alice"))
		_, err := e.m.ValidateMFAToken(e.ctx, "alice", tok.Value, "user:update")
		mustErr(t, err, mfa.ErrTokenInvalid)
		if !e.events.has(mfa.EventUserReset) {
			t.Fatal("no user.reset event")
		}
	})
}

func TestIsMFARequiredForAction(t *testing.T) {
	e := newEnv(t, func(c *mfa.Config) {
		c.Actions = map[string]mfa.ActionPolicy{
			"change-email":   {},
			"export-data":    {Scope: "data:export", AllowUnenrolled: true},
			"delete-account": {Scope: "user:delete"},
		}
	})
	check := func(user, action string, want bool) {
		t.Helper()
		got, err := e.m.IsMFARequiredForAction(e.ctx, user, action)
		mustOK(t, err)
		if got != want {
			t.Fatalf("IsMFARequiredForAction(%s, %s) = %t, want %t", user, action, got, want)
		}
	}
	check("alice", "change-email", true)
	check("alice", "export-data", false) // not enrolled, and the policy allows that
	check("alice", mfa.ActionCredentialUnlink, true)
	check("alice", mfa.ActionRegenerateRecoveryCodes, true)
	check("alice", mfa.ActionCredentialLink, false) // a first factor needs no token
	e.enrol(t, "alice")
	check("alice", "export-data", true)
	check("alice", mfa.ActionCredentialLink, true)
	if s, ok := e.m.ActionScope("change-email"); !ok || s != "change-email" {
		t.Fatalf("default scope %q, %t", s, ok)
	}
	if s, _ := e.m.ActionScope("delete-account"); s != "user:delete" {
		t.Fatalf("scope %q", s)
	}
	if s, ok := e.m.ActionScope(mfa.ActionRegenerateRecoveryCodes); !ok || s != "recovery_codes:regenerate" {
		t.Fatalf("built-in scope %q, %t", s, ok)
	}
	_, err := e.m.IsMFARequiredForAction(e.ctx, "", "change-email")
	mustErr(t, err, mfa.ErrInvalidInput)
	// A misspelt or unconfigured action fails closed.
	for _, action := range []string{"tranfser", "", "Change-Email", "change-email ", strings.Repeat("a", 65)} {
		_, err := e.m.IsMFARequiredForAction(e.ctx, "alice", action)
		mustField(t, err, mfa.ErrInvalidInput, "action")
		if _, ok := e.m.ActionScope(action); ok {
			t.Fatalf("ActionScope(%q) reports a policy", action)
		}
	}
}

func TestActionPolicyConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		actions map[string]mfa.ActionPolicy
		field   string
	}{
		{"redefines credential:unlink", map[string]mfa.ActionPolicy{mfa.ActionCredentialUnlink: {Persistent: true}}, `Actions["credential:unlink"]`},
		{"redefines recovery_codes:regenerate", map[string]mfa.ActionPolicy{mfa.ActionRegenerateRecoveryCodes: {}}, `Actions["recovery_codes:regenerate"]`},
		{"redefines credential:link", map[string]mfa.ActionPolicy{mfa.ActionCredentialLink: {AllowUnenrolled: false}}, `Actions["credential:link"]`},
		{"empty name", map[string]mfa.ActionPolicy{"": {}}, `Actions[""]`},
		{"name with a space", map[string]mfa.ActionPolicy{"change email": {}}, `Actions["change email"]`},
		{"bad scope", map[string]mfa.ActionPolicy{"a": {Scope: "x y"}}, `Actions["a"].Scope`},
		{"negative MaxTokenAge", map[string]mfa.ActionPolicy{"a": {MaxTokenAge: -time.Second}}, `Actions["a"].MaxTokenAge`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mfa.New(mfa.Config{Store: memstore.New(), Issuer: "Acme", Keys: mfatest.Keyring(t), Actions: tc.actions})
			mustField(t, err, mfa.ErrInvalidConfig, tc.field)
		})
	}
}

// authorizeEnv is an enrolled user "alice" with the actions of
// TestAuthorizeAction, and a helper that issues tokens with a fresh code.
type authorizeEnv struct {
	*env
	secret string
}

func newAuthorizeEnv(t *testing.T) *authorizeEnv {
	e := newEnv(t, func(c *mfa.Config) {
		c.Tokens.MaxTTL = 2 * time.Hour
		c.Actions = map[string]mfa.ActionPolicy{
			"change-email":    {},
			"transfer":        {Scope: "payments", MaxTokenAge: time.Minute},
			"read-statements": {Persistent: true},
			"export":          {Persistent: true, MaxTokenAge: 2 * time.Minute},
			"profile":         {AllowUnenrolled: true},
		}
	})
	secret, _ := e.enrol(t, "alice")
	return &authorizeEnv{env: e, secret: secret}
}

func (e *authorizeEnv) issue(t *testing.T, r mfa.TokenRequest) string {
	t.Helper()
	res, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, e.secret, 0), CreateMFAToken: &r})
	mustOK(t, err)
	e.clock.Advance(30 * time.Second) // the next code is a new step
	return res.MFAToken.Value
}

func TestAuthorizeAction(t *testing.T) {
	type use struct {
		after time.Duration // since the token was issued
		want  error         // nil: authorised
	}
	for _, tc := range []struct {
		name   string
		token  mfa.TokenRequest
		action string
		uses   []use
	}{
		{"a persistent token is consumed by default", mfa.TokenRequest{}, "change-email",
			[]use{{0, nil}, {0, mfa.ErrTokenInvalid}}},
		{"a single-use token is consumed", mfa.TokenRequest{SingleUse: true}, "change-email",
			[]use{{0, nil}, {0, mfa.ErrTokenInvalid}}},
		{"default MaxTokenAge is 5 minutes", mfa.TokenRequest{TTL: time.Hour}, "change-email",
			[]use{{5 * time.Minute, mfa.ErrTokenExpired}, {5*time.Minute - time.Nanosecond, nil}}},
		{"MaxTokenAge of the policy", mfa.TokenRequest{Scopes: []string{"payments"}}, "transfer",
			[]use{{time.Minute, mfa.ErrTokenExpired}, {59 * time.Second, nil}, {59 * time.Second, mfa.ErrTokenInvalid}}},
		{"a Persistent action keeps a persistent token", mfa.TokenRequest{}, "read-statements",
			[]use{{0, nil}, {time.Minute, nil}, {9 * time.Minute, nil}}},
		{"a Persistent action without MaxTokenAge accepts a token until it expires", mfa.TokenRequest{TTL: time.Hour}, "read-statements",
			[]use{{59 * time.Minute, nil}, {time.Hour, mfa.ErrTokenExpired}}},
		{"a Persistent action still consumes a single-use token", mfa.TokenRequest{SingleUse: true}, "read-statements",
			[]use{{0, nil}, {0, mfa.ErrTokenInvalid}}},
		{"a Persistent action with MaxTokenAge", mfa.TokenRequest{}, "export",
			[]use{{time.Minute, nil}, {2 * time.Minute, mfa.ErrTokenExpired}, {time.Minute, nil}}},
		{"a token without the scope is refused and kept", mfa.TokenRequest{Scopes: []string{"user:update"}}, "transfer",
			[]use{{0, mfa.ErrTokenInvalid}, {0, mfa.ErrTokenInvalid}}},
		{"an unscoped token carries the scope", mfa.TokenRequest{}, "transfer",
			[]use{{0, nil}}},
		{"built-in credential:unlink consumes", mfa.TokenRequest{Scopes: []string{mfa.ScopeCredentialUnlink}}, mfa.ActionCredentialUnlink,
			[]use{{0, nil}, {0, mfa.ErrTokenInvalid}}},
		{"built-in recovery_codes:regenerate consumes", mfa.TokenRequest{}, mfa.ActionRegenerateRecoveryCodes,
			[]use{{0, nil}, {0, mfa.ErrTokenInvalid}}},
		{"built-in credential:link consumes", mfa.TokenRequest{Scopes: []string{mfa.ScopeCredentialLink}}, mfa.ActionCredentialLink,
			[]use{{4 * time.Minute, nil}, {4 * time.Minute, mfa.ErrTokenInvalid}}},
		{"built-in actions take the default MaxTokenAge", mfa.TokenRequest{}, mfa.ActionCredentialUnlink,
			[]use{{5 * time.Minute, mfa.ErrTokenExpired}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAuthorizeEnv(t)
			issued := e.clock.Now()
			tok := e.issue(t, tc.token)
			for i, u := range tc.uses {
				e.clock.Set(issued.Add(u.after))
				got, err := e.m.AuthorizeAction(e.ctx, "alice", tc.action, tok)
				if u.want == nil {
					mustOK(t, err)
					if got == nil || got.Value != "" {
						t.Fatalf("use %d: token details %+v, want details without the value", i, got)
					}
					continue
				}
				if !errors.Is(err, u.want) || got != nil {
					t.Fatalf("use %d after %v: got %v, %v; want %v", i, u.after, got, err, u.want)
				}
			}
		})
	}
}

func TestAuthorizeActionRefusals(t *testing.T) {
	e := newAuthorizeEnv(t)
	tok := e.issue(t, mfa.TokenRequest{})
	before := e.state(t, "alice")

	_, err := e.m.AuthorizeAction(e.ctx, "alice", "change-email", "")
	mustErr(t, err, mfa.ErrTokenRequired)
	_, err = e.m.AuthorizeAction(e.ctx, "alice", "tranfser", tok)
	mustField(t, err, mfa.ErrInvalidInput, "action")
	_, err = e.m.AuthorizeAction(e.ctx, "bob", "change-email", tok) // alice's token
	mustErr(t, err, mfa.ErrTokenInvalid)
	bobTok := func() string {
		bob, _ := e.enrol(t, "bob")
		res, err := e.m.AuthenticateDevice(e.ctx, "bob", mfa.AuthenticateRequest{Code: e.code(t, bob, 0), CreateMFAToken: &mfa.TokenRequest{}})
		mustOK(t, err)
		return res.MFAToken.Value
	}()
	_, err = e.m.AuthorizeAction(e.ctx, "alice", "change-email", bobTok)
	mustErr(t, err, mfa.ErrTokenInvalid)
	_, err = e.m.AuthorizeAction(e.ctx, "alice", "change-email", "mfat_"+strings.Repeat("a", 43))
	mustErr(t, err, mfa.ErrTokenInvalid)
	e.unchanged(t, "alice", before)
	// Every refusal left the token for a real use.
	_, err = e.m.AuthorizeAction(e.ctx, "alice", "change-email", tok)
	mustOK(t, err)

	// An action that needs no MFA for this user answers (nil, nil) and
	// leaves any token alone.
	got, err := e.m.AuthorizeAction(e.ctx, "carol", "profile", "")
	if got != nil || err != nil {
		t.Fatalf("AuthorizeAction(unenrolled, AllowUnenrolled) = %v, %v; want nil, nil", got, err)
	}
	got, err = e.m.AuthorizeAction(e.ctx, "carol", mfa.ActionCredentialLink, "")
	if got != nil || err != nil {
		t.Fatalf("AuthorizeAction(unenrolled, credential:link) = %v, %v; want nil, nil", got, err)
	}
	// A user who has not enrolled must enrol before other actions.
	_, err = e.m.AuthorizeAction(e.ctx, "carol", "change-email", "")
	mustErr(t, err, mfa.ErrTokenRequired)

	var consumed []mfa.Event
	for _, ev := range e.events.take() {
		if ev.Type == mfa.EventTokenConsumed {
			consumed = append(consumed, ev)
		}
	}
	if len(consumed) != 1 || consumed[0].Action != "change-email" || consumed[0].UserID != "alice" {
		t.Fatalf("token.consumed events %+v, want one for change-email", consumed)
	}
}

// TestAuthorizeActionConcurrent races callers with one persistent token on
// an action that consumes it: exactly one is authorised.
func TestAuthorizeActionConcurrent(t *testing.T) {
	e := newAuthorizeEnv(t)
	tok := e.issue(t, mfa.TokenRequest{})
	const n = 32
	var wg sync.WaitGroup
	var wins atomic.Int32
	for range n {
		wg.Go(func() {
			_, err := e.m.AuthorizeAction(e.ctx, "alice", "change-email", tok)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, mfa.ErrTokenInvalid):
				t.Errorf("unexpected error %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d of %d concurrent callers authorised with one token, want exactly 1", wins.Load(), n)
	}
}

// TestDeviceRemovalRevokesTokens checks that no token outlives the factor
// that issued it, for a user's own DeleteDevice and an operator's
// RemoveDevice.
func TestDeviceRemovalRevokesTokens(t *testing.T) {
	for _, tc := range []struct {
		name   string
		remove func(e *authorizeEnv, deviceID, token string) error
		event  mfa.EventType
	}{
		{"DeleteDevice", func(e *authorizeEnv, deviceID, token string) error {
			return e.m.DeleteDevice(e.ctx, "alice", deviceID, token)
		}, mfa.EventDeviceDeleted},
		{"RemoveDevice", func(e *authorizeEnv, deviceID, _ string) error {
			return e.m.RemoveDevice(e.ctx, "alice", deviceID)
		}, mfa.EventDeviceRemoved},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAuthorizeEnv(t)
			unlink := e.issue(t, mfa.TokenRequest{Scopes: []string{mfa.ScopeCredentialUnlink}})
			kept := e.issue(t, mfa.TokenRequest{TTL: time.Hour})
			devices, err := e.m.GetUserDevices(e.ctx, "alice")
			mustOK(t, err)
			mustOK(t, tc.remove(e, devices[0].ID, unlink))
			if enrolled, err := e.m.IsEnrolled(e.ctx, "alice"); err != nil || enrolled {
				t.Fatalf("IsEnrolled after removal = %t, %v", enrolled, err)
			}
			for _, action := range []string{"read-statements", "change-email"} {
				_, err := e.m.AuthorizeAction(e.ctx, "alice", action, kept)
				mustErr(t, err, mfa.ErrTokenInvalid)
			}
			_, err = e.m.ValidateMFAToken(e.ctx, "alice", kept, "user:update")
			mustErr(t, err, mfa.ErrTokenInvalid)
			if !e.events.has(tc.event) || !e.events.has(mfa.EventTokensRevoked) {
				t.Fatalf("missing %s or %s event", tc.event, mfa.EventTokensRevoked)
			}
		})
	}
}

// TestTokenScopesCannotBeChanged: the scopes of an issued token are the
// store's, not a slice the caller or an event handler can edit to widen
// what the token allows.
func TestTokenScopesCannotBeChanged(t *testing.T) {
	var tamper func(mfa.Event)
	e := newEnv(t, func(c *mfa.Config) {
		rec := c.OnEvent
		c.OnEvent = func(ctx context.Context, ev mfa.Event) {
			if tamper != nil {
				tamper(ev)
			}
			rec(ctx, ev)
		}
	})
	secret, _ := e.enrol(t, "alice")
	issue := func() *mfa.Token {
		t.Helper()
		res, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, secret, 0), CreateMFAToken: &mfa.TokenRequest{Scopes: []string{"view-report"}}})
		mustOK(t, err)
		e.clock.Advance(30 * time.Second)
		return res.MFAToken
	}
	devices, err := e.m.GetUserDevices(e.ctx, "alice")
	mustOK(t, err)

	tok := issue()
	tok.Scopes[0] = mfa.ScopeCredentialUnlink
	mustErr(t, e.m.DeleteDevice(e.ctx, "alice", devices[0].ID, tok.Value), mfa.ErrTokenInvalid)

	tamper = func(ev mfa.Event) {
		if len(ev.Scopes) > 0 {
			ev.Scopes[0] = mfa.ScopeCredentialUnlink
		}
	}
	tok = issue()
	_, err = e.m.ValidateMFAToken(e.ctx, "alice", tok.Value, "view-report") // a use whose event is tampered with
	mustOK(t, err)
	tamper = nil
	mustErr(t, e.m.DeleteDevice(e.ctx, "alice", devices[0].ID, tok.Value), mfa.ErrTokenInvalid)
}
