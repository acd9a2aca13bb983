package passkey_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"
)

// This file is a software authenticator and browser in one: it answers the
// options of BeginRegistration and BeginLogin as navigator.credentials
// would, with a P-256 key, and serialises the PublicKeyCredential as its
// toJSON() does. It encodes its CBOR by hand, so that the tests do not
// check go-webauthn against itself.

// Authenticator data flags (WebAuthn §6.1).
const (
	flagUP = 0x01 // user present
	flagUV = 0x04 // user verified
	flagBE = 0x08 // backup eligible
	flagBS = 0x10 // backup state
	flagAT = 0x40 // attested credential data included
	flagED = 0x80 // extension data included
)

const coseES256 = -7

var b64 = base64.RawURLEncoding

// authenticator holds one credential.
type authenticator struct {
	tb     testing.TB
	key    *ecdsa.PrivateKey
	credID []byte
	aaguid [16]byte
	rpID   string
	origin string
	// flags are set in every response, beside UP (and AT at
	// registration): UV, BE, BS.
	flags byte
	// counter is the signature counter; step is added before each
	// assertion (0: the authenticator keeps no counter).
	counter, step uint32
	// userHandle is the user.id of the registration, returned in
	// assertions as a discoverable credential does.
	userHandle []byte
}

func newAuthenticator(tb testing.TB, rpID, origin string) *authenticator {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	a := &authenticator{tb: tb, key: key, credID: make([]byte, 32), rpID: rpID, origin: origin, flags: flagUV}
	rand.Read(a.credID)
	copy(a.aaguid[:], "mfakit-soft-auth")
	return a
}

// keyMaterial is the credential's private and public key, raw, for
// checking that no error message carries them.
func (a *authenticator) keyMaterial() [][]byte {
	a.tb.Helper()
	priv, err := a.key.Bytes()
	if err != nil {
		a.tb.Fatal(err)
	}
	pub, err := a.key.PublicKey.Bytes()
	if err != nil {
		a.tb.Fatal(err)
	}
	return [][]byte{priv, pub}
}

// call is one response in the making: the defaults come from the
// authenticator and the options, and the tests' tweaks change them.
type call struct {
	typ, challenge, origin, rpID string
	crossOrigin                  bool
	topOrigin                    string
	clientExtra                  map[string]any // more members of clientDataJSON, before signing
	flags                        byte
	clearFlags                   byte // flags removed from the defaults
	counter                      uint32
	signer                       *ecdsa.PrivateKey
	credID                       []byte
	userHandle                   []byte
	// Registration.
	format  string
	attStmt func(authData, clientDataHash []byte) []byte // CBOR of attStmt
	coseAlg int64
	authExt []byte // authenticator extension outputs (CBOR), sets ED
	// After signing.
	tamperClientData func([]byte) []byte
	tamperAuthData   func([]byte) []byte
	responseExtra    map[string]any // more members of the credential
	innerExtra       map[string]any // more members of credential.response
	extensionResults map[string]any
}

type tweak func(*call)

