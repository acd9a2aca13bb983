package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/mfakit/mfa"
)

// The token queries. Parameters of the inserts: $1 hash, $2 user_id,
// $3 single_use, $4 scopes, $5 created_at, $6 expires_at.
const (
	// insertTokenPostgreSQL removes the user's tokens that expired by the
	// new token's creation and inserts the new one, in one statement.
	insertTokenPostgreSQL = `
WITH expired AS (
	DELETE FROM mfa_tokens WHERE user_id = $2 AND expires_at <= $5
)
INSERT INTO mfa_tokens (hash, user_id, single_use, scopes, created_at, expires_at)
	VALUES ($1, $2, $3, $4, $5, $6)`

	deleteExpiredTokensQuery = "DELETE FROM mfa_tokens WHERE user_id = $1 AND expires_at <= $2"

	insertTokenQuery = `INSERT INTO mfa_tokens (hash, user_id, single_use, scopes, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`

	tokenQuery = "SELECT user_id, single_use, scopes, created_at, expires_at FROM mfa_tokens WHERE hash = $1"

	consumeTokenQuery = "DELETE FROM mfa_tokens WHERE hash = $1 AND expires_at > $2"

	// deleteUserTokensQuery revokes every token of a user, when a device
	// goes or the user is reset.
	deleteUserTokensQuery = "DELETE FROM mfa_tokens WHERE user_id = $1"
)

// InsertToken implements [mfa.TokenStore]. Scopes are stored as a JSON
// array, which keeps any string intact.
//
// It also removes the user's tokens that had expired when t was created
// (ExpiresAt not after t.CreatedAt), the per-user form of [Store.Cleanup],
// so that a user's expired tokens do not pile up between cleanups. The
// user_id index makes this an index scan of the user's few tokens. On
// PostgreSQL both happen in one statement; on SQLite in one transaction,
// which costs SQLite a single commit like the INSERT alone.
func (s *Store) InsertToken(ctx context.Context, t mfa.TokenRecord) error {
	scopes, err := json.Marshal(t.Scopes)
	if err != nil {
		return wrap(ctx, "insert token", err)
	}
	if t.Scopes == nil {
		scopes = []byte("[]")
	}
	args := []any{t.Hash[:], t.UserID, t.SingleUse, string(scopes), s.timeArg(t.CreatedAt), s.timeArg(t.ExpiresAt)}
	if s.dialect == PostgreSQL {
		if _, err := s.exec(ctx, s.db, insertTokenPostgreSQL, args...); err != nil {
			return wrap(ctx, "insert token", err)
		}
		return nil
	}
	return s.inTx(ctx, "insert token", func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, deleteExpiredTokensQuery, t.UserID, s.timeArg(t.CreatedAt)); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx, insertTokenQuery, args...)
		return err
	})
}

// Token implements [mfa.TokenStore].
func (s *Store) Token(ctx context.Context, hash [mfa.HashSize]byte) (mfa.TokenRecord, error) {
	t := mfa.TokenRecord{Hash: hash}
	var scopes string
	err := s.db.QueryRowContext(ctx, s.q(tokenQuery), hash[:]).Scan(&t.UserID, &t.SingleUse, &scopes, nullTime{&t.CreatedAt}, nullTime{&t.ExpiresAt})
	if errors.Is(err, sql.ErrNoRows) {
		return mfa.TokenRecord{}, mfa.ErrTokenInvalid
	}
	if err != nil {
		return mfa.TokenRecord{}, wrap(ctx, "read token", err)
	}
	if err := json.Unmarshal([]byte(scopes), &t.Scopes); err != nil {
		return mfa.TokenRecord{}, wrap(ctx, "read token scopes", err)
	}
	if len(t.Scopes) == 0 {
		t.Scopes = nil
	}
	return t, nil
}

// ConsumeToken implements [mfa.TokenStore]: one conditional DELETE, so of
// racing callers exactly one removes the row.
func (s *Store) ConsumeToken(ctx context.Context, hash [mfa.HashSize]byte, now time.Time) error {
	n, err := s.exec(ctx, s.db, consumeTokenQuery, hash[:], s.timeArg(now))
	if err != nil {
		return wrap(ctx, "consume token", err)
	}
	if n == 0 {
		return mfa.ErrTokenInvalid
	}
	return nil
}
