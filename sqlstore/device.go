package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/mfakit/mfa"
)

// The device queries.
const (
	deletePendingDevicesQuery = "DELETE FROM mfa_devices WHERE user_id = $1 AND NOT verified"

	verifiedDeviceExistsQuery = "SELECT EXISTS (SELECT 1 FROM mfa_devices WHERE user_id = $1 AND type = $2 AND verified)"

	insertDeviceQuery = `INSERT INTO mfa_devices
		(id, user_id, type, alias, account_name, secret, verified, created_at, expires_at, verified_at, last_used_at, last_step)
		VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7, $8, $9, $10, $11)`

	verifyDeviceQuery = `UPDATE mfa_devices
		SET verified = TRUE, verified_at = $3, last_used_at = $3, last_step = $4, expires_at = NULL
		WHERE user_id = $1 AND id = $2 AND NOT verified AND expires_at > $3`

	deviceVerifiedQuery = "SELECT verified FROM mfa_devices WHERE user_id = $1 AND id = $2"

	// acceptStepPostgreSQL records a successful code in one statement and
	// one round trip, for a caller that checked a lockout state other than
	// zero (a login after failures): it locks the user's
	// lockout row and compares it with the state the caller checked, and
	// only if they match advances the step and resets the lockout. A
	// data-modifying WITH runs all of it atomically. It returns whether the
	// lockout matched and how many devices it updated (0 or 1).
	acceptStepPostgreSQL = `
WITH lk AS (
	SELECT failures, last_failure FROM mfa_lockouts WHERE user_id = $1 FOR UPDATE
), same AS (
	SELECT COALESCE((SELECT failures FROM lk), 0) = $5
		AND (SELECT last_failure FROM lk) IS NOT DISTINCT FROM $6 AS ok
), accepted AS (
	UPDATE mfa_devices SET last_step = $3, last_used_at = $4
	WHERE user_id = $1 AND id = $2 AND verified AND last_step < $3 AND (SELECT ok FROM same)
	RETURNING user_id
), reset AS (
	UPDATE mfa_lockouts SET failures = 0, last_failure = NULL
	WHERE user_id IN (SELECT user_id FROM accepted) AND failures <> 0
)
SELECT (SELECT ok FROM same), count(*) FROM accepted`

	// acceptStepZeroLockoutPostgreSQL is acceptStepPostgreSQL for a
	// caller that checked the zero lockout state, as nearly every login
	// does. With nothing to reset, one UPDATE records the step if the state
	// is still zero, without locking the lockout row: a failure counted at
	// the same time is then ordered after the success, which is a valid
	// order, since the success writes nothing that counting a failure
	// reads. A plan this small costs the server markedly less to start
	// than the WITH of the general case.
	acceptStepZeroLockoutPostgreSQL = `UPDATE mfa_devices SET last_step = $3, last_used_at = $4
	WHERE user_id = $1 AND id = $2 AND verified AND last_step < $3
		AND NOT EXISTS (SELECT 1 FROM mfa_lockouts
			WHERE user_id = $1 AND (failures <> 0 OR last_failure IS NOT NULL))`

	// acceptStepOutcomeQuery tells, after acceptStepZeroLockoutPostgreSQL
	// changed nothing, which of its conditions fails now.
	acceptStepOutcomeQuery = `SELECT l.failures, l.last_failure, d.verified, d.last_step
	FROM (SELECT 1) one
	LEFT JOIN mfa_lockouts l ON l.user_id = $1
	LEFT JOIN mfa_devices d ON d.user_id = $1 AND d.id = $2`

	acceptStepQuery = `UPDATE mfa_devices SET last_step = $3, last_used_at = $4
		WHERE user_id = $1 AND id = $2 AND verified AND last_step < $3`

	updateDeviceSecretQuery = "UPDATE mfa_devices SET secret = $3 WHERE user_id = $1 AND id = $2"

	deleteDeviceQuery = "DELETE FROM mfa_devices WHERE user_id = $1 AND id = $2 RETURNING verified"
)

