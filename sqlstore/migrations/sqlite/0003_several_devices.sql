-- mfakit schema, version 3 (SQLite).

-- A user may have several verified devices of a type, up to the limits of
-- mfa.Config.Devices, which the store's transactions check; the index that
-- allowed one goes. One device of a user may be the default.
DROP INDEX mfa_devices_one_verified;
ALTER TABLE mfa_devices ADD COLUMN is_default INTEGER NOT NULL DEFAULT 0;