// create answers the options of BeginRegistration, as
// navigator.credentials.create() and toJSON() would.
func (a *authenticator) create(options json.RawMessage, tweaks ...tweak) json.RawMessage {
	a.tb.Helper()
	var opts struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RP        struct {
				ID string `json:"id"`
			} `json:"rp"`
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &opts); err != nil {
		a.tb.Fatalf("creation options: %v", err)
	}
	if opts.PublicKey.RP.ID != a.rpID {
		a.tb.Fatalf("creation options for RP ID %q, authenticator for %q", opts.PublicKey.RP.ID, a.rpID)
	}
	userHandle, err := b64.DecodeString(opts.PublicKey.User.ID)
	if err != nil {
		a.tb.Fatalf("user.id: %v", err)
	}
	a.userHandle = userHandle

	c := &call{
		typ: "webauthn.create", challenge: opts.PublicKey.Challenge, origin: a.origin, rpID: a.rpID,
		flags: flagUP | flagAT | a.flags, counter: a.counter, signer: a.key, credID: a.credID,
		format: "none", coseAlg: coseES256,
	}
	for _, t := range tweaks {
		t(c)
	}
	c.flags &^= c.clearFlags

	clientData := c.clientDataJSON()
	authData := rpIDHash(c.rpID)
	authData = append(authData, c.flagsByte())
	authData = binary.BigEndian.AppendUint32(authData, c.counter)
	authData = append(authData, a.aaguid[:]...)
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(c.credID)))
	authData = append(authData, c.credID...)
	authData = append(authData, coseKey(&a.key.PublicKey, c.coseAlg)...)
	authData = append(authData, c.authExt...)

	clientDataHash := sha256.Sum256(clientData)
	attStmt := cborMap()
	if c.attStmt != nil {
		attStmt = c.attStmt(authData, clientDataHash[:])
	}
	attObj := cborMap(cborText("fmt"), cborText(c.format), cborText("attStmt"), attStmt, cborText("authData"), cborBytes(authData))

	spki, err := x509.MarshalPKIXPublicKey(&a.key.PublicKey)
	if err != nil {
		a.tb.Fatal(err)
	}
	if c.tamperClientData != nil {
		clientData = c.tamperClientData(clientData)
	}
	inner := map[string]any{
		"clientDataJSON":     b64.EncodeToString(clientData),
		"attestationObject":  b64.EncodeToString(attObj),
		"authenticatorData":  b64.EncodeToString(authData),
		"publicKey":          b64.EncodeToString(spki),
		"publicKeyAlgorithm": c.coseAlg,
		"transports":         []string{"hybrid", "internal"},
	}
	return c.credential(a.tb, inner)
}

