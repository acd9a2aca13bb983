package sqlstore

import (
	"context"
	"time"
)

// Cleanup implements [mfa.Cleaner]: it deletes the tokens and the pending
// devices whose expiry is not after now, and the lockout rows with no
// failures. Each DELETE is its own statement, so a large cleanup holds no
// long transaction. Reads already treat expired records as absent; this
// only reclaims space. Run it now and then, e.g. through [mfa.MFA.Cleanup]
// on a ticker, from one instance or all.
func (s *Store) Cleanup(ctx context.Context, now time.Time) error {
	at := s.timeArg(now)
	if _, err := s.exec(ctx, s.db, "DELETE FROM mfa_tokens WHERE expires_at IS NULL OR expires_at <= $1", at); err != nil {
		return wrap(ctx, "clean up tokens", err)
	}
	if _, err := s.exec(ctx, s.db, "DELETE FROM mfa_devices WHERE NOT verified AND (expires_at IS NULL OR expires_at <= $1)", at); err != nil {
		return wrap(ctx, "clean up pending devices", err)
	}
	if _, err := s.exec(ctx, s.db, "DELETE FROM mfa_lockouts WHERE failures = 0"); err != nil {
		return wrap(ctx, "clean up lockouts", err)
	}
	return nil
}
