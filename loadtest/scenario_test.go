package loadtest

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/mfatest"
)

// What a virtual user does, and what each of its requests must get.

const (
	mfaPrefix = "/mfa"
	// actionPath is the sensitive action behind RequireMFAToken.
	actionPath = "/email"
	action     = "change-email"
	raa        = mfa.ScopeRequiresAdditionalAuth
)

var (
	stepEnrol       = step{"enrol", "POST", mfaPrefix + "/api/devices/totp", 200, ""}
	stepVerify      = step{"verify first code", "POST", mfaPrefix + "/api/devices/totp/authenticate", 200, ""}
	stepGetCodes    = step{"get recovery codes", "GET", mfaPrefix + "/api/recovery-codes", 200, ""}
	stepAcknowledge = step{"acknowledge codes", "POST", mfaPrefix + "/api/recovery-codes/acknowledge", 204, ""}

	stepLogin          = step{"TOTP login + token", "POST", mfaPrefix + "/api/devices/totp/authenticate", 200, ""}
	stepAction         = step{"action with token", "POST", actionPath, 200, ""}
	stepTokenReused    = step{"action, token reused", "POST", actionPath, 403, mfa.ErrTokenInvalid.Code}
	stepWrongCode      = step{"wrong TOTP code", "POST", mfaPrefix + "/api/devices/totp/authenticate", 401, mfa.ErrInvalidCode.Code}
	stepReplayedCode   = step{"replayed TOTP code", "POST", mfaPrefix + "/api/devices/totp/authenticate", 401, mfa.ErrCodeReused.Code}
	stepRecovery       = step{"recovery code login", "POST", mfaPrefix + "/api/recovery-codes/authenticate", 200, ""}
	stepRecoveryReused = step{"recovery code reused", "POST", mfaPrefix + "/api/recovery-codes/authenticate", 401, mfa.ErrInvalidCode.Code}
)

// reportOrder is the order of the steps in the report.
var reportOrder = []step{
	stepEnrol, stepVerify, stepGetCodes, stepAcknowledge,
	stepLogin, stepAction, stepTokenReused, stepWrongCode, stepReplayedCode, stepRecovery, stepRecoveryReused,
}

// recoveryCodes is the size of a recovery code set, mfa's default.
const recoveryCodes = 10

// maxRounds bounds the rounds of a run: a user logs in with a recovery
// code in one round of four, and two runs must not use up its codes.
const maxRounds = 16

// vuser is a virtual user: what its authenticator app and its notes hold.
// Only one client works on a user at a time.
type vuser struct {
	id       string
	secret   string
	recovery []string // unused recovery codes
	enrolled bool

	// This round's code and a wrong one, computed by the test goroutine
	// before the round starts. ambiguous is set when the code is also
	// the code of the step before or after: see setCodes.
	code, wrong string
	ambiguous   bool
}

func newUsers(n int) []*vuser {
	users := make([]*vuser, n)
	for i := range users {
		users[i] = &vuser{id: "user-" + strconv.Itoa(i)}
	}
	return users
}

// registration is the part of the enrol answer a user needs.
type registration struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// authAnswer is the part of an authentication answer the scenario checks.
type authAnswer struct {
	Method         mfa.Method `json:"method"`
	DeviceVerified bool       `json:"deviceVerified"`
	MFAToken       *struct {
		Value string `json:"value"`
	} `json:"mfaToken"`
	RecoveryCodesRemaining int  `json:"recoveryCodesRemaining"`
	RecoveryCodesPending   bool `json:"recoveryCodesPending"`
}

// addDevice is the first half of enrolment, in a login that waits for its
// second factor: the user adds a device and keeps its secret.
func addDevice(ctx context.Context, c *client, _ int, u *vuser) {
	var reg registration
	if !c.do(ctx, stepEnrol, request{user: u.id, scopes: raa, body: map[string]string{"alias": "Phone"}}, &reg) {
		return
	}
	if reg.ID == "" || len(reg.Secret) != 32 {
		c.rec.fail("%s as %s: registration without ID or a 32-character secret", stepEnrol.name, u.id)
		return
	}
	u.secret = reg.Secret
}

// verifyDevice is the second half: the user enters the first code, which
// completes the login, then reads and acknowledges the recovery codes.
func verifyDevice(ctx context.Context, c *client, _ int, u *vuser) {
	if u.secret == "" {
		return
	}
	var auth authAnswer
	if !c.do(ctx, stepVerify, request{user: u.id, scopes: raa, body: map[string]string{"code": u.code}}, &auth) {
		return
	}
	c.rec.logins++
	if !auth.DeviceVerified || !auth.RecoveryCodesPending || auth.RecoveryCodesRemaining != recoveryCodes {
		c.rec.fail("%s as %s: answer %+v, want a verified device and %d pending codes", stepVerify.name, u.id, auth, recoveryCodes)
		return
	}
	var codes struct {
		RecoveryCodes []string `json:"recoveryCodes"`
	}
	if !c.do(ctx, stepGetCodes, request{user: u.id}, &codes) {
		return
	}
	if len(codes.RecoveryCodes) != recoveryCodes {
		c.rec.fail("%s as %s: %d codes, want %d", stepGetCodes.name, u.id, len(codes.RecoveryCodes), recoveryCodes)
		return
	}
	if !c.do(ctx, stepAcknowledge, request{user: u.id}, nil) {
		return
	}
	u.recovery, u.enrolled = codes.RecoveryCodes, true
}

