package mfaotel

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"

	"go.opentelemetry.io/otel/attribute"
)

// ScopeName is the instrumentation scope of the tracer and the meter that
// mfaotel uses: its import path.
const ScopeName = "github.com/mfakit/mfa/mfaotel"

// Option configures [WrapStore] and [EventHandler].
type Option func(*config)

type config struct {
	// userID, when set, turns a user ID into the attribute that spans and
	// span events carry.
	userID func(string) attribute.KeyValue
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Attributes that carry a user ID, from OpenTelemetry's semantic
// conventions.
const (
	endUserIDKey       = attribute.Key("enduser.id")
	endUserPseudoIDKey = attribute.Key("enduser.pseudo.id")
)

// WithUserID records the user ID, as it is, on spans and span events as
// the attribute enduser.id. A user ID can be personal data: prefer
// [WithHashedUserID] unless the traces may hold it.
func WithUserID() Option {
	return func(c *config) {
		c.userID = endUserIDKey.String
	}
}

// WithHashedUserID records a pseudonym of the user ID on spans and span
// events as the attribute enduser.pseudo.id: the first 16 bytes of
// HMAC-SHA256 of the user ID under key, in hex. The same user has the same
// pseudonym under the same key, and without the key a pseudonym cannot be
// checked against a guessed user ID. Keep key secret, at least 32 random
// bytes, and apart from mfakit's own keys. WithHashedUserID panics if key
// is empty.
func WithHashedUserID(key []byte) Option {
	if len(key) == 0 {
		panic("mfaotel: WithHashedUserID needs a key")
	}
	key = append([]byte(nil), key...)
	return func(c *config) {
		c.userID = func(userID string) attribute.KeyValue {
			mac := hmac.New(sha256.New, key)
			mac.Write([]byte(userID))
			return endUserPseudoIDKey.String(hex.EncodeToString(mac.Sum(nil)[:16]))
		}
	}
}
