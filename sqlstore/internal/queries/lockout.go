package queries

// The lockout queries; ResetLockout runs inside the transactions that
// consume a code.
const (
	Lockout = "SELECT failures, last_failure FROM mfa_lockouts WHERE user_id = $1"

	// LockoutForUpdatePostgreSQL reads the state in a transaction that
	// records a success, locking the row against a concurrent SwapLockout.
	LockoutForUpdatePostgreSQL = Lockout + " FOR UPDATE"

	SwapLockoutFromZero = `INSERT INTO mfa_lockouts (user_id, failures, last_failure) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET failures = excluded.failures, last_failure = excluded.last_failure
		WHERE mfa_lockouts.failures = 0 AND mfa_lockouts.last_failure IS NULL`

	SwapLockout = `UPDATE mfa_lockouts SET failures = $2, last_failure = $3
		WHERE user_id = $1 AND failures = $4 AND last_failure IS NOT DISTINCT FROM $5`

	ResetLockout = "UPDATE mfa_lockouts SET failures = 0, last_failure = NULL WHERE user_id = $1 AND failures <> 0"
)
