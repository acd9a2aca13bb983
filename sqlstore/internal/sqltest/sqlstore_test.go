package sqltest

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/internal/pgtest"
	"github.com/mfakit/mfa/mfatest"
	"github.com/mfakit/mfa/sqlstore"
)

func TestConformance(t *testing.T) {
	t.Run("PostgreSQL", func(t *testing.T) {
		// One schema for the whole suite: its subtests use their own user
		// IDs, and sharing the database is what a real deployment does.
		db := openPostgres(t)
		mfatest.TestStore(t, func(t *testing.T) mfa.Store { return newStore(t, db, sqlstore.PostgreSQL) })
	})
	t.Run("SQLite", func(t *testing.T) {
		mfatest.TestStore(t, func(t *testing.T) mfa.Store {
			return newStore(t, openSQLite(t, filepath.Join(t.TempDir(), "mfa.db")), sqlstore.SQLite)
		})
	})
}

// TestTimesReadBackInUTC stores times of another zone and reads the same
// instants back in UTC, at microsecond precision.
func TestTimesReadBackInUTC(t *testing.T) {
	dialects(t, func(t *testing.T, d sqlstore.Dialect, open func() *sql.DB) {
		s := newStore(t, open(), d)
		ctx := context.Background()
		zone := time.FixedZone("UTC+5:30", 5*3600+1800)
		created := time.Date(2026, 1, 2, 3, 4, 5, 123456000, zone)
		dev := mfa.DeviceRecord{ID: "tz-dev", UserID: "tz", Type: mfa.DeviceTOTP, Secret: []byte("s"),
			CreatedAt: created, ExpiresAt: created.Add(time.Minute)}
		if err := s.InsertPendingDevice(ctx, dev, 1); err != nil {
			t.Fatal(err)
		}
		st, err := s.LoadUser(ctx, "tz", created)
		if err != nil || len(st.Devices) != 1 {
			t.Fatalf("LoadUser: %v %+v", err, st)
		}
		got := st.Devices[0]
		if !got.CreatedAt.Equal(created) || got.CreatedAt.Location() != time.UTC || !got.ExpiresAt.Equal(dev.ExpiresAt) {
			t.Fatalf("CreatedAt %v ExpiresAt %v, want %v and %v in UTC", got.CreatedAt, got.ExpiresAt, created.UTC(), dev.ExpiresAt.UTC())
		}
		if !got.VerifiedAt.IsZero() || !got.LastUsedAt.IsZero() {
			t.Fatalf("unset times read back as %v, %v", got.VerifiedAt, got.LastUsedAt)
		}
	})
}

func TestCleanupRemovesZeroLockouts(t *testing.T) {
	dialects(t, func(t *testing.T, d sqlstore.Dialect, open func() *sql.DB) {
		db := open()
		s := newStore(t, db, d)
		ctx := context.Background()
		for user, failures := range map[string]int{"reset": 0, "failing": 3} {
			if ok, err := s.SwapLockout(ctx, user, mfa.Lockout{}, mfa.Lockout{Failures: failures, LastFailure: time.Now()}); err != nil || !ok {
				t.Fatalf("SwapLockout(%s): %v %v", user, ok, err)
			}
		}
		if err := s.Cleanup(ctx, time.Now(), time.Now().Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		var users []string
		rows, err := db.Query("SELECT user_id FROM mfa_lockouts ORDER BY user_id")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var u string
			if err := rows.Scan(&u); err != nil {
				t.Fatal(err)
			}
			users = append(users, u)
		}
		if len(users) != 1 || users[0] != "failing" {
			t.Fatalf("lockout rows after Cleanup: %v, want only the failing user's", users)
		}
	})
}

// TestSchemaKeepsDeviceLimits checks that the partial unique index refuses
// a second pending device, even to a writer that bypasses the store. A
// user may have several verified devices of a type, up to the limit the
// store's transactions check.
func TestSchemaKeepsDeviceLimits(t *testing.T) {
	dialects(t, func(t *testing.T, d sqlstore.Dialect, open func() *sql.DB) {
		db := open()
		newStore(t, db, d)
		insert := func(id string, verified bool) error {
			_, err := db.Exec(`INSERT INTO mfa_devices (id, user_id, type, alias, account_name, secret, verified, last_step)
				VALUES ($1, 'u', 'totp', '', '', $2, $3, 0)`, id, []byte("sealed"), verified)
			return err
		}
		for _, step := range []struct {
			id       string
			verified bool
			ok       bool
		}{
			{"v1", true, true},
			{"v2", true, true},
			{"p1", false, true},
			{"p2", false, false},
		} {
			if err := insert(step.id, step.verified); (err == nil) != step.ok {
				t.Errorf("insert %s (verified %t): error %v, want success %t", step.id, step.verified, err, step.ok)
			}
		}
	})
}

