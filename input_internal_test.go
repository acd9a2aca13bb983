package mfa

import "testing"

func TestPrintableUTF8(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"alice@example.com", true},
		{"ålice", true},
		{"user 日本", true},
		{"a\x00b", false},
		{"a\tb", false},
		{"a\x7fb", false},
		{"ålice\x1f", false},
		{"a\u0085b", false}, // C1 control
		{"a\u00a0b", true},  // no-break space
		{"a\xff", false},
		{"a\xc3", false},
		{"é\xc3", false},
	} {
		if got := printableUTF8(tc.s); got != tc.want {
			t.Errorf("printableUTF8(%q) = %t, want %t", tc.s, got, tc.want)
		}
	}
}
