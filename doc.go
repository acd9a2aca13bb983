// Package mfa is a headless TOTP multi-factor authentication SDK: a Go
// service imports it to enrol authenticator apps (RFC 6238), show their QR
// codes, check their codes at login or before a sensitive action, and hand
// out recovery codes and MFA tokens. It draws no UI and serves no HTTP of its
// own; the service calls it from its handlers, and the state lives in a
// pluggable [Store].
//
// # Setting up
//
// [New] takes a [Config] with three required fields: a Store, the Issuer
// name authenticator apps show, and a [Keyring] that encrypts secrets at
// rest. Every other field's zero value is the safe default (SHA1, 6 digits,
// 30 s steps, ±1 step of skew, 20-byte secrets, 10 recovery codes), and New
// reports the first invalid field as an [ErrInvalidConfig] error naming it.
//
//	key, err := mfa.DecodeKey(os.Getenv("MFA_KEY")) // "ID:base64url", see [Key.Encode]
//	...
//	keys, err := mfa.NewKeyring(key)
//	...
//	m, err := mfa.New(mfa.Config{Store: memstore.New(), Issuer: "Acme", Keys: keys})
//
// An [MFA] is safe for concurrent use and keeps no per-user state, so any
// number of instances can share one store.
//
// # Enrolment
//
// [MFA.AddDevice] creates a pending TOTP device and returns its
// [Registration]: the otpauth:// URI and the base32 secret for manual entry.
// Show the URI as a QR code with [Registration.QRCodeDataURI] (an <img src>),
// [Registration.QRCodePNG] or [Registration.QRCodeTerminal], and never log
// it. [MFA.PendingRegistration] shows it again, e.g. after a page reload.
//
// The first correct code passed to [MFA.AuthenticateDevice] verifies the
// device ([AuthResult].DeviceVerified) and creates the recovery codes. A
// pending device is not a factor and expires after TOTPConfig.PendingTTL (10
// minutes by default); a new AddDevice replaces it. A user has at most one
// verified TOTP device: AddDevice then returns [ErrDeviceLimit] until
// [MFA.DeleteDevice] removes it.
//
// # Login: account-based MFA
//
// After the first factor (a password, a passkey, a magic link), the
// application marks the session with [ScopeRequiresAdditionalAuth] and asks
// for a code. When [MFA.AuthenticateDevice] (or [MFA.AuthenticateRecoveryCode])
// succeeds, it drops the scope and the login is complete:
//
//	res, err := m.AuthenticateDevice(ctx, userID, mfa.AuthenticateRequest{Code: code})
//	switch {
//	case errors.Is(err, mfa.ErrInvalidCode), errors.Is(err, mfa.ErrCodeReused):
//		// ask again
//	case errors.Is(err, mfa.ErrRateLimited):
//		// tell the user to wait; see Error.RetryAfter
//	case err != nil:
//		return err
//	}
//	// The login is complete: drop mfa.ScopeRequiresAdditionalAuth from the session.
//
// Codes from the current time step and one step either side are accepted. A
// code is accepted once (RFC 6238 §5.2): the device remembers the last
// accepted step, atomically in the store, and refuses it and older ones with
// [ErrCodeReused], even across instances.
//
// # Recovery codes
//
// Verifying a device creates a set of recovery codes (look-up secrets, NIST
// SP 800-63B §5.1.2; RecoveryConfig.Count, 10 by default), 80 random bits each, written like "7k2m-q9xd-4hcv-8tpa".
// They wait for acknowledgement: [MFA.GetRecoveryCodes] with generateNew
// false returns them so the user can save them, and
// [MFA.CompleteAcknowledgement] records that the user did. From then on only
// their keyed hashes are kept and GetRecoveryCodes returns
// [ErrRecoveryCodesAcknowledged]. A set that waits longer than
// RecoveryConfig.RevealFor (1 hour) counts as acknowledged too: the codes
// stay valid but are no longer shown. [MFA.IsPendingRecoveryCodesAcknowledgment]
// tells whether to show them.
//
// [MFA.AuthenticateRecoveryCode] accepts a code in place of the device; each
// works once, and the result says how many remain. [MFA.GetNewRecoveryCodes]
// (or GetRecoveryCodes with generateNew true) makes a new set, invalidates
// every old code and waits for acknowledgement again.
//
// # Action-based MFA and MFA tokens
//
// For a sensitive action, such as changing an email address, ask for a fresh
// code and set [AuthenticateRequest].CreateMFAToken; the [AuthResult] then
// carries an MFA [Token]. A single-use token lives 5 minutes by default, a
// persistent one 10 minutes; [TokenRequest].Scopes restricts it to actions
// with those scopes. Only the token's SHA-256 hash is stored.
//
// The server decides what a token may do. Config.Actions gives each action
// an [ActionPolicy], and the action's handler calls [MFA.AuthorizeAction]:
//
//	if _, err := m.AuthorizeAction(ctx, userID, "change-email", token); err != nil {
//		return err // ErrTokenRequired, ErrTokenInvalid, ErrTokenExpired, ...
//	}
//
// AuthorizeAction checks the token's user, expiry and scope, refuses a token
// older than the policy's MaxTokenAge (5 minutes by default) and consumes it
// atomically, whatever kind of token the client asked for, unless the policy
// is Persistent. An action that is neither configured nor built in is
// refused with [ErrInvalidInput], so that a misspelt name fails closed. The
// built-in actions [ActionCredentialUnlink] ([MFA.DeleteDevice]),
// [ActionRegenerateRecoveryCodes] and [ActionCredentialLink] always consume
// their token. [MFA.IsMFARequiredForAction] answers whether an action needs
// a token for a user, e.g. to ask for a code before the user submits the
// action. Deleting a device revokes all of the user's tokens.
//
// # Operators
//
// Support staff who verified a user another way have calls that need no
// MFA token: [MFA.UnlockUser] lifts a lockout and changes nothing else,
// [MFA.RemoveDevice] deletes a lost device, [MFA.IsEnrolled] tells whether
// a user has a verified device, and [MFA.ResetUser] removes all of a user's
// MFA so that the user can enrol again. Each emits an [Event]. Unlock first:
// a reset lets whoever holds the password enrol a device of their own.
//
// # Lockout
//
// Failed TOTP and recovery codes count together, per user, in the store, so
// every instance sees the same count (RFC 4226 §7.3, NIST SP 800-63B
// §5.2.2). With the default [LockoutConfig], 5 failures are free; then each
// attempt waits 30 seconds, doubling with every further failure up to 1 hour, and
// after 100 consecutive failures only an operator's [MFA.UnlockUser] unlocks the user.
// While the user is locked even a correct code gets [ErrRateLimited], whose
// [Error].RetryAfter says how long to wait. A success resets the count.
//
// # Keys and rotation
//
// TOTP secrets and pending recovery codes are sealed with AES-256-GCM, bound
// to their user (and device) as associated data, and each ciphertext names
// its key's ID. Recovery codes are stored as HMAC-SHA256 hashes, keyed by a
// key derived from the same [Key]. [GenerateKey] makes a key; keep it
// outside the database, e.g. in a secret manager in the form [Key.Encode]
// writes and [DecodeKey] reads.
//
// To rotate, make a new key primary and keep the old ones:
// NewKeyring(newKey, oldKey). The primary seals everything new, old keys
// still open what they sealed, a user's next successful code re-encrypts
// that device's secret, and [MFA.ReencryptUser] does it in bulk. Recovery
// code hashes stay keyed by the key that made them, so keep an old key in
// the keyring until the sets it keyed have been replaced.
//
// # Stores
//
// [Store] is a few small interfaces whose doc comments state the contract:
// what "not found" returns, which operations are atomic, that expired
// records read as absent. Package [github.com/mfakit/mfa/memstore] keeps
// everything in memory, for tests, examples and single-process services;
// package [github.com/mfakit/mfa/sqlstore] keeps it in PostgreSQL (many
// service instances) or SQLite (embedded). To write your own store, run the conformance suite
// [github.com/mfakit/mfa/mfatest.TestStore] against it under the race
// detector. Stores that implement [Cleaner] can drop expired records in bulk
// via [MFA.Cleanup].
//
// # Errors
//
// Every error an [MFA] method returns is an [*Error] that matches exactly one exported sentinel with
// errors.Is ([ErrInvalidCode], [ErrCodeReused], [ErrRateLimited],
// [ErrDeviceLimit], [ErrNoDevice], [ErrDeviceNotFound],
// [ErrRecoveryCodesAcknowledged], [ErrTokenRequired], [ErrTokenInvalid],
// [ErrTokenExpired], [ErrInvalidInput], [ErrInvalidStep], [ErrInvalidConfig],
// [ErrKey], [ErrStore]) and carries a stable machine code, returned by [ErrorCode],
// such as "mfa_invalid_code". A store failure is wrapped in [ErrStore] and
// never reported as a wrong code; errors.Is and errors.As see through to
// the store's own error. No error carries a secret, a code or a token.
//
// # Events
//
// Config.OnEvent receives an [Event] for each device added, verified,
// deleted or re-encrypted, each authentication that succeeds, fails, is a
// replay or locks the user out, each use, regeneration and acknowledgement
// of recovery codes (and when few remain), each token issued, validated,
// consumed or refused, and each reset: an audit trail without secrets,
// codes or tokens. It runs synchronously, in the calling goroutine.
package mfa
