package mfa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode"
)

// KeySize is the length of a [Key]'s secret in bytes.
const KeySize = 32

// maxKeyIDLen bounds a key ID so that it fits the one-byte length prefix of
// the ciphertext format.
const maxKeyIDLen = 64

// Key is one at-rest encryption key. ID names it in every ciphertext it
// seals, so that a [Keyring] can find it again after rotation; Secret is
// KeySize random bytes, to be kept in a secret manager, never in the
// database it protects.
type Key struct {
	ID     string
	Secret []byte
}

// GenerateKey returns a new key named id with KeySize bytes from
// crypto/rand.
func GenerateKey(id string) (Key, error) {
	if err := validateKeyID(id); err != nil {
		return Key{}, err
	}
	secret := make([]byte, KeySize)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, keyError("cannot read random bytes", err)
	}
	return Key{ID: id, Secret: secret}, nil
}

// String returns the key ID only; the secret is never formatted.
func (k Key) String() string { return "mfa.Key{ID: " + k.ID + ", Secret: [redacted]}" }

// GoString is like String, so that %#v does not print the secret either.
func (k Key) GoString() string { return k.String() }

// MarshalJSON writes the key ID only, so that a Key in a logged or
// serialised struct does not reveal its secret; use [Key.Encode] to
// store a key.
func (k Key) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}{k.ID, "[redacted]"})
}

// LogValue implements slog.LogValuer with the key ID only.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Encode returns the key as "ID:base64url(secret)", the form [DecodeKey]
// reads, for an environment variable or a secret manager.
func (k Key) Encode() string {
	return k.ID + ":" + base64.RawURLEncoding.EncodeToString(k.Secret)
}

// DecodeKey parses a key written by [Key.Encode].
func DecodeKey(s string) (Key, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return Key{}, invalidInput("key", "encoded key must be ID:base64url-secret")
	}
	secret, err := base64.RawURLEncoding.DecodeString(s[i+1:])
	if err != nil {
		return Key{}, invalidInput("key", "encoded key secret is not unpadded base64url")
	}
	k := Key{ID: s[:i], Secret: secret}
	if err := k.validate(); err != nil {
		return Key{}, err
	}
	return k, nil
}

func validateKeyID(id string) error {
	if id == "" || len(id) > maxKeyIDLen {
		return invalidInput("Key.ID", fmt.Sprintf("key ID must be 1 to %d bytes", maxKeyIDLen))
	}
	for _, r := range id {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) || r == ' ' {
			return invalidInput("Key.ID", "key ID must be printable ASCII without spaces")
		}
	}
	return nil
}

func (k Key) validate() error {
	if err := validateKeyID(k.ID); err != nil {
		return err
	}
	if len(k.Secret) != KeySize {
		return invalidInput("Key.Secret", fmt.Sprintf("key %q: secret must be %d bytes, got %d", k.ID, KeySize, len(k.Secret)))
	}
	return nil
}

// Keyring holds the keys that protect data at rest: the primary key seals
// everything new, older keys still open what they sealed. Rotate by making
// a new key primary and keeping the old ones in the ring. TOTP secrets move
// to the primary key at each user's next successful authentication, or at
// once with [MFA.ReencryptUser]. Recovery codes are kept only as hashes, so
// a set stays keyed by the key that was primary when it was made
// (RecoveryCodeSet.KeyID): retire an old key only once no user's recovery
// code set names it, i.e. after those users have made new codes.
//
// With several service instances, roll a new key out in two deployments:
// first add it everywhere as an older key, then make it primary. An
// instance that does not know the new key yet cannot open a secret that
// another instance has already re-encrypted with it.
//
// Each key is expanded with HKDF-SHA256 (RFC 5869) into an AES-256-GCM key
// for secrets and a separate HMAC-SHA256 key for recovery code hashes.
// A Keyring is safe for concurrent use.
type Keyring struct {
	primary *ringKey
	keys    map[string]*ringKey
}

type ringKey struct {
	id      string
	aead    cipher.AEAD
	hashKey []byte
}