// loginRound is one round of user i: a TOTP login that asks for a
// single-use token, the action with that token, and then, in turn from one
// user and round to the next, one of the expected failures. A round adds
// at most two failures to the user's lockout count, which the next
// round's login resets, so the lockout (threshold 5) never engages.
func loginRound(round int) func(ctx context.Context, c *client, i int, u *vuser) {
	return func(ctx context.Context, c *client, i int, u *vuser) {
		if !u.enrolled || u.ambiguous {
			return
		}
		login := map[string]any{"code": u.code, "createMfaToken": map[string]any{"singleUse": true, "scopes": []string{action}}}
		var auth authAnswer
		if !c.do(ctx, stepLogin, request{user: u.id, scopes: raa, body: login}, &auth) {
			return
		}
		c.rec.logins++
		if auth.Method != mfa.MethodTOTP || auth.MFAToken == nil || auth.MFAToken.Value == "" {
			c.rec.fail("%s as %s: answer %+v, want method %q and a token", stepLogin.name, u.id, auth, mfa.MethodTOTP)
			return
		}
		token := auth.MFAToken.Value
		if !c.do(ctx, stepAction, request{user: u.id, token: token}, nil) {
			return
		}
		switch (i + round) % 4 {
		case 0:
			c.do(ctx, stepTokenReused, request{user: u.id, token: token}, nil)
		case 1:
			c.do(ctx, stepWrongCode, request{user: u.id, scopes: raa, body: map[string]string{"code": u.wrong}}, nil)
		case 2:
			c.do(ctx, stepReplayedCode, request{user: u.id, scopes: raa, body: map[string]string{"code": u.code}}, nil)
		case 3:
			recoveryLogin(ctx, c, u)
		}
	}
}

// recoveryLogin logs u in with its next recovery code, then tries the
// same code again.
func recoveryLogin(ctx context.Context, c *client, u *vuser) {
	if len(u.recovery) == 0 {
		c.rec.fail("%s as %s: no recovery codes left", stepRecovery.name, u.id)
		return
	}
	code := u.recovery[0]
	u.recovery = u.recovery[1:]
	var auth authAnswer
	if !c.do(ctx, stepRecovery, request{user: u.id, scopes: raa, body: map[string]string{"code": code}}, &auth) {
		return
	}
	c.rec.logins++
	if auth.Method != mfa.MethodRecoveryCode || auth.RecoveryCodesRemaining != len(u.recovery) {
		c.rec.fail("%s as %s: method %q with %d codes left, want %q with %d", stepRecovery.name, u.id, auth.Method, auth.RecoveryCodesRemaining, mfa.MethodRecoveryCode, len(u.recovery))
		return
	}
	c.do(ctx, stepRecoveryReused, request{user: u.id, scopes: raa, body: map[string]string{"code": code}}, nil)
}

// setCodes computes every user's code at now, as its authenticator app
// would, and a wrong code that matches none of the steps the server
// accepts (mfa's default skew of one step either side), so that a wrong
// code is never right by chance. It returns the number of users whose
// code is ambiguous: equal to the code of the step before or after, one
// chance in 500,000. The server takes the later step of a code that
// matches two, so such a login would take the next round's step, and the
// next round's login would be a replay; these users sit out the round
// (and the next, whose code is ambiguous too).
func setCodes(t *testing.T, users []*vuser, now time.Time, period time.Duration) (ambiguous int) {
	t.Helper()
	for _, u := range users {
		if u.secret == "" {
			continue
		}
		u.code = mfatest.Code(t, u.secret, now)
		before, after := mfatest.Code(t, u.secret, now.Add(-period)), mfatest.Code(t, u.secret, now.Add(period))
		u.ambiguous = before == u.code || after == u.code
		if u.ambiguous {
			ambiguous++
		}
		window := map[string]bool{u.code: true, before: true, after: true}
		n, err := strconv.Atoi(u.code)
		if err != nil {
			t.Fatalf("code %q: %v", u.code, err)
		}
		for {
			n = (n + 1) % 1_000_000
			if w := fmt.Sprintf("%06d", n); !window[w] {
				u.wrong = w
				break
			}
		}
	}
	return ambiguous
}
