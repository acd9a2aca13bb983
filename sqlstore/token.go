package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/mfakit/mfa"
)

// InsertToken implements [mfa.TokenStore]. Scopes are stored as a JSON
// array, which keeps any string intact.
func (s *Store) InsertToken(ctx context.Context, t mfa.TokenRecord) error {
	scopes, err := json.Marshal(t.Scopes)
	if err != nil {
		return wrap(ctx, "insert token", err)
	}
	if t.Scopes == nil {
		scopes = []byte("[]")
	}
	_, err = s.exec(ctx, s.db, `INSERT INTO mfa_tokens (hash, user_id, single_use, scopes, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		t.Hash[:], t.UserID, t.SingleUse, string(scopes), s.timeArg(t.CreatedAt), s.timeArg(t.ExpiresAt))
	if err != nil {
		return wrap(ctx, "insert token", err)
	}
	return nil
}

// Token implements [mfa.TokenStore].
func (s *Store) Token(ctx context.Context, hash [mfa.HashSize]byte) (mfa.TokenRecord, error) {
	t := mfa.TokenRecord{Hash: hash}
	var scopes string
	err := s.db.QueryRowContext(ctx, s.q("SELECT user_id, single_use, scopes, created_at, expires_at FROM mfa_tokens WHERE hash = $1"),
		hash[:]).Scan(&t.UserID, &t.SingleUse, &scopes, nullTime{&t.CreatedAt}, nullTime{&t.ExpiresAt})
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
	n, err := s.exec(ctx, s.db, "DELETE FROM mfa_tokens WHERE hash = $1 AND expires_at > $2", hash[:], s.timeArg(now))
	if err != nil {
		return wrap(ctx, "consume token", err)
	}
	if n == 0 {
		return mfa.ErrTokenInvalid
	}
	return nil
}