// TestSchemaKeepsCredentialIDsUnique checks that the unique index on
// credential_id refuses a second device with the same credential ID, of
// any user, even to a writer that bypasses the store, while any number of
// devices have none.
func TestSchemaKeepsCredentialIDsUnique(t *testing.T) {
	dialects(t, func(t *testing.T, d sqlstore.Dialect, open func() *sql.DB) {
		db := open()
		newStore(t, db, d)
		insert := func(id, user string, cred []byte) error {
			_, err := db.Exec(`INSERT INTO mfa_devices (id, user_id, type, alias, account_name, secret, verified, last_step, credential_id, sign_count)
				VALUES ($1, $2, 'passkey', '', '', $3, TRUE, 0, $4, 0)`, id, user, []byte{}, cred)
			return err
		}
		for _, step := range []struct {
			id, user string
			cred     []byte
			ok       bool
		}{
			{"k1", "u", []byte("cred-1"), true},
			{"k2", "u", []byte("cred-2"), true},
			{"k3", "v", []byte("cred-1"), false},
			{"k4", "u", []byte("cred-2"), false},
			{"n1", "u", nil, true},
			{"n2", "v", nil, true},
		} {
			if err := insert(step.id, step.user, step.cred); (err == nil) != step.ok {
				t.Errorf("insert %s (user %s, credential %q): error %v, want success %t", step.id, step.user, step.cred, err, step.ok)
			}
		}
	})
}

// TestImportTakenCredential: importing a passkey whose credential ID a
// device of another user holds fails on the unique index, which the store
// reports as ErrPasskeyRegistered, not as a store failure, and changes
// nothing.
func TestImportTakenCredential(t *testing.T) {
	dialects(t, func(t *testing.T, d sqlstore.Dialect, open func() *sql.DB) {
		s := newStore(t, open(), d)
		ctx := context.Background()
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		device := func(user string) mfa.DeviceRecord {
			return mfa.DeviceRecord{ID: user + "-key", UserID: user, Type: mfa.DevicePasskey, Verified: true,
				CreatedAt: at, VerifiedAt: at, Passkey: &mfa.PasskeyCredential{ID: []byte("cred"), PublicKey: []byte("key")}}
		}
		if err := s.ImportDevice(ctx, device("first"), mfa.RecoveryCodeSet{}, 5); err != nil {
			t.Fatal(err)
		}
		if err := s.ImportDevice(ctx, device("second"), mfa.RecoveryCodeSet{}, 5); !errors.Is(err, mfa.ErrPasskeyRegistered) {
			t.Fatalf("ImportDevice of a taken credential: got %v, want ErrPasskeyRegistered", err)
		}
		if st, err := s.LoadUser(ctx, "second", at); err != nil || len(st.Devices) != 0 {
			t.Fatalf("second user after the refused import: %+v, %v", st, err)
		}
	})
}

// TestConformanceSQLiteDeferred runs the suite on SQLite without
// _txlock=immediate: the store's transactions begin with a write, so they
// take the write lock first and never need a lock upgrade that SQLite
// could refuse with SQLITE_BUSY.
func TestConformanceSQLiteDeferred(t *testing.T) {
	mfatest.TestStore(t, func(t *testing.T) mfa.Store {
		path := filepath.Join(t.TempDir(), "mfa.db")
		db := openDB(t, "sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)")
		return newStore(t, db, sqlstore.SQLite)
	})
}

// dialects runs fn as one subtest per dialect, each with a fresh, empty
// database; the PostgreSQL one is skipped without MFA_TEST_POSTGRES_DSN.
func dialects(t *testing.T, fn func(t *testing.T, d sqlstore.Dialect, open func() *sql.DB)) {
	t.Run("PostgreSQL", func(t *testing.T) {
		dsn := postgresSchema(t)
		fn(t, sqlstore.PostgreSQL, func() *sql.DB { return openDB(t, "pgx", dsn) })
	})
	t.Run("SQLite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "mfa.db")
		fn(t, sqlstore.SQLite, func() *sql.DB { return openSQLite(t, path) })
	})
}

func newStore(t testing.TB, db *sql.DB, d sqlstore.Dialect) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.New(context.Background(), db, d)
	if err != nil {
		t.Fatalf("sqlstore.New: %v", err)
	}
	return s
}

// sqliteDSN is the connection string the package documentation recommends.
func sqliteDSN(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"
}

func openSQLite(t testing.TB, path string) *sql.DB {
	return openDB(t, "sqlite", sqliteDSN(path))
}

// openPostgres returns a handle on a new schema of the test database,
// dropped when t ends.
func openPostgres(t testing.TB) *sql.DB {
	return openDB(t, "pgx", postgresSchema(t))
}

func openDB(t testing.TB, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if driver == "pgx" {
		// Enough for the concurrent subtests without exhausting the
		// server's max_connections when packages test in parallel.
		db.SetMaxOpenConns(32)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// postgresSchema creates a schema with a random name in the test database
// and returns a connection string whose search_path selects it, so that
// test runs do not see each other's tables. The schema is dropped when t
// ends. Without MFA_TEST_POSTGRES_DSN the test is skipped.
func postgresSchema(t testing.TB) string {
	dsn, _ := postgresSchemaNamed(t)
	return dsn
}

// postgresSchemaNamed is postgresSchema that also returns the schema's
// name.
func postgresSchemaNamed(t testing.TB) (dsn, schema string) {
	return pgtest.Schema(t, "mfatest_")
}

// postgresBase returns MFA_TEST_POSTGRES_DSN, skipping the test when it is
// unset.
func postgresBase(t testing.TB) string { return pgtest.Base(t) }
