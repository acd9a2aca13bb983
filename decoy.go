package mfa

import (
	"context"
	"crypto/subtle"
	"time"
)

// A code checked for a user without a device costs the same work as a
// wrong code for an enrolled user: one sealed secret opened, the whole
// window of TOTP values computed (or one recovery code hash and the
// comparison with a full set), and one conditional lockout write, which
// here is made to match nothing. So the time an attempt takes does not
// tell whether the user has MFA, and nothing is stored for a user who
// has none.

// decoyAAD binds the decoy secret to nothing a real record could use.
var decoyAAD = []byte("mfakit/decoy-secret")

// newDecoy seals a random secret of the configured size with the primary
// key, for decoyTOTP to open.
func (m *MFA) newDecoy() error {
	secret := make([]byte, m.totp.SecretSize)
	defer clear(secret)
	if _, err := m.rand.Read(secret); err != nil {
		return keyError("cannot read random bytes", err)
	}
	m.decoy = m.keys.seal(secret, decoyAAD)
	return nil
}

// decoyTOTP does the work of checking code against a device, and throws
// the outcome away. It opens the decoy secret into buf, which the caller
// clears.
func (m *MFA) decoyTOTP(ctx context.Context, userID string, code uint32, now time.Time, buf *secretBuf) {
	dst := buf[:0]
	if len(m.decoy) > len(buf) {
		dst = make([]byte, 0, len(m.decoy))
	}
	secret, _, err := m.keys.open(dst, m.decoy, decoyAAD)
	if err == nil {
		m.matchStep(m.deviceParams(DeviceRecord{}), secret, code, now, 0)
		clear(secret)
	}
	m.decoyLockoutWrite(ctx, userID)
}

// decoyRecoveryCode does the work of checking a recovery code against a
// full set, and throws the outcome away.
func (m *MFA) decoyRecoveryCode(ctx context.Context, userID string, code []byte) {
	hash := recoveryHash(m.keys.primary.hashKey, userID, code)
	var stored [HashSize]byte
	found := 0
	for range m.recovery.Count {
		found |= subtle.ConstantTimeCompare(stored[:], hash[:])
	}
	_ = found
	m.decoyLockoutWrite(ctx, userID)
}

// impossibleLockout is a state no user has, so a swap from it never
// happens.
var impossibleLockout = Lockout{Failures: -1}

// decoyLockoutWrite stands in for the failure count an enrolled user's
// wrong code writes: the same conditional store write, from a state no
// user is in, so it changes nothing. Its result does not matter.
func (m *MFA) decoyLockoutWrite(ctx context.Context, userID string) {
	_, _ = m.store.SwapLockout(ctx, userID, impossibleLockout, impossibleLockout)
}