// InsertPendingDevice implements [mfa.DeviceStore]. Under the user's lock
// it removes the pending device, refuses when a verified one of the type
// exists (rolling the removal back), and inserts d. The unique indexes on
// mfa_devices (one verified per user and type, one pending per user) back
// the rule up.
func (s *Store) InsertPendingDevice(ctx context.Context, d mfa.DeviceRecord) error {
	return s.inTx(ctx, "insert pending device", func(tx *sql.Tx) error {
		if err := s.lockUser(ctx, tx, d.UserID); err != nil {
			return err
		}
		// The removal comes first so that on SQLite the transaction's first
		// statement is a write; see lockUser.
		if _, err := s.exec(ctx, tx, deletePendingDevicesQuery, d.UserID); err != nil {
			return err
		}
		var limit bool
		err := tx.QueryRowContext(ctx, s.q(verifiedDeviceExistsQuery), d.UserID, string(d.Type)).Scan(&limit)
		if err != nil {
			return err
		}
		if limit {
			return mfa.ErrDeviceLimit
		}
		_, err = s.exec(ctx, tx, insertDeviceQuery,
			d.ID, d.UserID, string(d.Type), d.Alias, d.AccountName, notNull(d.Secret),
			s.timeArg(d.CreatedAt), s.timeArg(d.ExpiresAt), s.timeArg(d.VerifiedAt), s.timeArg(d.LastUsedAt), d.LastStep)
		return err
	})
}

// VerifyDevice implements [mfa.DeviceStore]. Under the user's lock, one
// conditional UPDATE turns the unexpired pending device into a verified
// one; of racing verifications the first changes the row and the others
// find it verified. The lockout check, the code set and the lockout reset
// happen in the same transaction, which a mismatch rolls back.
func (s *Store) VerifyDevice(ctx context.Context, userID, deviceID string, step int64, at time.Time, codes mfa.RecoveryCodeSet, lk mfa.Lockout) error {
	return s.inTx(ctx, "verify device", func(tx *sql.Tx) error {
		if err := s.lockUser(ctx, tx, userID); err != nil {
			return err
		}
		n, err := s.exec(ctx, tx, verifyDeviceQuery, userID, deviceID, s.timeArg(at), step)
		if err != nil {
			return err
		}
		if err := s.lockoutUnchanged(ctx, tx, userID, lk); err != nil {
			return err
		}
		if n == 0 {
			verified, err := s.deviceVerified(ctx, tx, userID, deviceID)
			switch {
			case err != nil:
				return err
			case verified:
				return mfa.ErrCodeReused
			}
			return mfa.ErrDeviceNotFound
		}
		if err := s.replaceCodes(ctx, tx, userID, codes); err != nil {
			return err
		}
		return s.resetLockout(ctx, tx, userID)
	})
}

// deviceVerified reports whether the device exists and is verified.
func (s *Store) deviceVerified(ctx context.Context, db execer, userID, deviceID string) (bool, error) {
	var verified bool
	err := db.QueryRowContext(ctx, s.q(deviceVerifiedQuery), userID, deviceID).Scan(&verified)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return verified, err
}

// AcceptStep implements [mfa.DeviceStore]. The step advances by a
// conditional UPDATE (WHERE last_step < step): of racing callers with the
// same step one changes the row, and the others, after waiting for its row
// lock, find the condition false. The lockout check and reset join it:
// in the same statement on PostgreSQL, the same transaction on SQLite. For
// a zero lockout state on PostgreSQL the check is a condition of the
// UPDATE, on the statement's snapshot, as the contract allows, and there
// is nothing to reset. When no row changed, a second read tells a changed
// lockout, a replay and an unknown device apart.
func (s *Store) AcceptStep(ctx context.Context, userID, deviceID string, step int64, at time.Time, lk mfa.Lockout) error {
	var accepted int64
	var err error
	switch {
	case s.dialect == PostgreSQL && lk.Equal(mfa.Lockout{}):
		return s.acceptStepZeroLockout(ctx, userID, deviceID, step, at)
	case s.dialect == PostgreSQL:
		var same bool
		err = s.db.QueryRowContext(ctx, acceptStepPostgreSQL, userID, deviceID, step, s.timeArg(at), lk.Failures, s.timeArg(lk.LastFailure)).Scan(&same, &accepted)
		if err != nil {
			return wrap(ctx, "accept step", err)
		}
		if !same {
			return mfa.ErrLockoutChanged
		}
	default:
		err = s.inTx(ctx, "accept step", func(tx *sql.Tx) error {
			// The write comes first, so that the transaction holds the write
			// lock before it reads the lockout; see lockUser.
			accepted, err = s.exec(ctx, tx, acceptStepQuery, userID, deviceID, step, s.timeArg(at))
			if err != nil {
				return err
			}
			if err := s.lockoutUnchanged(ctx, tx, userID, lk); err != nil {
				return err
			}
			if accepted == 0 {
				return nil
			}
			return s.resetLockout(ctx, tx, userID)
		})
		if err != nil {
			if errors.Is(err, mfa.ErrLockoutChanged) {
				return mfa.ErrLockoutChanged
			}
			return err
		}
	}
	if accepted > 0 {
		return nil
	}
	verified, err := s.deviceVerified(ctx, s.db, userID, deviceID)
	switch {
	case err != nil:
		return wrap(ctx, "accept step", err)
	case verified:
		return mfa.ErrCodeReused
	}
	return mfa.ErrDeviceNotFound
}

