package mfaotel_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfaotel"
	"github.com/mfakit/mfa/mfatest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// newTracing returns a TracerProvider that records every span in the
// returned recorder.
func newTracing(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, sr
}

// storeOnly hides every optional interface of the store it holds.
type storeOnly struct{ mfa.Store }

func TestConformance(t *testing.T) {
	tp, _ := newTracing(t)
	mfatest.TestStore(t, func(t *testing.T) mfa.Store {
		return mfaotel.WrapStore(memstore.New(), tp)
	})
}

// TestConformanceWithoutCleaner runs the suite on a wrapped store that is
// no Cleaner, with the user ID option on and the global, non-recording
// TracerProvider.
func TestConformanceWithoutCleaner(t *testing.T) {
	mfatest.TestStore(t, func(t *testing.T) mfa.Store {
		return mfaotel.WrapStore(storeOnly{memstore.New()}, nil, mfaotel.WithHashedUserID([]byte("k")))
	})
}

// attr returns the value of k in kvs.
func attr(kvs []attribute.KeyValue, k attribute.Key) (attribute.Value, bool) {
	for _, kv := range kvs {
		if kv.Key == k {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// TestSpans checks the span of a store call: its name, parent, attributes
// and status.
func TestSpans(t *testing.T) {
	tp, sr := newTracing(t)
	s := mfaotel.WrapStore(memstore.New(), tp)
	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	const user = "user-5d1e@example.com"
	if _, err := s.LoadUser(ctx, user, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SwapLockout(ctx, user, mfa.Lockout{}, mfa.Lockout{Failures: 1, LastFailure: time.Now()}); err != nil {
		t.Fatal(err)
	}
	parent.End()

	spans := sr.Ended()
	var names []string
	for _, sp := range spans {
		names = append(names, sp.Name())
	}
	if want := []string{"mfa.store.LoadUser", "mfa.store.SwapLockout", "request"}; !slices.Equal(names, want) {
		t.Fatalf("spans %q, want %q", names, want)
	}
	for _, sp := range spans[:2] {
		if sp.Parent().SpanID() != parent.SpanContext().SpanID() || sp.Parent().TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("%s is not a child of the caller's span", sp.Name())
		}
		method, ok := attr(sp.Attributes(), "mfa.store.method")
		if want := strings.TrimPrefix(sp.Name(), "mfa.store."); !ok || method.AsString() != want {
			t.Errorf("%s: mfa.store.method = %v, want %q", sp.Name(), method.String(), want)
		}
		if sp.Status().Code != codes.Unset {
			t.Errorf("%s: status %v, want Unset", sp.Name(), sp.Status())
		}
		assertNoUserID(t, sp, user)
	}
}

// assertNoUserID fails if a span, or one of its events, carries user in an
// attribute.
func assertNoUserID(t *testing.T, sp sdktrace.ReadOnlySpan, user string) {
	t.Helper()
	check := func(where string, kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			if strings.Contains(kv.Value.String(), user) || strings.HasPrefix(string(kv.Key), "enduser.") {
				t.Errorf("%s carries %s=%s", where, kv.Key, kv.Value.String())
			}
		}
	}
	check(sp.Name(), sp.Attributes())
	for _, e := range sp.Events() {
		check(sp.Name()+" event "+e.Name, e.Attributes)
	}
	if strings.Contains(sp.Status().Description, user) {
		t.Errorf("%s: status description %q carries the user ID", sp.Name(), sp.Status().Description)
	}
}

// TestEveryMethodTraced calls every method of mfa.Store and of the
// optional interfaces through the wrapper and checks that each makes its
// span: a method added to mfa.Store that the wrapper passes on untraced
// fails here.
func TestEveryMethodTraced(t *testing.T) {
	tp, sr := newTracing(t)
	w := reflect.ValueOf(mfaotel.WrapStore(memstore.New(), tp))
	types := []reflect.Type{reflect.TypeFor[mfa.Store]()}
	for _, oi := range optionalInterfaces {
		types = append(types, oi.typ)
	}
	for _, typ := range types {
		for i := range typ.NumMethod() {
			m := typ.Method(i)
			args := []reflect.Value{reflect.ValueOf(context.Background())}
			for j := 1; j < m.Type.NumIn(); j++ {
				args = append(args, reflect.Zero(m.Type.In(j)))
			}
			before := len(sr.Ended())
			w.MethodByName(m.Name).Call(args)
			spans := sr.Ended()[before:]
			if len(spans) != 1 || spans[0].Name() != "mfa.store."+m.Name {
				var names []string
				for _, sp := range spans {
					names = append(names, sp.Name())
				}
				t.Errorf("%s made the spans %q, want one mfa.store.%s: give the wrapper a traced %s", m.Name, names, m.Name, m.Name)
			}
		}
	}
}

func TestFailureStatus(t *testing.T) {
	tp, sr := newTracing(t)
	fs := mfatest.NewFaultStore(memstore.New())
	s := mfaotel.WrapStore(fs, tp)
	ctx := context.Background()
	const user = "user-failing"

	fs.Inject(mfatest.Fault{Method: "LoadUser"})
	if _, err := s.LoadUser(ctx, user, time.Now()); !errors.Is(err, mfatest.ErrInjected) {
		t.Fatalf("LoadUser: %v, want the injected failure", err)
	}
	fs.Inject(mfatest.Fault{Method: "Lockout", Cancel: true})
	if _, err := s.Lockout(ctx, user); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lockout: %v, want context.Canceled", err)
	}
	fs.Clear()
	cctx, cancel := context.WithTimeout(ctx, -time.Second)
	defer cancel()
	if err := s.DeleteUser(cctx, user); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DeleteUser: %v, want context.DeadlineExceeded", err)
	}

	want := []struct {
		name, errorType string
	}{
		{"mfa.store.LoadUser", "_OTHER"},
		{"mfa.store.Lockout", "context.Canceled"},
		{"mfa.store.DeleteUser", "context.DeadlineExceeded"},
	}
	spans := sr.Ended()
	if len(spans) != len(want) {
		t.Fatalf("%d spans, want %d", len(spans), len(want))
	}
	for i, w := range want {
		sp := spans[i]
		if sp.Name() != w.name {
			t.Fatalf("span %d is %s, want %s", i, sp.Name(), w.name)
		}
		if sp.Status().Code != codes.Error || sp.Status().Description == "" {
			t.Errorf("%s: status %+v, want Error with the message", sp.Name(), sp.Status())
		}
		if v, _ := attr(sp.Attributes(), "error.type"); v.AsString() != w.errorType {
			t.Errorf("%s: error.type = %q, want %q", sp.Name(), v.AsString(), w.errorType)
		}
		if _, ok := attr(sp.Attributes(), "mfa.store.outcome"); ok {
			t.Errorf("%s: a failure has an mfa.store.outcome", sp.Name())
		}
		assertNoUserID(t, sp, user)
	}
}

