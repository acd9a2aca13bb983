package mfa_test

import (
	"context"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
)

// TestNoSecretsInEventsErrorsOrJSON runs every flow, collecting each event,
// error text, log line and JSON document mfakit produces, and searches them
// for the TOTP secret, the codes and the tokens.
func TestNoSecretsInEventsErrorsOrJSON(t *testing.T) {
	var logs strings.Builder
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	e := newEnv(t, func(c *mfa.Config) {
		rec := c.OnEvent
		c.OnEvent = func(ctx context.Context, ev mfa.Event) {
			rec(ctx, ev)
			logger.Info("mfa event", "event", ev)
		}
		c.Logger = logger
	})
	var secrets []string
	var texts []string
	note := func(err error) {
		if err != nil {
			texts = append(texts, err.Error(), fmt.Sprintf("%+v %#v", err, err))
		}
	}

	reg, err := e.m.AddDevice(e.ctx, "alice")
	mustOK(t, err)
	raw, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(reg.Secret)
	secrets = append(secrets, reg.Secret, strings.ToLower(reg.Secret), hex.EncodeToString(raw), string(raw))
	texts = append(texts, fmt.Sprintf("%v %+v %s", reg, reg, reg), fmt.Sprintf("%#v", reg))

	first := e.code(t, reg.Secret, 0)
	res, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: first, CreateMFAToken: &mfa.TokenRequest{SingleUse: true}})
	mustOK(t, err)
	secrets = append(secrets, res.MFAToken.Value)
	texts = append(texts, fmt.Sprintf("%v %+v %#v", res.MFAToken, res.MFAToken, res.MFAToken))
	_, err = e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: first})
	note(err)
	_, err = e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: wrong(first)})
	note(err)

	codes, err := e.m.GetRecoveryCodes(e.ctx, "alice", false)
	mustOK(t, err)
	for _, c := range codes {
		secrets = append(secrets, c, strings.ReplaceAll(c, "-", ""))
	}
	_, err = e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: codes[0]})
	mustOK(t, err)
	_, err = e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: codes[0]})
	note(err)
	_, err = e.m.ValidateMFAToken(e.ctx, "alice", res.MFAToken.Value, "user:update")
	mustOK(t, err)
	_, err = e.m.ValidateMFAToken(e.ctx, "alice", res.MFAToken.Value, "user:update")
	note(err)
	_, err = e.m.ValidateMFAToken(e.ctx, "bob", res.MFAToken.Value, "user:update")
	note(err)
	for range 6 {
		_, err = e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: wrong(e.code(t, reg.Secret, 0))})
		note(err)
	}
	newCodes, err := e.m.GetNewRecoveryCodes(e.ctx, "alice")
	mustOK(t, err)
	for _, c := range newCodes {
		secrets = append(secrets, c, strings.ReplaceAll(c, "-", ""))
	}
	devices, err := e.m.GetUserDevices(e.ctx, "alice")
	mustOK(t, err)
	js, err := json.Marshal(devices)
	mustOK(t, err)
	texts = append(texts, string(js), fmt.Sprintf("%+v", devices))

	texts = append(texts, e.events.json(t), logs.String())
	if len(e.events.take()) < 10 {
		t.Fatal("too few events recorded for the check to mean anything")
	}
	all := strings.Join(texts, "\n")
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("secret material %q appears in events, errors, logs or JSON", s)
		}
	}
	// The codes typed (right or wrong) never appear either.
	for _, c := range []string{first, wrong(first)} {
		if strings.Contains(all, c) {
			t.Errorf("TOTP code %s appears in output", c)
		}
	}
}

// failingStore fails one method with a given error.
type failingStore struct {
	*memstore.Store
	method string
	err    error
}

func (s *failingStore) fail(m string) error {
	if s.method == m {
		return s.err
	}
	return nil
}

func (s *failingStore) LoadUser(ctx context.Context, u string, now time.Time) (mfa.UserState, error) {
	if err := s.fail("LoadUser"); err != nil {
		return mfa.UserState{}, err
	}
	return s.Store.LoadUser(ctx, u, now)
}

