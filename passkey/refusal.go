package passkey

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// evidence is what a refused response declared, for refusal to name the
// cause.
type evidence struct {
	ceremony   protocol.CeremonyType
	challenge  string // the session's
	uvRequired bool
	client     *protocol.CollectedClientData
	auth       *protocol.AuthenticatorData

	// Registration only.
	attestation *protocol.AttestationObject
	credParams  []protocol.CredentialParameter // offered in the options

	// Login only.
	stored     *Credential // the stored credential the response names
	storedAt   int         // its index in FinishLogin's credentials
	userID     []byte
	userHandle []byte
}

// refusal turns go-webauthn's refusal of a response into this package's
// error. go-webauthn decides whether a response is valid; its errors do not
// say which check failed in a form to rely on, so refusal looks again at
// what the response declared, in the order of WebAuthn §7.1 and §7.2, and
// names the first rule it breaks. A refusal it cannot explain that way is
// ErrSignature when go-webauthn says so, ErrAttestation for an attestation
// error at registration, and ErrInvalidResponse otherwise. It runs only on
// the failure path, so a valid response pays nothing for it.
func (v *Verifier) refusal(err error, e evidence) error {
	c, a := e.client, e.auth
	switch {
	case c.Type != e.ceremony:
		return newError(ErrInvalidResponse, "client data of a %s ceremony, not %s", quote(string(c.Type)), e.ceremony)
	case subtle.ConstantTimeCompare([]byte(c.Challenge), []byte(e.challenge)) != 1:
		return newError(ErrChallengeMismatch, "the response answers another challenge than the session's")
	case !protocol.IsOriginInHaystack(c.Origin, v.origins):
		return newError(ErrOrigin, "%s is not one of Config.Origins", quote(c.Origin))
	case c.CrossOrigin || c.TopOrigin != "":
		return newError(ErrOrigin, "the ceremony ran in a cross-origin frame")
	case !bytes.Equal(a.RPIDHash, v.rpIDHash[:]):
		return newError(ErrRPID, "the authenticator data is scoped to another relying party ID")
	case !a.Flags.HasUserPresent():
		return newError(ErrUserVerification, "the authenticator did not report the user's presence")
	case e.uvRequired && !a.Flags.HasUserVerified():
		return newError(ErrUserVerification, "user verification is required and the authenticator did not verify the user")
	case a.Flags.HasBackupState() && !a.Flags.HasBackupEligible():
		return newError(ErrBackupFlags, "backed up but not backup eligible")
	case e.stored != nil && e.stored.BackupEligible != a.Flags.HasBackupEligible():
		return newError(ErrBackupFlags, "backup eligibility differs from the one stored at registration")
	case len(e.userHandle) > 0 && !bytes.Equal(e.userHandle, e.userID):
		return newError(ErrUnknownCredential, "the response carries another user's handle")
	}

	if o := e.attestation; o != nil {
		var key webauthncose.PublicKeyData
		switch {
		case webauthncbor.Unmarshal(o.AuthData.AttData.CredentialPublicKey, &key) == nil && !offered(key.Algorithm, e.credParams):
			return newError(ErrAttestation, "the key's algorithm %d was not offered", key.Algorithm)
		case o.Format == string(protocol.AttestationFormatNone) && len(o.AttStatement) > 0:
			return newError(ErrAttestation, `format "none" with an attestation statement`)
		case !protocol.IsAttestationFormatString(o.Format):
			return newError(ErrAttestation, "attestation format %s is not supported", quote(o.Format))
		}
	}

	var unknown *protocol.ErrorUnknownCredential
	if errors.As(err, &unknown) {
		return newError(ErrUnknownCredential, "the credential is not one of the user's")
	}
	var perr *protocol.Error
	if errors.As(err, &perr) {
		switch {
		case perr.Type == protocol.ErrAssertionSignature.Type && e.stored != nil:
			if _, kerr := webauthncose.ParsePublicKey(e.stored.PublicKey); kerr != nil {
				// The caller's record, not the response, is at fault.
				return fieldError(ErrInvalidInput, fmt.Sprintf("credentials[%d].PublicKey", e.storedAt), "not a public key this package can use")
			}
			return newError(ErrSignature, "the signature does not verify with the stored public key")
		case e.ceremony == protocol.CreateCeremony && isAttestationError(perr.Type):
			return newError(ErrAttestation, "%s", details(err))
		}
	}
	return newError(ErrInvalidResponse, "%s", details(err))
}

func offered(alg int64, params []protocol.CredentialParameter) bool {
	for _, p := range params {
		if int64(p.Algorithm) == alg {
			return true
		}
	}
	return false
}

func isAttestationError(typ string) bool {
	switch typ {
	case protocol.ErrAttestation.Type, protocol.ErrInvalidAttestation.Type, protocol.ErrAttestationFormat.Type,
		protocol.ErrAttestationCertificate.Type, protocol.ErrMetadata.Type,
		protocol.ErrUnsupportedKey.Type, protocol.ErrUnsupportedAlgorithm.Type:
		return true
	}
	return false
}

// details is the text of one of go-webauthn's errors that a message may
// carry: a *protocol.Error's Details, which name the failed step, never its
// DevInfo, which may hold the expected and received challenge.
func details(err error) string {
	var perr *protocol.Error
	if errors.As(err, &perr) {
		if perr.Details != "" {
			return truncate(perr.Details)
		}
		return perr.Type
	}
	return truncate(err.Error())
}

// quote quotes a value the client declared, cut to a length fit for a log
// line.
func quote(s string) string {
	return fmt.Sprintf("%q", truncate(s))
}

func truncate(s string) string {
	const limit = 200
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
