package passkey

import (
	"crypto/sha256"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/mfakit/mfa"
)

// Values of Config.UserVerification.
const (
	UserVerificationRequired    = "required"
	UserVerificationPreferred   = "preferred"
	UserVerificationDiscouraged = "discouraged"
)

// Values of Config.Attestation.
const (
	AttestationNone     = "none"
	AttestationIndirect = "indirect"
	AttestationDirect   = "direct"
)

// DefaultTimeout is the time the browser gives the user to complete a
// ceremony when Config.Timeout is zero.
const DefaultTimeout = 5 * time.Minute

// MaxUserIDLength is the longest user handle WebAuthn allows, in bytes.
const MaxUserIDLength = 64

// maxResponseSize bounds the browser's response that Finish* parse. A
// registration with a certificate chain in its attestation is a few
// kilobytes; anything near this size is not a browser's.
const maxResponseSize = 64 << 10

// Config is the relying party's side of the ceremonies. RPID,
// RPDisplayName and Origins are required; the zero value of every other
// field is the default.
type Config struct {
	// RPID is the relying party ID: the domain the passkeys are scoped to,
	// e.g. "example.com". Lower case, no scheme, port or path. A passkey
	// created for an RP ID works only for that RP ID.
	RPID string
	// RPDisplayName is the name the browser shows while creating a passkey,
	// e.g. "Acme".
	RPDisplayName string
	// Origins are the origins of the pages that run the ceremonies, e.g.
	// "https://example.com" or "https://login.example.com": https (http
	// only for localhost), no path, and a host that is RPID or a subdomain
	// of it.
	Origins []string
	// UserVerification asks the authenticator to verify the user (PIN,
	// biometrics): "required" (responses without it are refused with
	// ErrUserVerification), "preferred" (the default) or "discouraged".
	UserVerification string
	// Attestation is the attestation conveyance preference at
	// registration: "none" (the default), "indirect" or "direct". Whatever
	// statement comes back is verified; this package does not judge
	// whether the authenticator is trusted (no metadata service), but
	// returns its Credential.AAGUID and AttestationType for the caller's
	// policy.
	Attestation string
	// Timeout is the time the browser gives the user to complete a
	// ceremony, sent in the options; DefaultTimeout (5 minutes) when zero,
	// at least one second and at most mfa.PasskeyTTL otherwise, since
	// mfakit drops a ceremony after that. The server side expiry of a
	// session is the caller's: see [Verifier].
	Timeout time.Duration
}

// Verifier runs the registration and login ceremonies of WebAuthn for one
// relying party. It keeps no state between calls: Begin* return the
// options for the browser and an opaque session blob, and the caller
// stores the blob and passes it back to the matching Finish* once. A
// Verifier is safe for concurrent use.
//
// What the caller must do around it:
//
//   - Store the session blob on the server, with its own expiry (by its own
//     clock; Config.Timeout plus a margin is a good value), and delete it
//     before calling Finish* with it, so that each session is used at most
//     once. The blob holds the challenge: it must not reach the browser
//     unless sealed (encrypted and authenticated). This package does not check expiry: the sessions it makes never
//     expire by themselves. A response replayed against the session it was
//     made for is refused only because that session is gone; against any
//     other session it is refused with ErrChallengeMismatch.
//   - Refuse a new credential whose ID is already stored, for any user
//     (WebAuthn §7.1 step 22); a unique index on the credential ID does it.
//   - After FinishLogin, check the returned Assertion.SignCount against the
//     stored one with [CounterValid] and store the new count, atomically
//     (compare-and-swap), refusing the login when the check fails: this
//     package cannot see concurrent logins.
//   - Store Assertion.BackupState when it changes.
type Verifier struct {
	wa       *webauthn.WebAuthn
	rpIDHash [sha256.Size]byte
	origins  []string
	uv       protocol.UserVerificationRequirement
}

// A Verifier runs the ceremonies of mfa.Config.Passkeys.
var _ mfa.PasskeyVerifier = (*Verifier)(nil)

