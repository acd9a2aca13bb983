package mfatest_test

import (
	"crypto/rand"
	"encoding/base32"
	"testing"
	"time"

	"github.com/mfakit/mfa/mfatest"
)

// TestStepCodeMatchesCode checks StepCode against Code, which uses
// pquerna/otp, over random secrets and times.
func TestStepCodeMatchesCode(t *testing.T) {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 200 {
		secret := make([]byte, 20)
		if _, err := rand.Read(secret); err != nil {
			t.Fatal(err)
		}
		at = at.Add(time.Duration(i) * 7919 * time.Second)
		if got, want := mfatest.StepCode(secret, at.Unix()/30), mfatest.Code(t, enc.EncodeToString(secret), at); got != want {
			t.Fatalf("StepCode = %s, Code = %s at %v", got, want, at)
		}
	}
}
