package mfatest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/mfakit/mfa"
)

// Passkeys is an mfa.PasskeyVerifier for tests of code around mfakit's
// passkey API, such as an HTTP layer: it checks that an answer names the
// ceremony's challenge and user and one of the user's credentials, and
// signs and verifies nothing. It keeps no state. Answer its options with
// [PasskeyAnswer]. Real ceremonies are package passkey's, in the module
// github.com/mfakit/mfa/passkey.
type Passkeys struct{}

// PasskeyOptions is the shape of the options Passkeys returns, for a test
// that looks into them.
type PasskeyOptions struct {
	PublicKey struct {
		Challenge []byte   `json:"challenge"`
		UserID    []byte   `json:"userId"`
		UserName  string   `json:"userName"`
		Allow     [][]byte `json:"allowCredentials,omitempty"`
		Exclude   [][]byte `json:"excludeCredentials,omitempty"`
	} `json:"publicKey"`
}

// passkeyAnswer is what PasskeyAnswer makes.
type passkeyAnswer struct {
	Challenge []byte `json:"challenge"`
	ID        []byte `json:"id"`
	SignCount uint32 `json:"signCount"`
	BadSig    bool   `json:"badSignature,omitempty"`
}

// PasskeyAnswerOption changes an answer of [PasskeyAnswer].
type PasskeyAnswerOption func(*passkeyAnswer)

// BadSignature makes an answer whose signature Passkeys refuses.
func BadSignature() PasskeyAnswerOption { return func(a *passkeyAnswer) { a.BadSig = true } }

// PasskeyAnswer answers options from Passkeys as a browser would, with the
// credential named id presenting the signature counter count.
func PasskeyAnswer(tb testing.TB, options json.RawMessage, id string, count uint32, opts ...PasskeyAnswerOption) json.RawMessage {
	tb.Helper()
	var o PasskeyOptions
	if err := json.Unmarshal(options, &o); err != nil {
		tb.Fatalf("passkey options %s: %v", options, err)
	}
	a := passkeyAnswer{Challenge: o.PublicKey.Challenge, ID: []byte(id), SignCount: count}
	for _, opt := range opts {
		opt(&a)
	}
	b, err := json.Marshal(a)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

var _ mfa.PasskeyVerifier = Passkeys{}

const challengeSize = 16

func (Passkeys) begin(user mfa.PasskeyUser, ids [][]byte, login bool) (json.RawMessage, []byte, error) {
	if len(user.ID) == 0 || len(user.ID) > 64 {
		return nil, nil, errors.New("mfatest: user handle must be 1 to 64 bytes")
	}
	var o PasskeyOptions
	o.PublicKey.Challenge = make([]byte, challengeSize)
	rand.Read(o.PublicKey.Challenge)
	o.PublicKey.UserID, o.PublicKey.UserName = user.ID, user.Name
	if login {
		o.PublicKey.Allow = ids
	} else {
		o.PublicKey.Exclude = ids
	}
	b, err := json.Marshal(o)
	return b, append(slices.Clone(o.PublicKey.Challenge), user.ID...), err
}

func (Passkeys) finish(user mfa.PasskeyUser, session []byte, response json.RawMessage) (passkeyAnswer, error) {
	var a passkeyAnswer
	if err := json.Unmarshal(response, &a); err != nil {
		return a, errors.New("mfatest: response is not an answer of PasskeyAnswer")
	}
	if len(session) < challengeSize || !bytes.Equal(session[:challengeSize], a.Challenge) || !bytes.Equal(session[challengeSize:], user.ID) {
		return a, errors.New("mfatest: challenge mismatch")
	}
	if a.BadSig {
		return a, errors.New("mfatest: invalid signature")
	}
	return a, nil
}

func credentialIDs(creds []mfa.PasskeyCredential) [][]byte {
	var ids [][]byte
	for _, c := range creds {
		ids = append(ids, c.ID)
	}
	return ids
}

// BeginRegistration implements mfa.PasskeyVerifier.
func (p Passkeys) BeginRegistration(user mfa.PasskeyUser, exclude []mfa.PasskeyCredential) (json.RawMessage, []byte, error) {
	return p.begin(user, credentialIDs(exclude), false)
}

// FinishRegistration implements mfa.PasskeyVerifier.
func (p Passkeys) FinishRegistration(user mfa.PasskeyUser, session []byte, response json.RawMessage) (mfa.PasskeyCredential, error) {
	a, err := p.finish(user, session, response)
	if err != nil {
		return mfa.PasskeyCredential{}, err
	}
	return mfa.PasskeyCredential{
		ID:                a.ID,
		UserHandle:        user.ID,
		PublicKey:         append([]byte("public key of "), a.ID...),
		SignCount:         a.SignCount,
		Transports:        []string{"internal"},
		AttestationType:   "none",
		AttestationFormat: "none",
	}, nil
}

// BeginLogin implements mfa.PasskeyVerifier.
func (p Passkeys) BeginLogin(user mfa.PasskeyUser, creds []mfa.PasskeyCredential) (json.RawMessage, []byte, error) {
	if len(creds) == 0 {
		return nil, nil, errors.New("mfatest: user has no passkey")
	}
	return p.begin(user, credentialIDs(creds), true)
}

// FinishLogin implements mfa.PasskeyVerifier.
func (p Passkeys) FinishLogin(user mfa.PasskeyUser, session []byte, creds []mfa.PasskeyCredential, response json.RawMessage) (mfa.PasskeyAssertion, error) {
	a, err := p.finish(user, session, response)
	if err != nil {
		return mfa.PasskeyAssertion{}, err
	}
	if !slices.ContainsFunc(creds, func(c mfa.PasskeyCredential) bool { return bytes.Equal(c.ID, a.ID) }) {
		return mfa.PasskeyAssertion{}, errors.New("mfatest: unknown credential")
	}
	return mfa.PasskeyAssertion{CredentialID: a.ID, SignCount: a.SignCount, UserVerified: true}, nil
}
