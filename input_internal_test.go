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

func TestValidateLabel(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"Acme", true},
		{"Acme & Co.", true},
		{"Ålesund Bank", true},
		{"東京銀行", true},
		{"ann@example.com", true},
		{"café", true},       // precomposed
		{"cafe\u0301", true}, // a combining mark
		{"a\u00a0b", true},   // no-break space
		{"Pay\u202eLAP", false},
		{"Ac\u200bme", false},
		{"Ac\u200dme", false},
		{"\ufeffAcme", false},
		{"Acme\u3164", false},     // Hangul filler
		{"Acme\u115f", false},     // Hangul choseong filler
		{"Acme\u034f", false},     // combining grapheme joiner
		{"Acme\ufe0f", false},     // variation selector
		{"Acme\U000e0100", false}, // variation selector supplement
		{"Acme\u2028", false},     // line separator
		{"Acme\u2029", false},     // paragraph separator
		{"Acme\ue000", false},     // private use
		{"Acme\u0378", false},     // unassigned
		{"Acme\uffff", false},     // noncharacter
		{"Acme\u2800", false},     // braille blank
		{"Acme:Corp", false},
		{"Acme\uff1aCorp", false}, // fullwidth colon
		{"Acme\u2236Corp", false}, // ratio
	} {
		if got := validateLabel("Issuer", tc.s, true) == nil; got != tc.want {
			t.Errorf("validateLabel(%+q) accepted %t, want %t", tc.s, got, tc.want)
		}
	}
	if validateLabel("alias", "Phone: work", false) != nil {
		t.Error("an alias may hold a colon")
	}
}
