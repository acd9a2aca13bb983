// Package mfaotel traces mfakit's store calls and reports its audit events
// with OpenTelemetry.
//
// [WrapStore] wraps an mfa.Store so that every call runs in a span of its
// own, a child of the span in the caller's context:
//
//	store := mfaotel.WrapStore(sqlstore, tracerProvider)
//	m, err := mfa.New(mfa.Config{Store: store, ...})
//
// The spans are named "mfa.store." and the method, e.g.
// "mfa.store.LoadUser", "mfa.store.AcceptStep" or "mfa.store.Cleanup", and
// carry:
//
//	mfa.store.method   the method, e.g. "AcceptStep"
//	mfa.store.outcome  when the call returned one of the outcomes the Store
//	                   contract documents, which are not failures: the error
//	                   code of mfa.ErrCodeReused, ErrInvalidCode,
//	                   ErrDeviceNotFound, ErrDeviceLimit, ErrNoDevice,
//	                   ErrTokenInvalid, ErrPasskeyRegistered or
//	                   ErrChallengeInvalid ("mfa_code_reused", ...), or
//	                   "lockout_changed" for mfa.ErrLockoutChanged
//	error.type         on any other error, a store failure: "context.Canceled",
//	                   "context.DeadlineExceeded", an mfakit error code,
//	                   or "_OTHER"; the span's status is then Error, with the
//	                   error's message as its description
//
// The wrapper implements the optional interfaces of mfa (mfa.Cleaner) that
// the wrapped store implements, and only those, so that mfa.MFA.Cleanup
// behaves as it does without it.
//
// [EventHandler] returns a function for mfa.Config.OnEvent. It adds each
// event to the span in the context of the call that caused it, as a span
// event named "mfa." and the event's type (e.g. "mfa.auth.failed"), and
// counts it with the mfa.events counter of a MeterProvider. To call another
// handler too, call both from a function of your own:
//
//	events, err := mfaotel.EventHandler(meterProvider)
//	...
//	OnEvent: func(ctx context.Context, e mfa.Event) {
//		events(ctx, e)
//		audit.Log(ctx, e) // yours
//	},
//
// The span events carry the event's fields that identify no one:
//
//	mfa.event.type               the type, e.g. "auth.failed"
//	mfa.method                   "totp" or "recovery_code"
//	mfa.error_code               e.g. "mfa_invalid_code"
//	mfa.failures                 the consecutive failure count
//	mfa.retry_after              the wait a lockout imposes, in seconds
//	mfa.recovery_codes.remaining the unused recovery codes
//	mfa.token.scopes             an MFA token's scopes
//	mfa.token.single_use         whether the token is single use
//	mfa.action                   the action a token was checked for
//	mfa.key_id                   the ID of the key a secret was sealed with
//	mfa.enrolled                 the answer of IsEnrolled
//
// each where the event has it. The mfa.events counter (unit "{event}") has
// the attributes mfa.event.type, mfa.method and mfa.error_code, each
// taking its values from a fixed list ("other" for a value this package
// does not know), so that the number of series does not grow with users.
//
// # User IDs
//
// A user ID can be personal data, and none is recorded by default: not on
// spans, span events or metrics, and never a device ID. [WithHashedUserID]
// adds a keyed hash of it to spans and span events as enduser.pseudo.id, so
// that one user's calls can be found together without naming the user;
// [WithUserID] adds it as it is, as enduser.id. Neither ever reaches a
// metric. A span's status description is the store's error message: a
// store whose errors quote user IDs would put them there. Events carry no
// secret, code or token, and neither do the spans.
//
// A nil TracerProvider or MeterProvider means OpenTelemetry's global one.
package mfaotel
