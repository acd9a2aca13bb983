package mfatest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
)

// A FaultStore without a fault is the store it wraps: it passes the
// conformance suite.
func TestFaultStoreConformance(t *testing.T) {
	mfatest.TestStore(t, func(*testing.T) mfa.Store { return mfatest.NewFaultStore(memstore.New()) })
}

var faultT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// callEach makes one call of each of a few store methods, in this order,
// and returns their errors.
func callEach(ctx context.Context, s mfa.Store) []error {
	_, e1 := s.LoadUser(ctx, "alice", faultT0)
	_, e2 := s.Token(ctx, "alice", [mfa.HashSize]byte{1})
	_, e3 := s.Lockout(ctx, "alice")
	_, e4 := s.Token(ctx, "alice", [mfa.HashSize]byte{2})
	_, e5 := s.LoadUser(ctx, "alice", faultT0)
	return []error{e1, e2, e3, e4, e5}
}

var callEachMethods = []string{"LoadUser", "Token", "Lockout", "Token", "LoadUser"}

func TestFaultStoreSelectsCalls(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fault  mfatest.Fault
		failed []int // 1-based calls that fail
	}{
		{"ZeroFailsEveryCall", mfatest.Fault{}, []int{1, 2, 3, 4, 5}},
		{"NthCall", mfatest.Fault{Call: 3}, []int{3}},
		{"NthCallAndAfter", mfatest.Fault{Call: 2, Outage: true}, []int{2, 3, 4, 5}},
		{"Method", mfatest.Fault{Method: "Token"}, []int{2, 4}},
		{"NthCallOfMethod", mfatest.Fault{Method: "LoadUser", Call: 2}, []int{5}},
		{"NthCallOfMethodAndAfter", mfatest.Fault{Method: "Token", Call: 1, Outage: true}, []int{2, 4}},
		{"CallBeyondTheLast", mfatest.Fault{Call: 6}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := mfatest.NewFaultStore(memstore.New())
			fs.Inject(tc.fault)
			errs := callEach(context.Background(), fs)
			for i, err := range errs {
				want := slices.Contains(tc.failed, i+1)
				if got := errors.Is(err, mfatest.ErrInjected); got != want {
					t.Errorf("call %d (%s): error %v, want failed=%t", i+1, callEachMethods[i], err, want)
				}
				if !want && errors.Is(err, mfa.ErrTokenInvalid) != (callEachMethods[i] == "Token") {
					t.Errorf("call %d (%s) passed through with %v", i+1, callEachMethods[i], err)
				}
			}
			if fs.Calls() != len(callEachMethods) || !slices.Equal(fs.Methods(), callEachMethods) {
				t.Errorf("Calls %d, Methods %v; want %v", fs.Calls(), fs.Methods(), callEachMethods)
			}
			if fs.Injected() != len(tc.failed) {
				t.Errorf("Injected %d, want %d", fs.Injected(), len(tc.failed))
			}
		})
	}
}

func TestFaultStoreCountsFromInjectAndResets(t *testing.T) {
	fs := mfatest.NewFaultStore(memstore.New())
	ctx := context.Background()
	callEach(ctx, fs)
	fs.Inject(mfatest.Fault{Call: 2})
	errs := callEach(ctx, fs)
	if errs[0] != nil || !errors.Is(errs[1], mfatest.ErrInjected) {
		t.Fatalf("errors %v: want the second call after Inject to fail", errs)
	}
	if err := errs[1].Error(); !strings.Contains(err, "call 7, Token") {
		t.Errorf("error %q does not name the call's position in Methods and its method", err)
	}
	fs.Inject(mfatest.Fault{})
	fs.Clear()
	if errs := callEach(ctx, fs); errs[0] != nil {
		t.Fatalf("after Clear: %v", errs[0])
	}
	if fs.Calls() != 15 || fs.Injected() != 1 {
		t.Fatalf("Calls %d, Injected %d; want 15 and 1", fs.Calls(), fs.Injected())
	}
	fs.Reset()
	if fs.Calls() != 0 || len(fs.Methods()) != 0 || fs.Injected() != 0 {
		t.Fatalf("after Reset: Calls %d, Methods %v, Injected %d", fs.Calls(), fs.Methods(), fs.Injected())
	}
}

func TestFaultStoreCustomError(t *testing.T) {
	boom := errors.New("connection reset")
	fs := mfatest.NewFaultStore(memstore.New())
	fs.Inject(mfatest.Fault{Method: "SwapLockout", Err: boom})
	ok, err := fs.SwapLockout(context.Background(), "alice", mfa.Lockout{}, mfa.Lockout{Failures: 1, LastFailure: faultT0})
	if ok || !errors.Is(err, boom) || errors.Is(err, mfatest.ErrInjected) {
		t.Fatalf("SwapLockout: %t, %v; want false and an error wrapping only %v", ok, err, boom)
	}
	// A store's sentinel can be injected too, e.g. to drive a retry.
	fs.Inject(mfatest.Fault{Method: "AcceptStep", Err: mfa.ErrLockoutChanged})
	if err := fs.AcceptStep(context.Background(), "alice", "d", 1, faultT0, mfa.Lockout{}); !errors.Is(err, mfa.ErrLockoutChanged) {
		t.Fatalf("AcceptStep: %v, want ErrLockoutChanged", err)
	}
}

