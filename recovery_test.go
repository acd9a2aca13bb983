package mfa_test

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
)

var recoveryCodeShape = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$`)

func TestRecoveryCodes(t *testing.T) {
	e := newEnv(t)
	_, codes := e.enrol(t, "alice")
	if len(codes) != 10 {
		t.Fatalf("%d codes, want 10", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !recoveryCodeShape.MatchString(c) || seen[c] {
			t.Fatalf("code %q: wrong shape or repeated", c)
		}
		seen[c] = true
	}
	pending, err := e.m.IsPendingRecoveryCodesAcknowledgment(e.ctx, "alice")
	mustOK(t, err)
	if !pending {
		t.Fatal("codes not pending after verification")
	}
	again, err := e.m.GetRecoveryCodes(e.ctx, "alice", false)
	mustOK(t, err)
	if strings.Join(again, ",") != strings.Join(codes, ",") {
		t.Fatal("GetRecoveryCodes(false) returned other codes while pending")
	}
	mustOK(t, e.m.CompleteAcknowledgement(e.ctx, "alice"))
	mustOK(t, e.m.CompleteAcknowledgement(e.ctx, "alice")) // idempotent
	pending, _ = e.m.IsPendingRecoveryCodesAcknowledgment(e.ctx, "alice")
	if pending {
		t.Fatal("codes pending after acknowledgement")
	}
	_, err = e.m.GetRecoveryCodes(e.ctx, "alice", false)
	mustErr(t, err, mfa.ErrRecoveryCodesAcknowledged)

	// Input is normalised: case, spaces and dashes do not matter.
	variants := []string{
		strings.ToUpper(codes[0]),
		strings.ReplaceAll(codes[1], "-", ""),
		strings.ReplaceAll(codes[2], "-", " "),
		" " + codes[3] + " ",
	}
	for i, v := range variants {
		res, err := e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: v})
		mustOK(t, err)
		if res.Method != mfa.MethodRecoveryCode || res.Device != nil || res.RecoveryCodesRemaining != 9-i || res.RecoveryCodesPending {
			t.Fatalf("result %+v", res)
		}
	}
	// Each code works once.
	_, err = e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: codes[0]})
	mustErr(t, err, mfa.ErrInvalidCode)
	if !e.events.has(mfa.EventRecoveryCodeUsed) {
		t.Fatal("no recovery_code.used event")
	}
	// A code of one user does not work for another.
	e.enrol(t, "bob")
	_, err = e.m.AuthenticateRecoveryCode(e.ctx, "bob", mfa.RecoveryRequest{Code: codes[5]})
	mustErr(t, err, mfa.ErrInvalidCode)
}

func TestRecoveryCodesRunLowAndRegenerate(t *testing.T) {
	e := newEnv(t, func(c *mfa.Config) { c.Lockout.Threshold = 100 })
	_, codes := e.enrol(t, "alice")
	mustOK(t, e.m.CompleteAcknowledgement(e.ctx, "alice"))
	for i, c := range codes[:7] {
		_, err := e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: c})
		mustOK(t, err)
		if e.events.has(mfa.EventRecoveryCodesLow) {
			t.Fatalf("low event with %d codes left", 10-i-1)
		}
	}
	res, err := e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: codes[7]})
	mustOK(t, err)
	if res.RecoveryCodesRemaining != 2 || !e.events.has(mfa.EventRecoveryCodesLow) {
		t.Fatalf("remaining %d, low event %t", res.RecoveryCodesRemaining, e.events.has(mfa.EventRecoveryCodesLow))
	}
	fresh, err := e.m.GetRecoveryCodes(e.ctx, "alice", true)
	mustOK(t, err)
	if len(fresh) != 10 || !e.events.has(mfa.EventRecoveryCodesRegenerated) {
		t.Fatal("GetRecoveryCodes(true) did not make a new set")
	}
	pending, _ := e.m.IsPendingRecoveryCodesAcknowledgment(e.ctx, "alice")
	if !pending {
		t.Fatal("a new set must wait for acknowledgement")
	}
	// Every old code, used or not, is invalid now.
	for _, c := range codes[8:] {
		_, err := e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: c})
		mustErr(t, err, mfa.ErrInvalidCode)
	}
	newer, err := e.m.GetNewRecoveryCodes(e.ctx, "alice")
	mustOK(t, err)
	_, err = e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: fresh[0]})
	mustErr(t, err, mfa.ErrInvalidCode)
	_, err = e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: newer[0]})
	mustOK(t, err)
}

func TestRecoveryCodesNeedAVerifiedDevice(t *testing.T) {
	e := newEnv(t)
	_, err := e.m.GetRecoveryCodes(e.ctx, "alice", false)
	mustErr(t, err, mfa.ErrNoDevice)
	_, err = e.m.GetNewRecoveryCodes(e.ctx, "alice")
	mustErr(t, err, mfa.ErrNoDevice)
	mustErr(t, e.m.CompleteAcknowledgement(e.ctx, "alice"), mfa.ErrNoDevice)
	_, err = e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: "aaaa-bbbb-cccc-dddd"})
	mustErr(t, err, mfa.ErrNoDevice)
	if _, err := e.m.AddDevice(e.ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	_, err = e.m.GetNewRecoveryCodes(e.ctx, "alice")
	mustErr(t, err, mfa.ErrNoDevice)
	pending, err := e.m.IsPendingRecoveryCodesAcknowledgment(e.ctx, "alice")
	if err != nil || pending {
		t.Fatalf("pending device only: pending %t, %v", pending, err)
	}
}

func TestRecoveryCodeIssuesToken(t *testing.T) {
	e := newEnv(t)
	_, codes := e.enrol(t, "alice")
	res, err := e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: codes[0], CreateMFAToken: &mfa.TokenRequest{SingleUse: true, Scopes: []string{"user:update"}}})
	mustOK(t, err)
	if res.MFAToken == nil {
		t.Fatal("no token")
	}
	_, err = e.m.ValidateMFAToken(e.ctx, "alice", res.MFAToken.Value, "user:update")
	mustOK(t, err)
}

// TestPendingCodesShowOnlyUnused: while codes wait for acknowledgement,
// GetRecoveryCodes lists the ones still unused.
func TestPendingCodesShowOnlyUnused(t *testing.T) {
	e := newEnv(t)
	_, codes := e.enrol(t, "alice")
	_, err := e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: codes[4]})
	mustOK(t, err)
	left, err := e.m.GetRecoveryCodes(e.ctx, "alice", false)
	mustOK(t, err)
	if len(left) != 9 || slices.Contains(left, codes[4]) {
		t.Fatalf("pending codes after using one: %v", left)
	}
}

// TestRecoveryCodesRevealFor checks that an unacknowledged set can be shown
// only for RecoveryConfig.RevealFor, that reads stay reads, and that the
// next write to the set, or Cleanup, drops the sealed plaintext while the
// codes stay valid.
func TestRecoveryCodesRevealFor(t *testing.T) {
	for _, drop := range []string{"recovery code login", "Cleanup"} {
		t.Run(drop, func(t *testing.T) {
			e := newEnv(t)
			secret, codes := e.enrol(t, "alice")
			made := e.clock.Now().Add(-30 * time.Second) // enrol moved the clock on
			flowView := func() mfa.View {
				t.Helper()
				st, err := e.m.NewSyncFlow("alice", nil).Sync(e.ctx, nil)
				mustOK(t, err)
				return st.View
			}

			e.clock.Set(made.Add(time.Hour - time.Nanosecond))
			shown, err := e.m.GetRecoveryCodes(e.ctx, "alice", false)
			mustOK(t, err)
			if !slices.Equal(shown, codes) {
				t.Fatal("codes not shown before RevealFor")
			}
			if v := flowView(); v != mfa.ViewBackupCodes {
				t.Fatalf("flow shows %s before RevealFor, want backup codes", v)
			}

			e.clock.Set(made.Add(time.Hour))
			before := e.state(t, "alice")
			_, err = e.m.GetRecoveryCodes(e.ctx, "alice", false)
			mustErr(t, err, mfa.ErrRecoveryCodesAcknowledged)
			if pending, err := e.m.IsPendingRecoveryCodesAcknowledgment(e.ctx, "alice"); err != nil || pending {
				t.Fatalf("pending after RevealFor: %t, %v", pending, err)
			}
			if v := flowView(); v != mfa.ViewDevices {
				t.Fatalf("flow shows %s after RevealFor, want the device list", v)
			}
			res, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, secret, 0)})
			mustOK(t, err)
			if res.RecoveryCodesPending {
				t.Fatal("a login after RevealFor reports codes pending")
			}
			before.Devices = e.state(t, "alice").Devices // the login moved the step on
			e.unchanged(t, "alice", before)
			if e.state(t, "alice").RecoveryCodes.Sealed == nil {
				t.Fatal("a read dropped the sealed codes")
			}

			switch drop {
			case "recovery code login":
				res, err := e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: codes[0]})
				mustOK(t, err)
				if res.RecoveryCodesPending || res.RecoveryCodesRemaining != 9 {
					t.Fatalf("result %+v", res)
				}
			case "Cleanup":
				mustOK(t, e.m.Cleanup(e.ctx))
			}
			st := e.state(t, "alice")
			if st.RecoveryCodes.Sealed != nil {
				t.Fatalf("sealed codes kept after %s", drop)
			}
			// The codes themselves still work.
			_, err = e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: codes[1]})
			mustOK(t, err)
			// A new set can be seen again.
			fresh, err := e.m.GetNewRecoveryCodes(e.ctx, "alice")
			mustOK(t, err)
			again, err := e.m.GetRecoveryCodes(e.ctx, "alice", false)
			mustOK(t, err)
			if !slices.Equal(fresh, again) {
				t.Fatal("a new set is not shown")
			}
		})
	}
}

// TestCleanupKeepsRevealableCodes checks that Cleanup leaves a set that can
// still be shown.
func TestCleanupKeepsRevealableCodes(t *testing.T) {
	e := newEnv(t, func(c *mfa.Config) { c.Recovery.RevealFor = 10 * time.Minute })
	_, codes := e.enrol(t, "alice")
	e.clock.Advance(9 * time.Minute)
	mustOK(t, e.m.Cleanup(e.ctx))
	shown, err := e.m.GetRecoveryCodes(e.ctx, "alice", false)
	mustOK(t, err)
	if !slices.Equal(shown, codes) {
		t.Fatal("Cleanup dropped codes within RevealFor")
	}
	e.clock.Advance(time.Minute)
	_, err = e.m.GetRecoveryCodes(e.ctx, "alice", false)
	mustErr(t, err, mfa.ErrRecoveryCodesAcknowledged)
}

func TestIsEnrolled(t *testing.T) {
	e := newEnv(t)
	check := func(want bool) {
		t.Helper()
		got, err := e.m.IsEnrolled(e.ctx, "alice")
		mustOK(t, err)
		if got != want {
			t.Fatalf("IsEnrolled = %t, want %t", got, want)
		}
	}
	check(false)
	_, err := e.m.AddDevice(e.ctx, "alice")
	mustOK(t, err)
	check(false) // a pending device is not a factor
	e.store.DeleteUser(e.ctx, "alice")
	e.enrol(t, "alice")
	check(true)
	_, err = e.m.IsEnrolled(e.ctx, "")
	mustErr(t, err, mfa.ErrInvalidInput)
	var checked []mfa.Event
	for _, ev := range e.events.take() {
		if ev.Type == mfa.EventEnrollmentChecked {
			checked = append(checked, ev)
		}
	}
	if len(checked) != 3 || checked[0].Enrolled || checked[1].Enrolled || !checked[2].Enrolled {
		t.Fatalf("enrollment events %+v, want false, false, true", checked)
	}
}

// hookStore runs afterLoad once, right after the next LoadUser.
type hookStore struct {
	mfa.Store
	afterLoad func()
}

func (s *hookStore) LoadUser(ctx context.Context, userID string, now time.Time) (mfa.UserState, error) {
	st, err := s.Store.LoadUser(ctx, userID, now)
	if f := s.afterLoad; f != nil {
		s.afterLoad = nil
		f()
	}
	return st, err
}

// TestAcknowledgementKeepsANewerSet: a set made between the
// acknowledgement's read and its write was never shown, and keeps its
// plaintext.
func TestAcknowledgementKeepsANewerSet(t *testing.T) {
	hs := &hookStore{Store: memstore.New()}
	e := newEnv(t, func(c *mfa.Config) { c.Store = hs })
	e.enrol(t, "alice")
	var fresh []string
	hs.afterLoad = func() {
		var err error
		fresh, err = e.m.GetNewRecoveryCodes(e.ctx, "alice")
		mustOK(t, err)
	}
	mustOK(t, e.m.CompleteAcknowledgement(e.ctx, "alice"))
	shown, err := e.m.GetRecoveryCodes(e.ctx, "alice", false)
	mustOK(t, err)
	if len(fresh) == 0 || !slices.Equal(shown, fresh) {
		t.Fatalf("after acknowledging the old set, the new one shows %v, want %v", shown, fresh)
	}
}
