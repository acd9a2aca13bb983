package mfa

import (
	"crypto/sha256"
	"encoding/hex"
)

// SealedFingerprint names what a sealed TOTP secret (deviceID set) or
// sealed recovery code set (deviceID "") of userID holds: the key that
// sealed it and a hash of its plaintext. Two sealings of one plaintext
// under one key differ in their random nonce but share a fingerprint.
func SealedFingerprint(kr *Keyring, sealed []byte, userID, deviceID string) string {
	if sealed == nil {
		return ""
	}
	aad := recoveryAAD(userID)
	if deviceID != "" {
		aad = secretAAD(userID, deviceID)
	}
	plain, _, err := kr.open(nil, sealed, aad)
	if err != nil {
		return "unopenable " + hex.EncodeToString(sealed)
	}
	sum := sha256.Sum256(plain)
	clear(plain)
	return "key " + string(sealed[2:2+int(sealed[1])]) + ", plaintext " + hex.EncodeToString(sum[:8])
}
