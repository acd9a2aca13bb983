package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/sqlstore/internal/queries"
)

// ReplaceRecoveryCodes implements [mfa.RecoveryCodeStore]. Under the user's
// lock it removes the old codes, checks for a verified device (rolling the
// removal back when there is none) and stores the new set.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, set mfa.RecoveryCodeSet) error {
	return s.inTx(ctx, "replace recovery codes", func(tx *sql.Tx) error {
		if err := s.lockUser(ctx, tx, userID); err != nil {
			return err
		}
		// The removal comes first so that on SQLite the transaction's first
		// statement is a write; see lockUser.
		if _, err := s.exec(ctx, tx, queries.DeleteCodes, userID); err != nil {
			return err
		}
		var device bool
		err := tx.QueryRowContext(ctx, s.q(queries.AnyVerifiedDevice), userID).Scan(&device)
		if err != nil {
			return err
		}
		if !device {
			return mfa.ErrNoDevice
		}
		return s.replaceCodes(ctx, tx, userID, set)
	})
}

// replaceCodes stores set as the user's recovery code set, in the caller's
// transaction, which holds the user's lock.
func (s *Store) replaceCodes(ctx context.Context, tx *sql.Tx, userID string, set mfa.RecoveryCodeSet) error {
	_, err := s.exec(ctx, tx, queries.UpsertCodeSet,
		userID, set.KeyID, bytesArg(set.Sealed), s.timeArg(set.CreatedAt), nullString(string(set.Format)))
	if err != nil {
		return err
	}
	if _, err := s.exec(ctx, tx, queries.DeleteCodes, userID); err != nil {
		return err
	}
	if len(set.Hashes) == 0 {
		return nil
	}
	args := make([]any, 0, 1+len(set.Hashes))
	args = append(args, userID)
	for i := range set.Hashes {
		args = append(args, set.Hashes[i][:])
	}
	_, err = s.exec(ctx, tx, queries.InsertCodes(len(set.Hashes)), args...)
	return err
}

// deleteCodes removes the user's recovery code set, in the caller's
// transaction.
func (s *Store) deleteCodes(ctx context.Context, tx *sql.Tx, userID string) error {
	if _, err := s.exec(ctx, tx, queries.DeleteCodes, userID); err != nil {
		return err
	}
	_, err := s.exec(ctx, tx, queries.DeleteCodeSet, userID)
	return err
}

// ConsumeRecoveryCode implements [mfa.RecoveryCodeStore]. The DELETE of
// the code's row is the check and the consumption in one: of racing
// callers one deletes the row and the others find it gone. The count of
// the remaining codes and the lockout reset follow in the same
// transaction, under the user's lock, so that two different codes used at
// once report different counts.
func (s *Store) ConsumeRecoveryCode(ctx context.Context, userID string, hash [mfa.HashSize]byte, at time.Time, lk mfa.Lockout) (int, error) {
	var remaining int
	err := s.inTx(ctx, "consume recovery code", func(tx *sql.Tx) error {
		if err := s.lockUser(ctx, tx, userID); err != nil {
			return err
		}
		n, err := s.exec(ctx, tx, queries.ConsumeCode, userID, hash[:])
		if err != nil {
			return err
		}
		if err := s.lockoutUnchanged(ctx, tx, userID, lk); err != nil {
			return err
		}
		if n == 0 {
			return mfa.ErrInvalidCode
		}
		if err := tx.QueryRowContext(ctx, s.q(queries.CountCodes), userID).Scan(&remaining); err != nil {
			return err
		}
		return s.resetLockout(ctx, tx, userID)
	})
	if errors.Is(err, mfa.ErrLockoutChanged) {
		return 0, mfa.ErrLockoutChanged
	}
	if err != nil {
		return 0, err
	}
	return remaining, nil
}

// AcknowledgeRecoveryCodes implements [mfa.RecoveryCodeStore].
func (s *Store) AcknowledgeRecoveryCodes(ctx context.Context, userID string, notAfter time.Time) error {
	if _, err := s.exec(ctx, s.db, queries.AcknowledgeCodes, userID, s.timeArg(notAfter)); err != nil {
		return wrap(ctx, "acknowledge recovery codes", err)
	}
	return nil
}
