package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/sqlstore/internal/queries"
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
		if _, err := s.exec(ctx, s.db, queries.InsertTokenPostgreSQL, args...); err != nil {
			return wrap(ctx, "insert token", err)
		}
		return nil
	}
	return s.inTx(ctx, "insert token", func(tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, queries.DeleteExpiredTokens, t.UserID, s.timeArg(t.CreatedAt)); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx, queries.InsertToken, args...)
		return err
	})
}

// Token implements [mfa.TokenStore].
func (s *Store) Token(ctx context.Context, userID string, hash [mfa.HashSize]byte) (mfa.TokenRecord, error) {
	t := mfa.TokenRecord{Hash: hash, UserID: userID}
	var scopes string
	err := s.db.QueryRowContext(ctx, s.q(queries.Token), hash[:], userID).Scan(&t.SingleUse, &scopes, nullTime{&t.CreatedAt}, nullTime{&t.ExpiresAt})
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
func (s *Store) ConsumeToken(ctx context.Context, userID string, hash [mfa.HashSize]byte, now time.Time) error {
	n, err := s.exec(ctx, s.db, queries.ConsumeToken, hash[:], userID, s.timeArg(now))
	if err != nil {
		return wrap(ctx, "consume token", err)
	}
	if n == 0 {
		return mfa.ErrTokenInvalid
	}
	return nil
}
