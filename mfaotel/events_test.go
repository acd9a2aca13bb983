package mfaotel_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfaotel"
	"github.com/mfakit/mfa/mfatest"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// newMetering returns a MeterProvider whose measurements reader collects.
func newMetering(t *testing.T) (*sdkmetric.MeterProvider, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return mp, reader
}

// eventCounts collects the mfa.events counter: its value by attribute set,
// written as sorted "k=v" pairs joined by commas.
func eventCounts(t *testing.T, reader *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != mfaotel.ScopeName {
			t.Errorf("a metric of scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			if m.Name != "mfa.events" || m.Unit != "{event}" {
				t.Errorf("a metric %q in %q", m.Name, m.Unit)
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok || !sum.IsMonotonic {
				t.Fatalf("mfa.events is a %T, want a monotonic Sum[int64]", m.Data)
			}
			for _, dp := range sum.DataPoints {
				var pairs []string
				for _, kv := range dp.Attributes.ToSlice() {
					pairs = append(pairs, string(kv.Key)+"="+kv.Value.String())
				}
				counts[strings.Join(pairs, ",")] += dp.Value
			}
		}
	}
	return counts
}

func TestEventCounter(t *testing.T) {
	mp, reader := newMetering(t)
	onEvent, err := mfaotel.EventHandler(mp)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, e := range []mfa.Event{
		{Type: mfa.EventAuthFailed, UserID: "u1", DeviceID: "d1", Method: mfa.MethodTOTP, ErrorCode: "mfa_invalid_code", Failures: 1},
		{Type: mfa.EventAuthFailed, UserID: "u2", DeviceID: "d2", Method: mfa.MethodTOTP, ErrorCode: "mfa_invalid_code", Failures: 3},
		{Type: mfa.EventAuthFailed, UserID: "u1", Method: mfa.MethodRecoveryCode, ErrorCode: "mfa_rate_limited"},
		{Type: mfa.EventAuthSucceeded, UserID: "u1", Method: mfa.MethodTOTP},
		{Type: mfa.EventTokenConsumed, UserID: "u1", Action: "act-1", Scopes: []string{"s-1"}},
		{Type: mfa.EventTokenConsumed, UserID: "u2", Action: "act-2", Scopes: []string{"s-2"}},
		{Type: "made.up", UserID: "u3", Method: "webauthn", ErrorCode: "nope"},
	} {
		onEvent(ctx, e)
	}
	want := map[string]int64{
		"mfa.error_code=mfa_invalid_code,mfa.event.type=auth.failed,mfa.method=totp":          2,
		"mfa.error_code=mfa_rate_limited,mfa.event.type=auth.failed,mfa.method=recovery_code": 1,
		"mfa.event.type=auth.succeeded,mfa.method=totp":                                       1,
		"mfa.event.type=token.consumed":                                                       2,
		"mfa.error_code=other,mfa.event.type=other,mfa.method=other":                          1,
	}
	got := eventCounts(t, reader)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("mfa.events:\n got %v\nwant %v", got, want)
	}
}

