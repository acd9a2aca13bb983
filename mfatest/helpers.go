// Package mfatest helps test code that uses mfakit: a conformance suite
// that every [mfa.Store] implementation must pass ([TestStore]), a clock to
// inject as Config.Now, and a way to compute the codes an authenticator app
// would show.
package mfatest

import (
	"crypto/fips140"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
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

// TOTP is how an authenticator app computes a device's codes (RFC 6238).
// Its zero value is mfakit's default: SHA1, 6 digits, a 30 s period.
type TOTP struct {
	Algorithm mfa.Algorithm // default SHA1
	Digits    int           // default 6
	Period    time.Duration // default 30 s
}

func (p TOTP) withDefaults() TOTP {
	if p.Algorithm == "" {
		p.Algorithm = mfa.SHA1
	}
	if p.Digits == 0 {
		p.Digits = 6
	}
	if p.Period == 0 {
		p.Period = 30 * time.Second
	}
	return p
}

// Config returns p as the TOTPConfig of an mfa.Config, whose zero fields
// take mfakit's defaults as p's do.
func (p TOTP) Config() mfa.TOTPConfig {
	return mfa.TOTPConfig{Algorithm: p.Algorithm, Digits: p.Digits, Period: p.Period}
}

// Code returns the code for a base32 secret, such as
// Registration.Secret, at time at, as an authenticator app computes it.
// It uses pquerna/otp, an implementation independent of mfakit's own.
func (p TOTP) Code(tb testing.TB, secret string, at time.Time) string {
	tb.Helper()
	p = p.withDefaults()
	alg := map[mfa.Algorithm]otp.Algorithm{mfa.SHA1: otp.AlgorithmSHA1, mfa.SHA256: otp.AlgorithmSHA256, mfa.SHA512: otp.AlgorithmSHA512}[p.Algorithm]
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: uint(p.Period / time.Second), Digits: otp.Digits(p.Digits), Algorithm: alg})
	if err != nil {
		tb.Fatalf("mfatest.Code: %v", err)
	}
	return code
}

// StepCode returns the code of a raw secret at time step step (Unix time
// divided by the period), computed with crypto/hmac. It does what Code
// does without decoding base32 or allocating much, for benchmarks whose
// simulated authenticator app should cost little; check it against Code
// once before relying on it.
func (p TOTP) StepCode(secret []byte, step int64) string {
	p = p.withDefaults()
	h := map[mfa.Algorithm]func() hash.Hash{mfa.SHA1: sha1.New, mfa.SHA256: sha256.New, mfa.SHA512: sha512.New}[p.Algorithm]
	mac := hmac.New(h, secret)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	mod := uint32(1000000)
	if p.Digits == 8 {
		mod = 100000000
	}
	return fmt.Sprintf("%0*d", p.Digits, v%mod)
}

// Code returns the code of the default parameters (SHA1, 6 digits, 30 s),
// as TOTP{}.Code.
func Code(tb testing.TB, secret string, at time.Time) string {
	tb.Helper()
	return TOTP{}.Code(tb, secret, at)
}

// StepCode is TOTP{}.StepCode: the default parameters.
func StepCode(secret []byte, step int64) string { return TOTP{}.StepCode(secret, step) }

// FIPSTOTP returns the TOTP parameters tests should use: the defaults, or
// SHA256 when crypto/fips140.Enforced(), since FIPS 140-3 mode
// (GODEBUG=fips140=only) refuses SHA1. Set Config.TOTP.Algorithm to its
// Algorithm.
func FIPSTOTP() TOTP {
	if fips140.Enforced() {
		return TOTP{Algorithm: mfa.SHA256}
	}
	return TOTP{}
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
