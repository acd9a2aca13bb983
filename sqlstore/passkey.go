package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/sqlstore/internal/queries"
)

// VerifyPasskey implements [mfa.PasskeyStore] as VerifyDevice does for a
// TOTP device. Under the user's lock, one conditional UPDATE turns the
// unexpired pending passkey device into a verified one holding cred,
// provided no device holds cred.ID yet; of racing verifications the first
// changes the row and the others find it verified. The lockout check, the
// limit, the code set and the lockout reset happen in the same
// transaction, which any error rolls back. When the UPDATE changes
// nothing, a read of the device, still under the lock, says why, in the
// order of the contract.
//
// The credential ID check is a condition of the UPDATE; the unique index
// mfa_devices_credential_id backs it up against another user's
// verification of the same credential racing this one (on PostgreSQL the
// condition sees only committed rows), whose unique violation also reads
// as ErrPasskeyRegistered.
func (s *Store) VerifyPasskey(ctx context.Context, userID, deviceID string, cred mfa.PasskeyCredential, at time.Time, codes mfa.RecoveryCodeSet, lk mfa.Lockout, limit int) error {
	return s.inTx(ctx, "verify passkey", func(tx *sql.Tx) error {
		if err := s.lockUser(ctx, tx, userID); err != nil {
			return err
		}
		// The UPDATE comes first so that on SQLite the transaction's first
		// statement is a write; see lockUser.
		args := append([]any{userID, deviceID, s.timeArg(at), []byte{}}, passkeyArgs(&cred)...)
		n, err := s.exec(ctx, tx, queries.VerifyPasskey, args...)
		if err != nil {
			if credentialTaken(err) {
				return mfa.ErrPasskeyRegistered
			}
			return err
		}
		if err := s.lockoutUnchanged(ctx, tx, userID, lk); err != nil {
			return err
		}
		if n == 0 {
			return s.verifyPasskeyRefused(ctx, tx, userID, deviceID, at, limit)
		}
		return s.verified(ctx, tx, userID, deviceID, codes, limit)
	})
}

// verifyPasskeyRefused returns why VerifyPasskey's UPDATE changed nothing,
// in the caller's transaction, which holds the user's lock: the device is
// not a pending passkey of the user, or it is verified already, or it
// expired, or the user has limit passkeys, or else the credential ID is
// taken.
func (s *Store) verifyPasskeyRefused(ctx context.Context, tx *sql.Tx, userID, deviceID string, at time.Time, limit int) error {
	var (
		passkey, verified bool
		expires           time.Time
	)
	err := tx.QueryRowContext(ctx, s.q(queries.VerifyPasskeyOutcome), userID, deviceID).Scan(&passkey, &verified, nullTime{&expires})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return mfa.ErrDeviceNotFound
	case err != nil:
		return err
	case !passkey:
		return mfa.ErrDeviceNotFound
	case verified:
		return mfa.ErrCodeReused
	case !expires.After(at):
		return mfa.ErrDeviceNotFound
	}
	var count int
	if err := tx.QueryRowContext(ctx, s.q(queries.CountVerifiedOfType), userID, string(mfa.DevicePasskey)).Scan(&count); err != nil {
		return err
	}
	if count >= limit {
		return mfa.ErrDeviceLimit
	}
	return mfa.ErrPasskeyRegistered
}

