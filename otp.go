package mfa

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding"
	"encoding/binary"
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

// hotp returns the RFC 4226 HOTP value of key at counter, truncated to
// digits decimal digits (§5.3). It allocates nothing: the HMAC (RFC 2104)
// is computed over fixed-size arrays with the one-shot hash functions.
func hotp(alg Algorithm, key []byte, counter uint64, digits int) uint32 {
	var sum [sha512.Size]byte
	return truncate(hmacSum(alg, key, counter, &sum), digits)
}

// hotpRange sets out[i] to the HOTP value of key at counter first+i, as a
// TOTP window needs: the same values as hotp, faster for SHA1.
func hotpRange(alg Algorithm, key []byte, first uint64, out []uint32, digits int) {
	if alg == SHA1 {
		sha1Range(key, first, out, digits)
		return
	}
	for i := range out {
		out[i] = hotp(alg, key, first+uint64(i), digits)
	}
}

// truncate is the dynamic truncation of an HMAC to digits decimal digits
// (RFC 4226 §5.3).
func truncate(mac []byte, digits int) uint32 {
	off := mac[len(mac)-1] & 0x0f
	bin := binary.BigEndian.Uint32(mac[off:]) & 0x7fffffff
	return bin % pow10[digits]
}

// sha1Range is hotpRange for SHA1, the default and the algorithm of
// nearly every device. The two key blocks of HMAC, K^ipad and K^opad, are
// hashed once and the digest's state after each is restored for every
// counter, which halves the SHA1 compressions of a window (the
// precomputation of RFC 2104 §4). The rest of each hash, the counter or
// the inner digest, fits one block with its padding (RFC 3174 §4), which
// is written whole; the hash is then read off the digest's saved state,
// without the copy and second padding of Sum. sha1.New is called here
// rather than through a variable so that the compiler devirtualises the
// digest and keeps it on the stack: sha1Range allocates nothing, except
// under the race detector, which turns off the optimisation that keeps
// AppendBinary's padding off the heap.
func sha1Range(key []byte, first uint64, out []uint32, digits int) {
	var k [sha1.BlockSize]byte
	if len(key) > sha1.BlockSize {
		kh := sha1.Sum(key)
		copy(k[:], kh[:])
	} else {
		copy(k[:], key)
	}
	h := sha1.New()
	st := h.(interface {
		encoding.BinaryAppender
		encoding.BinaryUnmarshaler
	})
	// 128 bytes hold a marshalled SHA1 state (96 bytes in Go 1.26: a
	// 4-byte magic, the five state words, the block buffer, the length).
	// The states are the digest's own, so saving and restoring them cannot
	// fail; the checks only guard against a change in crypto/sha1.
	var innerBuf, outerBuf, sumBuf [128]byte
	xorKey(&k, 0x36)
	h.Write(k[:])
	inner, err := st.AppendBinary(innerBuf[:0])
	mustSHA1State(err)
	xorKey(&k, 0x36^0x5c)
	h.Reset()
	h.Write(k[:])
	outer, err := st.AppendBinary(outerBuf[:0])
	mustSHA1State(err)

	// The last block of each hash: the message, 0x80, zeros, and the
	// length in bits of the key block and the message.
	var innerBlock, outerBlock [sha1.BlockSize]byte
	innerBlock[8] = 0x80
	binary.BigEndian.PutUint64(innerBlock[56:], (sha1.BlockSize+8)*8)
	outerBlock[sha1.Size] = 0x80
	binary.BigEndian.PutUint64(outerBlock[56:], (sha1.BlockSize+sha1.Size)*8)
	for i := range out {
		binary.BigEndian.PutUint64(innerBlock[:8], first+uint64(i))
		mustSHA1State(st.UnmarshalBinary(inner))
		h.Write(innerBlock[:])
		copy(outerBlock[:sha1.Size], sha1State(st.AppendBinary(sumBuf[:0])))
		mustSHA1State(st.UnmarshalBinary(outer))
		h.Write(outerBlock[:])
		out[i] = truncate(sha1State(st.AppendBinary(sumBuf[:0])), digits)
	}
	// The padded key, the saved states and the inner digests are as good
	// as the secret.
	clear(k[:])
	clear(innerBuf[:])
	clear(outerBuf[:])
	clear(sumBuf[:])
	clear(outerBlock[:])
	h.Reset()
}

// xorKey XORs every byte of k with b, eight bytes at a time.
func xorKey(k *[sha1.BlockSize]byte, b byte) {
	m := 0x0101010101010101 * uint64(b)
	for i := 0; i < len(k); i += 8 {
		binary.LittleEndian.PutUint64(k[i:], binary.LittleEndian.Uint64(k[i:])^m)
	}
}

// sha1State returns the five state words of a marshalled SHA1 digest,
// which after a final block written whole are the hash.
func sha1State(state []byte, err error) []byte {
	mustSHA1State(err)
	if len(state) < len(sha1Magic)+sha1.Size || string(state[:len(sha1Magic)]) != sha1Magic {
		panic("mfa: the marshalled SHA1 state has an unknown layout")
	}
	return state[len(sha1Magic) : len(sha1Magic)+sha1.Size]
}

// sha1Magic starts a marshalled crypto/sha1 state.
const sha1Magic = "sha\x01"

func mustSHA1State(err error) {
	if err != nil {
		panic("mfa: cannot save or restore a SHA1 state: " + err.Error())
	}
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
