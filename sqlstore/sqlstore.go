// Package sqlstore is an [mfa.Store] on database/sql, for PostgreSQL (any
// number of service instances sharing one database) and SQLite (one
// process, a file). It imports no driver: the caller opens the *sql.DB with
// the driver of its choice, owns it, and closes it after the last use of
// the Store. [New] applies the embedded schema migrations.
//
// # PostgreSQL
//
// With pgx (github.com/jackc/pgx/v5/stdlib, driver name "pgx"):
//
//	import _ "github.com/jackc/pgx/v5/stdlib"
//
//	db, err := sql.Open("pgx", "postgres://app@db.internal/app?sslmode=verify-full")
//	...
//	store, err := sqlstore.New(ctx, db, sqlstore.PostgreSQL)
//
// The tables (all named mfa_*) are created in the first schema of the
// connection's search_path; add search_path=myschema to the connection
// string to keep them apart. Every instance of a service may call New at
// start-up: the migration runs under an advisory lock, so one applies it
// and the others wait and find it done. The default isolation level, READ
// COMMITTED, is all the store needs (see "Atomicity" below).
//
// # SQLite
//
// With modernc.org/sqlite (driver name "sqlite"):
//
//	import _ "modernc.org/sqlite"
//
//	db, err := sql.Open("sqlite", "file:/var/lib/app/mfa.db?"+
//		"_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate")
//	...
//	store, err := sqlstore.New(ctx, db, sqlstore.SQLite)
//
// busy_timeout makes a writer wait for the one other writer SQLite allows
// instead of failing at once with SQLITE_BUSY; WAL lets readers run while
// a write is in progress; _txlock=immediate starts every transaction as a
// write transaction, so that no transaction has to upgrade a read lock,
// which SQLite refuses with SQLITE_BUSY when another write came between.
// The store's own transactions start with a write or run under BEGIN
// IMMEDIATE, so they are safe without it, but other code on the same
// database benefits. With mattn/go-sqlite3 the same settings read
// "file:mfa.db?_busy_timeout=5000&_journal_mode=WAL&_foreign_keys=1&_txlock=immediate".
// SQLite allows one writer at a time: use it for one process, and
// PostgreSQL when several processes share MFA state.
//
// # Atomicity
//
// Each check-then-set of the [mfa.Store] contract is either one
// conditional statement (consume a token: DELETE ... WHERE the hash
// matches and the token has not expired; accept a time step: UPDATE ...
// WHERE last_step < step and the lockout state is the one the caller
// checked; accept a passkey assertion: UPDATE ... WHERE sign_count < count;
// take a passkey login ceremony: DELETE ... RETURNING) or one transaction. A conditional statement is atomic at any
// isolation level: a concurrent writer of the same row waits for the row
// lock and re-checks the condition, so of racing callers one changes the
// row and the others see no row affected.
//
// On PostgreSQL, a transaction that reads before it writes (insert a
// pending device unless one is verified, replace recovery codes if a
// verified device exists, ...) first takes a transaction-scoped advisory
// lock on the user (pg_advisory_xact_lock on a hash of the user ID), so
// one user's transactions run one at a time, as if serialisable, while
// READ COMMITTED, the default, lets other users' transactions run in
// parallel and never fails with a serialisation error. On SQLite, the
// database's single write lock serialises every transaction; the store's
// transactions take it with their first statement.
//
// # Expired rows
//
// Reads treat expired rows as absent, as the contract says. Writes that
// touch a user's rows anyway remove the user's expired ones; what is left
// goes with [Store.Cleanup], which a service runs now and then, e.g.
// through [mfa.MFA.Cleanup] on a ticker.
//
// Size the connection pool (SetMaxOpenConns and SetMaxIdleConns, which
// database/sql defaults to 2) to the number of concurrent requests.
// docs/PERFORMANCE.md says what each operation costs in statements and
// round trips, and how it measures against pgbench.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/mfakit/mfa"
)

// Dialect is the SQL dialect of the database a Store talks to.
type Dialect int

// The dialects sqlstore supports.
const (
	// PostgreSQL 12 or newer, e.g. with the pgx driver.
	PostgreSQL Dialect = iota + 1
	// SQLite 3.37 or newer, e.g. with modernc.org/sqlite.
	SQLite
)

