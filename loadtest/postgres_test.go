package loadtest

import (
	"database/sql"
	"testing"

	"github.com/mfakit/mfa/internal/pgtest"
	"github.com/mfakit/mfa/sqlstore"
)

// maxPostgresConns bounds the pool, well under PostgreSQL's default
// max_connections of 100, which other packages' tests share.
const maxPostgresConns = 32

// postgresStore returns a store in a new schema of the test database,
// dropped when t ends, on a pool of up to conns connections, all kept
// open between requests. Without MFA_TEST_POSTGRES_DSN the test is
// skipped.
func postgresStore(t *testing.T, conns int) *sqlstore.Store {
	t.Helper()
	dsn, _ := pgtest.Schema(t, "mfaload_")
	db, err := sql.Open("pgx", dsn)
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
