package sqltest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/mfatest"
	"github.com/mfakit/mfa/sqlstore"
)

// The fault tests stop a store operation in its middle, after some of its
// statements ran and while the next one waits for a lock that another
// session holds: the server kills the connection (pg_terminate_backend),
// the statement runs out of time (statement_timeout), or the caller's
// context is cancelled. The call must fail with an error that wraps
// mfa.ErrStore (and context.Canceled for a cancellation), leave exactly
// the state it found, and a retry must then succeed.

// fault is one way of interrupting a blocked call.
type fault struct {
	name string
	// prepare runs on the store's only connection before the call and
	// returns what undoes it.
	prepare func(t *testing.T, f *faultHarness) (undo func())
	// strike interrupts the call, which is blocked on a lock; nil when
	// the fault strikes by itself.
	strike func(t *testing.T, f *faultHarness)
	// check inspects the call's error beyond ErrStore.
	check func(t *testing.T, err error)
}

var faults = []fault{
	{
		name: "ConnectionKilled",
		strike: func(t *testing.T, f *faultHarness) {
			var ok bool
			if err := f.admin.QueryRow("SELECT pg_terminate_backend($1)", f.pid).Scan(&ok); err != nil || !ok {
				t.Fatalf("pg_terminate_backend(%d): %v %v", f.pid, ok, err)
			}
		},
	},
	{
		name: "StatementTimeout",
		prepare: func(t *testing.T, f *faultHarness) func() {
			if _, err := f.db.Exec("SET statement_timeout = '100ms'"); err != nil {
				t.Fatal(err)
			}
			return func() {
				if _, err := f.db.Exec("SET statement_timeout = 0"); err != nil {
					t.Fatal(err)
				}
			}
		},
		check: func(t *testing.T, err error) {
			if !strings.Contains(err.Error(), "statement timeout") {
				t.Errorf("error %q does not name the statement timeout", err)
			}
		},
	},
	{
		name:   "ContextCancelled",
		strike: func(t *testing.T, f *faultHarness) { f.cancel() },
		check: func(t *testing.T, err error) {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v does not wrap context.Canceled", err)
			}
		},
	},
}

// faultHarness is one test's database: a store whose pool has a single
// connection (so that its backend is known), and an admin handle that
// holds locks and kills backends.
type faultHarness struct {
	db, admin *sql.DB
	store     *sqlstore.Store
	m         *mfa.MFA
	clock     *mfatest.Clock
	pid       int                // the store connection's backend
	cancel    context.CancelFunc // cancels the interrupted call's context
}

