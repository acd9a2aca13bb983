package passkey

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// BeginRegistration starts the creation of a passkey for user. options is
// the JSON to pass to navigator.credentials.create(), after decoding its
// base64url members (PublicKeyCredential.parseCreationOptionsFromJSON does
// it): {"publicKey": {...}} with a fresh challenge, the user, residentKey
// "preferred", the configured user verification and attestation, and
// excludeCredentials listing exclude (the user's passkeys, so that the
// browser does not register one authenticator twice). session is the blob
// to store and pass to FinishRegistration once; see [Verifier].
func (v *Verifier) BeginRegistration(user User, exclude []Credential) (options json.RawMessage, session []byte, err error) {
	if err := validateUser(user, true); err != nil {
		return nil, nil, err
	}
	descriptors := make([]protocol.CredentialDescriptor, len(exclude))
	for i, c := range exclude {
		if len(c.ID) == 0 {
			return nil, nil, fieldError(ErrInvalidInput, fmt.Sprintf("exclude[%d].ID", i), "required")
		}
		descriptors[i] = protocol.CredentialDescriptor{
			Type:         protocol.PublicKeyCredentialType,
			CredentialID: c.ID,
			Transport:    transports(c.Transports),
		}
	}
	creation, data, err := v.wa.BeginRegistration(&waUser{user: user}, webauthn.WithExclusions(descriptors))
	if err != nil {
		return nil, nil, newError(ErrInvalidInput, "%s", err)
	}
	return v.begun(creation, ceremonyRegistration, data)
}

// FinishRegistration verifies the browser's answer to the options of
// BeginRegistration: response is the JSON of the PublicKeyCredential that
// navigator.credentials.create() returned (its toJSON()), and session the
// blob BeginRegistration returned with them. It checks the ceremony type,
// the challenge, the origin, the RP ID hash, the user's presence and, when
// required, verification, the key's algorithm and the attestation
// statement, and returns the Credential to store, its UserHandle user.ID.
// Members a browser adds
// that this package does not know are ignored.
//
// Before storing it, refuse a credential whose ID is already stored (for
// any user).
func (v *Verifier) FinishRegistration(user User, session []byte, response json.RawMessage) (Credential, error) {
	if err := validateUser(user, false); err != nil {
		return Credential{}, err
	}
	data, err := v.decodeSession(session, ceremonyRegistration, user)
	if err != nil {
		return Credential{}, err
	}
	if len(response) > maxResponseSize {
		return Credential{}, newError(ErrInvalidResponse, "response longer than %d bytes", maxResponseSize)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return Credential{}, parseError(err)
	}
	created, err := v.wa.CreateCredential(&waUser{user: user}, data, parsed)
	if err != nil {
		return Credential{}, v.refusal(err, evidence{
			ceremony:    protocol.CreateCeremony,
			challenge:   data.Challenge,
			uvRequired:  data.UserVerification == protocol.VerificationRequired,
			client:      &parsed.Response.CollectedClientData,
			auth:        &parsed.Response.AttestationObject.AuthData,
			attestation: &parsed.Response.AttestationObject,
			credParams:  data.CredParams,
		})
	}
	cred := fromWebAuthn(created)
	cred.UserHandle = user.ID
	return cred, nil
}

// BeginLogin starts a login with one of credentials, the user's stored
// passkeys. options is the JSON to pass to navigator.credentials.get(),
// after decoding its base64url members
// (PublicKeyCredential.parseRequestOptionsFromJSON does it):
// {"publicKey": {...}} with a fresh challenge, the RP ID, allowCredentials
// listing credentials and the configured user verification. session is the
// blob to store and pass to FinishLogin once; see [Verifier]. A user with
// no passkey gets ErrNoCredentials.
func (v *Verifier) BeginLogin(user User, credentials []Credential) (options json.RawMessage, session []byte, err error) {
	if err := validateUser(user, false); err != nil {
		return nil, nil, err
	}
	if len(credentials) == 0 {
		return nil, nil, newError(ErrNoCredentials, "")
	}
	creds, err := toWebAuthn(credentials)
	if err != nil {
		return nil, nil, err
	}
	assertion, data, err := v.wa.BeginLogin(&waUser{user: user, credentials: creds})
	if err != nil {
		return nil, nil, newError(ErrInvalidInput, "%s", err)
	}
	return v.begun(assertion, ceremonyLogin, data)
}

