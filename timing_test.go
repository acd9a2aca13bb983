package mfa_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
)

// countingStore counts store calls.
type countingStore struct {
	*memstore.Store
	mu    sync.Mutex
	calls int
}

func (s *countingStore) count() {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
}

func (s *countingStore) LoadUser(ctx context.Context, u string, now time.Time) (mfa.UserState, error) {
	s.count()
	return s.Store.LoadUser(ctx, u, now)
}

func (s *countingStore) Lockout(ctx context.Context, u string) (mfa.Lockout, error) {
	s.count()
	return s.Store.Lockout(ctx, u)
}

func (s *countingStore) SwapLockout(ctx context.Context, u string, old, next mfa.Lockout) (bool, error) {
	s.count()
	return s.Store.SwapLockout(ctx, u, old, next)
}

// TestWrongCodeSameStoreWorkWithOrWithoutDevice: a wrong code costs the
// same store round trips whether or not the user has a device, TOTP or
// recovery code alike; BenchmarkWrongCode compares the time.
func TestWrongCodeSameStoreWorkWithOrWithoutDevice(t *testing.T) {
	cs := &countingStore{Store: memstore.New()}
	e := newEnv(t, func(c *mfa.Config) { c.Store = cs })
	secret, _ := e.enrol(t, "alice")
	calls := func(user string, recovery bool) int {
		cs.mu.Lock()
		cs.calls = 0
		cs.mu.Unlock()
		var err error
		if recovery {
			_, err = e.m.AuthenticateRecoveryCode(e.ctx, user, mfa.RecoveryRequest{Code: "aaaa-bbbb-cccc-dddd"})
		} else {
			_, err = e.m.AuthenticateDevice(e.ctx, user, mfa.AuthenticateRequest{Code: wrong(e.code(t, secret, 0))})
		}
		if err == nil {
			t.Fatal("a wrong code passed")
		}
		cs.mu.Lock()
		defer cs.mu.Unlock()
		return cs.calls
	}
	for _, recovery := range []bool{false, true} {
		if a, b := calls("alice", recovery), calls("nobody", recovery); a != b {
			t.Errorf("recovery %t: %d store calls for an enrolled user, %d for one without a device", recovery, a, b)
		}
	}
}

// BenchmarkWrongCode measures a wrong code for an enrolled user and for a
// user without a device: the two should cost the same (see decoy.go).
func BenchmarkWrongCode(b *testing.B) {
	for _, method := range []string{"totp", "recovery"} {
		for _, enrolled := range []bool{true, false} {
			name := method + "/no-device"
			if enrolled {
				name = method + "/enrolled"
			}
			b.Run(name, func(b *testing.B) {
				store := memstore.New()
				keys := ring(b, key(b, "k1"))
				now := time.Date(2026, 5, 6, 7, 8, 10, 0, time.UTC)
				m, err := mfa.New(mfa.Config{Store: store, Issuer: "Acme", Keys: keys, Now: func() time.Time { return now }})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				user := "nobody"
				if enrolled {
					user = "alice"
					reg, err := m.AddDevice(ctx, user)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := m.AuthenticateDevice(ctx, user, mfa.AuthenticateRequest{Code: mfatest.Code(b, reg.Secret, now)}); err != nil {
						b.Fatal(err)
					}
				}
				code := "000000"
				rc := "aaaa-bbbb-cccc-dddd"
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					if i%4 == 3 {
						// Keep the user below the lockout threshold; the
						// same extra work in both cases.
						lk, _ := store.Lockout(ctx, user)
						if _, err := store.SwapLockout(ctx, user, lk, mfa.Lockout{}); err != nil {
							b.Fatal(err)
						}
					}
					if method == "totp" {
						_, err = m.AuthenticateDevice(ctx, user, mfa.AuthenticateRequest{Code: code})
					} else {
						_, err = m.AuthenticateRecoveryCode(ctx, user, mfa.RecoveryRequest{Code: rc})
					}
					if err == nil {
						b.Fatal("a wrong code passed")
					}
				}
			})
		}
	}
}