func (s *failingStore) AcceptStep(ctx context.Context, u, d string, step int64, at time.Time, lk mfa.Lockout) error {
	if err := s.fail("AcceptStep"); err != nil {
		return err
	}
	return s.Store.AcceptStep(ctx, u, d, step, at, lk)
}

func (s *failingStore) SwapLockout(ctx context.Context, u string, old, next mfa.Lockout) (bool, error) {
	if err := s.fail("SwapLockout"); err != nil {
		return false, err
	}
	return s.Store.SwapLockout(ctx, u, old, next)
}

func (s *failingStore) ConsumeRecoveryCode(ctx context.Context, u string, h [mfa.HashSize]byte, at time.Time, lk mfa.Lockout) (int, error) {
	if err := s.fail("ConsumeRecoveryCode"); err != nil {
		return 0, err
	}
	return s.Store.ConsumeRecoveryCode(ctx, u, h, at, lk)
}

// TestStoreFailuresAreSurfaced: a store failure comes back as ErrStore
// wrapping the store's error, never as a wrong code.
func TestStoreFailuresAreSurfaced(t *testing.T) {
	fs := &failingStore{Store: memstore.New()}
	e := newEnv(t, func(c *mfa.Config) { c.Store = fs })
	secret, codes := e.enrol(t, "alice")
	boom := errors.New("connection reset")
	next := 0
	for _, method := range []string{"LoadUser", "SwapLockout", "AcceptStep", "ConsumeRecoveryCode"} {
		for _, cause := range []error{boom, context.DeadlineExceeded} {
			fs.method, fs.err = method, cause
			code := e.code(t, secret, 0)
			if method == "SwapLockout" {
				code = wrong(code) // only failures are counted with SwapLockout
			}
			_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: code})
			if method != "ConsumeRecoveryCode" {
				if !errors.Is(err, mfa.ErrStore) || !errors.Is(err, cause) || errors.Is(err, mfa.ErrInvalidCode) {
					t.Fatalf("%s failing with %v: AuthenticateDevice returned %v", method, cause, err)
				}
			}
			rc := codes[next]
			if method == "SwapLockout" {
				rc = "aaaa-bbbb-cccc-dddd"
			}
			_, err = e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: rc})
			if err == nil {
				next++ // that code is used up
			}
			if method != "AcceptStep" {
				if !errors.Is(err, mfa.ErrStore) || !errors.Is(err, cause) || errors.Is(err, mfa.ErrInvalidCode) {
					t.Fatalf("%s failing with %v: AuthenticateRecoveryCode returned %v", method, cause, err)
				}
			}
			fs.method = ""
			e.clock.Advance(time.Hour) // past any lockout the counted attempts caused
		}
	}
}

// TestValuesFormatWithoutSecrets: a Token, Key or FlowState formatted or
// marshalled as a value, not only through a pointer, hides its secrets.
func TestValuesFormatWithoutSecrets(t *testing.T) {
	e := newEnv(t)
	f := e.m.NewSyncFlow("alice", nil)
	st, err := f.Sync(e.ctx, []string{mfa.ScopeRequiresAdditionalAuth})
	mustOK(t, err)
	reg := st.Registration
	st, err = f.SubmitOTP(e.ctx, e.code(t, reg.Secret, 0))
	mustOK(t, err)
	codes := st.RecoveryCodes
	e.clock.Advance(30 * time.Second)
	res, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, reg.Secret, 0), CreateMFAToken: &mfa.TokenRequest{}})
	mustOK(t, err)
	tok := *res.MFAToken
	k, err := mfa.GenerateKey("k")
	mustOK(t, err)
	keyJSON, err := json.Marshal(struct{ K mfa.Key }{k})
	mustOK(t, err)
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "token", tok, "key", k, "state", st, "reg", reg)
	out := strings.Join([]string{
		fmt.Sprintf("%v %+v %#v %s", tok, tok, tok, []mfa.Token{tok}),
		fmt.Sprintf("%v %+v %#v", st, st, st),
		string(keyJSON), logs.String(),
	}, "\n")
	secrets := append([]string{tok.Value, reg.Secret, k.Encode()[2:]}, codes...)
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("%q appears in formatted output", s)
		}
	}
}
