package passkey

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns matches exactly one of
// them with [errors.Is], so a caller can map each to its own errors. Those
// from ErrInvalidResponse to ErrAttestation refuse what the browser sent
// and, from FinishLogin, are failed attempts to count; ErrSession refuses
// the blob the caller passed back (a session that is missing or expired is
// the caller's to notice first); ErrInvalidConfig, ErrInvalidInput and
// ErrNoCredentials are about the caller's own input.
//
// A message never holds a challenge, a signature or key material; it may
// quote what the client declared (an origin, a ceremony type), since that is
// what an operator needs to see a misconfiguration.
var (
	// ErrInvalidConfig: New was given a Config it cannot use; the error
	// names the field.
	ErrInvalidConfig = errors.New("passkey: invalid configuration")
	// ErrInvalidInput: a User or a stored Credential passed in by the
	// caller is unusable, e.g. a user handle longer than 64 bytes.
	ErrInvalidInput = errors.New("passkey: invalid input")
	// ErrNoCredentials: BeginLogin was called for a user with no passkey.
	ErrNoCredentials = errors.New("passkey: user has no passkey")
	// ErrSession: the session blob is not one that the Begin step of this
	// ceremony made for this user and this relying party, or the user's
	// passkeys changed since it was made.
	ErrSession = errors.New("passkey: invalid ceremony session")
	// ErrInvalidResponse: the browser's response cannot be parsed, is for
	// another kind of ceremony, or breaks a rule no other sentinel names.
	ErrInvalidResponse = errors.New("passkey: invalid response")
	// ErrChallengeMismatch: the response answers another challenge than
	// the session's: a replayed or stale response, or one made for another
	// ceremony.
	ErrChallengeMismatch = errors.New("passkey: challenge mismatch")
	// ErrOrigin: the response was made on a page whose origin is not in
	// Config.Origins, or inside a cross-origin frame.
	ErrOrigin = errors.New("passkey: origin not allowed")
	// ErrRPID: the authenticator data is scoped to another relying party
	// ID than Config.RPID.
	ErrRPID = errors.New("passkey: relying party ID mismatch")
	// ErrUserVerification: the authenticator did not report the user's
	// presence, or did not report user verification where the configured
	// requirement is "required".
	ErrUserVerification = errors.New("passkey: user presence or verification missing")
	// ErrUnknownCredential: the response names a credential that is not
	// among the user's stored credentials (or not among those the login
	// offered), or carries another user's handle.
	ErrUnknownCredential = errors.New("passkey: unknown credential")
	// ErrSignature: the assertion's signature does not verify with the
	// stored public key.
	ErrSignature = errors.New("passkey: invalid signature")
	// ErrBackupFlags: the backup flags are inconsistent: backed up but not
	// backup eligible, or a backup eligibility that differs from the one
	// stored at registration.
	ErrBackupFlags = errors.New("passkey: inconsistent backup flags")
	// ErrAttestation: the registration's attestation statement does not
	// verify, or its key uses an algorithm that was not offered.
	ErrAttestation = errors.New("passkey: invalid attestation")
)

// Error is the type of every error this package returns. It matches its
// sentinel with [errors.Is] and adds a reason, and for a configuration or
// input error the field at fault.
type Error struct {
	// Field names the offending Config field or input ("Origins[1]",
	// "User.ID"), when there is one.
	Field string
	// Reason says what is wrong, in words safe to log: never a challenge
	// or key material.
	Reason string

	kind error // the sentinel
}

// Error implements error: the sentinel's text, then the field and reason.
func (e *Error) Error() string {
	s := e.kind.Error()
	if e.Field != "" {
		s += ": " + e.Field
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Unwrap returns the sentinel, for errors.Is.
func (e *Error) Unwrap() error { return e.kind }

func newError(kind error, format string, args ...any) *Error {
	return &Error{kind: kind, Reason: fmt.Sprintf(format, args...)}
}

func fieldError(kind error, field, format string, args ...any) *Error {
	return &Error{kind: kind, Field: field, Reason: fmt.Sprintf(format, args...)}
}
