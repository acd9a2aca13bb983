package queries

// The query of LoadUser reads all of a user's state in one statement, so
// that the result is one consistent snapshot and the hot path of a login
// costs one round trip. Each branch of the UNION ALL yields one kind of row
// (column 1): a device (d), the recovery code set (s), unused codes (c),
// the lockout (l), in shared columns:
//
//	2 id / key_id   5 account_name               8 created_at / last_failure
//	3 type          6 secret / sealed / hashes    9 expires_at    10 verified_at
//	4 alias         7 verified                   11 last_used_at  12 last_step / failures
//	13 algorithm / format   14 digits   15 period_seconds   16 is_default
//	17 ... 27 a passkey's credential (PasskeyColumns), NULL on other devices
//
// On PostgreSQL one c row carries all the codes' hashes end to end
// (string_agg over bytea), so that a user with ten codes costs four rows
// rather than thirteen to send and to scan; SQLite, which has no such
// aggregate for blobs and no network to save, sends a c row per code.
// The rows come in any order; LoadUser orders the devices itself, which
// spares the server a sort node to set up on every call.
const (
	// noPasskey fills the passkey columns of the rows other than devices.
	noPasskey = ", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"

	loadUserHead = `
SELECT 'd', id, type, alias, account_name, secret, verified, created_at, expires_at, verified_at, last_used_at, last_step,
		algorithm, digits, period_seconds, is_default, ` + PasskeyColumns + `
	FROM mfa_devices WHERE user_id = $1 AND (verified OR expires_at > $2)
UNION ALL
SELECT 's', key_id, NULL, NULL, NULL, sealed, NULL, created_at, NULL, NULL, NULL, NULL, format, NULL, NULL, NULL` + noPasskey + `
	FROM mfa_recovery_code_sets WHERE user_id = $1
UNION ALL
`
	loadUserTail = `
UNION ALL
SELECT 'l', NULL, NULL, NULL, NULL, NULL, NULL, last_failure, NULL, NULL, NULL, failures, NULL, NULL, NULL, NULL` + noPasskey + `
	FROM mfa_lockouts WHERE user_id = $1`

	LoadUserPostgreSQL = loadUserHead + `SELECT 'c', NULL, NULL, NULL, NULL, string_agg(hash, ''::bytea), NULL, NULL, NULL, NULL, NULL, NULL,
		NULL, NULL, NULL, NULL` + noPasskey + `
	FROM mfa_recovery_codes WHERE user_id = $1 HAVING count(*) > 0` + loadUserTail

	LoadUserSQLite = loadUserHead + `SELECT 'c', NULL, NULL, NULL, NULL, hash, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL` + noPasskey + `
	FROM mfa_recovery_codes WHERE user_id = $1` + loadUserTail
)

// DeleteUser removes all of a user's rows, one statement per table.
var DeleteUser = []string{
	"DELETE FROM mfa_devices WHERE user_id = $1",
	"DELETE FROM mfa_recovery_codes WHERE user_id = $1",
	"DELETE FROM mfa_recovery_code_sets WHERE user_id = $1",
	DeleteUserTokens,
	"DELETE FROM mfa_lockouts WHERE user_id = $1",
	"DELETE FROM mfa_passkey_challenges WHERE user_id = $1",
}
