package mfa

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// FuzzParseDigits: any input is either refused or read as exactly n ASCII
// digits, whose value prints back to the same digits.
func FuzzParseDigits(f *testing.F) {
	for _, s := range []string{"123456", "000000", "123 456", "12345678", "١٢٣٤٥٦", "12345a", "", " ", "9999999", "0x1234"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, n := range []int{6, 8} {
			v, ok := parseDigits(s, n)
			if !ok {
				continue
			}
			digits := strings.ReplaceAll(s, " ", "")
			if len(digits) != n || fmt.Sprintf("%0*d", n, v) != digits {
				t.Fatalf("parseDigits(%q, %d) = %d: not the digits typed", s, n, v)
			}
		}
	})
}

// FuzzNormalizeRecoveryCode: an accepted input normalises to 16 alphabet
// characters, and normalising is idempotent, including on the formatted
// form users are shown.
func FuzzNormalizeRecoveryCode(f *testing.F) {
	for _, s := range []string{"7k2m-q9xd-4hcv-8tpa", "7K2MQ9XD4HCV8TPA", "7k2m q9xd 4hcv 8tpa", "oooo-iiii-llll-0000", "uuuu-uuuu-uuuu-uuuu", "", "----", "7k2m-q9xd-4hcv-8tp"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, ok := normalizeRecoveryCode(s)
		if !ok {
			return
		}
		for _, c := range code {
			if !strings.ContainsRune(recoveryAlphabet, rune(c)) {
				t.Fatalf("normalize(%q) = %q: %q is not in the alphabet", s, code, c)
			}
		}
		again, ok := normalizeRecoveryCode(formatRecoveryCode(code[:]))
		if !ok || again != code {
			t.Fatalf("normalize(format(%q)) = %q, %t", code, again, ok)
		}
	})
}

// FuzzTokenHash: only "mfat_" and 43 base64url characters parse.
func FuzzTokenHash(f *testing.F) {
	for _, s := range []string{"mfat_" + strings.Repeat("A", 43), "mfat_", "mfat_" + strings.Repeat("-", 43), "mfat_" + strings.Repeat("a", 44), "xxxx_" + strings.Repeat("A", 43), "mfat_" + strings.Repeat("=", 43)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, ok := tokenHash(s)
		if !ok {
			if h != ([HashSize]byte{}) {
				t.Fatal("refused token has a hash")
			}
			return
		}
		if len(s) != tokenLen || !strings.HasPrefix(s, tokenPrefix) {
			t.Fatalf("tokenHash accepted %q", s)
		}
		const base64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		for _, c := range s[len(tokenPrefix):] {
			if !strings.ContainsRune(base64url, c) {
				t.Fatalf("tokenHash accepted %q with %q", s, c)
			}
		}
	})
}

// FuzzKeyringOpen: no ciphertext makes open panic; only what seal made
// (with the same associated data) opens, and tampering is detected.
func FuzzKeyringOpen(f *testing.F) {
	k1 := Key{ID: "k1", Secret: bytes.Repeat([]byte{1}, KeySize)}
	k2 := Key{ID: "k2", Secret: bytes.Repeat([]byte{2}, KeySize)}
	kr, err := NewKeyring(k1, k2)
	if err != nil {
		f.Fatal(err)
	}
	old, err := NewKeyring(k2)
	if err != nil {
		f.Fatal(err)
	}
	aad := []byte("mfakit/totp-secret\x00alice\x00dev")
	for _, pt := range [][]byte{nil, []byte("12345678901234567890"), bytes.Repeat([]byte{0xff}, 64)} {
		f.Add(kr.seal(pt, aad), pt)
		f.Add(old.seal(pt, aad), pt)
	}
	f.Add([]byte{}, []byte{})
	f.Add([]byte{1, 255}, []byte{})
	f.Fuzz(func(t *testing.T, ct, pt []byte) {
		got, _, err := kr.open(nil, ct, aad)
		if err != nil {
			if !errors.Is(err, ErrKey) {
				t.Fatalf("open failed with %v, want ErrKey", err)
			}
		} else if _, _, err := kr.open(nil, ct, []byte("other")); err == nil {
			t.Fatalf("ciphertext opened with other associated data (plaintext %q)", got)
		}
		// What seal makes opens to the same plaintext, once.
		sealed := kr.seal(pt, aad)
		opened, primary, err := kr.open(nil, sealed, aad)
		if err != nil || !primary || !bytes.Equal(opened, pt) {
			t.Fatalf("round trip: %q, %t, %v", opened, primary, err)
		}
		sealed[len(sealed)-1-len(pt)%7] ^= 0x40
		if _, _, err := kr.open(nil, sealed, aad); err == nil {
			t.Fatal("tampered ciphertext opened")
		}
	})
}
