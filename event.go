package mfa

import (
	"context"
	"slices"
	"time"
)

// EventType names an audit event.
type EventType string

// Audit events. Each carries the user and, where they apply, the device,
// method, error code, failure count and so on, but never a secret, a code
// or a token.
const (
	EventDeviceAdded               EventType = "device.added"
	EventDeviceVerified            EventType = "device.verified"
	EventDeviceDeleted             EventType = "device.deleted"  // by the user, with a token
	EventDeviceRemoved             EventType = "device.removed"  // by an operator, with RemoveDevice
	EventDeviceImported            EventType = "device.imported" // by an operator, with ImportTOTPDevice
	EventDeviceDefaultSet          EventType = "device.default_set"
	EventDeviceReencrypted         EventType = "device.reencrypted"
	EventAuthSucceeded             EventType = "auth.succeeded"
	EventAuthFailed                EventType = "auth.failed"
	EventReplayRefused             EventType = "auth.replay_refused"
	EventPasskeyCounterRefused     EventType = "auth.passkey_counter_refused" // a signature counter that did not grow: possibly a cloned authenticator
	EventLockedOut                 EventType = "auth.locked_out"
	EventRecoveryCodeUsed          EventType = "recovery_code.used"
	EventRecoveryCodesRegenerated  EventType = "recovery_codes.regenerated"
	EventRecoveryCodesLow          EventType = "recovery_codes.low"
	EventRecoveryCodesAcknowledged EventType = "recovery_codes.acknowledged"
	EventTokenIssued               EventType = "token.issued"
	EventTokenConsumed             EventType = "token.consumed"
	EventTokenValidated            EventType = "token.validated"
	EventTokenRefused              EventType = "token.refused"
	EventTokensRevoked             EventType = "token.revoked_all" // a device went, and every token of the user with it
	EventUserReset                 EventType = "user.reset"
	EventUserUnlocked              EventType = "user.unlocked"
	EventEnrollmentChecked         EventType = "user.enrollment_checked"
)

// eventTypes is every EventType; EventTypes returns a copy.
var eventTypes = []EventType{
	EventDeviceAdded,
	EventDeviceVerified,
	EventDeviceDeleted,
	EventDeviceRemoved,
	EventDeviceImported,
	EventDeviceDefaultSet,
	EventDeviceReencrypted,
	EventAuthSucceeded,
	EventAuthFailed,
	EventReplayRefused,
	EventPasskeyCounterRefused,
	EventLockedOut,
	EventRecoveryCodeUsed,
	EventRecoveryCodesRegenerated,
	EventRecoveryCodesLow,
	EventRecoveryCodesAcknowledged,
	EventTokenIssued,
	EventTokenConsumed,
	EventTokenValidated,
	EventTokenRefused,
	EventTokensRevoked,
	EventUserReset,
	EventUserUnlocked,
	EventEnrollmentChecked,
}

// EventTypes returns every type of event mfakit emits, e.g. for a metrics
// adapter that keeps its labels to a known set.
func EventTypes() []EventType { return slices.Clone(eventTypes) }

// LowRecoveryCodes is the number of remaining recovery codes at or below
// which EventRecoveryCodesLow fires.
const LowRecoveryCodes = 2

// Event is an audit record passed to Config.OnEvent.
type Event struct {
	Type     EventType `json:"type"`
	Time     time.Time `json:"time"`
	UserID   string    `json:"userId"`
	DeviceID string    `json:"deviceId,omitempty"`
	// Method is the method of an authentication event.
	Method Method `json:"method,omitempty"`
	// ErrorCode is the stable code of the failure, e.g. "mfa_invalid_code".
	ErrorCode string `json:"errorCode,omitempty"`
	// Failures is the user's consecutive failure count after the event.
	Failures int `json:"failures,omitempty"`
	// RetryAfter is the wait imposed by a lockout.
	RetryAfter time.Duration `json:"retryAfter,omitempty"`
	// Remaining is the number of unused recovery codes.
	Remaining int `json:"remaining,omitempty"`
	// Scopes and SingleUse describe an MFA token.
	Scopes    []string `json:"scopes,omitempty"`
	SingleUse bool     `json:"singleUse,omitempty"`
	// KeyID names the key a record was sealed with.
	KeyID string `json:"keyId,omitempty"`
	// Action is the action an MFA token was checked for.
	Action string `json:"action,omitempty"`
	// Enrolled is the answer of IsEnrolled (absent when false).
	Enrolled bool `json:"enrolled,omitempty"`
}

func (m *MFA) emit(ctx context.Context, e Event) {
	if m.onEvent == nil {
		return
	}
	e.Time = m.now()
	m.onEvent(ctx, e)
}
