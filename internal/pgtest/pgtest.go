// Package pgtest gives tests a scratch PostgreSQL schema in the database
// named by MFA_TEST_POSTGRES_DSN, so that test runs and packages testing
// in parallel do not see each other's tables. It is for tests only: a
// module of its own, used by the modules of sqlstore/internal/sqltest and
// loadtest, so that the pgx driver it registers stays out of the root
// module.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// DSNEnv names the environment variable with the connection string of a
// PostgreSQL database that tests may create schemas in. .ci/run sets it.
const DSNEnv = "MFA_TEST_POSTGRES_DSN"

// Base returns the connection string in DSNEnv, skipping the test with a
// message when it is unset.
func Base(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(DSNEnv)
	if base == "" {
		tb.Skip(DSNEnv + " is not set; skipping PostgreSQL tests")
	}
	return base
}

// Schema creates a schema named prefix followed by random hex in the test
// database and returns a connection string whose search_path selects it,
// and its name. The schema is dropped, with everything in it, when tb
// ends. Without DSNEnv the test is skipped.
func Schema(tb testing.TB, prefix string) (dsn, schema string) {
	tb.Helper()
	base := Base(tb)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	schema = prefix + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatal(err)
	}
	// Not tb.Context: it is cancelled before cleanups run.
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return WithSearchPath(tb, base, schema), schema
}

// WithSearchPath adds search_path to a URL or keyword/value connection
// string; pgx passes it to the server as a run-time parameter.
func WithSearchPath(tb testing.TB, dsn, schema string) string {
	tb.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("%s: %v", DSNEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
