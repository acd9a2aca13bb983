-- mfakit schema, version 1 (SQLite). Times are INTEGER Unix microseconds,
-- UTC; NULL stands for Go's zero time.Time. Booleans are INTEGER 0 or 1.
-- Tables are STRICT, so a value of the wrong type is an error, not a
-- silent conversion.

-- TOTP devices. secret is the TOTP secret sealed by the mfa.Keyring, never
-- the plaintext. A pending device (verified 0) has an expires_at and counts
-- as absent from then on; a verified one has none.
CREATE TABLE mfa_devices (
	id           TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL,
	type         TEXT NOT NULL,
	alias        TEXT NOT NULL,
	account_name TEXT NOT NULL,
	secret       BLOB NOT NULL,
	verified     INTEGER NOT NULL,
	created_at   INTEGER,
	expires_at   INTEGER,
	verified_at  INTEGER,
	last_used_at INTEGER,
	last_step    INTEGER NOT NULL
) STRICT;
CREATE INDEX mfa_devices_user_id ON mfa_devices (user_id);
-- One verified device per user and type, and one pending device per user:
-- the store's transactions keep both rules, these indexes make them facts.
CREATE UNIQUE INDEX mfa_devices_one_verified ON mfa_devices (user_id, type) WHERE verified;
CREATE UNIQUE INDEX mfa_devices_one_pending ON mfa_devices (user_id) WHERE NOT verified;
CREATE INDEX mfa_devices_pending_expiry ON mfa_devices (expires_at) WHERE NOT verified;

-- Each user's one recovery code set. sealed is the plaintext codes sealed by
-- the mfa.Keyring while they wait for acknowledgement, NULL after.
CREATE TABLE mfa_recovery_code_sets (
	user_id    TEXT PRIMARY KEY,
	key_id     TEXT NOT NULL,
	sealed     BLOB,
	created_at INTEGER
) STRICT;

-- The unused codes of a set, as keyed hashes (HMAC-SHA256).
CREATE TABLE mfa_recovery_codes (
	user_id TEXT NOT NULL REFERENCES mfa_recovery_code_sets (user_id) ON DELETE CASCADE,
	hash    BLOB NOT NULL,
	PRIMARY KEY (user_id, hash)
) STRICT, WITHOUT ROWID;

-- MFA tokens by the SHA-256 of their value. scopes is a JSON array of
-- strings.
CREATE TABLE mfa_tokens (
	hash       BLOB PRIMARY KEY,
	user_id    TEXT NOT NULL,
	single_use INTEGER NOT NULL,
	scopes     TEXT NOT NULL,
	created_at INTEGER,
	expires_at INTEGER
) STRICT;
CREATE INDEX mfa_tokens_user_id ON mfa_tokens (user_id);
CREATE INDEX mfa_tokens_expires_at ON mfa_tokens (expires_at);

-- Consecutive failed attempts per user. A success sets failures to 0;
-- Cleanup removes such rows.
CREATE TABLE mfa_lockouts (
	user_id      TEXT PRIMARY KEY,
	failures     INTEGER NOT NULL,
	last_failure INTEGER
) STRICT;
