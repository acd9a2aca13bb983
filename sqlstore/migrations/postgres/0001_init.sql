-- mfakit schema, version 1 (PostgreSQL). Times are TIMESTAMPTZ (microsecond
-- precision); NULL stands for Go's zero time.Time.

-- TOTP devices. secret is the TOTP secret sealed by the mfa.Keyring, never
-- the plaintext. A pending device (verified false) has an expires_at and
-- counts as absent from then on; a verified one has none.
CREATE TABLE mfa_devices (
	id           TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL,
	type         TEXT NOT NULL,
	alias        TEXT NOT NULL,
	account_name TEXT NOT NULL,
	secret       BYTEA NOT NULL,
	verified     BOOLEAN NOT NULL,
	created_at   TIMESTAMPTZ,
	expires_at   TIMESTAMPTZ,
	verified_at  TIMESTAMPTZ,
	last_used_at TIMESTAMPTZ,
	last_step    BIGINT NOT NULL
);
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
	sealed     BYTEA,
	created_at TIMESTAMPTZ
);

-- The unused codes of a set, as keyed hashes (HMAC-SHA256).
CREATE TABLE mfa_recovery_codes (
	user_id TEXT NOT NULL REFERENCES mfa_recovery_code_sets (user_id) ON DELETE CASCADE,
	hash    BYTEA NOT NULL,
	PRIMARY KEY (user_id, hash)
);

-- MFA tokens by the SHA-256 of their value. scopes is a JSON array of
-- strings.
CREATE TABLE mfa_tokens (
	hash       BYTEA PRIMARY KEY,
	user_id    TEXT NOT NULL,
	single_use BOOLEAN NOT NULL,
	scopes     TEXT NOT NULL,
	created_at TIMESTAMPTZ,
	expires_at TIMESTAMPTZ
);
CREATE INDEX mfa_tokens_user_id ON mfa_tokens (user_id);
CREATE INDEX mfa_tokens_expires_at ON mfa_tokens (expires_at);

-- Consecutive failed attempts per user. A success sets failures to 0;
-- Cleanup removes such rows.
CREATE TABLE mfa_lockouts (
	user_id      TEXT PRIMARY KEY,
	failures     INTEGER NOT NULL,
	last_failure TIMESTAMPTZ
);
