package mfa

import (
	mathrand "math/rand/v2"
	"testing"
)

// BenchmarkHOTP is one RFC 4226 HOTP value with SHA1 and 6 digits.
func BenchmarkHOTP(b *testing.B) {
	key := []byte("12345678901234567890")
	b.ReportAllocs()
	var counter uint64
	for b.Loop() {
		counter++
		hotp(SHA1, key, counter, 6)
	}
}

// BenchmarkHOTPWindow is the three HOTP values of a window with the default
// skew, as AuthenticateDevice computes them.
func BenchmarkHOTPWindow(b *testing.B) {
	key := []byte("12345678901234567890")
	b.ReportAllocs()
	var values [3]uint32
	var counter uint64
	for b.Loop() {
		counter++
		hotpRange(SHA1, key, counter, values[:], 6)
	}
}

// TestHOTPRangeMatchesHOTP checks the window that BenchmarkHOTPWindow
// measures, whose SHA1 path is separate from hotp's, against hotp for keys
// of every length (including ones longer than the hash block).
func TestHOTPRangeMatchesHOTP(t *testing.T) {
	rng := mathrand.New(mathrand.NewPCG(3, 4))
	for i := range 3000 {
		alg := []Algorithm{SHA1, SHA1, SHA256, SHA512}[i%4]
		digits := []int{6, 8}[i%2]
		key := make([]byte, 1+rng.IntN(150))
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		first := rng.Uint64()
		var values [2*maxSkew + 1]uint32
		window := values[:1+rng.IntN(len(values))]
		hotpRange(alg, key, first, window, digits)
		for j, got := range window {
			if want := hotp(alg, key, first+uint64(j), digits); got != want {
				t.Fatalf("%s, %d-byte key, counter %d: hotpRange gives %d, hotp %d", alg, len(key), first+uint64(j), got, want)
			}
		}
	}
}
