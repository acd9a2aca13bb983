package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/sqlstore/internal/queries"
)

// InsertPendingDevice implements [mfa.DeviceStore]. Under the user's lock
// it removes the pending device, refuses when the user has limit verified
// devices of the type (rolling the removal back), and inserts d. The unique
// index on mfa_devices (one pending per user) backs the rule up.
func (s *Store) InsertPendingDevice(ctx context.Context, d mfa.DeviceRecord, limit int) error {
	return s.inTx(ctx, "insert pending device", func(tx *sql.Tx) error {
		if err := s.lockUser(ctx, tx, d.UserID); err != nil {
			return err
		}
		// The removal comes first so that on SQLite the transaction's first
		// statement is a write; see lockUser.
		if _, err := s.exec(ctx, tx, queries.DeletePendingDevices, d.UserID); err != nil {
			return err
		}
		if err := s.underLimit(ctx, tx, d, limit); err != nil {
			return err
		}
		return s.insertDevice(ctx, tx, d, false)
	})
}

// underLimit returns ErrDeviceLimit when the user already has limit
// verified devices of d's type, in the caller's transaction.
func (s *Store) underLimit(ctx context.Context, tx *sql.Tx, d mfa.DeviceRecord, limit int) error {
	var n int
	if err := tx.QueryRowContext(ctx, s.q(queries.CountVerifiedOfType), d.UserID, string(d.Type)).Scan(&n); err != nil {
		return err
	}
	if n >= limit {
		return mfa.ErrDeviceLimit
	}
	return nil
}

// SetDefaultDevice implements [mfa.DeviceStore] with one conditional
// UPDATE.
func (s *Store) SetDefaultDevice(ctx context.Context, userID, deviceID string) error {
	n, err := s.exec(ctx, s.db, queries.SetDefaultDevice, userID, deviceID)
	if err != nil {
		return wrap(ctx, "set default device", err)
	}
	if n == 0 {
		return mfa.ErrDeviceNotFound
	}
	return nil
}

// insertDevice inserts d, pending or verified, in the caller's
// transaction, with its passkey credential if it has one. A credential ID
// that a device holds already is ErrPasskeyRegistered.
func (s *Store) insertDevice(ctx context.Context, tx *sql.Tx, d mfa.DeviceRecord, verified bool) error {
	args := append([]any{
		d.ID, d.UserID, string(d.Type), d.Alias, d.AccountName, notNull(d.Secret), verified,
		s.timeArg(d.CreatedAt), s.timeArg(d.ExpiresAt), s.timeArg(d.VerifiedAt), s.timeArg(d.LastUsedAt), d.LastStep,
		nullString(string(d.Algorithm)), nullInt(int64(d.Digits)), nullInt(int64(d.Period / time.Second)),
	}, passkeyArgs(d.Passkey)...)
	_, err := s.exec(ctx, tx, queries.InsertDevice, args...)
	if err != nil && credentialTaken(err) {
		return mfa.ErrPasskeyRegistered
	}
	return err
}

// ImportDevice implements [mfa.DeviceStore]. Under the user's lock it
// inserts d verified, refuses when the user then has more verified devices
// of the type than limit (rolling the insert back), removes the user's
// pending devices and stores codes.
func (s *Store) ImportDevice(ctx context.Context, d mfa.DeviceRecord, codes mfa.RecoveryCodeSet, limit int) error {
	return s.inTx(ctx, "import device", func(tx *sql.Tx) error {
		if err := s.lockUser(ctx, tx, d.UserID); err != nil {
			return err
		}
		// The insert comes first so that on SQLite the transaction's first
		// statement is a write; see lockUser.
		if err := s.insertDevice(ctx, tx, d, true); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.q(queries.CountVerifiedOfType), d.UserID, string(d.Type)).Scan(&n); err != nil {
			return err
		}
		if n > limit {
			return mfa.ErrDeviceLimit
		}
		if _, err := s.exec(ctx, tx, queries.DeletePendingDevices, d.UserID); err != nil {
			return err
		}
		if len(codes.Hashes) == 0 {
			return nil
		}
		return s.replaceCodes(ctx, tx, d.UserID, codes)
	})
}

// VerifyDevice implements [mfa.DeviceStore]. Under the user's lock, one
// conditional UPDATE turns the unexpired pending device into a verified
// one; of racing verifications the first changes the row and the others
// find it verified. The lockout check, the code set and the lockout reset
// happen in the same transaction, which a mismatch rolls back.
func (s *Store) VerifyDevice(ctx context.Context, userID, deviceID string, step int64, at time.Time, codes mfa.RecoveryCodeSet, lk mfa.Lockout, limit int) error {
	return s.inTx(ctx, "verify device", func(tx *sql.Tx) error {
		if err := s.lockUser(ctx, tx, userID); err != nil {
			return err
		}
		n, err := s.exec(ctx, tx, queries.VerifyDevice, userID, deviceID, s.timeArg(at), step)
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
		return s.verified(ctx, tx, userID, deviceID, codes, limit)
	})
}

// verified completes a verification, in its transaction, once the
// device's row was turned verified: it refuses when the user now has more
// verified devices of the type than limit (rolling the verification
// back), makes codes the user's set when it holds hashes, and resets the
// lockout.
func (s *Store) verified(ctx context.Context, tx *sql.Tx, userID, deviceID string, codes mfa.RecoveryCodeSet, limit int) error {
	var count int
	if err := tx.QueryRowContext(ctx, s.q(queries.CountVerifiedLikeDevice), userID, deviceID).Scan(&count); err != nil {
		return err
	}
	if count > limit {
		return mfa.ErrDeviceLimit
	}
	if len(codes.Hashes) > 0 {
		if err := s.replaceCodes(ctx, tx, userID, codes); err != nil {
			return err
		}
	}
	return s.resetLockout(ctx, tx, userID)
}

// deviceVerified reports whether the device exists and is verified.
func (s *Store) deviceVerified(ctx context.Context, db execer, userID, deviceID string) (bool, error) {
	var verified bool
	err := db.QueryRowContext(ctx, s.q(queries.DeviceVerified), userID, deviceID).Scan(&verified)
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
		err = s.db.QueryRowContext(ctx, queries.AcceptStepPostgreSQL, userID, deviceID, step, s.timeArg(at), lk.Failures, s.timeArg(lk.LastFailure)).Scan(&same, &accepted)
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
			accepted, err = s.exec(ctx, tx, queries.AcceptStep, userID, deviceID, step, s.timeArg(at))
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
	n, err := s.exec(ctx, s.db, queries.AcceptStepZeroLockoutPostgreSQL, userID, deviceID, step, s.timeArg(at))
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
	err = s.db.QueryRowContext(ctx, queries.AcceptStepOutcome, userID, deviceID).Scan(&failures, nullTime{&last}, &verified, &lastStep)
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
	n, err := s.exec(ctx, s.db, queries.UpdateDeviceSecret, userID, deviceID, notNull(secret))
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
		err := tx.QueryRowContext(ctx, s.q(queries.DeleteDevice), userID, deviceID).Scan(&verified)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil
		case err != nil:
			return err
		}
		if _, err := s.exec(ctx, tx, queries.DeleteUserTokens, userID); err != nil {
			return err
		}
		if !verified {
			return nil
		}
		// The codes stood in for a device: they go with the last one.
		var left bool
		if err := tx.QueryRowContext(ctx, s.q(queries.AnyVerifiedDevice), userID).Scan(&left); err != nil || left {
			return err
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
