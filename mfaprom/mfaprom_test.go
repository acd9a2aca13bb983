package mfaprom_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfaprom"
	"github.com/mfakit/mfa/mfatest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// Identifying values the flow uses, none of which may reach a label.
const (
	flowUser   = "user-3f9c2a7e@example.com"
	flowAction = "transfer-to-acct-88412"
)

func newMetrics(t *testing.T) (*mfaprom.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := mfaprom.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// count returns the value of the series of name with the given labels
// ("k=v" pairs), and fails if there is no such series.
func count(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			if slices.Equal(labelPairs(s), labels) {
				return s.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no series %s%v (a label value mfaprom does not know is counted as \"other\": is it missing from a list in mfaprom.go?)", name, labels)
	return 0
}

func labelPairs(s *dto.Metric) []string {
	var pairs []string
	for _, l := range s.GetLabel() {
		pairs = append(pairs, l.GetName()+"="+l.GetValue())
	}
	return pairs
}

func TestCountsEvents(t *testing.T) {
	m, reg := newMetrics(t)
	ctx := context.Background()
	rateLimited := mfa.ErrorCode(mfa.ErrRateLimited)
	for _, e := range []mfa.Event{
		{Type: mfa.EventAuthSucceeded, UserID: "u1", DeviceID: "d1", Method: mfa.MethodTOTP},
		{Type: mfa.EventAuthSucceeded, UserID: "u1", Method: mfa.MethodRecoveryCode, Remaining: 3},
		{Type: mfa.EventAuthFailed, UserID: "u1", Method: mfa.MethodTOTP, ErrorCode: "mfa_invalid_code", Failures: 1},
		{Type: mfa.EventAuthFailed, UserID: "u1", Method: mfa.MethodTOTP, ErrorCode: "mfa_invalid_code", Failures: 2},
		{Type: mfa.EventAuthFailed, UserID: "u1", Method: mfa.MethodRecoveryCode, ErrorCode: rateLimited},
		{Type: mfa.EventReplayRefused, UserID: "u1", Method: mfa.MethodTOTP, ErrorCode: "mfa_code_reused"},
		{Type: mfa.EventLockedOut, UserID: "u1", Failures: 5, RetryAfter: time.Minute},
		{Type: mfa.EventTokenIssued, UserID: "u1", Scopes: []string{"s"}, SingleUse: true},
		{Type: mfa.EventTokenIssued, UserID: "u2"},
		{Type: mfa.EventTokenConsumed, UserID: "u1", Action: "a"},
		{Type: mfa.EventTokenValidated, UserID: "u2", Action: "b"},
		{Type: mfa.EventTokenRefused, UserID: "u2", ErrorCode: "mfa_token_expired"},
		{Type: mfa.EventRecoveryCodeUsed, UserID: "u1", Method: mfa.MethodRecoveryCode, Remaining: 1},
		{Type: mfa.EventRecoveryCodesLow, UserID: "u1", Remaining: 1},
		{Type: "something.new", UserID: "u3"},
		{Type: mfa.EventAuthFailed, UserID: "u3", Method: "webauthn"},
	} {
		m.OnEvent(ctx, e)
	}

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"mfa_events_total", []string{"type=auth.succeeded"}, 2},
		{"mfa_events_total", []string{"type=auth.failed"}, 4},
		{"mfa_events_total", []string{"type=token.issued"}, 2},
		{"mfa_events_total", []string{"type=other"}, 1},
		{"mfa_events_total", []string{"type=device.added"}, 0},
		{"mfa_authentications_total", []string{"method=totp", "result=succeeded"}, 1},
		{"mfa_authentications_total", []string{"method=totp", "result=failed"}, 2},
		{"mfa_authentications_total", []string{"method=totp", "result=replay"}, 1},
		{"mfa_authentications_total", []string{"method=totp", "result=rate_limited"}, 0},
		{"mfa_authentications_total", []string{"method=recovery_code", "result=succeeded"}, 1},
		{"mfa_authentications_total", []string{"method=recovery_code", "result=rate_limited"}, 1},
		{"mfa_authentications_total", []string{"method=other", "result=failed"}, 1},
		{"mfa_lockouts_total", nil, 1},
		{"mfa_tokens_issued_total", nil, 2},
		{"mfa_token_checks_total", []string{"result=consumed"}, 1},
		{"mfa_token_checks_total", []string{"result=validated"}, 1},
		{"mfa_token_checks_total", []string{"result=refused"}, 1},
		{"mfa_recovery_codes_low_total", nil, 1},
	} {
		if got := count(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// TestCountsAFlow runs mfakit with the metrics as its OnEvent and checks
// what a login, a replay, a lockout, an action and recovery codes count.
func TestCountsAFlow(t *testing.T) {
	metrics, reg := newMetrics(t)
	ctx := context.Background()
	clock := mfatest.NewClock(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	m, err := mfa.New(mfa.Config{
		Store:   memstore.New(),
		Issuer:  "Acme",
		Keys:    mfatest.Keyring(t),
		Now:     clock.Now,
		Lockout: mfa.LockoutConfig{Threshold: 3, BaseDelay: time.Minute},
		Actions: map[string]mfa.ActionPolicy{flowAction: {}},
		OnEvent: metrics.OnEvent,
	})
	if err != nil {
		t.Fatal(err)
	}
	runFlow(t, ctx, m, clock)

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"mfa_events_total", []string{"type=device.added"}, 1},
		{"mfa_events_total", []string{"type=device.verified"}, 1},
		{"mfa_events_total", []string{"type=auth.succeeded"}, 9},
		{"mfa_events_total", []string{"type=recovery_code.used"}, 8},
		{"mfa_events_total", []string{"type=user.unlocked"}, 1},
		{"mfa_authentications_total", []string{"method=totp", "result=succeeded"}, 1},
		{"mfa_authentications_total", []string{"method=totp", "result=replay"}, 1},
		{"mfa_authentications_total", []string{"method=totp", "result=failed"}, 2},
		{"mfa_authentications_total", []string{"method=totp", "result=rate_limited"}, 1},
		{"mfa_authentications_total", []string{"method=recovery_code", "result=succeeded"}, 8},
		{"mfa_lockouts_total", nil, 1},
		{"mfa_tokens_issued_total", nil, 1},
		{"mfa_token_checks_total", []string{"result=consumed"}, 1},
		{"mfa_token_checks_total", []string{"result=refused"}, 1},
		{"mfa_recovery_codes_low_total", nil, 1},
	} {
		if got := count(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	assertNoIdentifiers(t, reg, flowUser, flowAction)
}

// runFlow enrols flowUser and logs in with a token for flowAction,
// replays the code (a failure), fails twice more (which locks the user), is refused while
// locked, is unlocked, uses the token twice and then 8 of the 10 recovery
// codes.
func runFlow(t *testing.T, ctx context.Context, m *mfa.MFA, clock *mfatest.Clock) {
	t.Helper()
	reg, err := m.AddDevice(ctx, flowUser)
	if err != nil {
		t.Fatal(err)
	}
	code := mfatest.Code(t, reg.Secret, clock.Now())
	res, err := m.AuthenticateDevice(ctx, flowUser, mfa.AuthenticateRequest{
		Code:           code,
		CreateMFAToken: &mfa.TokenRequest{SingleUse: true, Scopes: []string{flowAction}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.AuthenticateDevice(ctx, flowUser, mfa.AuthenticateRequest{Code: code}); !errors.Is(err, mfa.ErrCodeReused) {
		t.Fatalf("replayed code: %v, want ErrCodeReused", err)
	}
	wrong := wrongCode(code)
	for i := range 2 {
		if _, err := m.AuthenticateDevice(ctx, flowUser, mfa.AuthenticateRequest{Code: wrong}); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("wrong code %d: %v, want ErrInvalidCode", i+1, err)
		}
	}
	if _, err := m.AuthenticateDevice(ctx, flowUser, mfa.AuthenticateRequest{Code: wrong}); !errors.Is(err, mfa.ErrRateLimited) {
		t.Fatalf("wrong code while locked: %v, want ErrRateLimited", err)
	}
	if err := m.UnlockUser(ctx, flowUser); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AuthorizeAction(ctx, flowUser, flowAction, res.MFAToken.Value); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AuthorizeAction(ctx, flowUser, flowAction, res.MFAToken.Value); !errors.Is(err, mfa.ErrTokenInvalid) {
		t.Fatalf("used token: %v, want ErrTokenInvalid", err)
	}
	codes, err := m.GetRecoveryCodes(ctx, flowUser, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range codes[:8] {
		if _, err := m.AuthenticateRecoveryCode(ctx, flowUser, mfa.RecoveryRequest{Code: c}); err != nil {
			t.Fatal(err)
		}
	}
}

// wrongCode returns a code of the same length that is not code.
func wrongCode(code string) string {
	n, _ := strconv.Atoi(code)
	return fmt.Sprintf("%0*d", len(code), (n+1)%1_000_000)
}

func TestRegisterTwice(t *testing.T) {
	m, reg := newMetrics(t)
	_, err := mfaprom.New(reg)
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		t.Fatalf("second New on one registry: %v, want a prometheus.AlreadyRegisteredError", err)
	}
	// The first still counts, and the registry still gathers.
	m.OnEvent(context.Background(), mfa.Event{Type: mfa.EventLockedOut, UserID: "u"})
	if got := count(t, reg, "mfa_lockouts_total"); got != 1 {
		t.Errorf("mfa_lockouts_total = %v after the failed second New, want 1", got)
	}
}

// TestRegisterNoneOnConflict checks that New registers all of its metrics
// or none: a registry that already has one of the names keeps only its own.
func TestRegisterNoneOnConflict(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "mfa_lockouts_total", Help: "someone else's"}))
	if _, err := mfaprom.New(reg); err == nil {
		t.Fatal("New registered over an existing mfa_lockouts_total")
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 1 {
		t.Fatalf("the registry holds %d series (%v) after the failed New, want only the 1 it had", n, err)
	}
	// Nothing of the failed New is left behind to conflict with later.
	if _, err := mfaprom.New(prometheus.WrapRegistererWithPrefix("app_", reg)); err != nil {
		t.Fatalf("New with a prefix after the failed New: %v", err)
	}
}

func TestNilRegisterer(t *testing.T) {
	if _, err := mfaprom.New(nil); err == nil {
		t.Fatal("New(nil) returned no error")
	}
}

// TestLabelsBounded feeds events of many users, devices, scopes, actions,
// error codes and made-up types and methods: the number of series must not
// move, and no label value may carry any of them.
func TestLabelsBounded(t *testing.T) {
	m, reg := newMetrics(t)
	before, err := testutil.GatherAndCount(reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var idents []string
	for i := range 200 {
		user, device := fmt.Sprintf("user-%04d", i), fmt.Sprintf("device-%04d", i)
		scope, action := fmt.Sprintf("scope-%04d", i), fmt.Sprintf("action-%04d", i)
		idents = append(idents, user, device, scope, action)
		for _, typ := range []mfa.EventType{mfa.EventAuthFailed, mfa.EventTokenConsumed, mfa.EventTokenIssued, mfa.EventType(fmt.Sprintf("made.up-%d", i))} {
			m.OnEvent(ctx, mfa.Event{
				Type: typ, UserID: user, DeviceID: device, Scopes: []string{scope}, Action: action,
				Method: mfa.Method(fmt.Sprintf("method-%d", i)), ErrorCode: fmt.Sprintf("code-%d", i), KeyID: fmt.Sprintf("key-%d", i),
			})
		}
	}
	after, err := testutil.GatherAndCount(reg)
	if err != nil {
		t.Fatal(err)
	}
	// At most the "other" series of the type and method labels appear.
	if after > before+2 {
		t.Errorf("%d series after 800 events of 200 users, %d before: a label follows the events' values", after, before)
	}
	assertNoIdentifiers(t, reg, idents...)
}

// assertNoIdentifiers fails if a label of a gathered series has a name
// outside the known ones or a value that contains one of idents.
func assertNoIdentifiers(t *testing.T, reg *prometheus.Registry, idents ...string) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{"type", "method", "result"}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if !slices.Contains(allowed, l.GetName()) {
					t.Errorf("%s has a label %q", mf.GetName(), l.GetName())
				}
				for _, id := range idents {
					if strings.Contains(l.GetValue(), id) {
						t.Errorf("%s{%s=%q} carries %q", mf.GetName(), l.GetName(), l.GetValue(), id)
					}
				}
			}
		}
	}
}

// TestKnowsEveryEventType checks that every mfa.EventType has a series of
// its own rather than being counted as "other".
func TestKnowsEveryEventType(t *testing.T) {
	for _, typ := range mfa.EventTypes() {
		m, reg := newMetrics(t)
		m.OnEvent(context.Background(), mfa.Event{Type: typ})
		if got := count(t, reg, "mfa_events_total", "type="+string(typ)); got != 1 {
			t.Errorf("mfa_events_total{type=%q} = %v after one such event", typ, got)
		}
	}
}
