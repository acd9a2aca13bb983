package mfa

import "encoding/json"

// PasskeyVerifier runs the WebAuthn ceremonies for [Config.Passkeys]:
// checking options, attestations, assertions and signatures. mfakit keeps
// everything around them: storage, single use and expiry of each ceremony,
// the signature counter, lockout, tokens and the flow.
//
// *passkey.Verifier, from the module github.com/mfakit/mfa/passkey, is the
// implementation on go-webauthn; a service that uses TOTP alone does not
// import it and downloads nothing of WebAuthn. An implementation keeps no
// state between calls: Begin* return the options for the browser and an
// opaque session, which mfakit seals, stores and hands back to the matching
// Finish* at most once.
type PasskeyVerifier interface {
	// BeginRegistration returns the options for navigator.credentials.create
	// ({"publicKey": {...}}) and the ceremony's session. The user's
	// existing credentials are excluded, so an authenticator is not
	// registered twice.
	BeginRegistration(user PasskeyUser, exclude []PasskeyCredential) (options json.RawMessage, session []byte, err error)

	// FinishRegistration checks the browser's answer to a registration
	// (the JSON of the PublicKeyCredential) against its session and
	// returns the new credential, with UserHandle set to user.ID.
	FinishRegistration(user PasskeyUser, session []byte, response json.RawMessage) (PasskeyCredential, error)

	// BeginLogin returns the options for navigator.credentials.get and the
	// ceremony's session; credentials are the ones the user may answer
	// with.
	BeginLogin(user PasskeyUser, credentials []PasskeyCredential) (options json.RawMessage, session []byte, err error)

	// FinishLogin checks the browser's answer to a login against its
	// session and the user's credentials and returns what it verified. Any
	// error is a refused assertion. It does not judge the signature
	// counter: mfakit checks and advances it atomically in the store.
	FinishLogin(user PasskeyUser, session []byte, credentials []PasskeyCredential, response json.RawMessage) (PasskeyAssertion, error)
}

// PasskeyUser is the account a passkey ceremony is for.
type PasskeyUser struct {
	// ID is the user handle: 1 to 64 opaque bytes that identify the account
	// to the authenticator. mfakit makes 32 random bytes for a user's first
	// passkey and reuses them for the next ones, so that the handle is not
	// the user ID, which may be personal data.
	ID []byte
	// Name is the account's name, shown by the browser when choosing a
	// passkey; mfakit passes the user ID or the name given with
	// WithAccountName.
	Name string
	// DisplayName is a friendlier name; Name when empty.
	DisplayName string
}

// PasskeyCredential is a passkey as stored in [DeviceRecord.Passkey]. None
// of it is secret, but PublicKey and BackupEligible must come from
// FinishRegistration unchanged.
type PasskeyCredential struct {
	// ID is the credential ID the authenticator chose, unique to the
	// credential (at most 1023 bytes) and unique across users in a store.
	ID []byte
	// UserHandle is the PasskeyUser.ID the credential was registered for.
	UserHandle []byte
	// PublicKey is the credential's public key, a COSE_Key (RFC 9052).
	PublicKey []byte
	// SignCount is the authenticator's signature counter; 0 when the
	// authenticator keeps none (most synced passkeys).
	SignCount uint32
	// AAGUID identifies the authenticator's model; all zero when the
	// authenticator or the browser does not tell (attestation "none").
	AAGUID [16]byte
	// Transports are how the browser can reach the authenticator
	// ("internal", "hybrid", "usb", "nfc", "ble", ...).
	Transports []string
	// BackupEligible reports that the credential can be synced to other
	// devices (a multi-device passkey). It never changes.
	BackupEligible bool
	// BackupState reports that the credential was backed up when last
	// seen.
	BackupState bool
	// UserVerified reports that the user was verified at registration.
	UserVerified bool
	// AttestationType is the attestation type that was verified, named as
	// the FIDO metadata service names them: "none", "basic_surrogate",
	// "basic_full", "attca", "anonca".
	AttestationType string
	// AttestationFormat is the attestation statement format: "none",
	// "packed", "tpm", "android-key", "apple", "fido-u2f", ...
	AttestationFormat string
}

// PasskeyAssertion is what a successful FinishLogin verified.
type PasskeyAssertion struct {
	// CredentialID is the ID of the credential that signed, one of those
	// passed to FinishLogin.
	CredentialID []byte
	// SignCount is the counter the authenticator presented.
	SignCount uint32
	// BackupState is the credential's current backup state.
	BackupState bool
	// UserVerified reports that the authenticator verified the user (PIN,
	// biometrics), not only their presence.
	UserVerified bool
}
