// Package sqltest holds the tests and benchmarks of package sqlstore that
// need a database driver: the conformance suite, the cross-process, fault,
// migration and at-rest tests on SQLite (modernc.org/sqlite) and
// PostgreSQL (pgx), and the EXPLAIN of every query on a request's path.
// It is a module of its own so that the drivers stay out of the module
// graph of services that import mfakit; it has no code but its tests.
//
// The PostgreSQL tests use the database named by MFA_TEST_POSTGRES_DSN and
// are skipped when it is unset. From the repository's root:
//
//	go test ./sqlstore/internal/sqltest/
package sqltest
