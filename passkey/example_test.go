package passkey_test

import (
	"encoding/json"
	"errors"
	"log"

	"github.com/mfakit/mfa/passkey"
)

// The two ceremonies as a service's handlers run them. The session blobs
// and the credentials live in the service's store; the comments say what
// the store must do.
func ExampleVerifier() {
	v, err := passkey.New(passkey.Config{
		RPID:          "example.com",
		RPDisplayName: "Acme",
		Origins:       []string{"https://example.com"},
	})
	if err != nil {
		log.Fatal(err)
	}
	user := passkey.User{ID: []byte("random-handle-stored-beside-the-account"), Name: "alex@example.com", DisplayName: "Alex"}
	var stored []passkey.Credential // the user's passkeys, from the store

	// POST /passkeys/begin: the options go to the page, which passes them
	// to PublicKeyCredential.parseCreationOptionsFromJSON and
	// navigator.credentials.create, and posts back JSON.stringify of the
	// credential.
	options, session, err := v.BeginRegistration(user, stored)
	if err != nil {
		log.Fatal(err)
	}
	_ = options // the response body
	// Store session with an expiry (Config.Timeout and a margin), keyed by
	// the user's login session.

	// POST /passkeys/finish: load the session and delete it, so that it is
	// used once, and refuse it if it expired.
	var response json.RawMessage // the request body
	cred, err := v.FinishRegistration(user, session, response)
	if err != nil {
		log.Print(err) // errors.Is(err, passkey.ErrOrigin), ...
		return
	}
	// Store cred, refusing a cred.ID that is stored already.
	stored = append(stored, cred)

	// Login, after the first factor: the same round trip with
	// navigator.credentials.get.
	options, session, err = v.BeginLogin(user, stored)
	if errors.Is(err, passkey.ErrNoCredentials) {
		return // offer another factor
	}
	_ = options
	a, err := v.FinishLogin(user, session, stored, response)
	if err != nil {
		log.Print(err) // count a failed attempt
		return
	}
	// In one atomic step of the store: refuse unless
	// passkey.CounterValid(stored count, a.SignCount), then store
	// a.SignCount and a.BackupState on the credential a.CredentialID.
	_ = a
}