func newFaultHarness(t *testing.T) *faultHarness {
	t.Helper()
	dsn := postgresSchema(t)
	f := &faultHarness{db: openDB(t, "pgx", dsn), admin: openDB(t, "pgx", dsn), clock: mfatest.NewClock(processEpoch)}
	f.db.SetMaxOpenConns(1)
	f.store = newStore(t, f.db, sqlstore.PostgreSQL)
	m, err := mfa.New(mfa.Config{Store: f.store, Issuer: "mfakit", Keys: mfatest.Keyring(t), Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	return f
}

// interrupt holds the lock block takes on the admin connection, runs call
// in the background until the store's backend waits for that lock, applies
// the fault and returns the call's error. The lock is released before
// interrupt returns.
func (f *faultHarness) interrupt(t *testing.T, fl fault, block string, blockArgs []any, call func(ctx context.Context) error) error {
	t.Helper()
	if fl.prepare != nil {
		defer fl.prepare(t, f)()
	}
	if err := f.db.QueryRow("SELECT pg_backend_pid()").Scan(&f.pid); err != nil {
		t.Fatal(err)
	}
	tx, err := f.admin.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(block, blockArgs...); err != nil {
		t.Fatalf("taking the lock: %v", err)
	}
	var ctx context.Context
	ctx, f.cancel = context.WithCancel(context.Background())
	defer f.cancel()
	done := make(chan error, 1)
	go func() { done <- call(ctx) }()

	// Wait until the call's statement waits for the lock.
	deadline := time.Now().Add(10 * time.Second)
	for fl.strike != nil {
		var waiting, query string
		err := f.admin.QueryRow("SELECT coalesce(wait_event_type, ''), query FROM pg_stat_activity WHERE pid = $1", f.pid).Scan(&waiting, &query)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			t.Fatal(err)
		}
		if waiting == "Lock" {
			// The statements before this one in the same transaction ran.
			if !strings.Contains(query, "INSERT INTO mfa_recovery_code_sets") {
				t.Fatalf("blocked in %q, want the insert of the code set", query)
			}
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the call returned before it blocked: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the call did not block on the lock within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if fl.strike != nil {
		fl.strike(t, f)
	}
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not return within 10 s of the fault")
	}
	if err == nil {
		t.Fatal("the interrupted call succeeded")
	}
	if !errors.Is(err, mfa.ErrStore) {
		t.Errorf("error %v does not wrap mfa.ErrStore", err)
	}
	if fl.check != nil {
		fl.check(t, err)
	}
	t.Logf("interrupted call: %v", err)
	return err
}

// TestFaultMidRegenerate interrupts GetNewRecoveryCodes after it deleted
// the old codes, while it waits to replace the set's row: the old codes
// must stay valid and no new code may appear.
func TestFaultMidRegenerate(t *testing.T) {
	for _, fl := range faults {
		t.Run(fl.name, func(t *testing.T) {
			f := newFaultHarness(t)
			ctx := context.Background()
			const user = "regen-user"
			reg, err := f.m.AddDevice(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.m.AuthenticateDevice(ctx, user, mfa.AuthenticateRequest{Code: mfatest.Code(t, reg.Secret, f.clock.Now())}); err != nil {
				t.Fatal(err)
			}
			oldCodes, err := f.m.GetRecoveryCodes(ctx, user, false)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.m.CompleteAcknowledgement(ctx, user); err != nil {
				t.Fatal(err)
			}
			before, err := f.store.LoadUser(ctx, user, f.clock.Now())
			if err != nil {
				t.Fatal(err)
			}

			var newCodes []string
			f.interrupt(t, fl, "SELECT 1 FROM mfa_recovery_code_sets WHERE user_id = $1 FOR UPDATE", []any{user},
				func(ctx context.Context) error {
					codes, err := f.m.GetNewRecoveryCodes(ctx, user)
					newCodes = codes
					return err
				})
			if newCodes != nil {
				t.Fatalf("the failed call returned codes")
			}
			after, err := f.store.LoadUser(ctx, user, f.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			sameState(t, after, before)

			// The old codes still work; a retry replaces them.
			res, err := f.m.AuthenticateRecoveryCode(ctx, user, mfa.RecoveryRequest{Code: oldCodes[0]})
			if err != nil || res.RecoveryCodesRemaining != 9 {
				t.Fatalf("old code after the fault: %+v %v, want success with 9 left", res, err)
			}
			newCodes, err = f.m.GetNewRecoveryCodes(ctx, user)
			if err != nil || len(newCodes) != 10 {
				t.Fatalf("retry: %d codes, %v", len(newCodes), err)
			}
			if _, err := f.m.AuthenticateRecoveryCode(ctx, user, mfa.RecoveryRequest{Code: oldCodes[1]}); !errors.Is(err, mfa.ErrInvalidCode) {
				t.Fatalf("old code after the retry: got %v, want ErrInvalidCode", err)
			}
			if _, err := f.m.AuthenticateRecoveryCode(ctx, user, mfa.RecoveryRequest{Code: newCodes[0]}); err != nil {
				t.Fatalf("new code after the retry: %v", err)
			}
		})
	}
}

// TestFaultMidVerify interrupts the first code of a pending device after
// the device row was marked verified, while the recovery code set waits to
// be stored: the device must still be pending and have no codes.
func TestFaultMidVerify(t *testing.T) {
	for _, fl := range faults {
		t.Run(fl.name, func(t *testing.T) {
			f := newFaultHarness(t)
			ctx := context.Background()
			const user = "verify-user"
			reg, err := f.m.AddDevice(ctx, user)
			if err != nil {
				t.Fatal(err)
			}
			code := mfatest.Code(t, reg.Secret, f.clock.Now())
			before, err := f.store.LoadUser(ctx, user, f.clock.Now())
			if err != nil {
				t.Fatal(err)
			}

			// An uncommitted row with the same key makes the store's insert
			// of the code set wait for the admin transaction's outcome.
			f.interrupt(t, fl, "INSERT INTO mfa_recovery_code_sets (user_id, key_id) VALUES ($1, 'blocker')", []any{user},
				func(ctx context.Context) error {
					_, err := f.m.AuthenticateDevice(ctx, user, mfa.AuthenticateRequest{Code: code})
					return err
				})
			after, err := f.store.LoadUser(ctx, user, f.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			// A correct code is written with the lockout reset in one
			// transaction: interrupted, it leaves the state as it was,
			// lockout included.
			sameState(t, after, before)
			if len(after.Devices) != 1 || after.Devices[0].Verified || after.RecoveryCodes.Hashes != nil || after.RecoveryCodes.Sealed != nil {
				t.Fatalf("after the fault: %+v, want one pending device and no codes", after)
			}

			res, err := f.m.AuthenticateDevice(ctx, user, mfa.AuthenticateRequest{Code: code})
			if err != nil || !res.DeviceVerified || res.RecoveryCodesRemaining != 10 {
				t.Fatalf("retry: %+v %v, want the device verified with 10 codes", res, err)
			}
		})
	}
}

// sameState compares two snapshots of a user's state field by field.
func sameState(t *testing.T, got, want mfa.UserState) {
	t.Helper()
	if len(got.Devices) != len(want.Devices) {
		t.Fatalf("%d devices, want %d", len(got.Devices), len(want.Devices))
	}
	for i := range got.Devices {
		g, w := got.Devices[i], want.Devices[i]
		if g.ID != w.ID || g.Verified != w.Verified || g.LastStep != w.LastStep || !bytes.Equal(g.Secret, w.Secret) ||
			!g.VerifiedAt.Equal(w.VerifiedAt) || !g.ExpiresAt.Equal(w.ExpiresAt) || !g.LastUsedAt.Equal(w.LastUsedAt) {
			t.Errorf("device %d: %+v, want %+v", i, g, w)
		}
	}
	gs, ws := got.RecoveryCodes, want.RecoveryCodes
	if gs.KeyID != ws.KeyID || !bytes.Equal(gs.Sealed, ws.Sealed) || (gs.Sealed == nil) != (ws.Sealed == nil) || !gs.CreatedAt.Equal(ws.CreatedAt) {
		t.Errorf("code set %+v, want %+v", gs, ws)
	}
	sortHashes := func(h [][mfa.HashSize]byte) [][mfa.HashSize]byte {
		h = slices.Clone(h)
		slices.SortFunc(h, func(a, b [mfa.HashSize]byte) int { return bytes.Compare(a[:], b[:]) })
		return h
	}
	if !slices.Equal(sortHashes(gs.Hashes), sortHashes(ws.Hashes)) {
		t.Errorf("%d code hashes, want the %d from before", len(gs.Hashes), len(ws.Hashes))
	}
	if got.Lockout.Failures != want.Lockout.Failures || !got.Lockout.LastFailure.Equal(want.Lockout.LastFailure) {
		t.Errorf("lockout %+v, want %+v", got.Lockout, want.Lockout)
	}
}
