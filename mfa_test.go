package mfa_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
)

func TestNewRejectsBadConfig(t *testing.T) {
	keys := mfatest.Keyring(t)
	good := func() mfa.Config { return mfa.Config{Store: memstore.New(), Issuer: "Acme", Keys: keys} }
	tests := []struct {
		field  string
		mutate func(*mfa.Config)
	}{
		{"Store", func(c *mfa.Config) { c.Store = nil }},
		{"Issuer", func(c *mfa.Config) { c.Issuer = "" }},
		{"Issuer", func(c *mfa.Config) { c.Issuer = "Acme:Corp" }},
		{"Issuer", func(c *mfa.Config) { c.Issuer = "Acme\n" }},
		{"Issuer", func(c *mfa.Config) { c.Issuer = strings.Repeat("a", 129) }},
		{"Keys", func(c *mfa.Config) { c.Keys = nil }},
		{"Keys", func(c *mfa.Config) { c.Keys = &mfa.Keyring{} }},
		{"TOTP.Algorithm", func(c *mfa.Config) { c.TOTP.Algorithm = "MD5" }},
		{"TOTP.Digits", func(c *mfa.Config) { c.TOTP.Digits = 7 }},
		{"TOTP.Digits", func(c *mfa.Config) { c.TOTP.Digits = -6 }},
		{"TOTP.Period", func(c *mfa.Config) { c.TOTP.Period = 1500 * time.Millisecond }},
		{"TOTP.Period", func(c *mfa.Config) { c.TOTP.Period = -time.Second }},
		{"TOTP.Skew", func(c *mfa.Config) { c.TOTP.Skew = 11 }},
		{"TOTP.Skew", func(c *mfa.Config) { c.TOTP.Skew = -2 }},
		{"TOTP.SecretSize", func(c *mfa.Config) { c.TOTP.SecretSize = 10 }},
		{"TOTP.PendingTTL", func(c *mfa.Config) { c.TOTP.PendingTTL = -time.Minute }},
		{"Recovery.Count", func(c *mfa.Config) { c.Recovery.Count = 101 }},
		{"Recovery.Count", func(c *mfa.Config) { c.Recovery.Count = -1 }},
		{"Tokens.SingleUseTTL", func(c *mfa.Config) { c.Tokens.SingleUseTTL = -time.Second }},
		{"Tokens.MaxTTL", func(c *mfa.Config) { c.Tokens.MaxTTL = time.Minute }},
		{"Lockout.MaxFailures", func(c *mfa.Config) { c.Lockout.MaxFailures = 101 }},
		{"Lockout.Threshold", func(c *mfa.Config) { c.Lockout.Threshold = -1 }},
		{"Lockout.MaxDelay", func(c *mfa.Config) { c.Lockout.BaseDelay = time.Hour; c.Lockout.MaxDelay = time.Minute }},
		{"Lockout.BaseDelay", func(c *mfa.Config) { c.Lockout.BaseDelay = -time.Second }},
		{"Lockout.BaseDelay", func(c *mfa.Config) { c.Lockout.BaseDelay = 999 * time.Millisecond }},
		{"Lockout.BaseDelay", func(c *mfa.Config) { c.Lockout.BaseDelay = time.Nanosecond }},
		{"Issuer", func(c *mfa.Config) { c.Issuer = "Acme\u202e" }},
		{"Issuer", func(c *mfa.Config) { c.Issuer = "Ac\u200dme" }},
		{"Issuer", func(c *mfa.Config) { c.Issuer = "\ufeffAcme" }},
		{"Issuer", func(c *mfa.Config) { c.Issuer = "Acme\u3164" }},
		{"Issuer", func(c *mfa.Config) { c.Issuer = "Acme\ufe0f" }},
		{"Issuer", func(c *mfa.Config) { c.Issuer = "Acme\u2028" }},
		{"Issuer", func(c *mfa.Config) { c.Issuer = "Acme\ue000" }},
		{"Issuer", func(c *mfa.Config) { c.Issuer = "Acme\u2800" }},
		{"Issuer", func(c *mfa.Config) { c.Issuer = "Acme\uff1aCorp" }},
		{"Recovery.RevealFor", func(c *mfa.Config) { c.Recovery.RevealFor = -time.Second }},
		{`Actions["bad action"]`, func(c *mfa.Config) { c.Actions = map[string]mfa.ActionPolicy{"bad action": {}} }},
		{`Actions["ok"].Scope`, func(c *mfa.Config) { c.Actions = map[string]mfa.ActionPolicy{"ok": {Scope: "has space"}} }},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			cfg := good()
			tc.mutate(&cfg)
			m, err := mfa.New(cfg)
			if m != nil || !errors.Is(err, mfa.ErrInvalidConfig) {
				t.Fatalf("New: got %v, %v; want ErrInvalidConfig", m, err)
			}
			var e *mfa.Error
			if !errors.As(err, &e) || e.Field != tc.field || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q names field %q, want %q", err, e.Field, tc.field)
			}
		})
	}
	if _, err := mfa.New(good()); err != nil {
		t.Fatalf("New with a good config: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	e := newEnv(t)
	reg, err := e.m.AddDevice(e.ctx, "alice")
	mustOK(t, err)
	// 160-bit secret: 32 base32 characters, unpadded.
	if len(reg.Secret) != 32 || strings.Contains(reg.Secret, "=") {
		t.Fatalf("secret %d chars, want 32 unpadded", len(reg.Secret))
	}
	for _, want := range []string{"algorithm=SHA1", "digits=6", "period=30", "issuer=Acme"} {
		if !strings.Contains(reg.URI, want) {
			t.Errorf("URI %q lacks %s", reg.URI, want)
		}
	}
	// The pending device expires after 10 minutes.
	e.clock.Advance(10*time.Minute - time.Second)
	devices, err := e.m.GetUserDevices(e.ctx, "alice")
	mustOK(t, err)
	if len(devices) != 1 {
		t.Fatal("pending device gone before 10 minutes")
	}
	e.clock.Advance(time.Second)
	devices, err = e.m.GetUserDevices(e.ctx, "alice")
	mustOK(t, err)
	if len(devices) != 0 {
		t.Fatal("pending device still there after 10 minutes")
	}
	_, err = e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, reg.Secret, 0)})
	mustErr(t, err, mfa.ErrNoDevice)
}