// New checks cfg and returns a Verifier. An invalid field is reported as an
// ErrInvalidConfig [Error] naming it.
func New(cfg Config) (*Verifier, error) {
	if err := validateRPID(cfg.RPID); err != nil {
		return nil, err
	}
	if strings.TrimSpace(cfg.RPDisplayName) == "" {
		return nil, fieldError(ErrInvalidConfig, "RPDisplayName", "required")
	}
	if len(cfg.Origins) == 0 {
		return nil, fieldError(ErrInvalidConfig, "Origins", "at least one origin is required")
	}
	origins := make([]string, len(cfg.Origins))
	for i, o := range cfg.Origins {
		canonical, err := validateOrigin(o, cfg.RPID)
		if err != nil {
			return nil, fieldError(ErrInvalidConfig, fmt.Sprintf("Origins[%d]", i), "%q: %s", o, err)
		}
		origins[i] = canonical
	}

	uv := protocol.UserVerificationRequirement(cfg.UserVerification)
	switch cfg.UserVerification {
	case "":
		uv = protocol.VerificationPreferred
	case UserVerificationRequired, UserVerificationPreferred, UserVerificationDiscouraged:
	default:
		return nil, fieldError(ErrInvalidConfig, "UserVerification", "%q is not one of %q, %q, %q",
			cfg.UserVerification, UserVerificationRequired, UserVerificationPreferred, UserVerificationDiscouraged)
	}

	attestation := protocol.ConveyancePreference(cfg.Attestation)
	switch cfg.Attestation {
	case "":
		attestation = protocol.PreferNoAttestation
	case AttestationNone, AttestationIndirect, AttestationDirect:
	default:
		return nil, fieldError(ErrInvalidConfig, "Attestation", "%q is not one of %q, %q, %q",
			cfg.Attestation, AttestationNone, AttestationIndirect, AttestationDirect)
	}

	timeout := cfg.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < time.Second:
		return nil, fieldError(ErrInvalidConfig, "Timeout", "%s is less than one second", timeout)
	case timeout > mfa.PasskeyTTL:
		return nil, fieldError(ErrInvalidConfig, "Timeout", "%s is more than mfa.PasskeyTTL (%s), after which mfakit drops the ceremony", timeout, mfa.PasskeyTTL)
	}

	// Expiry is the caller's (see Verifier): Timeouts.*.Enforce stays false,
	// so that go-webauthn leaves SessionData.Expires zero and never refuses
	// a session by the wall clock.
	ceremony := webauthn.TimeoutConfig{Timeout: timeout, TimeoutUVD: timeout}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  cfg.RPID,
		RPDisplayName:         cfg.RPDisplayName,
		RPOrigins:             origins,
		AttestationPreference: attestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementPreferred,
			RequireResidentKey: protocol.ResidentKeyNotRequired(),
			UserVerification:   uv,
		},
		Timeouts: webauthn.TimeoutsConfig{Login: ceremony, Registration: ceremony},
		// No extension is requested and none of their outputs is used, so
		// an output a client adds unasked (some add credProps) is ignored
		// rather than failing the ceremony.
		ExtensionsUnsolicitedOutputPolicy: protocol.UnsolicitedOutputPolicyIgnore,
	})
	if err != nil {
		// Every field go-webauthn checks was checked above.
		return nil, newError(ErrInvalidConfig, "%s", err)
	}
	return &Verifier{
		wa:       wa,
		rpIDHash: sha256.Sum256([]byte(cfg.RPID)),
		origins:  origins,
		uv:       uv,
	}, nil
}

func validateRPID(rpID string) error {
	if rpID == "" {
		return fieldError(ErrInvalidConfig, "RPID", "required")
	}
	if rpID != strings.ToLower(rpID) {
		return fieldError(ErrInvalidConfig, "RPID", "%q must be lower case", rpID)
	}
	if strings.HasSuffix(rpID, ".") {
		return fieldError(ErrInvalidConfig, "RPID", "%q must not end with a dot", rpID)
	}
	if err := protocol.ValidateRPID(rpID); err != nil {
		return fieldError(ErrInvalidConfig, "RPID", "%q is not a domain: %s", rpID, err)
	}
	return nil
}

// validateOrigin checks that o is the serialisation of a web origin whose
// host is rpID or a subdomain of it, as a browser requires, and returns it
// as browsers write it (scheme and host in lower case).
func validateOrigin(o, rpID string) (string, error) {
	u, err := url.Parse(o)
	if err != nil {
		return "", fmt.Errorf("not a URL")
	}
	host := strings.ToLower(u.Hostname())
	localhost := host == "localhost" || strings.HasSuffix(host, ".localhost")
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && localhost:
	case u.Scheme == "http":
		return "", fmt.Errorf("http is allowed only for localhost; use https")
	default:
		return "", fmt.Errorf("scheme must be https")
	}
	if u.Opaque != "" || host == "" {
		return "", fmt.Errorf("no host")
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fmt.Errorf("an origin is scheme://host[:port], without user, path, query or fragment")
	}
	if host != rpID && !strings.HasSuffix(host, "."+rpID) {
		return "", fmt.Errorf("host is neither the RPID %q nor a subdomain of it", rpID)
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), nil
}

// User is the account a ceremony is for: ID, the user handle, 1 to 64
// opaque bytes that are not personal data (random bytes stored beside the
// account are best); Name, the account's name the browser shows, required
// at registration; DisplayName, a friendlier name, Name when empty.
type User = mfa.PasskeyUser

func validateUser(u User, needName bool) error {
	switch {
	case len(u.ID) == 0:
		return fieldError(ErrInvalidInput, "User.ID", "required")
	case len(u.ID) > MaxUserIDLength:
		return fieldError(ErrInvalidInput, "User.ID", "%d bytes, more than %d", len(u.ID), MaxUserIDLength)
	case needName && u.Name == "":
		return fieldError(ErrInvalidInput, "User.Name", "required")
	}
	return nil
}

// Credential is a passkey as the caller stores it: what FinishRegistration
// returns and what BeginRegistration, BeginLogin and FinishLogin take back.
// None of it is secret, but PublicKey and BackupEligible must come from
// FinishRegistration unchanged. It is mfa.PasskeyCredential, so that a
// Verifier is an mfa.PasskeyVerifier as it is; its fields are documented
// there.
type Credential = mfa.PasskeyCredential

// Assertion is what a successful FinishLogin verified: the credential that
// signed, the counter it presented (check it with [CounterValid] against
// the stored one and store it, atomically), its backup state, and whether
// the user was verified.
type Assertion = mfa.PasskeyAssertion

// CounterValid reports whether a signature counter presented at login is
// acceptable after the stored one, by the rule of WebAuthn §6.1.1: valid
// when both are 0 (the authenticator keeps no counter) or when presented is
// greater than stored. Anything else suggests a cloned authenticator, or a
// replay, and the login should be refused.
func CounterValid(stored, presented uint32) bool {
	return (stored == 0 && presented == 0) || presented > stored
}
