package mfa

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"hash"
	"time"
)

// Algorithm is the HMAC hash of a TOTP device (RFC 6238 §1.2).
type Algorithm string

// The algorithms of RFC 6238. SHA1 is the one every authenticator app
// supports; it is the default.
const (
	SHA1   Algorithm = "SHA1"
	SHA256 Algorithm = "SHA256"
	SHA512 Algorithm = "SHA512"
)

func (a Algorithm) valid() bool { return a == SHA1 || a == SHA256 || a == SHA512 }

var pow10 = [...]uint32{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

// maxSkew is the largest TOTPConfig.Skew that New accepts.
const maxSkew = 10

// totpParams are the RFC 6238 parameters of one device: the HMAC hash,
// the code length and the time step.
type totpParams struct {
	alg    Algorithm
	digits int
	period time.Duration
}

// deviceParams returns d's parameters, taking the running TOTPConfig's
// where d has none, as devices stored by mfakit 0.1 do not.
func (m *MFA) deviceParams(d DeviceRecord) totpParams {
	p := totpParams{alg: d.Algorithm, digits: d.Digits, period: d.Period}
	if p.alg == "" {
		p.alg = m.totp.Algorithm
	}
	if p.digits == 0 {
		p.digits = m.totp.Digits
	}
	if p.period == 0 {
		p.period = m.totp.Period
	}
	return p
}

// codeDigits reports whether code has the form of a TOTP code of any
// length mfakit accepts, 6 or 8 digits with spaces anywhere, so that
// input can be refused before the device, and its length, is known.
func codeDigits(code string) bool {
	if len(code) > 2*8+2 {
		return false
	}
	n := 0
	for i := 0; i < len(code); i++ {
		switch c := code[i]; {
		case c >= '0' && c <= '9':
			n++
		case c != ' ':
			return false
		}
	}
	return n == 6 || n == 8
}

// hash returns the constructor of the algorithm's hash.
func (a Algorithm) hash() func() hash.Hash {
	switch a {
	case SHA256:
		return sha256.New
	case SHA512:
		return sha512.New
	}
	return sha1.New
}

// hotp returns the RFC 4226 HOTP value of key at counter, truncated to
// digits decimal digits (§5.3).
func hotp(alg Algorithm, key []byte, counter uint64, digits int) uint32 {
	var out [1]uint32
	hotpRange(alg, key, counter, out[:], digits)
	return out[0]
}

// hotpRange sets out[i] to the HOTP value of key at counter first+i, as a
// TOTP window needs: one HMAC (crypto/hmac, RFC 2104) keyed once and reset
// for each counter.
func hotpRange(alg Algorithm, key []byte, first uint64, out []uint32, digits int) {
	mac := hmac.New(alg.hash(), key)
	var msg [8]byte
	var sum [sha512.Size]byte
	for i := range out {
		mac.Reset()
		binary.BigEndian.PutUint64(msg[:], first+uint64(i))
		mac.Write(msg[:])
		out[i] = truncate(mac.Sum(sum[:0]), digits)
	}
	clear(sum[:])
}

// truncate is the dynamic truncation of an HMAC to digits decimal digits
// (RFC 4226 §5.3).
func truncate(mac []byte, digits int) uint32 {
	off := mac[len(mac)-1] & 0x0f
	bin := binary.BigEndian.Uint32(mac[off:]) & 0x7fffffff
	return bin % pow10[digits]
}

// parseDigits reads a TOTP code of exactly n ASCII digits, allowing spaces
// between them ("123 456"), as users copy codes from apps that group them.
func parseDigits(code string, n int) (uint32, bool) {
	if len(code) > 2*n+2 {
		return 0, false
	}
	var v uint32
	seen := 0
	for i := 0; i < len(code); i++ {
		c := code[i]
		switch {
		case c == ' ':
			continue
		case c >= '0' && c <= '9':
			seen++
			if seen > n {
				return 0, false
			}
			v = v*10 + uint32(c-'0')
		default:
			return 0, false
		}
	}
	return v, seen == n
}
