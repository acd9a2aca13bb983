package queries

// The passkey queries. A verified passkey device holds its credential in
// the columns PasskeyColumns names, in that order; every other device has
// NULL there. A device's credential_id is unique across users
// (mfa_devices_credential_id).
const (
	PasskeyColumns = `credential_id, sign_count, user_handle, public_key, aaguid, transports,
		backup_eligible, backup_state, user_verified, attestation_type, attestation_format`

	// VerifyPasskey turns the user's unexpired pending passkey device $2
	// into a verified one holding the credential $5 ... $15
	// (PasskeyColumns), with the secret, the sealed registration ceremony,
	// replaced by $4 (empty), provided no device of any user holds the
	// credential ID $5 already.
	VerifyPasskey = `UPDATE mfa_devices
		SET verified = TRUE, verified_at = $3, expires_at = NULL, secret = $4,
			credential_id = $5, sign_count = $6, user_handle = $7, public_key = $8, aaguid = $9, transports = $10,
			backup_eligible = $11, backup_state = $12, user_verified = $13, attestation_type = $14, attestation_format = $15
		WHERE user_id = $1 AND id = $2 AND type = 'passkey' AND NOT verified AND expires_at > $3
			AND NOT EXISTS (SELECT 1 FROM mfa_devices WHERE credential_id = $5)`

	// VerifyPasskeyOutcome tells, after VerifyPasskey changed nothing,
	// which of its conditions failed: no such passkey device, verified
	// already, expired (expires_at), or else the credential ID is taken.
	VerifyPasskeyOutcome = "SELECT type = 'passkey', verified, expires_at FROM mfa_devices WHERE user_id = $1 AND id = $2"

	// The counter of a passkey follows the stored one when it is greater,
	// or when both are 0 (an authenticator without a counter); sign_count
	// is never negative. Of racing callers with the same count, the first
	// changes the row, and the others, after waiting for its row lock,
	// find the condition false (unless both are 0, which always follows).
	signCountFollows = "(sign_count < $3 OR (sign_count = 0 AND $3 = 0))"

	// AcceptPasskey records an assertion with the counter $3, the backup
	// state $4 at $5 on the user's verified passkey device $2, if the
	// counter follows the stored one.
	AcceptPasskey = `UPDATE mfa_devices SET sign_count = $3, backup_state = $4, last_used_at = $5
		WHERE user_id = $1 AND id = $2 AND type = 'passkey' AND verified AND ` + signCountFollows

	// AcceptPasskeyPostgreSQL is AcceptStepPostgreSQL for a passkey: for a
	// caller that checked a lockout state ($6 failures, $7 last failure)
	// other than zero, it locks the user's lockout row, compares it, and
	// only if it matches records the assertion (AcceptPasskey) and resets
	// the lockout, in one statement. It returns whether the lockout
	// matched and how many devices it updated (0 or 1).
	AcceptPasskeyPostgreSQL = `
WITH lk AS (
	SELECT failures, last_failure FROM mfa_lockouts WHERE user_id = $1 FOR UPDATE
), same AS (
	SELECT COALESCE((SELECT failures FROM lk), 0) = $6
		AND (SELECT last_failure FROM lk) IS NOT DISTINCT FROM $7 AS ok
), accepted AS (
	UPDATE mfa_devices SET sign_count = $3, backup_state = $4, last_used_at = $5
	WHERE user_id = $1 AND id = $2 AND type = 'passkey' AND verified AND ` + signCountFollows + ` AND (SELECT ok FROM same)
	RETURNING user_id
), reset AS (
	UPDATE mfa_lockouts SET failures = 0, last_failure = NULL
	WHERE user_id IN (SELECT user_id FROM accepted) AND failures <> 0
)
SELECT (SELECT ok FROM same), count(*) FROM accepted`

	// AcceptPasskeyZeroLockoutPostgreSQL is AcceptPasskey for a caller
	// that checked the zero lockout state, as AcceptStepZeroLockoutPostgreSQL
	// is for a code: the state must still be zero, and there is nothing to
	// reset.
	AcceptPasskeyZeroLockoutPostgreSQL = AcceptPasskey + `
		AND NOT EXISTS (SELECT 1 FROM mfa_lockouts
			WHERE user_id = $1 AND (failures <> 0 OR last_failure IS NOT NULL))`

	// AcceptPasskeyOutcome tells, after an AcceptPasskey query changed
	// nothing, which of its conditions fails now: the lockout state, the
	// device (a verified passkey holding a credential), its counter.
	AcceptPasskeyOutcome = `SELECT l.failures, l.last_failure,
		d.type = 'passkey' AND d.verified AND d.credential_id IS NOT NULL, d.sign_count
	FROM (SELECT 1) one
	LEFT JOIN mfa_lockouts l ON l.user_id = $1
	LEFT JOIN mfa_devices d ON d.user_id = $1 AND d.id = $2`

	PutChallenge = `INSERT INTO mfa_passkey_challenges (user_id, sealed, created_at, expires_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id) DO UPDATE SET sealed = excluded.sealed, created_at = excluded.created_at,
			expires_at = excluded.expires_at`

	// TakeChallenge removes the user's login ceremony and returns it,
	// expired or not: of racing callers one deletes the row, and the
	// others find it gone.
	TakeChallenge = "DELETE FROM mfa_passkey_challenges WHERE user_id = $1 RETURNING sealed, created_at, expires_at"
)