// get answers the options of BeginLogin, as navigator.credentials.get()
// and toJSON() would.
func (a *authenticator) get(options json.RawMessage, tweaks ...tweak) json.RawMessage {
	a.tb.Helper()
	var opts struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RPID      string `json:"rpId"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &opts); err != nil {
		a.tb.Fatalf("request options: %v", err)
	}
	if opts.PublicKey.RPID != a.rpID {
		a.tb.Fatalf("request options for RP ID %q, authenticator for %q", opts.PublicKey.RPID, a.rpID)
	}
	a.counter += a.step
	c := &call{
		typ: "webauthn.get", challenge: opts.PublicKey.Challenge, origin: a.origin, rpID: a.rpID,
		flags: flagUP | a.flags, counter: a.counter, signer: a.key, credID: a.credID, userHandle: a.userHandle,
	}
	for _, t := range tweaks {
		t(c)
	}
	c.flags &^= c.clearFlags

	clientData := c.clientDataJSON()
	authData := rpIDHash(c.rpID)
	authData = append(authData, c.flagsByte())
	authData = binary.BigEndian.AppendUint32(authData, c.counter)
	authData = append(authData, c.authExt...)
	sig := sign(a.tb, c.signer, authData, clientData)
	if c.tamperClientData != nil {
		clientData = c.tamperClientData(clientData)
	}
	if c.tamperAuthData != nil {
		authData = c.tamperAuthData(authData)
	}
	inner := map[string]any{
		"clientDataJSON":    b64.EncodeToString(clientData),
		"authenticatorData": b64.EncodeToString(authData),
		"signature":         b64.EncodeToString(sig),
	}
	if c.userHandle != nil {
		inner["userHandle"] = b64.EncodeToString(c.userHandle)
	}
	return c.credential(a.tb, inner)
}

func (c *call) flagsByte() byte {
	if len(c.authExt) > 0 {
		return c.flags | flagED
	}
	return c.flags
}

// clientDataJSON is CollectedClientData as a browser writes it: type,
// challenge, origin and crossOrigin first, in that order.
func (c *call) clientDataJSON() []byte {
	m := func(v any) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	s := `{"type":` + m(c.typ) + `,"challenge":` + m(c.challenge) + `,"origin":` + m(c.origin) + `,"crossOrigin":` + m(c.crossOrigin)
	if c.topOrigin != "" {
		s += `,"topOrigin":` + m(c.topOrigin)
	}
	for k, v := range c.clientExtra {
		s += `,` + m(k) + `:` + m(v)
	}
	return []byte(s + `}`)
}

// credential is the JSON of the PublicKeyCredential around inner, its
// response member.
func (c *call) credential(tb testing.TB, inner map[string]any) json.RawMessage {
	tb.Helper()
	for k, v := range c.innerExtra {
		inner[k] = v
	}
	results := c.extensionResults
	if results == nil {
		results = map[string]any{}
	}
	cred := map[string]any{
		"id":                      b64.EncodeToString(c.credID),
		"rawId":                   b64.EncodeToString(c.credID),
		"type":                    "public-key",
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  results,
		"response":                inner,
	}
	for k, v := range c.responseExtra {
		cred[k] = v
	}
	out, err := json.Marshal(cred)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func rpIDHash(rpID string) []byte {
	h := sha256.Sum256([]byte(rpID))
	return h[:]
}

// sign is an assertion signature (WebAuthn §6.3.3): ECDSA over authData
// followed by the hash of clientDataJSON, ASN.1 DER encoded.
func sign(tb testing.TB, key *ecdsa.PrivateKey, authData, clientData []byte) []byte {
	tb.Helper()
	clientDataHash := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte{}, authData...), clientDataHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		tb.Fatal(err)
	}
	return sig
}

// coseKey is pub as a COSE_Key (RFC 9053 §7.1.1): kty EC2, the algorithm,
// curve P-256, x and y.
func coseKey(pub *ecdsa.PublicKey, alg int64) []byte {
	raw, err := pub.Bytes() // 0x04 || x || y
	if err != nil {
		panic(err)
	}
	return cborMap(
		cborInt(1), cborInt(2), // kty: EC2
		cborInt(3), cborInt(alg), // alg
		cborInt(-1), cborInt(1), // crv: P-256
		cborInt(-2), cborBytes(raw[1:33]), // x
		cborInt(-3), cborBytes(raw[33:65]), // y
	)
}

// A little CBOR (RFC 8949), enough for the maps of WebAuthn.

func cborHead(major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return []byte{m | byte(n)}
	case n <= 0xff:
		return []byte{m | 24, byte(n)}
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16([]byte{m | 25}, uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32([]byte{m | 26}, uint32(n))
	default:
		return binary.BigEndian.AppendUint64([]byte{m | 27}, n)
	}
}

func cborInt(i int64) []byte {
	if i < 0 {
		return cborHead(1, uint64(-1-i))
	}
	return cborHead(0, uint64(i))
}

func cborBytes(b []byte) []byte { return append(cborHead(2, uint64(len(b))), b...) }

func cborText(s string) []byte { return append(cborHead(3, uint64(len(s))), s...) }

// cborMap is a map of the key, value pairs given in turn.
func cborMap(kv ...[]byte) []byte {
	out := cborHead(5, uint64(len(kv)/2))
	for _, x := range kv {
		out = append(out, x...)
	}
	return out
}

// packedSelf is a "packed" self attestation statement (WebAuthn §8.2):
// the credential's own key signs authData and the client data hash.
func packedSelf(tb testing.TB, key *ecdsa.PrivateKey) func(authData, clientDataHash []byte) []byte {
	return func(authData, clientDataHash []byte) []byte {
		digest := sha256.Sum256(append(append([]byte{}, authData...), clientDataHash...))
		sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
		if err != nil {
			tb.Fatal(err)
		}
		return cborMap(cborText("alg"), cborInt(coseES256), cborText("sig"), cborBytes(sig))
	}
}
