package mfahttp_test

import (
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/mfahttp"
	"github.com/mfakit/mfa/mfatest"
)

// TestFIPSOverHTTP takes a SHA256 device through the JSON API: the flow's
// QR code, verification, recovery codes, a token and the deletion it
// authorises. .ci/run runs it under GODEBUG=fips140=only too.
func TestFIPSOverHTTP(t *testing.T) {
	p := mfatest.TOTP{Algorithm: mfa.SHA256, Digits: 8}
	s := newServer(t, func(c *mfa.Config) { c.TOTP = mfa.TOTPConfig{Algorithm: p.Algorithm, Digits: p.Digits} })

	r := s.do("POST", "/mfa/api/flow", "alice", raa, nil)
	expect(t, r, 200, "")
	var st struct {
		View         string
		Registration struct{ ID, Secret, URI string }
	}
	r.json(t, &st)
	if st.View != "qr-code" || st.Registration.Secret == "" {
		t.Fatalf("flow: %s", r.body)
	}
	expect(t, s.do("POST", "/mfa/api/flow/continue", "alice", raa, nil), 200, "")
	r = s.do("POST", "/mfa/api/flow/otp", "alice", raa, map[string]string{"code": p.Code(t, st.Registration.Secret, s.clock.Now())})
	expect(t, r, 200, "")
	var done struct {
		View          string
		RecoveryCodes []string
		Complete      bool
	}
	r.json(t, &done)
	if done.View != "backup-codes" || len(done.RecoveryCodes) != 10 || !done.Complete {
		t.Fatalf("after the first code: %s", r.body)
	}
	expect(t, s.do("POST", "/mfa/api/flow/acknowledge", "alice", "", nil), 200, "")
	s.clock.Advance(30 * time.Second)

	r = s.do("POST", "/mfa/api/recovery-codes/authenticate", "alice", raa, map[string]any{"code": done.RecoveryCodes[0]})
	expect(t, r, 200, "")
	r = s.do("POST", "/mfa/api/devices/totp/authenticate", "alice", "", map[string]any{
		"code":           p.Code(t, st.Registration.Secret, s.clock.Now()),
		"createMfaToken": map[string]any{"singleUse": true, "scopes": []string{mfa.ScopeCredentialUnlink}},
	})
	expect(t, r, 200, "")
	var res struct{ MFAToken struct{ Value string } }
	r.json(t, &res)
	expect(t, s.do("DELETE", "/mfa/api/devices/"+st.Registration.ID, "alice", "", nil, mfahttp.TokenHeader, res.MFAToken.Value), 204, "")
	if devices := s.devices("alice"); len(devices) != 0 {
		t.Fatalf("devices after delete: %+v", devices)
	}
}
