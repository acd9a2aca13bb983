-- mfakit schema, version 2 (PostgreSQL).

-- Each TOTP device keeps the parameters it was enrolled with. Rows of
-- version 1 have none (NULL), which reads as the running TOTPConfig's: the
-- configuration they were enrolled under.
ALTER TABLE mfa_devices
	ADD COLUMN algorithm      TEXT,
	ADD COLUMN digits         INTEGER,
	ADD COLUMN period_seconds INTEGER;

-- A recovery code set remembers how its codes are read: NULL for mfakit's
-- own, 'imported' for codes imported from another system.
ALTER TABLE mfa_recovery_code_sets ADD COLUMN format TEXT;
