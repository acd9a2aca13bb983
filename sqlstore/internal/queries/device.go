package queries

// The device queries.
const (
	DeletePendingDevices = "DELETE FROM mfa_devices WHERE user_id = $1 AND NOT verified"

	CountVerifiedOfType = "SELECT count(*) FROM mfa_devices WHERE user_id = $1 AND type = $2 AND verified"

	// CountVerifiedLikeDevice counts the user's verified devices of the
	// type of the device $2.
	CountVerifiedLikeDevice = `SELECT count(*) FROM mfa_devices
		WHERE user_id = $1 AND verified AND type = (SELECT type FROM mfa_devices WHERE user_id = $1 AND id = $2)`

	// SetDefaultDevice marks the device $2 default and the user's others
	// not, provided $2 is a verified device of the user.
	SetDefaultDevice = `UPDATE mfa_devices SET is_default = (id = $2)
		WHERE user_id = $1 AND EXISTS (SELECT 1 FROM mfa_devices WHERE user_id = $1 AND id = $2 AND verified)`

	// InsertDevice inserts a device; $16 ... $26 are its passkey
	// credential's columns (PasskeyColumns), NULL for any other device.
	InsertDevice = `INSERT INTO mfa_devices
		(id, user_id, type, alias, account_name, secret, verified, created_at, expires_at, verified_at, last_used_at, last_step,
		algorithm, digits, period_seconds, ` + PasskeyColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
		$16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)`

	VerifyDevice = `UPDATE mfa_devices
		SET verified = TRUE, verified_at = $3, last_used_at = $3, last_step = $4, expires_at = NULL
		WHERE user_id = $1 AND id = $2 AND NOT verified AND expires_at > $3`

	DeviceVerified = "SELECT verified FROM mfa_devices WHERE user_id = $1 AND id = $2"

	// AcceptStepPostgreSQL records a successful code in one statement and
	// one round trip, for a caller that checked a lockout state other than
	// zero (a login after failures): it locks the user's
	// lockout row and compares it with the state the caller checked, and
	// only if they match advances the step and resets the lockout. A
	// data-modifying WITH runs all of it atomically. It returns whether the
	// lockout matched and how many devices it updated (0 or 1).
	AcceptStepPostgreSQL = `
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

	// AcceptStepZeroLockoutPostgreSQL is AcceptStepPostgreSQL for a
	// caller that checked the zero lockout state, as nearly every login
	// does. With nothing to reset, one UPDATE records the step if the state
	// is still zero, without locking the lockout row: a failure counted at
	// the same time is then ordered after the success, which is a valid
	// order, since the success writes nothing that counting a failure
	// reads. A plan this small costs the server markedly less to start
	// than the WITH of the general case.
	AcceptStepZeroLockoutPostgreSQL = `UPDATE mfa_devices SET last_step = $3, last_used_at = $4
	WHERE user_id = $1 AND id = $2 AND verified AND last_step < $3
		AND NOT EXISTS (SELECT 1 FROM mfa_lockouts
			WHERE user_id = $1 AND (failures <> 0 OR last_failure IS NOT NULL))`

	// AcceptStepOutcome tells, after AcceptStepZeroLockoutPostgreSQL
	// changed nothing, which of its conditions fails now.
	AcceptStepOutcome = `SELECT l.failures, l.last_failure, d.verified, d.last_step
	FROM (SELECT 1) one
	LEFT JOIN mfa_lockouts l ON l.user_id = $1
	LEFT JOIN mfa_devices d ON d.user_id = $1 AND d.id = $2`

	AcceptStep = `UPDATE mfa_devices SET last_step = $3, last_used_at = $4
		WHERE user_id = $1 AND id = $2 AND verified AND last_step < $3`

	UpdateDeviceSecret = "UPDATE mfa_devices SET secret = $3 WHERE user_id = $1 AND id = $2"

	DeleteDevice = "DELETE FROM mfa_devices WHERE user_id = $1 AND id = $2 RETURNING verified"
)
