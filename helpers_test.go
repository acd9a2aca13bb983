package mfa_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
)

// start is the test clock's start: a whole period boundary plus 10 s.
var start = time.Date(2026, 5, 6, 7, 8, 10, 0, time.UTC)

type env struct {
	m      *mfa.MFA
	store  mfa.Store
	clock  *mfatest.Clock
	events *recorder
	keys   *mfa.Keyring
	ctx    context.Context
}

// newEnv returns an MFA on memstore with a test clock and an event
// recorder; mutate adjusts the config before New.
func newEnv(t *testing.T, mutate ...func(*mfa.Config)) *env {
	t.Helper()
	e := &env{store: memstore.New(), clock: mfatest.NewClock(start), events: &recorder{}, keys: mfatest.Keyring(t), ctx: context.Background()}
	cfg := mfa.Config{Store: e.store, Issuer: "Acme", Keys: e.keys, Now: e.clock.Now, OnEvent: e.events.record}
	for _, f := range mutate {
		f(&cfg)
	}
	e.store = cfg.Store
	m, err := mfa.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.m = m
	return e
}

// code returns the code of secret at the clock's time plus steps periods.
func (e *env) code(t *testing.T, secret string, steps int) string {
	t.Helper()
	return mfatest.Code(t, secret, e.clock.Now().Add(time.Duration(steps)*30*time.Second))
}

// enrol adds and verifies a device and returns its secret and the recovery
// codes, still pending acknowledgement. The clock moves to the next step.
func (e *env) enrol(t *testing.T, user string) (string, []string) {
	t.Helper()
	reg, err := e.m.AddDevice(e.ctx, user)
	if err != nil {
		t.Fatalf("AddDevice: %v", err)
	}
	res, err := e.m.AuthenticateDevice(e.ctx, user, mfa.AuthenticateRequest{Code: e.code(t, reg.Secret, 0)})
	if err != nil {
		t.Fatalf("AuthenticateDevice: %v", err)
	}
	if !res.DeviceVerified {
		t.Fatal("first code did not verify the device")
	}
	codes, err := e.m.GetRecoveryCodes(e.ctx, user, false)
	if err != nil {
		t.Fatalf("GetRecoveryCodes: %v", err)
	}
	e.clock.Advance(30 * time.Second)
	return reg.Secret, codes
}

// state returns the user's stored state and lockout, for comparing before
// and after a call that must change nothing.
func (e *env) state(t *testing.T, user string) mfa.UserState {
	t.Helper()
	st, err := e.store.LoadUser(e.ctx, user, e.clock.Now())
	if err != nil {
		t.Fatalf("LoadUser: %v", err)
	}
	return st
}

func (e *env) unchanged(t *testing.T, user string, before mfa.UserState) {
	t.Helper()
	if after := e.state(t, user); !reflect.DeepEqual(before, after) {
		t.Fatalf("state changed:\nbefore %+v\nafter  %+v", before, after)
	}
}

func mustErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

func mustOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// wrong returns a code of the same length that differs from code.
func wrong(code string) string {
	b := []byte(code)
	b[len(b)-1] = '0' + (b[len(b)-1]-'0'+1)%10
	return string(b)
}

type recorder struct {
	mu     sync.Mutex
	events []mfa.Event
}

func (r *recorder) record(_ context.Context, e mfa.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// types returns the recorded event types and forgets them.
func (r *recorder) take() []mfa.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

func (r *recorder) has(typ mfa.EventType) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Type == typ {
			return true
		}
	}
	return false
}

func (r *recorder) json(t *testing.T) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := json.Marshal(r.events)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mustField checks that err matches want and names field.
func mustField(t *testing.T, err, want error, field string) {
	t.Helper()
	var e *mfa.Error
	if !errors.Is(err, want) || !errors.As(err, &e) || e.Field != field {
		t.Fatalf("got error %v, want %v with field %q", err, want, field)
	}
}
