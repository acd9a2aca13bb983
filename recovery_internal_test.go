package mfa

import (
	"bytes"
	"crypto/rand"
	"testing"
)

func TestEncodeRecoveryCode(t *testing.T) {
	tests := []struct {
		raw  []byte
		want string
	}{
		{bytes.Repeat([]byte{0x00}, 10), "0000000000000000"},
		{bytes.Repeat([]byte{0xff}, 10), "zzzzzzzzzzzzzzzz"},
		// The first 5 bits of the first byte make the first character.
		{[]byte{0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0}, "g000000000000000"},
		{[]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01}, "0000000000000001"},
		// 00001000 01000010: three groups of 00001.
		{[]byte{0x08, 0x42, 0, 0, 0, 0, 0, 0, 0, 0}, "1110000000000000"},
	}
	for _, tc := range tests {
		dst := make([]byte, recoveryCodeLen)
		encodeRecoveryCode(dst, tc.raw)
		if string(dst) != tc.want {
			t.Errorf("encode(%x) = %s, want %s", tc.raw, dst, tc.want)
		}
	}
}

// TestRecoveryCodesUseEveryBit: each of the 16 positions of a code takes
// every one of the 32 characters across many random codes, so all 80 bits
// are random.
func TestRecoveryCodesUseEveryBit(t *testing.T) {
	var seen [recoveryCodeLen]map[byte]bool
	for i := range seen {
		seen[i] = map[byte]bool{}
	}
	raw := make([]byte, recoveryRandSize)
	dst := make([]byte, recoveryCodeLen)
	for range 4000 {
		if _, err := rand.Read(raw); err != nil {
			t.Fatal(err)
		}
		encodeRecoveryCode(dst, raw)
		for i, c := range dst {
			seen[i][c] = true
		}
	}
	for i, s := range seen {
		if len(s) != 32 {
			t.Errorf("position %d takes %d distinct characters over 4000 codes, want 32", i, len(s))
		}
	}
}
