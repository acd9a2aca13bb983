package loadtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/mfakit/mfa/sqlstore"
)

// postgresDSNEnv names the environment variable with the connection string
// of a PostgreSQL database the test may create a schema in; the same one
// sqlstore's tests use.
const postgresDSNEnv = "MFA_TEST_POSTGRES_DSN"

// maxPostgresConns bounds the pool, well under PostgreSQL's default
// max_connections of 100, which other packages' tests share.
const maxPostgresConns = 32

// postgresStore returns a store in a new schema of the test database,
// dropped when t ends, on a pool of up to conns connections, all kept
// open between requests. Without MFA_TEST_POSTGRES_DSN the test is
// skipped.
func postgresStore(t *testing.T, conns int) *sqlstore.Store {
	t.Helper()
	base := os.Getenv(postgresDSNEnv)
	if base == "" {
		t.Skip(postgresDSNEnv + " is not set; skipping the PostgreSQL load test")
	}
	schema := scratchSchema(t, base)
	db, err := sql.Open("pgx", withSearchPath(t, base, schema))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// With database/sql's default of two idle connections, the others
	// would be closed and opened again all the time.
	conns = min(conns, maxPostgresConns)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	s, err := sqlstore.New(t.Context(), db, sqlstore.PostgreSQL)
	if err != nil {
		t.Fatalf("sqlstore.New: %v", err)
	}
	return s
}

// scratchSchema creates a schema with a random name and drops it, with
// everything in it, when t ends.
func scratchSchema(t *testing.T, dsn string) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "mfaload_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	// Not t.Context: it is cancelled before cleanups run.
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// withSearchPath adds search_path to a URL or keyword/value connection
// string; pgx passes it to the server as a run-time parameter.
func withSearchPath(t *testing.T, dsn, schema string) string {
	t.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s: %v", postgresDSNEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
