package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"

	"github.com/mfakit/mfa"
)

// The query of LoadUser reads all of a user's state in one statement, so
// that the result is one consistent snapshot and the hot path of a login
// costs one round trip. Each branch of the UNION ALL yields one kind of row
// (column 1): a device (d), the recovery code set (s), unused codes (c),
// the lockout (l), in shared columns:
//
//	2 id / key_id   5 account_name               8 created_at / last_failure
//	3 type          6 secret / sealed / hashes    9 expires_at    10 verified_at
//	4 alias         7 verified                   11 last_used_at  12 last_step / failures
//
// On PostgreSQL one c row carries all the codes' hashes end to end
// (string_agg over bytea), so that a user with ten codes costs four rows
// rather than thirteen to send and to scan; SQLite, which has no such
// aggregate for blobs and no network to save, sends a c row per code.
// The rows come in any order; LoadUser orders the devices itself, which
// spares the server a sort node to set up on every call.
const (
	loadUserHead = `
SELECT 'd', id, type, alias, account_name, secret, verified, created_at, expires_at, verified_at, last_used_at, last_step
	FROM mfa_devices WHERE user_id = $1 AND (verified OR expires_at > $2)
UNION ALL
SELECT 's', key_id, NULL, NULL, NULL, sealed, NULL, created_at, NULL, NULL, NULL, NULL
	FROM mfa_recovery_code_sets WHERE user_id = $1
UNION ALL
`
	loadUserTail = `
UNION ALL
SELECT 'l', NULL, NULL, NULL, NULL, NULL, NULL, last_failure, NULL, NULL, NULL, failures
	FROM mfa_lockouts WHERE user_id = $1`

	loadUserPostgreSQL = loadUserHead + `SELECT 'c', NULL, NULL, NULL, NULL, string_agg(hash, ''::bytea), NULL, NULL, NULL, NULL, NULL, NULL
	FROM mfa_recovery_codes WHERE user_id = $1 HAVING count(*) > 0` + loadUserTail

	loadUserSQLite = loadUserHead + `SELECT 'c', NULL, NULL, NULL, NULL, hash, NULL, NULL, NULL, NULL, NULL, NULL
	FROM mfa_recovery_codes WHERE user_id = $1` + loadUserTail
)

// LoadUser implements [mfa.UserStore].
func (s *Store) LoadUser(ctx context.Context, userID string, now time.Time, out *mfa.UserState) error {
	query := loadUserPostgreSQL
	if s.dialect == SQLite {
		query = loadUserSQLite
	}
	rows, err := s.db.QueryContext(ctx, s.q(query), userID, s.timeArg(now))
	if err != nil {
		return wrap(ctx, "load user", err)
	}
	defer rows.Close()
	st := mfa.UserState{Devices: out.Devices[:0]}
	for rows.Next() {
		var (
			kind                    string
			id, typ, alias, account sql.NullString
			data                    sql.Null[[]byte]
			verified                sql.NullBool
			t1, t2, t3, t4          time.Time
			number                  sql.NullInt64
		)
		if err := rows.Scan(&kind, &id, &typ, &alias, &account, &data, &verified,
			nullTime{&t1}, nullTime{&t2}, nullTime{&t3}, nullTime{&t4}, &number); err != nil {
			return wrap(ctx, "load user", err)
		}
		switch kind {
		case "d":
			st.Devices = append(st.Devices, mfa.DeviceRecord{
				ID:          id.String,
				UserID:      userID,
				Type:        mfa.DeviceType(typ.String),
				Alias:       alias.String,
				AccountName: account.String,
				Secret:      data.V,
				Verified:    verified.Bool,
				CreatedAt:   t1,
				ExpiresAt:   t2,
				VerifiedAt:  t3,
				LastUsedAt:  t4,
				LastStep:    number.Int64,
			})
		case "s":
			st.RecoveryCodes.KeyID = id.String
			st.RecoveryCodes.Sealed = nullBytes(data)
			st.RecoveryCodes.CreatedAt = t1
		case "c":
			hashes, err := hashValues(data.V)
			if err != nil {
				return err
			}
			st.RecoveryCodes.Hashes = append(st.RecoveryCodes.Hashes, hashes...)
		case "l":
			st.Lockout = mfa.Lockout{Failures: int(number.Int64), LastFailure: t1}
		}
	}
	if err := rows.Err(); err != nil {
		return wrap(ctx, "load user", err)
	}
	slices.SortFunc(st.Devices, func(a, b mfa.DeviceRecord) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	*out = st
	return nil
}

// deleteUserQueries remove all of a user's rows, one table each.
var deleteUserQueries = []string{
	"DELETE FROM mfa_devices WHERE user_id = $1",
	"DELETE FROM mfa_recovery_codes WHERE user_id = $1",
	"DELETE FROM mfa_recovery_code_sets WHERE user_id = $1",
	deleteUserTokensQuery,
	"DELETE FROM mfa_lockouts WHERE user_id = $1",
}

// DeleteUser implements [mfa.UserStore].
func (s *Store) DeleteUser(ctx context.Context, userID string) error {
	return s.inTx(ctx, "delete user", func(tx *sql.Tx) error {
		if err := s.lockUser(ctx, tx, userID); err != nil {
			return err
		}
		for _, query := range deleteUserQueries {
			if _, err := s.exec(ctx, tx, query, userID); err != nil {
				return err
			}
		}
		return nil
	})
}