func TestErrorsMatchOneSentinelAndHaveCodes(t *testing.T) {
	sentinels := []*mfa.Error{mfa.ErrInvalidCode, mfa.ErrCodeReused, mfa.ErrRateLimited, mfa.ErrDeviceLimit,
		mfa.ErrNoDevice, mfa.ErrDeviceNotFound, mfa.ErrRecoveryCodesAcknowledged, mfa.ErrTokenRequired,
		mfa.ErrTokenInvalid, mfa.ErrTokenExpired, mfa.ErrInvalidInput, mfa.ErrInvalidConfig, mfa.ErrKey, mfa.ErrStore}
	codes := map[string]bool{}
	for _, s := range sentinels {
		if !strings.HasPrefix(s.Code, "mfa_") || codes[s.Code] {
			t.Errorf("sentinel code %q: not mfa_-prefixed or duplicate", s.Code)
		}
		codes[s.Code] = true
		if strings.ToLower(s.Error()[:5]) != s.Error()[:5] || strings.HasSuffix(s.Error(), ".") {
			t.Errorf("error text %q should be lower case without a final period", s.Error())
		}
	}
	for _, want := range []struct {
		err  *mfa.Error
		code string
	}{{mfa.ErrInvalidCode, "mfa_invalid_code"}, {mfa.ErrRateLimited, "mfa_rate_limited"}, {mfa.ErrTokenRequired, "mfa_token_required"}} {
		if want.err.Code != want.code {
			t.Errorf("code %q, want %q", want.err.Code, want.code)
		}
	}
	// A detailed error matches its sentinel and no other.
	e := newEnv(t)
	_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: "12"})
	matched := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			matched++
		}
	}
	if matched != 1 || !errors.Is(err, mfa.ErrInvalidInput) || mfa.ErrorCode(err) != "mfa_invalid_input" {
		t.Fatalf("error %v matches %d sentinels (code %q)", err, matched, mfa.ErrorCode(err))
	}
}