// acceptStepZeroLockout is AcceptStep on PostgreSQL for the zero lockout
// state. When its UPDATE changes nothing, a second read says why: the
// lockout state is no longer zero, the device is missing or unverified, or
// the step is not newer than the device's. If none of these holds any
// more, the state was not zero when the UPDATE ran and has been reset
// since; that too is ErrLockoutChanged, and the caller starts again.
func (s *Store) acceptStepZeroLockout(ctx context.Context, userID, deviceID string, step int64, at time.Time) error {
	n, err := s.exec(ctx, s.db, acceptStepZeroLockoutPostgreSQL, userID, deviceID, step, s.timeArg(at))
	if err != nil {
		return wrap(ctx, "accept step", err)
	}
	if n > 0 {
		return nil
	}
	var (
		failures sql.NullInt64
		last     time.Time
		verified sql.NullBool
		lastStep sql.NullInt64
	)
	err = s.db.QueryRowContext(ctx, acceptStepOutcomeQuery, userID, deviceID).Scan(&failures, nullTime{&last}, &verified, &lastStep)
	switch {
	case err != nil:
		return wrap(ctx, "accept step", err)
	case !(mfa.Lockout{Failures: int(failures.Int64), LastFailure: last}).Equal(mfa.Lockout{}):
		return mfa.ErrLockoutChanged
	case !verified.Bool:
		return mfa.ErrDeviceNotFound
	case lastStep.Int64 >= step:
		return mfa.ErrCodeReused
	}
	return mfa.ErrLockoutChanged
}

// UpdateDeviceSecret implements [mfa.DeviceStore].
func (s *Store) UpdateDeviceSecret(ctx context.Context, userID, deviceID string, secret []byte) error {
	n, err := s.exec(ctx, s.db, updateDeviceSecretQuery, userID, deviceID, notNull(secret))
	if err != nil {
		return wrap(ctx, "update device secret", err)
	}
	if n == 0 {
		return mfa.ErrDeviceNotFound
	}
	return nil
}

// DeleteDevice implements [mfa.DeviceStore]. Under the user's lock, so that
// a concurrent ReplaceRecoveryCodes cannot store codes for a device that is
// going away; the user's tokens go in the same transaction.
func (s *Store) DeleteDevice(ctx context.Context, userID, deviceID string) error {
	return s.inTx(ctx, "delete device", func(tx *sql.Tx) error {
		if err := s.lockUser(ctx, tx, userID); err != nil {
			return err
		}
		var verified bool
		err := tx.QueryRowContext(ctx, s.q(deleteDeviceQuery), userID, deviceID).Scan(&verified)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil
		case err != nil:
			return err
		}
		if _, err := s.exec(ctx, tx, deleteUserTokensQuery, userID); err != nil {
			return err
		}
		if !verified {
			return nil
		}
		return s.deleteCodes(ctx, tx, userID)
	})
}

// notNull is b for a NOT NULL column: a nil slice would bind as NULL.
func notNull(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
