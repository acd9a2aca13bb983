package passkey_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/mfakit/mfa/passkey"
)

// FuzzFinishLogin feeds FinishLogin arbitrary responses to a login begun
// with a registered credential. It must never panic, must refuse with a
// *passkey.Error that matches exactly one sentinel, and may accept only an
// assertion by the registered credential.
func FuzzFinishLogin(f *testing.F) {
	v := newVerifier(f)
	a := newAuthenticator(f, testRPID, testOrigin)
	a.flags = flagUV | flagBE
	creds := []passkey.Credential{register(f, v, a, alice)}
	options, session, err := v.BeginLogin(alice, creds)
	if err != nil {
		f.Fatal(err)
	}
	valid := a.get(options)
	f.Add([]byte(valid))
	f.Add([]byte(a.get(options, func(c *call) { c.origin = "https://evil.example" })))
	f.Add([]byte(a.get(options, func(c *call) { c.flags |= flagBS; c.clearFlags = flagBE })))
	f.Add([]byte(a.get(options, func(c *call) { c.authExt = cborMap(cborText("credProtect"), cborInt(2)) })))
	f.Add([]byte(`{"id":"AA","rawId":"AA","type":"public-key","response":{}}`))
	f.Add([]byte(`{}`))

	f.Fuzz(func(t *testing.T, response []byte) {
		got, err := v.FinishLogin(alice, session, creds, json.RawMessage(response))
		if err == nil {
			if !bytes.Equal(got.CredentialID, creds[0].ID) {
				t.Fatalf("accepted an assertion by credential %x", got.CredentialID)
			}
			return
		}
		var e *passkey.Error
		if !errors.As(err, &e) {
			t.Fatalf("error %T %v is not a *passkey.Error", err, err)
		}
		n := 0
		for _, s := range sentinels {
			if errors.Is(err, s) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("error %v matches %d sentinels", err, n)
		}
	})
}