// FinishLogin verifies the browser's answer to the options of BeginLogin:
// response is the JSON of the PublicKeyCredential that
// navigator.credentials.get() returned (its toJSON()), session the blob
// BeginLogin returned, and credentials the user's stored passkeys (those
// passed to BeginLogin, as they are now). It finds the credential that
// signed, checks the ceremony type, the challenge, the origin, the RP ID
// hash, the user's presence and, when required, verification, the backup
// flags and the signature, and returns the Assertion.
//
// FinishLogin does not judge the signature counter: check
// Assertion.SignCount with [CounterValid] and store it atomically.
func (v *Verifier) FinishLogin(user User, session []byte, credentials []Credential, response json.RawMessage) (Assertion, error) {
	if err := validateUser(user, false); err != nil {
		return Assertion{}, err
	}
	data, err := v.decodeSession(session, ceremonyLogin, user)
	if err != nil {
		return Assertion{}, err
	}
	if len(response) > maxResponseSize {
		return Assertion{}, newError(ErrInvalidResponse, "response longer than %d bytes", maxResponseSize)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return Assertion{}, parseError(err)
	}

	// Which stored credential signed, and was it offered? go-webauthn
	// checks both again; asking first gives the refusal its own error.
	stored := -1
	for i := range credentials {
		if bytes.Equal(credentials[i].ID, parsed.RawID) {
			stored = i
			break
		}
	}
	if stored < 0 {
		return Assertion{}, newError(ErrUnknownCredential, "the credential is not one of the user's")
	}
	if !containsID(data.AllowedCredentialIDs, parsed.RawID) {
		return Assertion{}, newError(ErrUnknownCredential, "the credential was not offered in this login")
	}
	for _, id := range data.AllowedCredentialIDs {
		if !containsCredential(credentials, id) {
			return Assertion{}, newError(ErrSession, "the user's passkeys changed since BeginLogin")
		}
	}
	creds, err := toWebAuthn(credentials)
	if err != nil {
		return Assertion{}, err
	}

	if _, err := v.wa.ValidateLogin(&waUser{user: user, credentials: creds}, data, parsed); err != nil {
		return Assertion{}, v.refusal(err, evidence{
			ceremony:   protocol.AssertCeremony,
			challenge:  data.Challenge,
			uvRequired: data.UserVerification == protocol.VerificationRequired,
			client:     &parsed.Response.CollectedClientData,
			auth:       &parsed.Response.AuthenticatorData,
			stored:     &credentials[stored],
			storedAt:   stored,
			userID:     user.ID,
			userHandle: parsed.Response.UserHandle,
		})
	}
	auth := parsed.Response.AuthenticatorData
	return Assertion{
		CredentialID: parsed.RawID,
		SignCount:    auth.Counter,
		BackupState:  auth.Flags.HasBackupState(),
		UserVerified: auth.Flags.HasUserVerified(),
	}, nil
}

// begun encodes what a Begin step returns.
func (v *Verifier) begun(options any, ceremony string, data *webauthn.SessionData) (json.RawMessage, []byte, error) {
	opts, err := json.Marshal(options)
	if err != nil {
		return nil, nil, newError(ErrInvalidInput, "encoding the options: %s", err)
	}
	blob, err := encodeSession(ceremony, data)
	if err != nil {
		return nil, nil, newError(ErrInvalidInput, "encoding the session: %s", err)
	}
	return opts, blob, nil
}

func containsID(ids [][]byte, id []byte) bool {
	for _, x := range ids {
		if bytes.Equal(x, id) {
			return true
		}
	}
	return false
}

func containsCredential(credentials []Credential, id []byte) bool {
	for i := range credentials {
		if bytes.Equal(credentials[i].ID, id) {
			return true
		}
	}
	return false
}

// parseError is the error of a response go-webauthn cannot parse.
func parseError(err error) error {
	return newError(ErrInvalidResponse, "cannot parse the response: %s", details(err))
}

// waUser is a User with its credentials, as go-webauthn takes them.
type waUser struct {
	user        User
	credentials []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte { return u.user.ID }

func (u *waUser) WebAuthnName() string { return u.user.Name }

func (u *waUser) WebAuthnDisplayName() string {
	if u.user.DisplayName == "" {
		return u.user.Name
	}
	return u.user.DisplayName
}

func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.credentials }

// toWebAuthn converts stored credentials to go-webauthn's record.
func toWebAuthn(credentials []Credential) ([]webauthn.Credential, error) {
	out := make([]webauthn.Credential, len(credentials))
	for i := range credentials {
		c := &credentials[i]
		switch {
		case len(c.ID) == 0:
			return nil, fieldError(ErrInvalidInput, fmt.Sprintf("credentials[%d].ID", i), "required")
		case len(c.PublicKey) == 0:
			return nil, fieldError(ErrInvalidInput, fmt.Sprintf("credentials[%d].PublicKey", i), "required")
		}
		flags := protocol.FlagUserPresent
		if c.BackupEligible {
			flags |= protocol.FlagBackupEligible
		}
		if c.BackupState {
			flags |= protocol.FlagBackupState
		}
		if c.UserVerified {
			flags |= protocol.FlagUserVerified
		}
		out[i] = webauthn.Credential{
			ID:                c.ID,
			PublicKey:         c.PublicKey,
			AttestationType:   c.AttestationType,
			AttestationFormat: c.AttestationFormat,
			Transport:         transports(c.Transports),
			Flags:             webauthn.NewCredentialFlags(flags),
			Authenticator: webauthn.Authenticator{
				AAGUID:    c.AAGUID[:],
				SignCount: c.SignCount,
			},
		}
	}
	return out, nil
}

// fromWebAuthn is the Credential to store for a credential go-webauthn
// created.
func fromWebAuthn(c *webauthn.Credential) Credential {
	out := Credential{
		ID:                c.ID,
		PublicKey:         c.PublicKey,
		SignCount:         c.Authenticator.SignCount,
		BackupEligible:    c.Flags.BackupEligible,
		BackupState:       c.Flags.BackupState,
		UserVerified:      c.Flags.UserVerified,
		AttestationType:   c.AttestationType,
		AttestationFormat: c.AttestationFormat,
	}
	copy(out.AAGUID[:], c.Authenticator.AAGUID)
	if len(c.Transport) > 0 {
		out.Transports = make([]string, len(c.Transport))
		for i, t := range c.Transport {
			out.Transports[i] = string(t)
		}
	}
	return out
}

func transports(ts []string) []protocol.AuthenticatorTransport {
	if len(ts) == 0 {
		return nil
	}
	out := make([]protocol.AuthenticatorTransport, len(ts))
	for i, t := range ts {
		out[i] = protocol.AuthenticatorTransport(t)
	}
	return out
}
