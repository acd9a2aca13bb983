package mfa

import "testing"

// BenchmarkHOTP is one RFC 4226 HOTP value with SHA1 and 6 digits;
// AuthenticateDevice computes three per call with the default skew.
func BenchmarkHOTP(b *testing.B) {
	key := []byte("12345678901234567890")
	b.ReportAllocs()
	var counter uint64
	for b.Loop() {
		counter++
		hotp(SHA1, key, counter, 6)
	}
}
