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
	// One row's destinations serve every row: each scan sets every column
	// (NULL as the zero value), and the byte slices it stores are copies.
	var r loadRow
	dest := r.dest()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return mfa.UserState{}, wrap(ctx, "load user", err)
		}
		switch r.kind {
		case "d":
			cred, err := r.pk.cred()
			if err != nil {
				return mfa.UserState{}, wrap(ctx, "load user: passkey", err)
			}
			secret := r.data.V
			if len(secret) == 0 {
				secret = nil // a verified passkey's, cleared; see notNull
			}
			st.Devices = append(st.Devices, mfa.DeviceRecord{
				ID:          r.id.String,
				UserID:      userID,
				Type:        mfa.DeviceType(r.typ.String),
				Alias:       r.alias.String,
				AccountName: r.account.String,
				Secret:      secret,
				Verified:    r.verified.Bool,
				CreatedAt:   r.t1,
				ExpiresAt:   r.t2,
				VerifiedAt:  r.t3,
				LastUsedAt:  r.t4,
				LastStep:    r.number.Int64,
				Algorithm:   mfa.Algorithm(r.alg.String),
				Digits:      int(r.digits.Int64),
				Period:      time.Duration(r.period.Int64) * time.Second,
				Default:     r.isDefault.Bool,
				Passkey:     cred,
			})
		case "s":
			st.RecoveryCodes.KeyID = r.id.String
			st.RecoveryCodes.Sealed = nullBytes(r.data)
			st.RecoveryCodes.CreatedAt = r.t1
			st.RecoveryCodes.Format = mfa.RecoveryFormat(r.alg.String)
		case "c":
			hashes, err := hashValues(r.data.V)
			if err != nil {
				return mfa.UserState{}, err
			}
			st.RecoveryCodes.Hashes = append(st.RecoveryCodes.Hashes, hashes...)
		case "l":
			st.Lockout = mfa.Lockout{Failures: int(r.number.Int64), LastFailure: r.t1}
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

// loadRow is a row of LoadUser's query, whose columns
// [queries.LoadUserPostgreSQL] describes.
type loadRow struct {
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
}

// dest returns the scan destinations, in the order of the columns.
func (r *loadRow) dest() []any {
	return append([]any{&r.kind, &r.id, &r.typ, &r.alias, &r.account, &r.data, &r.verified,
		nullTime{&r.t1}, nullTime{&r.t2}, nullTime{&r.t3}, nullTime{&r.t4}, &r.number, &r.alg, &r.digits, &r.period, &r.isDefault},
		r.pk.dest()...)
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