func TestFaultStoreCancel(t *testing.T) {
	inner := memstore.New()
	fs := mfatest.NewFaultStore(inner)
	ctx := context.Background()
	d := mfa.DeviceRecord{ID: "d1", UserID: "alice", Type: mfa.DeviceTOTP, AccountName: "alice", Secret: []byte("s"), CreatedAt: faultT0, ExpiresAt: faultT0.Add(time.Hour)}
	fs.Inject(mfatest.Fault{Method: "InsertPendingDevice", Cancel: true})
	if err := fs.InsertPendingDevice(ctx, d, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("InsertPendingDevice: %v, want context.Canceled", err)
	}
	st, err := inner.LoadUser(ctx, "alice", faultT0)
	if err != nil || len(st.Devices) != 0 {
		t.Fatalf("the cancelled call stored %+v (%v)", st.Devices, err)
	}
	if fs.Calls() != 1 || fs.Injected() != 1 {
		t.Fatalf("Calls %d, Injected %d; want 1 and 1", fs.Calls(), fs.Injected())
	}
}

// ctxBlind is a store that breaks the contract: it ignores a cancelled
// context.
type ctxBlind struct{ mfa.Store }

func (s ctxBlind) Lockout(context.Context, string) (mfa.Lockout, error) {
	return mfa.Lockout{}, nil
}

func TestFaultStoreCancelReportsContractBreach(t *testing.T) {
	fs := mfatest.NewFaultStore(ctxBlind{memstore.New()})
	fs.Inject(mfatest.Fault{Cancel: true})
	_, err := fs.Lockout(context.Background(), "alice")
	if err == nil || errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "Lockout") {
		t.Fatalf("Lockout on a store that ignores cancellation: %v, want an error naming the breach", err)
	}
}

func TestFaultStoreCleaner(t *testing.T) {
	ctx := context.Background()
	t.Run("PassedThrough", func(t *testing.T) {
		inner := memstore.New()
		tok := mfa.TokenRecord{Hash: [mfa.HashSize]byte{7}, UserID: "alice", CreatedAt: faultT0, ExpiresAt: faultT0.Add(time.Minute)}
		if err := inner.InsertToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		fs := mfatest.NewFaultStore(inner)
		fs.Inject(mfatest.Fault{Method: "Cleanup", Call: 1})
		if err := fs.Cleanup(ctx, faultT0.Add(time.Hour), faultT0); !errors.Is(err, mfatest.ErrInjected) {
			t.Fatalf("first Cleanup: %v, want the injected failure", err)
		}
		if err := fs.Cleanup(ctx, faultT0.Add(time.Hour), faultT0); err != nil {
			t.Fatalf("second Cleanup: %v", err)
		}
		if _, err := inner.Token(ctx, tok.UserID, tok.Hash); !errors.Is(err, mfa.ErrTokenInvalid) {
			t.Fatalf("the expired token is still there: %v", err)
		}
		if !slices.Equal(fs.Methods(), []string{"Cleanup", "Cleanup"}) {
			t.Fatalf("Methods %v", fs.Methods())
		}
	})
	t.Run("InnerWithoutCleaner", func(t *testing.T) {
		fs := mfatest.NewFaultStore(struct{ mfa.Store }{memstore.New()})
		fs.Inject(mfatest.Fault{})
		if err := fs.Cleanup(ctx, faultT0, faultT0); err != nil || fs.Calls() != 0 {
			t.Fatalf("Cleanup: %v after %d calls; want nil and no call, as MFA.Cleanup does", err, fs.Calls())
		}
	})
}

func TestFaultStoreUnknownMethodPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Inject accepted a method mfa.Store does not have")
		}
	}()
	mfatest.NewFaultStore(memstore.New()).Inject(mfatest.Fault{Method: "LoadUsers"})
}

// Run with -race: concurrent calls are counted once each, and the Nth
// call fails exactly once.
func TestFaultStoreConcurrent(t *testing.T) {
	fs := mfatest.NewFaultStore(memstore.New())
	fs.Inject(mfatest.Fault{Call: 50})
	const n = 100
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
	)
	for i := range n {
		wg.Go(func() {
			_, err := fs.LoadUser(context.Background(), fmt.Sprint("user", i), faultT0)
			if errors.Is(err, mfatest.ErrInjected) {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if fs.Calls() != n || len(fs.Methods()) != n || failed != 1 || fs.Injected() != 1 {
		t.Fatalf("Calls %d, Methods %d, failed %d, Injected %d; want %d, %d, 1, 1", fs.Calls(), len(fs.Methods()), failed, fs.Injected(), n, n)
	}
}

// A sweep counts an operation's store calls, then fails each in turn and
// checks what the operation reports and leaves.
func ExampleFaultStore() {
	ctx := context.Background()
	key, _ := mfa.GenerateKey("k1")
	keys, _ := mfa.NewKeyring(key)
	for i := 1; ; i++ {
		fs := mfatest.NewFaultStore(memstore.New())
		m, _ := mfa.New(mfa.Config{Store: fs, Issuer: "Acme", Keys: keys})
		reg, _ := m.AddDevice(ctx, "alice")
		fs.Reset()
		fs.Inject(mfatest.Fault{Call: i})
		_, err := m.PendingRegistration(ctx, "alice")
		if fs.Injected() == 0 {
			fmt.Printf("%d store calls\n", i-1)
			return
		}
		fmt.Println(fs.Methods(), errors.Is(err, mfa.ErrStore), errors.Is(err, mfatest.ErrInjected))
		fs.Clear()
		again, err := m.PendingRegistration(ctx, "alice")
		fmt.Println("unchanged:", err == nil && again.DeviceID == reg.DeviceID)
	}
	// Output:
	// [LoadUser] true true
	// unchanged: true
	// 1 store calls
}
