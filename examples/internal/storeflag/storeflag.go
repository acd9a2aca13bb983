// Package storeflag opens the mfa.Store that an example's -store flag
// names, so that every example takes the same specs.
package storeflag

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/sqlstore"
)

// Usage is the help text of a -store flag.
const Usage = "where MFA state lives: memory, sqlite:PATH or postgres:DSN"

// Open opens the MFA store that a -store flag names, and returns it with a
// function that releases it. Specs:
//
//	memory             the in-memory store (memstore): MFA state vanishes on restart
//	sqlite:PATH        an SQLite file, created if missing (one process)
//	postgres:DSN       a PostgreSQL database, e.g. postgres://user@host/db (many instances)
func Open(spec string) (mfa.Store, func(), error) {
	kind, arg, _ := strings.Cut(spec, ":")
	var db *sql.DB
	var dialect sqlstore.Dialect
	var err error
	switch {
	case spec == "memory":
		return memstore.New(), func() {}, nil
	case kind == "sqlite" && arg != "":
		// WAL for concurrent readers, a busy timeout instead of immediate
		// "database is locked" errors, and write transactions that take
		// the write lock up front; see the sqlstore package documentation.
		dsn := "file:" + arg + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"
		db, err = sql.Open("sqlite", dsn)
		dialect = sqlstore.SQLite
	case kind == "postgres" && arg != "":
		db, err = sql.Open("pgx", arg)
		dialect = sqlstore.PostgreSQL
	default:
		return nil, nil, fmt.Errorf("unknown -store %q: want memory, sqlite:PATH or postgres:DSN", spec)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("-store %s: %w", kind, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := sqlstore.New(ctx, db, dialect)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("-store %s: %w", kind, err)
	}
	return s, func() { db.Close() }, nil
}
