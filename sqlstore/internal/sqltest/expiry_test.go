package sqltest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/mfatest"
	"github.com/mfakit/mfa/sqlstore"
)

// TestInsertTokenRemovesExpiredTokens checks the per-user cleanup that
// InsertToken does: the user's tokens that expired by the new token's
// creation go, the user's live tokens and other users' tokens stay.
func TestInsertTokenRemovesExpiredTokens(t *testing.T) {
	dialects(t, func(t *testing.T, d sqlstore.Dialect, open func() *sql.DB) {
		s := newStore(t, open(), d)
		ctx := context.Background()
		t0 := processEpoch
		tok := func(name, user string, created, expires time.Time) mfa.TokenRecord {
			return mfa.TokenRecord{Hash: sha256.Sum256([]byte(name)), UserID: user, CreatedAt: created, ExpiresAt: expires}
		}
		expired := tok("expired", "alice", t0, t0.Add(time.Minute))
		atExpiry := tok("at-expiry", "alice", t0, t0.Add(2*time.Minute))
		live := tok("live", "alice", t0, t0.Add(time.Hour))
		other := tok("other", "bob", t0, t0.Add(time.Minute))
		for _, r := range []mfa.TokenRecord{expired, atExpiry, live, other} {
			if err := s.InsertToken(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		// A token created when expired and atExpiry have expired.
		fresh := tok("fresh", "alice", t0.Add(2*time.Minute), t0.Add(7*time.Minute))
		if err := s.InsertToken(ctx, fresh); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name  string
			r     mfa.TokenRecord
			exist bool
		}{
			{"the user's expired token", expired, false},
			{"the user's token expiring at the new one's creation", atExpiry, false},
			{"the user's live token", live, true},
			{"another user's expired token", other, true},
			{"the new token", fresh, true},
		} {
			_, err := s.Token(ctx, c.r.UserID, c.r.Hash)
			switch {
			case c.exist && err != nil:
				t.Errorf("%s: %v, want it kept", c.name, err)
			case !c.exist && !errors.Is(err, mfa.ErrTokenInvalid):
				t.Errorf("%s: %v, want it removed (ErrTokenInvalid)", c.name, err)
			}
		}
	})
}

// TestCleanup schedules MFA.Cleanup as a service would and checks the rows
// left in each table: expired tokens, expired pending devices and lockout
// rows without failures go; everything else stays.
func TestCleanup(t *testing.T) {
	dialects(t, func(t *testing.T, d sqlstore.Dialect, open func() *sql.DB) {
		db := open()
		s := newStore(t, db, d)
		ctx := context.Background()
		clock := mfatest.NewClock(processEpoch)
		m, err := mfa.New(mfa.Config{Store: s, Issuer: "mfakit", Keys: mfatest.Keyring(t), Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		// enrolled: a verified device, codes, a persistent token (10 min)
		// and a lockout row back at zero failures: a wrong code, then the
		// right one.
		reg, err := m.AddDevice(ctx, "enrolled")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.AuthenticateDevice(ctx, "enrolled", mfa.AuthenticateRequest{Code: "000000"}); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("wrong code: %v", err)
		}
		if _, err := m.AuthenticateDevice(ctx, "enrolled", mfa.AuthenticateRequest{
			Code: mfatest.Code(t, reg.Secret, clock.Now()), CreateMFAToken: &mfa.TokenRequest{}}); err != nil {
			t.Fatal(err)
		}
		// abandoned: a pending device that expires after 10 min.
		if _, err := m.AddDevice(ctx, "abandoned"); err != nil {
			t.Fatal(err)
		}
		// failing: a pending device added later, and two failures.
		clock.Advance(5 * time.Minute)
		if _, err := m.AddDevice(ctx, "failing"); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := m.AuthenticateDevice(ctx, "failing", mfa.AuthenticateRequest{Code: "000000"}); !errors.Is(err, mfa.ErrInvalidCode) {
				t.Fatalf("wrong code: %v", err)
			}
		}
		want := map[string]int{"mfa_devices": 3, "mfa_tokens": 1, "mfa_lockouts": 2, "mfa_recovery_codes": 10, "mfa_recovery_code_sets": 1}
		wantRows(t, db, want)

		// Nothing has expired yet: Cleanup removes only the lockout row
		// at zero.
		if err := m.Cleanup(ctx); err != nil {
			t.Fatal(err)
		}
		want["mfa_lockouts"] = 1
		wantRows(t, db, want)

		// 11 minutes in: the token and the first pending device expired.
		clock.Advance(6 * time.Minute)
		if err := m.Cleanup(ctx); err != nil {
			t.Fatal(err)
		}
		want["mfa_devices"], want["mfa_tokens"] = 2, 0
		wantRows(t, db, want)
		if devices, err := m.GetUserDevices(ctx, "failing"); err != nil || len(devices) != 1 {
			t.Fatalf("the unexpired pending device: %v %v", devices, err)
		}
		if lk, err := s.Lockout(ctx, "failing"); err != nil || lk.Failures != 2 {
			t.Fatalf("the failing user's lockout: %+v %v", lk, err)
		}
	})
}

func wantRows(t *testing.T, db *sql.DB, want map[string]int) {
	t.Helper()
	for table, n := range want {
		var got int
		if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != n {
			t.Errorf("%s: %d rows, want %d", table, got, n)
		}
	}
}
