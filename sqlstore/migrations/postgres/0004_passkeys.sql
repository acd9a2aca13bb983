-- mfakit schema, version 4 (PostgreSQL).

-- A verified passkey device keeps its WebAuthn credential (mfa.PasskeyCredential)
-- in columns of its own; they are NULL for every other device, and for a
-- pending passkey, whose secret holds the sealed registration ceremony until
-- it is verified (secret is then empty). None of it is secret. transports is
-- a JSON array of strings, NULL for none; sign_count is the authenticator's
-- 32-bit signature counter, which AcceptPasskey only moves forward.
ALTER TABLE mfa_devices
	ADD COLUMN credential_id      BYTEA,
	ADD COLUMN sign_count         BIGINT,
	ADD COLUMN user_handle        BYTEA,
	ADD COLUMN public_key         BYTEA,
	ADD COLUMN aaguid             BYTEA,
	ADD COLUMN transports         TEXT,
	ADD COLUMN backup_eligible    BOOLEAN,
	ADD COLUMN backup_state       BOOLEAN,
	ADD COLUMN user_verified      BOOLEAN,
	ADD COLUMN attestation_type   TEXT,
	ADD COLUMN attestation_format TEXT;
-- A credential ID belongs to one device of one user (WebAuthn §7.1 step
-- 22). VerifyPasskey checks it; this index makes it a fact.
CREATE UNIQUE INDEX mfa_devices_credential_id ON mfa_devices (credential_id) WHERE credential_id IS NOT NULL;

-- Each user's passkey login ceremony in progress, at most one: the session
-- sealed by the mfa.Keyring. TakeChallenge removes it; Cleanup removes it
-- once it expired.
CREATE TABLE mfa_passkey_challenges (
	user_id    TEXT PRIMARY KEY,
	sealed     BYTEA NOT NULL,
	created_at TIMESTAMPTZ,
	expires_at TIMESTAMPTZ
);
CREATE INDEX mfa_passkey_challenges_expires_at ON mfa_passkey_challenges (expires_at);