// TestSpanEvents checks the events added to the span in the context, and
// that they carry no user or device ID.
func TestSpanEvents(t *testing.T) {
	tp, sr := newTracing(t)
	onEvent, err := mfaotel.EventHandler(nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	const user, device = "user-9b0c@example.com", "device-3e3e"
	for _, e := range []mfa.Event{
		{Type: mfa.EventAuthFailed, Time: at, UserID: user, DeviceID: device, Method: mfa.MethodTOTP, ErrorCode: "mfa_invalid_code", Failures: 4},
		{Type: mfa.EventLockedOut, Time: at, UserID: user, Failures: 5, RetryAfter: 90 * time.Second},
		{Type: mfa.EventTokenIssued, Time: at, UserID: user, Scopes: []string{"change-email"}},
		{Type: mfa.EventTokenValidated, Time: at, UserID: user, Scopes: []string{"change-email"}, Action: "change-email"},
		{Type: mfa.EventRecoveryCodeUsed, Time: at, UserID: user, Method: mfa.MethodRecoveryCode},
		{Type: mfa.EventDeviceReencrypted, Time: at, UserID: user, DeviceID: device, KeyID: "2026-11"},
		{Type: mfa.EventEnrollmentChecked, Time: at, UserID: user},
	} {
		onEvent(ctx, e)
	}
	span.End()
	// Without a recording span the handler only counts.
	onEvent(context.Background(), mfa.Event{Type: mfa.EventUserReset, UserID: user})

	spans := sr.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	assertNoUserID(t, spans[0], user)
	assertNoUserID(t, spans[0], device)
	want := []string{
		"mfa.auth.failed{mfa.event.type=auth.failed mfa.method=totp mfa.error_code=mfa_invalid_code mfa.failures=4}",
		"mfa.auth.locked_out{mfa.event.type=auth.locked_out mfa.failures=5 mfa.retry_after=90}",
		"mfa.token.issued{mfa.event.type=token.issued mfa.token.scopes=[\"change-email\"] mfa.token.single_use=false}",
		"mfa.token.validated{mfa.event.type=token.validated mfa.token.scopes=[\"change-email\"] mfa.token.single_use=false mfa.action=change-email}",
		"mfa.recovery_code.used{mfa.event.type=recovery_code.used mfa.method=recovery_code mfa.recovery_codes.remaining=0}",
		"mfa.device.reencrypted{mfa.event.type=device.reencrypted mfa.key_id=2026-11}",
		"mfa.user.enrollment_checked{mfa.event.type=user.enrollment_checked mfa.enrolled=false}",
	}
	var got []string
	for _, e := range spans[0].Events() {
		if !e.Time.Equal(at) {
			t.Errorf("%s at %v, want the event's time %v", e.Name, e.Time, at)
		}
		got = append(got, e.Name+"{"+strings.Join(kvStrings(e.Attributes), " ")+"}")
	}
	if !slices.Equal(got, want) {
		t.Errorf("span events:\n got %q\nwant %q", got, want)
	}
}

func kvStrings(kvs []attribute.KeyValue) []string {
	var s []string
	for _, kv := range kvs {
		s = append(s, string(kv.Key)+"="+kv.Value.String())
	}
	return s
}

func TestSpanEventsWithHashedUserID(t *testing.T) {
	tp, sr := newTracing(t)
	mp, reader := newMetering(t)
	onEvent, err := mfaotel.EventHandler(mp, mfaotel.WithHashedUserID([]byte("key")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	onEvent(ctx, mfa.Event{Type: mfa.EventUserReset, UserID: "user-1"})
	span.End()
	if _, ok := attr(sr.Ended()[0].Events()[0].Attributes, "enduser.pseudo.id"); !ok {
		t.Error("the span event has no enduser.pseudo.id")
	}
	for set := range eventCounts(t, reader) {
		if strings.Contains(set, "enduser") {
			t.Errorf("the counter has the attributes %s", set)
		}
	}
}

// TestThroughMFA wires both into mfakit: a login within a request's span
// gives that span a child per store call and the login's events.
func TestThroughMFA(t *testing.T) {
	tp, sr := newTracing(t)
	mp, reader := newMetering(t)
	onEvent, err := mfaotel.EventHandler(mp)
	if err != nil {
		t.Fatal(err)
	}
	clock := mfatest.NewClock(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	m, err := mfa.New(mfa.Config{
		Store:   mfaotel.WrapStore(memstore.New(), tp),
		Issuer:  "Acme",
		Keys:    mfatest.Keyring(t),
		Now:     clock.Now,
		OnEvent: onEvent,
	})
	if err != nil {
		t.Fatal(err)
	}
	const user = "user-44c1@example.com"
	ctx := context.Background()
	reg, err := m.AddDevice(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	code := mfatest.Code(t, reg.Secret, clock.Now())
	if _, err := m.AuthenticateDevice(ctx, user, mfa.AuthenticateRequest{Code: code}); err != nil {
		t.Fatal(err)
	}
	sr.Reset()

	rctx, request := tp.Tracer("test").Start(ctx, "POST /login/mfa")
	if _, err := m.AuthenticateDevice(rctx, user, mfa.AuthenticateRequest{Code: code}); !errors.Is(err, mfa.ErrCodeReused) {
		t.Fatalf("replay: %v", err)
	}
	request.End()

	spans := sr.Ended()
	root := spans[len(spans)-1]
	if root.Name() != "POST /login/mfa" {
		t.Fatalf("the last span is %s", root.Name())
	}
	var children []string
	for _, sp := range spans[:len(spans)-1] {
		if sp.Parent().SpanID() != root.SpanContext().SpanID() {
			t.Errorf("%s is not a child of the request", sp.Name())
		}
		children = append(children, sp.Name())
		assertNoUserID(t, sp, user)
	}
	// A replay: the user is loaded, the used step refused in memory, the
	// failure counted.
	if want := []string{"mfa.store.LoadUser", "mfa.store.SwapLockout"}; !slices.Equal(children, want) {
		t.Errorf("store spans %q, want %q", children, want)
	}
	var events []string
	for _, e := range root.Events() {
		events = append(events, e.Name)
	}
	if want := []string{"mfa.auth.replay_refused"}; !slices.Equal(events, want) {
		t.Errorf("span events %q, want %q", events, want)
	}
	assertNoUserID(t, root, user)

	counts := eventCounts(t, reader)
	if got := counts["mfa.error_code=mfa_code_reused,mfa.event.type=auth.replay_refused,mfa.method=totp"]; got != 1 {
		t.Errorf("replays counted: %d, want 1 (%v)", got, counts)
	}
	if got := counts["mfa.event.type=auth.succeeded,mfa.method=totp"]; got != 1 {
		t.Errorf("successes counted: %d, want 1 (%v)", got, counts)
	}
}

// TestKnowsEveryValue checks that every mfa.EventType and error code is
// counted as itself rather than as "other".
func TestKnowsEveryValue(t *testing.T) {
	check := func(what string, e mfa.Event) {
		mp, reader := newMetering(t)
		onEvent, err := mfaotel.EventHandler(mp)
		if err != nil {
			t.Fatal(err)
		}
		onEvent(context.Background(), e)
		for set := range eventCounts(t, reader) {
			if strings.Contains(set, "=other") {
				t.Errorf("%s is counted as %s", what, set)
			}
		}
	}
	for _, typ := range mfa.EventTypes() {
		check("event type "+string(typ), mfa.Event{Type: typ})
	}
	for _, code := range mfa.ErrorCodes() {
		check("error code "+code, mfa.Event{Type: mfa.EventTokenRefused, ErrorCode: code})
	}
}
