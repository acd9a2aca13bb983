package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/sqlstore/internal/queries"
)

// Lockout implements [mfa.LockoutStore].
func (s *Store) Lockout(ctx context.Context, userID string) (mfa.Lockout, error) {
	var lk mfa.Lockout
	err := s.db.QueryRowContext(ctx, s.q(queries.Lockout), userID).Scan(&lk.Failures, nullTime{&lk.LastFailure})
	if errors.Is(err, sql.ErrNoRows) {
		return mfa.Lockout{}, nil
	}
	if err != nil {
		return mfa.Lockout{}, wrap(ctx, "read lockout", err)
	}
	return lk, nil
}

// SwapLockout implements [mfa.LockoutStore] as one conditional statement.
// From the zero state it is an upsert that inserts the row when there is
// none and otherwise updates it only if it is still at zero; from any
// other state it is an UPDATE of the row with the old count and time
// (IS NOT DISTINCT FROM, which both databases accept, compares NULLs too).
// A racing writer of the row makes the condition false, and the statement
// changes no row.
func (s *Store) SwapLockout(ctx context.Context, userID string, old, next mfa.Lockout) (bool, error) {
	var n int64
	var err error
	if old.Equal(mfa.Lockout{}) {
		n, err = s.exec(ctx, s.db, queries.SwapLockoutFromZero, userID, next.Failures, s.timeArg(next.LastFailure))
	} else {
		n, err = s.exec(ctx, s.db, queries.SwapLockout, userID, next.Failures, s.timeArg(next.LastFailure), old.Failures, s.timeArg(old.LastFailure))
	}
	if err != nil {
		return false, wrap(ctx, "swap lockout", err)
	}
	return n > 0, nil
}

// resetLockout sets the user's failures to zero, in the caller's
// transaction. The row stays, at zero, rather than being deleted: the next
// login's up-front count (SwapLockout from zero) then updates it in place,
// which PostgreSQL does as a heap-only update since no indexed column
// changes, instead of inserting a new row and index entry every login.
// Cleanup removes rows at zero.
func (s *Store) resetLockout(ctx context.Context, tx *sql.Tx, userID string) error {
	_, err := s.exec(ctx, tx, queries.ResetLockout, userID)
	return err
}

// lockoutUnchanged returns mfa.ErrLockoutChanged unless the user's lockout
// state is still lk, in the caller's transaction. On PostgreSQL it locks
// the row, so that no SwapLockout slips in before the transaction commits;
// on SQLite the transaction already holds the database's write lock. A
// missing row is the zero state: a failure counted concurrently then
// inserts a row that the success does not reset, which errs on the side of
// keeping the failure.
func (s *Store) lockoutUnchanged(ctx context.Context, tx *sql.Tx, userID string, lk mfa.Lockout) error {
	query := queries.Lockout
	if s.dialect == PostgreSQL {
		query = queries.LockoutForUpdatePostgreSQL
	}
	var cur mfa.Lockout
	err := tx.QueryRowContext(ctx, s.q(query), userID).Scan(&cur.Failures, nullTime{&cur.LastFailure})
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if !cur.Equal(lk) {
		return mfa.ErrLockoutChanged
	}
	return nil
}
