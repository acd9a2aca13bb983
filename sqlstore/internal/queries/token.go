package queries

// The token queries. Parameters of the inserts: $1 hash, $2 user_id,
// $3 single_use, $4 scopes, $5 created_at, $6 expires_at.
const (
	// InsertTokenPostgreSQL removes the user's tokens that expired by the
	// new token's creation and inserts the new one, in one statement.
	InsertTokenPostgreSQL = `
WITH expired AS (
	DELETE FROM mfa_tokens WHERE user_id = $2 AND expires_at <= $5
)
INSERT INTO mfa_tokens (hash, user_id, single_use, scopes, created_at, expires_at)
	VALUES ($1, $2, $3, $4, $5, $6)`

	DeleteExpiredTokens = "DELETE FROM mfa_tokens WHERE user_id = $1 AND expires_at <= $2"

	InsertToken = `INSERT INTO mfa_tokens (hash, user_id, single_use, scopes, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`

	Token = "SELECT single_use, scopes, created_at, expires_at FROM mfa_tokens WHERE hash = $1 AND user_id = $2"

	ConsumeToken = "DELETE FROM mfa_tokens WHERE hash = $1 AND user_id = $2 AND expires_at > $3"

	// DeleteUserTokens revokes every token of a user, when a device
	// goes or the user is reset.
	DeleteUserTokens = "DELETE FROM mfa_tokens WHERE user_id = $1"
)
