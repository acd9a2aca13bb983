package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// migrationFiles holds the schema migrations, one directory per dialect,
// each file named NNNN_description.sql and applied in order of NNNN. A
// migration, once released, never changes: a schema change is a new file.
//
//go:embed migrations
var migrationFiles embed.FS

// migrationLockID is the key of the PostgreSQL advisory lock that lets one
// process at a time migrate ("mfakit" in ASCII).
const migrationLockID int64 = 0x6d66616b6974

// SchemaVersionError is returned by [New] when the database's schema was
// migrated by a newer version of sqlstore than the running one, which must
// not write to a schema it does not know.
type SchemaVersionError struct {
	Database  int // the version the database is at
	Supported int // the newest version this code knows
}

func (e *SchemaVersionError) Error() string {
	return fmt.Sprintf("sqlstore: database schema version %d is newer than this code supports (%d); upgrade mfakit", e.Database, e.Supported)
}

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the dialect's migrations in order, checking that
// their versions run 1, 2, 3, ... without a gap.
func (d Dialect) migrations() ([]migration, error) {
	dir := "migrations/" + map[Dialect]string{PostgreSQL: "postgres", SQLite: "sqlite"}[d]
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries { // ReadDir sorts by name, so by version
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("sqlstore: migration file %s is not named NNNN_description.sql", e.Name())
		}
		if v != len(ms)+1 {
			return nil, fmt.Errorf("sqlstore: migration %s has version %d, want %d", e.Name(), v, len(ms)+1)
		}
		text, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(text)})
	}
	return ms, nil
}

// migrate applies the migrations the database lacks, holding a lock that
// makes concurrent callers, in this process or others, wait for each
// other: the first applies them, the others then find nothing to do.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := s.dialect.migrations()
	if err != nil {
		return err
	}
	if s.dialect == PostgreSQL {
		return s.migratePostgreSQL(ctx, ms)
	}
	return s.migrateSQLite(ctx, ms)
}

// migratePostgreSQL runs the migrations in a transaction that first takes
// an advisory lock, so that of many instances starting at once one
// migrates and the others wait and then see its work. PostgreSQL's DDL is
// transactional: a failed migration leaves no trace.
func (s *Store) migratePostgreSQL(ctx context.Context, ms []migration) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap(ctx, "migrate: begin", err)
	}
	if _, err = tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockID); err != nil {
		err = wrap(ctx, "migrate: lock", err)
	} else if err = s.applyMigrations(ctx, tx, ms); err == nil {
		if err = tx.Commit(); err == nil {
			return nil
		}
		return wrap(ctx, "migrate: commit", err)
	}
	_ = tx.Rollback() // the error that made us roll back is the one to report
	if sqlState(err) == "3F000" {
		return fmt.Errorf("sqlstore: PostgreSQL has no schema to create mfakit's tables in: the connection's search_path names no schema that exists; create it (CREATE SCHEMA name) or change search_path: %w", err)
	}
	return err
}

// sqlState returns the SQLSTATE of a driver's error, for drivers whose
// errors have an SQLState method (pgx's *pgconn.PgError), else "".
func sqlState(err error) string {
	var e interface{ SQLState() string }
	if errors.As(err, &e) {
		return e.SQLState()
	}
	return ""
}

// migrateSQLite runs the migrations in a BEGIN IMMEDIATE transaction, which
// takes the database's write lock before reading the schema version, so
// that of two processes starting at once the second waits (for up to the
// connection's busy_timeout) and then sees the first's work. database/sql's
// BeginTx cannot ask for IMMEDIATE, so the transaction is managed by hand
// on one connection.
func (s *Store) migrateSQLite(ctx context.Context, ms []migration) error {
	conn, err := s.sqliteConn(ctx)
	if err != nil {
		return wrap(ctx, "migrate", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return wrap(ctx, "migrate: begin", err)
	}
	err = s.applyMigrations(ctx, conn, ms)
	if err == nil {
		if _, err = conn.ExecContext(ctx, "COMMIT"); err == nil {
			return nil
		}
		err = wrap(ctx, "migrate: commit", err)
	}
	// Roll back even when ctx is done; a connection that cannot roll back
	// is discarded rather than returned to the pool inside a transaction.
	if _, rbErr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); rbErr != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	return err
}

// sqliteConn returns a connection of s.db. Opening one runs the pragmas
// of the connection string, and on a new file journal_mode(WAL) needs the
// file to itself: when several processes start on the same new file at
// once, it fails at once with SQLITE_BUSY, without waiting busy_timeout.
// That only happens while the file is new, so the open is retried a few
// times.
func (s *Store) sqliteConn(ctx context.Context) (*sql.Conn, error) {
	const attempts, pause = 50, 20 * time.Millisecond
	for i := 1; ; i++ {
		conn, err := s.db.Conn(ctx)
		if err == nil || i == attempts || !sqliteBusy(err) {
			return conn, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(pause):
		}
	}
}

// sqliteBusy reports whether err is SQLite's SQLITE_BUSY, from a driver
// whose errors have a Code method (modernc.org/sqlite) or by its message.
func sqliteBusy(err error) bool {
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		return coded.Code()&0xff == 5 // SQLITE_BUSY and its extended codes
	}
	return strings.Contains(err.Error(), "database is locked")
}

// applyMigrations brings the schema up to date; the caller holds the
// migration lock.
func (s *Store) applyMigrations(ctx context.Context, db execer, ms []migration) error {
	create := `CREATE TABLE IF NOT EXISTS mfa_schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TIMESTAMPTZ NOT NULL
	)`
	if s.dialect == SQLite {
		create = `CREATE TABLE IF NOT EXISTS mfa_schema_migrations (
			version    INTEGER PRIMARY KEY,
			applied_at INTEGER NOT NULL
		) STRICT`
	}
	if _, err := db.ExecContext(ctx, create); err != nil {
		return wrap(ctx, "migrate: create mfa_schema_migrations", err)
	}
	var current int
	if err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM mfa_schema_migrations").Scan(&current); err != nil {
		return wrap(ctx, "migrate: read schema version", err)
	}
	if current > len(ms) {
		return &SchemaVersionError{Database: current, Supported: len(ms)}
	}
	for _, m := range ms[current:] {
		if _, err := db.ExecContext(ctx, m.sql); err != nil {
			return wrap(ctx, "migrate: apply "+m.name, err)
		}
		if _, err := db.ExecContext(ctx, s.q("INSERT INTO mfa_schema_migrations (version, applied_at) VALUES ($1, $2)"),
			m.version, s.timeArg(time.Now())); err != nil {
			return wrap(ctx, "migrate: record "+m.name, err)
		}
	}
	return nil
}
