package mfa

import "testing"

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