// AcceptPasskey implements [mfa.PasskeyStore] as AcceptStep does for a
// code. The counter advances by a conditional UPDATE (WHERE sign_count <
// the count, or both are 0): of racing callers with the same count one
// changes the row, and the others, after waiting for its row lock, find
// the condition false. The lockout check and reset join it: in the same
// statement on PostgreSQL, the same transaction on SQLite. For a zero
// lockout state on PostgreSQL the check is a condition of the UPDATE, on
// the statement's snapshot, as the contract allows, and there is nothing
// to reset. When no row changed, a second read tells a changed lockout, a
// counter that does not follow and an unknown device apart.
func (s *Store) AcceptPasskey(ctx context.Context, userID, deviceID string, signCount uint32, backupState bool, at time.Time, lk mfa.Lockout) error {
	args := []any{userID, deviceID, int64(signCount), backupState, s.timeArg(at)}
	zero := lk.Equal(mfa.Lockout{})
	var accepted int64
	var err error
	switch {
	case s.dialect == PostgreSQL && zero:
		accepted, err = s.exec(ctx, s.db, queries.AcceptPasskeyZeroLockoutPostgreSQL, args...)
		if err != nil {
			return wrap(ctx, "accept passkey", err)
		}
	case s.dialect == PostgreSQL:
		var same bool
		args = append(args, lk.Failures, s.timeArg(lk.LastFailure))
		if err := s.db.QueryRowContext(ctx, queries.AcceptPasskeyPostgreSQL, args...).Scan(&same, &accepted); err != nil {
			return wrap(ctx, "accept passkey", err)
		}
		if !same {
			return mfa.ErrLockoutChanged
		}
	default:
		err = s.inTx(ctx, "accept passkey", func(tx *sql.Tx) error {
			// The write comes first, so that the transaction holds the write
			// lock before it reads the lockout; see lockUser.
			accepted, err = s.exec(ctx, tx, queries.AcceptPasskey, args...)
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
		if errors.Is(err, mfa.ErrLockoutChanged) {
			return mfa.ErrLockoutChanged
		}
		if err != nil {
			return err
		}
	}
	if accepted > 0 {
		return nil
	}
	return s.acceptPasskeyRefused(ctx, userID, deviceID, signCount, s.dialect == PostgreSQL && zero)
}

// acceptPasskeyRefused returns why AcceptPasskey changed nothing, from a
// read after it. lockoutUnchecked says that the lockout state was a
// condition of the UPDATE rather than checked before it (PostgreSQL, zero
// state): then a state other than zero is the reason, and if every
// condition holds again now, the state was not zero when the UPDATE ran
// and has been reset since; that too is ErrLockoutChanged, and the caller
// starts again.
func (s *Store) acceptPasskeyRefused(ctx context.Context, userID, deviceID string, signCount uint32, lockoutUnchecked bool) error {
	var (
		failures sql.NullInt64
		last     time.Time
		passkey  sql.NullBool
		stored   sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx, s.q(queries.AcceptPasskeyOutcome), userID, deviceID).Scan(&failures, nullTime{&last}, &passkey, &stored)
	if err != nil {
		return wrap(ctx, "accept passkey", err)
	}
	follows := stored.Int64 < int64(signCount) || stored.Int64 == 0 && signCount == 0
	switch {
	case lockoutUnchecked && !(mfa.Lockout{Failures: int(failures.Int64), LastFailure: last}).Equal(mfa.Lockout{}):
		return mfa.ErrLockoutChanged
	case !passkey.Bool:
		return mfa.ErrDeviceNotFound
	case !follows:
		return mfa.ErrCodeReused
	case lockoutUnchecked:
		return mfa.ErrLockoutChanged
	}
	// The device was not a verified passkey when the UPDATE ran, and
	// became one since.
	return mfa.ErrDeviceNotFound
}

// PutChallenge implements [mfa.PasskeyStore] with one upsert.
func (s *Store) PutChallenge(ctx context.Context, c mfa.ChallengeRecord) error {
	_, err := s.exec(ctx, s.db, queries.PutChallenge, c.UserID, notNull(c.Sealed), s.timeArg(c.CreatedAt), s.timeArg(c.ExpiresAt))
	if err != nil {
		return wrap(ctx, "put challenge", err)
	}
	return nil
}

// TakeChallenge implements [mfa.PasskeyStore] with one DELETE ...
// RETURNING, on both dialects: of racing callers one deletes the row and
// gets it, and the others find none. An expired challenge is deleted all
// the same, and reported as none.
func (s *Store) TakeChallenge(ctx context.Context, userID string, now time.Time) (mfa.ChallengeRecord, error) {
	c := mfa.ChallengeRecord{UserID: userID}
	var sealed sql.Null[[]byte]
	err := s.db.QueryRowContext(ctx, s.q(queries.TakeChallenge), userID).Scan(&sealed, nullTime{&c.CreatedAt}, nullTime{&c.ExpiresAt})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return mfa.ChallengeRecord{}, mfa.ErrChallengeInvalid
	case err != nil:
		return mfa.ChallengeRecord{}, wrap(ctx, "take challenge", err)
	case !c.ExpiresAt.After(now):
		return mfa.ChallengeRecord{}, mfa.ErrChallengeInvalid
	}
	c.Sealed = nullBytes(sealed)
	return c, nil
}

// passkeyArgs returns the values of the columns queries.PasskeyColumns
// names, in order: cred's, or all NULL when cred is nil. Transports are
// stored as a JSON array, NULL for a nil slice, so that nil and empty read
// back as they were given.
func passkeyArgs(cred *mfa.PasskeyCredential) []any {
	if cred == nil {
		return make([]any, 11)
	}
	var transports any
	if cred.Transports != nil {
		b, err := json.Marshal(cred.Transports)
		if err != nil {
			panic(err) // a []string always marshals
		}
		transports = string(b)
	}
	return []any{
		notNull(cred.ID), int64(cred.SignCount), bytesArg(cred.UserHandle), bytesArg(cred.PublicKey),
		cred.AAGUID[:], transports, cred.BackupEligible, cred.BackupState, cred.UserVerified,
		cred.AttestationType, cred.AttestationFormat,
	}
}

// passkeyColumns scans the columns queries.PasskeyColumns names; cred
// returns the credential they hold, nil for a device without one.
type passkeyColumns struct {
	id, userHandle, publicKey, aaguid         sql.Null[[]byte]
	signCount                                 sql.NullInt64
	transports, attestationType, attestFormat sql.NullString
	backupEligible, backupState, userVerified sql.NullBool
}

// dest returns the scan destinations, in the order of
// queries.PasskeyColumns.
func (p *passkeyColumns) dest() []any {
	return []any{&p.id, &p.signCount, &p.userHandle, &p.publicKey, &p.aaguid, &p.transports,
		&p.backupEligible, &p.backupState, &p.userVerified, &p.attestationType, &p.attestFormat}
}

func (p *passkeyColumns) cred() (*mfa.PasskeyCredential, error) {
	if !p.id.Valid {
		return nil, nil
	}
	c := &mfa.PasskeyCredential{
		ID:                nullBytes(p.id),
		UserHandle:        nullBytes(p.userHandle),
		PublicKey:         nullBytes(p.publicKey),
		SignCount:         uint32(p.signCount.Int64),
		BackupEligible:    p.backupEligible.Bool,
		BackupState:       p.backupState.Bool,
		UserVerified:      p.userVerified.Bool,
		AttestationType:   p.attestationType.String,
		AttestationFormat: p.attestFormat.String,
	}
	copy(c.AAGUID[:], p.aaguid.V)
	if p.transports.Valid {
		if err := json.Unmarshal([]byte(p.transports.String), &c.Transports); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// credentialTaken reports whether err is the violation of the unique index
// on credential_id, by its SQLSTATE (PostgreSQL), its extended result
// code SQLITE_CONSTRAINT_UNIQUE (modernc.org/sqlite) or its message
// (other SQLite drivers), and the column or index named in its message.
func credentialTaken(err error) bool {
	unique := sqlState(err) == "23505" || strings.Contains(err.Error(), "UNIQUE constraint failed")
	var coded interface{ Code() int }
	if errors.As(err, &coded) && coded.Code() == 2067 {
		unique = true
	}
	return unique && strings.Contains(err.Error(), "credential_id")
}
