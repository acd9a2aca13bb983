package sqlstore

import (
	"context"
	"time"
)

// The cleanup queries. They run in the background, not on a request's
// path: the first three use the expiry indexes; the fourth reads all of
// mfa_lockouts, which has no index on failures because every login changes
// failures twice and such an index would cost every login more than it
// saves here.
const (
	cleanupTokensQuery     = "DELETE FROM mfa_tokens WHERE expires_at IS NULL OR expires_at <= $1"
	cleanupPendingQuery    = "DELETE FROM mfa_devices WHERE NOT verified AND (expires_at IS NULL OR expires_at <= $1)"
	cleanupChallengesQuery = "DELETE FROM mfa_passkey_challenges WHERE expires_at IS NULL OR expires_at <= $1"
	cleanupLockoutsQuery   = "DELETE FROM mfa_lockouts WHERE failures = 0"
	cleanupSealedQuery     = "UPDATE mfa_recovery_code_sets SET sealed = NULL WHERE sealed IS NOT NULL AND (created_at IS NULL OR created_at <= $1)"
)

// Cleanup implements [mfa.Cleaner]: it deletes the tokens, the pending
// devices and the passkey login ceremonies whose expiry is not after now
// and the lockout rows with no failures, and clears the sealed plaintext
// of recovery code sets created at or before sealedNotAfter. Each DELETE
// is its own statement, so a large cleanup holds no long transaction.
// Reads already treat expired records as absent; this only reclaims space.
// Run it now and then, e.g. through [mfa.MFA.Cleanup] on a ticker, from
// one instance or all.
func (s *Store) Cleanup(ctx context.Context, now, sealedNotAfter time.Time) error {
	at := s.timeArg(now)
	if _, err := s.exec(ctx, s.db, cleanupTokensQuery, at); err != nil {
		return wrap(ctx, "clean up tokens", err)
	}
	if _, err := s.exec(ctx, s.db, cleanupPendingQuery, at); err != nil {
		return wrap(ctx, "clean up pending devices", err)
	}
	if _, err := s.exec(ctx, s.db, cleanupChallengesQuery, at); err != nil {
		return wrap(ctx, "clean up passkey challenges", err)
	}
	if _, err := s.exec(ctx, s.db, cleanupLockoutsQuery); err != nil {
		return wrap(ctx, "clean up lockouts", err)
	}
	if _, err := s.exec(ctx, s.db, cleanupSealedQuery, s.timeArg(sealedNotAfter)); err != nil {
		return wrap(ctx, "clean up revealed recovery codes", err)
	}
	return nil
}
