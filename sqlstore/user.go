package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/sqlstore/internal/queries"
)

// LoadUser implements [mfa.UserStore] with one query, whose rows
// [queries.LoadUserPostgreSQL] describes.
func (s *Store) LoadUser(ctx context.Context, userID string, now time.Time) (mfa.UserState, error) {
	query := queries.LoadUserPostgreSQL
	if s.dialect == SQLite {
		query = queries.LoadUserSQLite
	}
	rows, err := s.db.QueryContext(ctx, s.q(query), userID, s.timeArg(now))
	if err != nil {
		return mfa.UserState{}, wrap(ctx, "load user", err)
	}
	defer rows.Close()
	var st mfa.UserState
	for rows.Next() {
		var (
			kind                    string
			id, typ, alias, account sql.NullString
			data                    sql.Null[[]byte]
			verified                sql.NullBool
			t1, t2, t3, t4          time.Time
			number                  sql.NullInt64
			alg                     sql.NullString
			digits, period          sql.NullInt64
			isDefault               sql.NullBool
			pk                      passkeyColumns
		)
		dest := append([]any{&kind, &id, &typ, &alias, &account, &data, &verified,
			nullTime{&t1}, nullTime{&t2}, nullTime{&t3}, nullTime{&t4}, &number, &alg, &digits, &period, &isDefault}, pk.dest()...)
		if err := rows.Scan(dest...); err != nil {
			return mfa.UserState{}, wrap(ctx, "load user", err)
		}
		switch kind {
		case "d":
			cred, err := pk.cred()
			if err != nil {
				return mfa.UserState{}, wrap(ctx, "load user: passkey", err)
			}
			secret := data.V
			if len(secret) == 0 {
				secret = nil // a verified passkey's, cleared; see notNull
			}
			st.Devices = append(st.Devices, mfa.DeviceRecord{
				ID:          id.String,
				UserID:      userID,
				Type:        mfa.DeviceType(typ.String),
				Alias:       alias.String,
				AccountName: account.String,
				Secret:      secret,
				Verified:    verified.Bool,
				CreatedAt:   t1,
				ExpiresAt:   t2,
				VerifiedAt:  t3,
				LastUsedAt:  t4,
				LastStep:    number.Int64,
				Algorithm:   mfa.Algorithm(alg.String),
				Digits:      int(digits.Int64),
				Period:      time.Duration(period.Int64) * time.Second,
				Default:     isDefault.Bool,
				Passkey:     cred,
			})
		case "s":
			st.RecoveryCodes.KeyID = id.String
			st.RecoveryCodes.Sealed = nullBytes(data)
			st.RecoveryCodes.CreatedAt = t1
			st.RecoveryCodes.Format = mfa.RecoveryFormat(alg.String)
		case "c":
			hashes, err := hashValues(data.V)
			if err != nil {
				return mfa.UserState{}, err
			}
			st.RecoveryCodes.Hashes = append(st.RecoveryCodes.Hashes, hashes...)
		case "l":
			st.Lockout = mfa.Lockout{Failures: int(number.Int64), LastFailure: t1}
		}
	}
	if err := rows.Err(); err != nil {
		return mfa.UserState{}, wrap(ctx, "load user", err)
	}
	slices.SortFunc(st.Devices, func(a, b mfa.DeviceRecord) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return st, nil
}

// DeleteUser implements [mfa.UserStore].
func (s *Store) DeleteUser(ctx context.Context, userID string) error {
	return s.inTx(ctx, "delete user", func(tx *sql.Tx) error {
		if err := s.lockUser(ctx, tx, userID); err != nil {
			return err
		}
		for _, query := range queries.DeleteUser {
			if _, err := s.exec(ctx, tx, query, userID); err != nil {
				return err
			}
		}
		return nil
	})
}
