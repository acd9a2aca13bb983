// Package queries holds the SQL statements that sqlstore sends on a
// request's path, written with PostgreSQL's $1, $2, ... placeholders
// (sqlstore rewrites them for SQLite). Names ending in PostgreSQL or
// SQLite are for that dialect only; the others serve both. The schema
// migrations and the statements of Cleanup stay in sqlstore.
//
// They live apart from sqlstore so that the tests in
// sqlstore/internal/sqltest, a module of their own, can have PostgreSQL
// EXPLAIN each of them: TestQueriesUseIndexes there lists them by name,
// and a new statement here belongs in that list.
package queries
