// Package passkey runs the WebAuthn ceremonies that register a passkey and
// log in with it, for mfakit's passkey factor. The ceremonies' rules
// (options, attestation, assertion, signatures) are those of
// github.com/go-webauthn/webauthn; this package sets them up for one
// relying party, takes and returns JSON and plain structs, and names every
// refusal with a sentinel error. It keeps no state and stores nothing: the
// caller persists the sessions and the credentials. It lives in a module of
// its own, so that a service that uses TOTP alone downloads nothing of
// WebAuthn.
//
// # Setting up
//
//	v, err := passkey.New(passkey.Config{
//		RPID:          "example.com",
//		RPDisplayName: "Acme",
//		Origins:       []string{"https://example.com"},
//	})
//
// New reports an invalid field as an [ErrInvalidConfig] [Error] naming it.
// UserVerification defaults to "preferred", Attestation to "none" and
// Timeout to five minutes.
//
// # Registration
//
//	options, session, err := v.BeginRegistration(user, stored) // stored: the user's passkeys, excluded
//	// store session (server side, with an expiry); send options to the browser:
//	//   const cred = await navigator.credentials.create(
//	//       {publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey)});
//	//   send JSON.stringify(cred) back
//	// load and delete session, then:
//	cred, err := v.FinishRegistration(user, session, response)
//	// refuse cred.ID if any user has it already; store cred
//
// # Login
//
//	options, session, err := v.BeginLogin(user, stored)
//	//   const cred = await navigator.credentials.get(
//	//       {publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey)});
//	// load and delete session, then:
//	a, err := v.FinishLogin(user, session, stored, response)
//	// atomically: refuse unless passkey.CounterValid(storedCount, a.SignCount),
//	// then store a.SignCount and a.BackupState on the credential a.CredentialID
//
// # What the caller keeps
//
// Session expiry: a session blob never expires by itself (go-webauthn is
// told not to check the wall clock), so the caller enforces the expiry by
// its own clock, and uses each session once, deleting it before Finish*.
//
// Signature counters: FinishLogin returns the counter the authenticator
// presented and does not judge it. The caller checks it with
// [CounterValid] and advances the stored one in the same atomic step,
// since only its store sees concurrent logins.
//
// Uniqueness: a credential ID belongs to one user; the caller refuses a
// registration whose ID it already stores.
//
// # Errors
//
// Every error matches one sentinel with [errors.Is]: [ErrInvalidResponse],
// [ErrChallengeMismatch], [ErrOrigin], [ErrRPID], [ErrUserVerification],
// [ErrUnknownCredential], [ErrSignature], [ErrBackupFlags] and
// [ErrAttestation] refuse what the browser sent; [ErrSession] refuses the
// session blob; [ErrInvalidConfig], [ErrInvalidInput] and
// [ErrNoCredentials] refuse the caller's input. No message carries a
// challenge, a signature or key material.
package passkey
