package mfatest_test

import (
	"crypto/rand"
	"encoding/base32"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/mfatest"
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// TestCodeRFC6238 checks Code against RFC 6238 Appendix B, with the
// per-algorithm seeds of its reference code.
func TestCodeRFC6238(t *testing.T) {
	seeds := map[mfa.Algorithm]string{
		mfa.SHA1:   "12345678901234567890",
		mfa.SHA256: "12345678901234567890123456789012",
		mfa.SHA512: "1234567890123456789012345678901234567890123456789012345678901234",
	}
	for _, v := range []struct {
		unix int64
		alg  mfa.Algorithm
		want string
	}{
		{59, mfa.SHA1, "94287082"},
		{59, mfa.SHA256, "46119246"},
		{59, mfa.SHA512, "90693936"},
		{1111111109, mfa.SHA256, "68084774"},
		{2000000000, mfa.SHA512, "38618901"},
		{20000000000, mfa.SHA1, "65353130"},
	} {
		p := mfatest.TOTP{Algorithm: v.alg, Digits: 8}
		secret := []byte(seeds[v.alg])
		if got := p.Code(t, b32.EncodeToString(secret), time.Unix(v.unix, 0)); got != v.want {
			t.Errorf("%s at %d: Code = %s, want %s", v.alg, v.unix, got, v.want)
		}
		if got := p.StepCode(secret, v.unix/30); got != v.want {
			t.Errorf("%s at %d: StepCode = %s, want %s", v.alg, v.unix, got, v.want)
		}
	}
}

// TestStepCodeMatchesCode checks StepCode against Code, which uses
// pquerna/otp, over random secrets, times and parameters.
func TestStepCodeMatchesCode(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	params := []mfatest.TOTP{{}, {Algorithm: mfa.SHA256, Digits: 8}, {Algorithm: mfa.SHA512, Period: 60 * time.Second}, {Algorithm: mfa.SHA1, Digits: 8, Period: 60 * time.Second}}
	for i := range 200 {
		p := params[i%len(params)]
		secret := make([]byte, 20)
		if _, err := rand.Read(secret); err != nil {
			t.Fatal(err)
		}
		at = at.Add(time.Duration(i) * 7919 * time.Second)
		period := int64(30)
		if p.Period != 0 {
			period = int64(p.Period / time.Second)
		}
		if got, want := p.StepCode(secret, at.Unix()/period), p.Code(t, b32.EncodeToString(secret), at); got != want {
			t.Fatalf("%+v: StepCode = %s, Code = %s at %v", p, got, want, at)
		}
	}
	if got, want := mfatest.StepCode([]byte("12345678901234567890"), 1), mfatest.Code(t, b32.EncodeToString([]byte("12345678901234567890")), time.Unix(30, 0)); got != want {
		t.Fatalf("default StepCode = %s, Code = %s", got, want)
	}
}
