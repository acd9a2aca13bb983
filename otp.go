package mfa

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"

	"github.com/pquerna/otp"
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

func (a Algorithm) otp() otp.Algorithm {
	switch a {
	case SHA256:
		return otp.AlgorithmSHA256
	case SHA512:
		return otp.AlgorithmSHA512
	}
	return otp.AlgorithmSHA1
}

var pow10 = [...]uint32{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

// hotp returns the RFC 4226 HOTP value of key at counter, truncated to
// digits decimal digits (§5.3). It allocates nothing: the HMAC (RFC 2104)
// is computed over fixed-size arrays with the one-shot hash functions.
func hotp(alg Algorithm, key []byte, counter uint64, digits int) uint32 {
	var sum [sha512.Size]byte
	mac := hmacSum(alg, key, counter, &sum)
	off := mac[len(mac)-1] & 0x0f
	bin := binary.BigEndian.Uint32(mac[off:]) & 0x7fffffff
	return bin % pow10[digits]
}

// hmacSum computes HMAC(key, counter as 8 big-endian bytes) into sum and
// returns the used prefix of sum.
func hmacSum(alg Algorithm, key []byte, counter uint64, sum *[sha512.Size]byte) []byte {
	blockSize, size := sha1.BlockSize, sha1.Size
	switch alg {
	case SHA256:
		blockSize, size = sha256.BlockSize, sha256.Size
	case SHA512:
		blockSize, size = sha512.BlockSize, sha512.Size
	}
	// RFC 2104 §2: a key longer than the block is hashed first.
	var k [sha512.BlockSize]byte
	if len(key) > blockSize {
		var kh [sha512.Size]byte
		copy(k[:], digest(alg, key, &kh))
	} else {
		copy(k[:], key)
	}
	// inner = H(K ^ ipad || message); the buffer is big enough for either
	// stage of every algorithm.
	var buf [sha512.BlockSize + sha512.Size]byte
	for i := range blockSize {
		buf[i] = k[i] ^ 0x36
	}
	binary.BigEndian.PutUint64(buf[blockSize:], counter)
	var inner [sha512.Size]byte
	digest(alg, buf[:blockSize+8], &inner)
	// outer = H(K ^ opad || inner)
	for i := range blockSize {
		buf[i] = k[i] ^ 0x5c
	}
	copy(buf[blockSize:], inner[:size])
	return digest(alg, buf[:blockSize+size], sum)
}

func digest(alg Algorithm, p []byte, out *[sha512.Size]byte) []byte {
	switch alg {
	case SHA256:
		s := sha256.Sum256(p)
		return out[:copy(out[:], s[:])]
	case SHA512:
		s := sha512.Sum512(p)
		return out[:copy(out[:], s[:])]
	}
	s := sha1.Sum(p)
	return out[:copy(out[:], s[:])]
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