// NewKeyring returns a keyring that seals with primary and opens with
// primary and every key in older. Key IDs must be distinct.
func NewKeyring(primary Key, older ...Key) (*Keyring, error) {
	kr := &Keyring{keys: make(map[string]*ringKey, 1+len(older))}
	for i, k := range append([]Key{primary}, older...) {
		if err := k.validate(); err != nil {
			return nil, err
		}
		if _, dup := kr.keys[k.ID]; dup {
			return nil, invalidInput("Key.ID", fmt.Sprintf("duplicate key ID %q", k.ID))
		}
		rk, err := expandKey(k)
		if err != nil {
			return nil, err
		}
		kr.keys[k.ID] = rk
		if i == 0 {
			kr.primary = rk
		}
	}
	return kr, nil
}

func expandKey(k Key) (*ringKey, error) {
	encKey, err := hkdf.Key(sha256.New, k.Secret, nil, "mfakit v1 aes-256-gcm", 32)
	if err != nil {
		return nil, keyError("cannot derive key", err)
	}
	hashKey, err := hkdf.Key(sha256.New, k.Secret, nil, "mfakit v1 recovery-code hmac", 32)
	if err != nil {
		return nil, keyError("cannot derive key", err)
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, keyError("cannot create cipher", err)
	}
	// Random 96-bit nonces, drawn by the FIPS 140-3 module itself: the mode
	// of GCM that GODEBUG=fips140=only allows.
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, keyError("cannot create cipher", err)
	}
	return &ringKey{id: k.ID, aead: aead, hashKey: hashKey}, nil
}

// PrimaryID returns the ID of the key that seals new data.
func (kr *Keyring) PrimaryID() string { return kr.primary.id }

// Ciphertext format, version 1:
//
//	0x01 | len(keyID) | keyID | 12-byte nonce | AES-256-GCM ciphertext and tag
//
// The nonce and what follows are the output of
// cipher.NewGCMWithRandomNonce's Seal, which is the layout this format has
// always had, so ciphertexts sealed with a nonce of the caller's (mfakit
// 0.1) open unchanged.
// The associated data binds a ciphertext to what it protects (its purpose,
// the user and the device), so a ciphertext copied to another row does not
// open.
const (
	sealVersion = 1
	nonceSize   = 12
	tagSize     = 16
)

// seal encrypts plaintext with the primary key under a random nonce.
func (kr *Keyring) seal(plaintext, aad []byte) []byte {
	k := kr.primary
	out := make([]byte, 2+len(k.id), 2+len(k.id)+k.aead.Overhead()+len(plaintext))
	out[0] = sealVersion
	out[1] = byte(len(k.id))
	copy(out[2:], k.id)
	return k.aead.Seal(out, nil, plaintext, aad)
}

var errMalformed = errors.New("malformed ciphertext")

// open decrypts ciphertext, appending the plaintext to dst. It reports
// whether the sealing key is the primary one, so callers can re-encrypt.
func (kr *Keyring) open(dst, ciphertext, aad []byte) (plaintext []byte, primary bool, err error) {
	if len(ciphertext) < 2 || ciphertext[0] != sealVersion {
		return nil, false, keyError("cannot open ciphertext", errMalformed)
	}
	n := int(ciphertext[1])
	if len(ciphertext) < 2+n+nonceSize+tagSize {
		return nil, false, keyError("cannot open ciphertext", errMalformed)
	}
	id := ciphertext[2 : 2+n]
	k := kr.primary
	if string(id) != k.id {
		k = kr.keys[string(id)]
		if k == nil {
			return nil, false, keyError(fmt.Sprintf("key %q is not in the keyring", id), nil)
		}
	}
	plaintext, err = k.aead.Open(dst, nil, ciphertext[2+n:], aad)
	if err != nil {
		return nil, false, keyError(fmt.Sprintf("ciphertext does not open with key %q (wrong key, or data altered or moved)", k.id), nil)
	}
	return plaintext, k == kr.primary, nil
}

// hashKey returns the recovery code hash key of the key named id.
func (kr *Keyring) hashKey(id string) ([]byte, error) {
	k := kr.keys[id]
	if k == nil {
		return nil, keyError(fmt.Sprintf("key %q is not in the keyring", id), nil)
	}
	return k.hashKey, nil
}