// TestOutcomes checks that the results the Store contract documents as
// errors (a used code, an unknown token, a changed lockout...) are not
// failures: no Error status, and mfa.store.outcome names them.
func TestOutcomes(t *testing.T) {
	tp, sr := newTracing(t)
	s := mfaotel.WrapStore(memstore.New(), tp)
	ctx := context.Background()
	now := time.Now()
	const user = "user-outcomes"

	if err := s.ConsumeToken(ctx, user, [mfa.HashSize]byte{1}, now); !errors.Is(err, mfa.ErrTokenInvalid) {
		t.Fatalf("ConsumeToken: %v", err)
	}
	if err := s.AcceptStep(ctx, user, "no-such-device", 1, now, mfa.Lockout{}); !errors.Is(err, mfa.ErrDeviceNotFound) && !errors.Is(err, mfa.ErrLockoutChanged) {
		t.Fatalf("AcceptStep: %v", err)
	}
	if _, err := s.SwapLockout(ctx, user, mfa.Lockout{}, mfa.Lockout{Failures: 1, LastFailure: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.AcceptStep(ctx, user, "no-such-device", 1, now, mfa.Lockout{}); !errors.Is(err, mfa.ErrLockoutChanged) {
		t.Fatalf("AcceptStep with a stale lockout: %v", err)
	}
	if _, err := s.TakeChallenge(ctx, user, now); !errors.Is(err, mfa.ErrChallengeInvalid) {
		t.Fatalf("TakeChallenge: %v", err)
	}
	// A credential ID another user's passkey holds.
	cred := mfa.PasskeyCredential{ID: []byte("credential")}
	for _, u := range []string{"holder", user} {
		d := mfa.DeviceRecord{ID: u + "-key", UserID: u, Type: mfa.DevicePasskey, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
		if err := s.InsertPendingDevice(ctx, d, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.VerifyPasskey(ctx, "holder", "holder-key", cred, now, mfa.RecoveryCodeSet{}, mfa.Lockout{}, 1); err != nil {
		t.Fatal(err)
	}
	lk, err := s.Lockout(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyPasskey(ctx, user, user+"-key", cred, now, mfa.RecoveryCodeSet{}, lk, 1); !errors.Is(err, mfa.ErrPasskeyRegistered) {
		t.Fatalf("VerifyPasskey of a registered credential: %v", err)
	}

	spans := sr.Ended()
	want := map[int]string{0: "mfa_token_invalid", 1: "mfa_device_not_found", 3: "lockout_changed", 4: "mfa_challenge_invalid", 9: "mfa_passkey_registered"}
	for i, sp := range spans {
		if sp.Status().Code != codes.Unset {
			t.Errorf("%s: status %v, want Unset", sp.Name(), sp.Status())
		}
		if _, ok := attr(sp.Attributes(), "error.type"); ok {
			t.Errorf("%s has an error.type", sp.Name())
		}
		got, _ := attr(sp.Attributes(), "mfa.store.outcome")
		if got.AsString() != want[i] {
			t.Errorf("%s (call %d): mfa.store.outcome = %q, want %q", sp.Name(), i, got.AsString(), want[i])
		}
	}
}

// optionalInterfaces are mfa's optional Store interfaces, which the
// wrapper implements exactly when the inner store does. A new one needs
// an entry here and, in inners below, stores with and without it.
var optionalInterfaces = []struct {
	name string
	typ  reflect.Type
}{
	{"Cleaner", reflect.TypeFor[mfa.Cleaner]()},
}

func TestOptionalInterfaces(t *testing.T) {
	tp, _ := newTracing(t)
	inners := map[string]mfa.Store{
		"memstore":                 memstore.New(),
		"memstore without Cleaner": storeOnly{memstore.New()},
		"FaultStore":               mfatest.NewFaultStore(memstore.New()),
	}
	for name, inner := range inners {
		w := mfaotel.WrapStore(inner, tp)
		for _, oi := range optionalInterfaces {
			has := reflect.TypeOf(inner).Implements(oi.typ)
			if got := reflect.TypeOf(w).Implements(oi.typ); got != has {
				t.Errorf("%s (a %s: %v): the wrapper is a %s: %v", name, oi.name, has, oi.name, got)
			}
		}
	}

	// MFA.Cleanup through a wrapper of a store that cannot clean up does
	// nothing, as without the wrapper.
	m, err := mfa.New(mfa.Config{Store: mfaotel.WrapStore(storeOnly{memstore.New()}, tp), Issuer: "Acme", Keys: mfatest.Keyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Cleanup(context.Background()); err != nil {
		t.Errorf("Cleanup through a wrapper of a store that is no Cleaner: %v", err)
	}
}

// TestOptionalInterfacesListed checks optionalInterfaces against store.go:
// every interface declared there that mfa.Store does not embed, nor is,
// is optional.
func TestOptionalInterfacesListed(t *testing.T) {
	const path = "../store.go"
	if _, err := os.Stat(path); err != nil {
		t.Skipf("the mfa package's source is not beside this module: %v", err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]*ast.InterfaceType{}
	ast.Inspect(f, func(n ast.Node) bool {
		if ts, ok := n.(*ast.TypeSpec); ok {
			if it, ok := ts.Type.(*ast.InterfaceType); ok {
				declared[ts.Name.Name] = it
			}
		}
		return true
	})
	store, ok := declared["Store"]
	if !ok {
		t.Fatal("store.go declares no Store interface")
	}
	delete(declared, "Store")
	for _, field := range store.Methods.List {
		if id, ok := field.Type.(*ast.Ident); ok && len(field.Names) == 0 {
			delete(declared, id.Name)
		}
	}
	var optional, listed []string
	for name := range declared {
		optional = append(optional, name)
	}
	for _, oi := range optionalInterfaces {
		listed = append(listed, oi.name)
	}
	slices.Sort(optional)
	slices.Sort(listed)
	if !slices.Equal(optional, listed) {
		t.Errorf("store.go declares the optional interfaces %q, the wrapper handles %q", optional, listed)
	}
}

func TestUserIDOptions(t *testing.T) {
	const user = "user-7a@example.com"
	key := []byte("a key of the service, not mfakit's")
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(user))
	pseudo := hex.EncodeToString(mac.Sum(nil)[:16])

	for _, c := range []struct {
		name  string
		opts  []mfaotel.Option
		key   attribute.Key
		value string
	}{
		{"default", nil, "", ""},
		{"WithHashedUserID", []mfaotel.Option{mfaotel.WithHashedUserID(key)}, "enduser.pseudo.id", pseudo},
		{"WithUserID", []mfaotel.Option{mfaotel.WithUserID()}, "enduser.id", user},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp, sr := newTracing(t)
			s := mfaotel.WrapStore(memstore.New(), tp, c.opts...)
			ctx := context.Background()
			if _, err := s.LoadUser(ctx, user, time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := s.(mfa.Cleaner).Cleanup(ctx, time.Now(), time.Now()); err != nil {
				t.Fatal(err)
			}
			spans := sr.Ended()
			if c.key == "" {
				assertNoUserID(t, spans[0], user)
			} else if v, ok := attr(spans[0].Attributes(), c.key); !ok || v.AsString() != c.value {
				t.Errorf("%s = %q, want %q", c.key, v.AsString(), c.value)
			}
			// Cleanup concerns no user.
			assertNoUserID(t, spans[1], user)
		})
	}
}

func TestWithHashedUserIDNeedsAKey(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("WithHashedUserID(nil) did not panic")
		}
	}()
	mfaotel.WithHashedUserID(nil)
}
