// Package mfatest helps test code that uses mfakit: a conformance suite
// that every [mfa.Store] implementation must pass ([TestStore]), a clock to
// inject as Config.Now, and a way to compute the codes an authenticator app
// would show.
package mfatest

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Clock is a settable clock for Config.Now. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock that reads t until moved.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Code returns the 6-digit SHA1 TOTP code with a 30 s period (the defaults)
// for a base32 secret, such as Registration.Secret, at time at, as an
// authenticator app computes it. It uses pquerna/otp, an implementation
// independent of mfakit's own.
func Code(tb testing.TB, secret string, at time.Time) string {
	tb.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		tb.Fatalf("mfatest.Code: %v", err)
	}
	return code
}

// StepCode returns the 6-digit SHA1 TOTP code of a raw secret at time
// step step (Unix time / 30), computed with crypto/hmac. It does what Code
// does without decoding base32 or allocating much, for benchmarks whose
// simulated authenticator app should cost little; check it against Code
// once before relying on it.
func StepCode(secret []byte, step int64) string {
	mac := hmac.New(sha1.New, secret)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	return fmt.Sprintf("%06d", v%1000000)
}

// Keyring returns a keyring with one fresh key, for tests.
func Keyring(tb testing.TB) *mfa.Keyring {
	tb.Helper()
	k, err := mfa.GenerateKey("test")
	if err != nil {
		tb.Fatal(err)
	}
	kr, err := mfa.NewKeyring(k)
	if err != nil {
		tb.Fatal(err)
	}
	return kr
}
