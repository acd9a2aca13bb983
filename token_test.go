package mfa_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
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
		_, err := e.m.ValidateMFAToken(e.ctx, "alice", tok.Value, "")
		mustOK(t, err)
		e.clock.Set(tok.ExpiresAt)
		_, err = e.m.ValidateMFAToken(e.ctx, "alice", tok.Value, "")
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
		_, err := e.m.ValidateMFAToken(e.ctx, "bob", tok.Value, "")
		mustErr(t, err, mfa.ErrTokenInvalid)
	})
	t.Run("Malformed", func(t *testing.T) {
		_, err := e.m.ValidateMFAToken(e.ctx, "alice", "", "")
		mustErr(t, err, mfa.ErrTokenRequired)
		for _, bad := range []string{"mfat_", "x", strings.Repeat("a", 48), "mfat_" + strings.Repeat("!", 43), "mfat_" + strings.Repeat("a", 44), strings.Repeat("m", 1<<16)} {
			_, err := e.m.ValidateMFAToken(e.ctx, "alice", bad, "")
			mustErr(t, err, mfa.ErrTokenInvalid)
		}
		_, err = e.m.ValidateMFAToken(e.ctx, "alice", "mfat_"+strings.Repeat("a", 43), "")
		mustErr(t, err, mfa.ErrTokenInvalid)
	})
	t.Run("ResetUserRevokes", func(t *testing.T) {
		tok := issue(mfa.TokenRequest{})
		mustOK(t, e.m.ResetUser(e.ctx, "alice"))
		_, err := e.m.ValidateMFAToken(e.ctx, "alice", tok.Value, "")
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
	check("alice", "unlisted", false)
	e.enrol(t, "alice")
	check("alice", "export-data", true)
	if s, ok := e.m.ActionScope("change-email"); !ok || s != "change-email" {
		t.Fatalf("default scope %q, %t", s, ok)
	}
	if s, _ := e.m.ActionScope("delete-account"); s != "user:delete" {
		t.Fatalf("scope %q", s)
	}
	_, err := e.m.IsMFARequiredForAction(e.ctx, "", "change-email")
	mustErr(t, err, mfa.ErrInvalidInput)
}
