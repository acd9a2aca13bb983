package mfa

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	mathrand "math/rand/v2"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// RFC 6238 Appendix B. The RFC's reference code uses a different seed per
// algorithm (errata 2866): the 20-, 32- and 64-byte ASCII seeds below.
func TestRFC6238Vectors(t *testing.T) {
	seeds := map[Algorithm]string{
		SHA1:   "12345678901234567890",
		SHA256: "12345678901234567890123456789012",
		SHA512: "1234567890123456789012345678901234567890123456789012345678901234",
	}
	vectors := []struct {
		unix                 int64
		sha1, sha256, sha512 uint32
	}{
		{59, 94287082, 46119246, 90693936},
		{1111111109, 7081804, 68084774, 25091201},
		{1111111111, 14050471, 67062674, 99943326},
		{1234567890, 89005924, 91819424, 93441116},
		{2000000000, 69279037, 90698825, 38618901},
		{20000000000, 65353130, 77737706, 47863826},
	}
	for _, v := range vectors {
		for alg, want := range map[Algorithm]uint32{SHA1: v.sha1, SHA256: v.sha256, SHA512: v.sha512} {
			t.Run(fmt.Sprintf("%s/T=%d", alg, v.unix), func(t *testing.T) {
				got := hotp(alg, []byte(seeds[alg]), uint64(v.unix/30), 8)
				if got != want {
					t.Fatalf("got %08d, want %08d", got, want)
				}
			})
		}
	}
}

// RFC 4226 Appendix D.
func TestRFC4226Vectors(t *testing.T) {
	want := []uint32{755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489}
	for count, w := range want {
		if got := hotp(SHA1, []byte("12345678901234567890"), uint64(count), 6); got != w {
			t.Errorf("count %d: got %06d, want %06d", count, got, w)
		}
	}
}

// TestHOTPMatchesPquerna compares our HOTP with pquerna/otp's code
// generation, an independent implementation, over random secrets (of every
// length, including ones longer than the hash block) and times.
func TestHOTPMatchesPquerna(t *testing.T) {
	rng := mathrand.New(mathrand.NewPCG(1, 2))
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	for i := range 3000 {
		alg := []Algorithm{SHA1, SHA256, SHA512}[i%3]
		digits := []int{6, 8}[i%2]
		secret := make([]byte, 1+rng.IntN(150))
		if _, err := rand.Read(secret); err != nil {
			t.Fatal(err)
		}
		at := time.Unix(rng.Int64N(1<<35), 0)
		want, err := totp.GenerateCodeCustom(enc.EncodeToString(secret), at, totp.ValidateOpts{
			Period: 30, Digits: otp.Digits(digits), Algorithm: pquernaAlgorithm(alg),
		})
		if err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprintf("%0*d", digits, hotp(alg, secret, uint64(at.Unix()/30), digits))
		if got != want {
			t.Fatalf("%s, %d digits, %d-byte secret at %d: got %s, pquerna says %s", alg, digits, len(secret), at.Unix(), got, want)
		}
	}
}

func TestParseDigits(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want uint32
		ok   bool
	}{
		{"123456", 6, 123456, true},
		{"000001", 6, 1, true},
		{"123 456", 6, 123456, true},
		{" 123456 ", 6, 123456, true},
		{"12345678", 8, 12345678, true},
		{"12345", 6, 0, false},
		{"1234567", 6, 0, false},
		{"12345a", 6, 0, false},
		{"", 6, 0, false},
		{"      ", 6, 0, false},
		{"١٢٣٤٥٦", 6, 0, false}, // Arabic-Indic digits
		{"１２３４５６", 6, 0, false}, // full-width digits
		{"123-456", 6, 0, false},
		{"+12345", 6, 0, false},
		{"12345\x00", 6, 0, false},
	}
	for _, tc := range tests {
		got, ok := parseDigits(tc.in, tc.n)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseDigits(%q, %d) = %d, %t; want %d, %t", tc.in, tc.n, got, ok, tc.want, tc.ok)
		}
	}
}

func pquernaAlgorithm(a Algorithm) otp.Algorithm {
	switch a {
	case SHA256:
		return otp.AlgorithmSHA256
	case SHA512:
		return otp.AlgorithmSHA512
	}
	return otp.AlgorithmSHA1
}