// String returns the dialect's name.
func (d Dialect) String() string {
	switch d {
	case PostgreSQL:
		return "PostgreSQL"
	case SQLite:
		return "SQLite"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// Store is an [mfa.Store] on a SQL database. It is safe for concurrent use,
// by any number of goroutines and, on PostgreSQL, processes. Create it with
// [New].
type Store struct {
	db      *sql.DB
	dialect Dialect
	queries sync.Map // query text as written -> text for the dialect
}

var (
	_ mfa.Store   = (*Store)(nil)
	_ mfa.Cleaner = (*Store)(nil)
)

// New returns a Store on db, after applying the schema migrations the
// database lacks. It fails if the database's schema is newer than this
// version of sqlstore knows. The caller keeps ownership of db: New does not
// change its settings, and the Store never closes it.
func New(ctx context.Context, db *sql.DB, dialect Dialect) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: nil *sql.DB")
	}
	if dialect != PostgreSQL && dialect != SQLite {
		return nil, fmt.Errorf("sqlstore: unknown dialect %v; use sqlstore.PostgreSQL or sqlstore.SQLite", dialect)
	}
	s := &Store{db: db, dialect: dialect}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// q returns query, written with PostgreSQL's $1, $2, ... placeholders, in
// the store's dialect. SQLite reads ?1, ?2, ... as the same numbered
// parameters, so a query can use one argument in several places on both.
// The queries contain no other '$'.
func (s *Store) q(query string) string {
	if s.dialect == PostgreSQL {
		return query
	}
	if v, ok := s.queries.Load(query); ok {
		return v.(string)
	}
	v := strings.ReplaceAll(query, "$", "?")
	s.queries.Store(query, v)
	return v
}

// execer is what a query needs of *sql.DB, *sql.Tx and *sql.Conn.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// exec runs a statement and returns how many rows it changed.
func (s *Store) exec(ctx context.Context, db execer, query string, args ...any) (int64, error) {
	res, err := db.ExecContext(ctx, s.q(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// inTx runs fn in a transaction, committing when it returns nil and rolling
// back otherwise. Errors other than mfakit's sentinels are wrapped with op.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap(ctx, op, err)
	}
	if err := fn(tx); err != nil {
		// The rollback's own error adds nothing: the transaction is
		// abandoned either way, and database/sql discards a connection
		// whose rollback failed.
		_ = tx.Rollback()
		return wrap(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return wrap(ctx, op, err)
	}
	return nil
}

// userLockClass is the first key of the PostgreSQL advisory locks that
// serialise one user's transactions ("mfau"); the second is a hash of the
// user ID. Two users whose IDs collide merely wait for each other.
const userLockClass int32 = 0x6d666175

// lockUser makes the rest of tx run alone among the transactions that lock
// the same user, on PostgreSQL; see the package documentation. On SQLite
// the caller's first statement is a write, which takes the database's
// write lock for the whole transaction.
func (s *Store) lockUser(ctx context.Context, tx *sql.Tx, userID string) error {
	if s.dialect != PostgreSQL {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1, $2)", userLockClass, userLockKey(userID))
	return err
}

// userLockKey is the second key of the user's advisory lock: the 32-bit
// FNV-1a hash of the user ID.
func userLockKey(userID string) int32 {
	h := fnv.New32a()
	h.Write([]byte(userID))
	return int32(h.Sum32())
}

// wrap adds context to a driver error. mfakit's sentinel errors pass
// unchanged, as the contract reports them. When ctx is done, the error
// wraps ctx.Err() whatever the driver made of the cancellation.
func wrap(ctx context.Context, op string, err error) error {
	var me *mfa.Error
	if errors.As(err, &me) {
		return err
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("sqlstore: %s: %w: %w", op, ctxErr, err)
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// timeArg is t as a query argument: NULL for the zero time, TIMESTAMPTZ on
// PostgreSQL, Unix microseconds on SQLite.
func (s *Store) timeArg(t time.Time) any {
	switch {
	case t.IsZero():
		return nil
	case s.dialect == SQLite:
		return t.UnixMicro()
	default:
		return t.UTC()
	}
}

// nullTime scans a time column written by timeArg: NULL reads as the zero
// time, and every time reads in UTC.
type nullTime struct{ t *time.Time }

// Scan implements sql.Scanner.
func (n nullTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*n.t = time.Time{}
	case time.Time:
		*n.t = v.UTC()
	case int64:
		*n.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("sqlstore: cannot read %T as a time", src)
	}
	return nil
}

// hashValues splits hashes stored end to end: one hash column, or the
// concatenation of several.
func hashValues(b []byte) ([][mfa.HashSize]byte, error) {
	if len(b) == 0 || len(b)%mfa.HashSize != 0 {
		return nil, fmt.Errorf("sqlstore: stored hashes have %d bytes, not a multiple of %d", len(b), mfa.HashSize)
	}
	hs := make([][mfa.HashSize]byte, len(b)/mfa.HashSize)
	for i := range hs {
		copy(hs[i][:], b[i*mfa.HashSize:])
	}
	return hs, nil
}

// nullBytes is the value of a nullable BYTEA or BLOB column: nil for NULL,
// and never nil otherwise, since a nil slice and an empty one mean
// different things (a recovery code set is pending while Sealed != nil).
func nullBytes(b sql.Null[[]byte]) []byte {
	switch {
	case !b.Valid:
		return nil
	case b.V == nil:
		return []byte{}
	}
	return b.V
}

// bytesArg is b as a query argument for a nullable column.
func bytesArg(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// nullString is s as a query argument, NULL when s is empty.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullInt is n as a query argument, NULL when n is zero.
func nullInt(n int64) any {
	if n == 0 {
		return nil
	}
	return n
}
