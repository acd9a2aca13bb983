package mfa

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Error is the error type of every failure mfakit reports. Each Error
// matches exactly one of the exported sentinels below with [errors.Is], and
// its Code is stable and machine-readable, so an HTTP layer can map it to a
// status and a client can branch on it. An Error never carries a secret, a
// code or a token in its message.
type Error struct {
	// Code is the stable machine code, e.g. "mfa_invalid_code".
	Code string
	// Message is a human-readable description, safe to show to a user.
	Message string
	// Field names the offending input or Config field, when there is one.
	Field string
	// RetryAfter is how long to wait before the next attempt; set on
	// ErrRateLimited. Zero on a lockout that only [MFA.UnlockUser] lifts.
	RetryAfter time.Duration

	kind  *Error // the sentinel this error matches; nil for a sentinel
	cause error  // the underlying error, e.g. a store failure
}

// Sentinel errors. Compare with errors.Is: errors returned by mfakit carry
// details (a field, a wait, a wrapped store error) but still match these.
var (
	ErrInvalidCode               = sentinel("mfa_invalid_code", "invalid code")
	ErrCodeReused                = sentinel("mfa_code_reused", "code already used")
	ErrRateLimited               = sentinel("mfa_rate_limited", "too many failed attempts")
	ErrDeviceLimit               = sentinel("mfa_device_limit", "user already has as many devices of this type as allowed; delete one first")
	ErrPasskeyRefused            = sentinel("mfa_passkey_refused", "passkey not accepted")
	ErrPasskeyRegistered         = sentinel("mfa_passkey_registered", "this passkey is already registered")
	ErrChallengeInvalid          = sentinel("mfa_challenge_invalid", "no passkey request in progress, or it expired; start again")
	ErrNoDevice                  = sentinel("mfa_no_device", "user has no MFA device")
	ErrDeviceNotFound            = sentinel("mfa_device_not_found", "device not found")
	ErrRecoveryCodesAcknowledged = sentinel("mfa_recovery_codes_acknowledged", "recovery codes were already acknowledged; generate new ones to see codes again")
	ErrTokenRequired             = sentinel("mfa_token_required", "an MFA token is required")
	ErrTokenInvalid              = sentinel("mfa_token_invalid", "invalid MFA token")
	ErrTokenExpired              = sentinel("mfa_token_expired", "MFA token expired")
	ErrInvalidInput              = sentinel("mfa_invalid_input", "invalid input")
	ErrInvalidStep               = sentinel("mfa_invalid_step", "step not allowed in the current view of the MFA flow")
	ErrInvalidConfig             = sentinel("mfa_invalid_config", "invalid configuration")
	ErrKey                       = sentinel("mfa_key_error", "encryption key unavailable or ciphertext invalid")
	ErrStore                     = sentinel("mfa_store_error", "store failure")
)

// sentinels is every sentinel, in the order of their declaration.
var sentinels []*Error

func sentinel(code, msg string) *Error {
	e := &Error{Code: code, Message: msg}
	sentinels = append(sentinels, e)
	return e
}

// ErrorCodes returns the stable code of every sentinel error, e.g. for a
// metrics adapter that keeps its labels to a known set.
func ErrorCodes() []string {
	codes := make([]string, len(sentinels))
	for i, e := range sentinels {
		codes[i] = e.Code
	}
	return codes
}

// Error implements error. The text is "mfa: " followed by the message, the
// field and the cause where they exist.
func (e *Error) Error() string {
	s := "mfa: " + e.Message
	if e.Field != "" {
		s += " (" + e.Field + ")"
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf("; retry after %s", e.RetryAfter.Round(time.Second))
	}
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Is reports whether target is the sentinel e matches (or e itself).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t == e || (e.kind != nil && t == e.kind)
}

// Unwrap returns the underlying cause, such as the store's error, so that
// errors.Is(err, context.Canceled) and errors.As work through an Error.
func (e *Error) Unwrap() error { return e.cause }

// newError returns an error matching kind with a specific message.
func newError(kind *Error, field, msg string) *Error {
	if msg == "" {
		msg = kind.Message
	}
	return &Error{Code: kind.Code, Message: msg, Field: field, kind: kind}
}

func invalidInput(field, msg string) *Error { return newError(ErrInvalidInput, field, msg) }

func invalidConfig(field, msg string) *Error { return newError(ErrInvalidConfig, field, msg) }

// storeError wraps a store failure. Errors that already are mfakit errors
// (a store reporting ErrDeviceNotFound, say) pass through unchanged.
func storeError(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	// The operation goes into the cause, not the message: the message is
	// for users, and "accept code" versus "count failure" would tell them
	// whether the code was right.
	return &Error{Code: ErrStore.Code, Message: ErrStore.Message, kind: ErrStore, cause: fmt.Errorf("%s: %w", op, err)}
}

// storeErr is storeError that also logs a store failure to Config.Logger:
// the caller gets the generic ErrStore, the operator the cause.
func (m *MFA) storeErr(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	e := storeError(op, err)
	if errors.Is(e, ErrStore) {
		m.log.ErrorContext(ctx, "mfa: store failure", slog.String("op", op), slog.Any("error", err))
	}
	return e
}

func keyError(msg string, cause error) *Error {
	return &Error{Code: ErrKey.Code, Message: msg, kind: ErrKey, cause: cause}
}

func rateLimited(wait time.Duration) *Error {
	e := newError(ErrRateLimited, "", "")
	e.RetryAfter = wait
	if wait <= 0 {
		e.Message = "too many consecutive failed attempts; support must unlock the account"
	}
	return e
}

// ErrorCode returns the stable code of err ("mfa_invalid_code", ...), or
// "" when err is nil or not an mfakit error.
func ErrorCode(err error) string {
	if e, ok := err.(*Error); ok {
		return e.Code
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
