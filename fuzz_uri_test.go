package mfa_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
	"github.com/pquerna/otp"
)

// FuzzOTPAuthURI: New and AddDevice refuse a hostile issuer or account name
// with a typed error that names it, or build an otpauth URI of printable
// ASCII that pquerna/otp, as an app would, reads back to the same issuer,
// account name and secret, with nothing smuggled into the query.
func FuzzOTPAuthURI(f *testing.F) {
	for _, s := range [][2]string{
		{"Acme", "alice"},
		{"Acme & Co", "ann+test@example.com"},
		{"C++", "a/b?c#d"},
		{"%41", "%zz"},
		{"ü", "日本語"},
		{" lead", "trail "},
		{"=", "&"},
		{"Acme&secret=AAAA", "x&issuer=Evil"},
		{"a;b", "c;d"},
		{"+", " "},
		{"/", "/x"},
		{".", ".."},
		{"#", "?"},
		{"Acme:Co", "alice"},
		{"Acme", "ann:test"},
		{"", "alice"},
		{"Acme", "tab\there"},
		{"\u200b\u2028\ufeff", "\u00a0"},
		{"\xff", "\xc3"},
	} {
		f.Add(s[0], s[1])
	}
	keys := mfatest.Keyring(f)
	f.Fuzz(func(t *testing.T, issuer, account string) {
		m, err := mfa.New(mfa.Config{Store: memstore.New(), Issuer: issuer, Keys: keys})
		if err != nil {
			var e *mfa.Error
			if !errors.Is(err, mfa.ErrInvalidConfig) || !errors.As(err, &e) || e.Field != "Issuer" {
				t.Fatalf("New refused issuer %q with %v, want ErrInvalidConfig for Issuer", issuer, err)
			}
			if plainLabel(issuer) {
				t.Fatalf("New refused the plain issuer %q: %v", issuer, err)
			}
			return
		}
		reg, err := m.AddDevice(context.Background(), "u1", mfa.WithAccountName(account))
		if err != nil {
			var e *mfa.Error
			if !errors.Is(err, mfa.ErrInvalidInput) || !errors.As(err, &e) || e.Field != "accountName" {
				t.Fatalf("AddDevice refused account %q with %v, want ErrInvalidInput for accountName", account, err)
			}
			if plainLabel(account) {
				t.Fatalf("AddDevice refused the plain account name %q: %v", account, err)
			}
			return
		}
		for i := 0; i < len(reg.URI); i++ {
			if c := reg.URI[i]; c <= ' ' || c >= 0x7f {
				t.Fatalf("URI %q has byte %#x at %d: not printable ASCII", reg.URI, c, i)
			}
		}
		key, err := otp.NewKeyFromURL(reg.URI)
		if err != nil {
			t.Fatalf("pquerna/otp cannot parse %q: %v", reg.URI, err)
		}
		if key.Type() != "totp" || key.Issuer() != issuer || key.AccountName() != account || key.Secret() != reg.Secret {
			t.Fatalf("URI %q reads back as type %q, issuer %q, account %q, secret %q; want totp, %q, %q, %q",
				reg.URI, key.Type(), key.Issuer(), key.AccountName(), key.Secret(), issuer, account, reg.Secret)
		}
		if key.Algorithm() != otp.AlgorithmSHA1 || key.Digits() != otp.DigitsSix || key.Period() != 30 {
			t.Fatalf("URI %q reads back as %s, %d digits, %d s", reg.URI, key.Algorithm(), key.Digits(), key.Period())
		}
		// Each parameter exactly once: a label cannot add or repeat one.
		u, err := url.Parse(reg.URI)
		if err != nil {
			t.Fatal(err)
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			t.Fatalf("query of %q: %v", reg.URI, err)
		}
		want := map[string]string{"secret": reg.Secret, "issuer": issuer, "algorithm": "SHA1", "digits": "6", "period": "30"}
		if len(q) != len(want) {
			t.Fatalf("URI %q has parameters %v, want exactly %v", reg.URI, q, want)
		}
		for k, v := range want {
			if got := q[k]; len(got) != 1 || got[0] != v {
				t.Fatalf("URI %q: parameter %s = %q, want [%q]", reg.URI, k, got, v)
			}
		}
	})
}

// plainLabel reports whether s is a label that must be accepted: 1 to 128
// bytes of printable ASCII without a colon.
func plainLabel(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}
