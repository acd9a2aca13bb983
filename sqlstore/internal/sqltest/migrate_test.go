package sqltest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/internal/pgtest"
	"github.com/mfakit/mfa/sqlstore"
)

// schemaVersion is the newest migration in migrations/.
const schemaVersion = 4

// migrationRows returns how many times each version was recorded.
func migrationRows(t *testing.T, db *sql.DB) map[int]int {
	t.Helper()
	rows, err := db.Query("SELECT version FROM mfa_schema_migrations")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[int]int{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got[v]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func wantMigratedOnce(t *testing.T, db *sql.DB) {
	t.Helper()
	got := migrationRows(t, db)
	if len(got) != schemaVersion {
		t.Fatalf("recorded versions %v, want 1..%d once each", got, schemaVersion)
	}
	for v := 1; v <= schemaVersion; v++ {
		if got[v] != 1 {
			t.Fatalf("version %d recorded %d times, want once", v, got[v])
		}
	}
}

func TestMigrationsAreIdempotent(t *testing.T) {
	dialects(t, func(t *testing.T, d sqlstore.Dialect, open func() *sql.DB) {
		db := open()
		newStore(t, db, d)
		s := newStore(t, db, d)
		wantMigratedOnce(t, db)
		// The second store works on the schema the first created.
		ok, err := s.SwapLockout(context.Background(), "u", mfa.Lockout{}, mfa.Lockout{Failures: 1})
		if err != nil || !ok {
			t.Fatalf("SwapLockout on a re-opened store: %v %v", ok, err)
		}
	})
}

// TestConcurrentNew starts several "processes" (each with its own *sql.DB)
// on one fresh database at once: every New succeeds and the schema is
// migrated exactly once.
func TestConcurrentNew(t *testing.T) {
	dialects(t, func(t *testing.T, d sqlstore.Dialect, open func() *sql.DB) {
		const n = 8
		dbs := make([]*sql.DB, n)
		for i := range dbs {
			dbs[i] = open()
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i, db := range dbs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = sqlstore.New(context.Background(), db, d)
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("New #%d: %v", i, err)
			}
		}
		wantMigratedOnce(t, dbs[0])
	})
}

func TestNewerSchemaIsRefused(t *testing.T) {
	dialects(t, func(t *testing.T, d sqlstore.Dialect, open func() *sql.DB) {
		db := open()
		newStore(t, db, d)
		now := map[sqlstore.Dialect]string{sqlstore.PostgreSQL: "now()", sqlstore.SQLite: "0"}[d]
		if _, err := db.Exec("INSERT INTO mfa_schema_migrations (version, applied_at) VALUES (9999, " + now + ")"); err != nil {
			t.Fatal(err)
		}
		_, err := sqlstore.New(context.Background(), db, d)
		want := fmt.Sprintf("sqlstore: database schema version 9999 is newer than this code supports (%d); upgrade mfakit", schemaVersion)
		if err == nil || err.Error() != want {
			t.Fatalf("New on a newer schema: got %v, want %q", err, want)
		}
		var ve *sqlstore.SchemaVersionError
		if !errors.As(err, &ve) || ve.Database != 9999 || ve.Supported != schemaVersion {
			t.Fatalf("error %#v is not a SchemaVersionError{9999, %d}", err, schemaVersion)
		}
	})
}

func TestNewRejectsBadArguments(t *testing.T) {
	ctx := context.Background()
	if _, err := sqlstore.New(ctx, nil, sqlstore.SQLite); err == nil {
		t.Error("New(nil db): no error")
	}
	db := openSQLite(t, filepath.Join(t.TempDir(), "mfa.db"))
	if _, err := sqlstore.New(ctx, db, sqlstore.Dialect(0)); err == nil {
		t.Error("New(unknown dialect): no error")
	}
}

func TestNewWithCancelledContext(t *testing.T) {
	dialects(t, func(t *testing.T, d sqlstore.Dialect, open func() *sql.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := sqlstore.New(ctx, open(), d); !errors.Is(err, context.Canceled) {
			t.Fatalf("New with a cancelled context: got %v, want an error wrapping context.Canceled", err)
		}
	})
}

// TestMissingSchemaIsExplained: a search_path whose schema does not exist
// gets an error that says what to create, not PostgreSQL's bare 3F000.
func TestMissingSchemaIsExplained(t *testing.T) {
	dsn := pgtest.WithSearchPath(t, postgresBase(t), "mfa_no_such_schema")
	_, err := sqlstore.New(context.Background(), openDB(t, "pgx", dsn), sqlstore.PostgreSQL)
	if err == nil || !strings.Contains(err.Error(), "CREATE SCHEMA") || !strings.Contains(err.Error(), "3F000") {
		t.Fatalf("New with a missing schema: %v", err)
	}
}
