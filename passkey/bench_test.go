package passkey_test

import (
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/mfakit/mfa/passkey"
)

// BenchmarkFinishLogin verifies one valid assertion with FinishLogin:
// decoding the session blob, parsing the response, checking it against
// the stored credential through go-webauthn, and building the Assertion.
// BenchmarkValidateLogin is the baseline: bare go-webauthn on an assertion
// made the same way (same kind of key, same flags, same size), so that
// their ratio is what this package adds.
func BenchmarkFinishLogin(b *testing.B) {
	v := newVerifier(b)
	a := newAuthenticator(b, testRPID, testOrigin)
	a.flags = flagUV | flagBE | flagBS
	creds := []passkey.Credential{register(b, v, a, alice)}
	options, session, err := v.BeginLogin(alice, creds)
	if err != nil {
		b.Fatal(err)
	}
	response := a.get(options)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.FinishLogin(alice, session, creds, response); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateLogin is (*webauthn.WebAuthn).ValidateLogin on its own,
// with the SessionData held in memory. "bytes" parses the response first,
// as every caller that receives it from a browser must, and is the
// like-for-like baseline of BenchmarkFinishLogin; "parsed" validates a
// response parsed once, outside the loop.
func BenchmarkValidateLogin(b *testing.B) {
	wa, err := webauthn.New(&webauthn.Config{RPID: testRPID, RPDisplayName: "Acme", RPOrigins: []string{testOrigin}})
	if err != nil {
		b.Fatal(err)
	}
	a := newAuthenticator(b, testRPID, testOrigin)
	a.flags = flagUV | flagBE | flagBS
	user := &bareUser{id: alice.ID, name: alice.Name}

	creation, session, err := wa.BeginRegistration(user)
	if err != nil {
		b.Fatal(err)
	}
	parsedCreation, err := protocol.ParseCredentialCreationResponseBytes(a.create(marshal(b, creation)))
	if err != nil {
		b.Fatal(err)
	}
	cred, err := wa.CreateCredential(user, *session, parsedCreation)
	if err != nil {
		b.Fatal(err)
	}
	user.credentials = []webauthn.Credential{*cred}

	assertion, session, err := wa.BeginLogin(user)
	if err != nil {
		b.Fatal(err)
	}
	response := a.get(marshal(b, assertion))

	b.Run("bytes", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := wa.ValidateLogin(user, *session, parsed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parsed", func(b *testing.B) {
		parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := wa.ValidateLogin(user, *session, parsed); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// bareUser is a webauthn.User, as a caller of bare go-webauthn writes one.
type bareUser struct {
	id          []byte
	name        string
	credentials []webauthn.Credential
}

func (u *bareUser) WebAuthnID() []byte                         { return u.id }
func (u *bareUser) WebAuthnName() string                       { return u.name }
func (u *bareUser) WebAuthnDisplayName() string                { return u.name }
func (u *bareUser) WebAuthnCredentials() []webauthn.Credential { return u.credentials }

func marshal(tb testing.TB, v any) json.RawMessage {
	tb.Helper()
	out, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
