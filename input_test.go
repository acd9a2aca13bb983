package mfa_test

import (
	"strings"
	"testing"

	"github.com/mfakit/mfa"
)

// TestBadInputChangesNothing sends every kind of bad input to every entry
// point: each gets a typed error, and the user's stored state, lockout
// count included, stays exactly as it was.
func TestBadInputChangesNothing(t *testing.T) {
	huge := strings.Repeat("7", 64<<10)
	e := newEnv(t)
	secret, codes := e.enrol(t, "alice")
	good := e.code(t, secret, 0)
	devices, _ := e.m.GetUserDevices(e.ctx, "alice")
	tests := []struct {
		name string
		want error
		call func() error
	}{
		{"empty user", mfa.ErrInvalidInput, func() error {
			_, err := e.m.AuthenticateDevice(e.ctx, "", mfa.AuthenticateRequest{Code: good})
			return err
		}},
		{"huge user", mfa.ErrInvalidInput, func() error {
			_, err := e.m.AuthenticateDevice(e.ctx, huge, mfa.AuthenticateRequest{Code: good})
			return err
		}},
		{"user with control characters", mfa.ErrInvalidInput, func() error {
			_, err := e.m.AddDevice(e.ctx, "ali\x00ce")
			return err
		}},
		{"user not UTF-8", mfa.ErrInvalidInput, func() error {
			_, err := e.m.GetUserDevices(e.ctx, "\xff\xfe")
			return err
		}},
		{"code too short", mfa.ErrInvalidInput, func() error {
			_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: good[:5]})
			return err
		}},
		{"code too long", mfa.ErrInvalidInput, func() error {
			_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: good + "1"})
			return err
		}},
		{"code with letters", mfa.ErrInvalidInput, func() error {
			_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: "12a456"})
			return err
		}},
		{"code with non-ASCII digits", mfa.ErrInvalidInput, func() error {
			_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: "١٢٣٤٥٦"})
			return err
		}},
		{"empty code", mfa.ErrInvalidInput, func() error {
			_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{})
			return err
		}},
		{"64 KiB code", mfa.ErrInvalidInput, func() error {
			_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: huge})
			return err
		}},
		{"unknown device", mfa.ErrDeviceNotFound, func() error {
			_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: good, DeviceID: "0d1c2b3a-0000-4000-8000-000000000000"})
			return err
		}},
		{"64 KiB device ID", mfa.ErrInvalidInput, func() error {
			_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: good, DeviceID: huge})
			return err
		}},
		{"recovery code too short", mfa.ErrInvalidInput, func() error {
			_, err := e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: codes[0][:18]})
			return err
		}},
		{"recovery code with foreign letters", mfa.ErrInvalidInput, func() error {
			_, err := e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: "uuuu-uuuu-uuuu-uuuu"})
			return err
		}},
		{"recovery code non-ASCII", mfa.ErrInvalidInput, func() error {
			_, err := e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: "ａａａａ-bbbb-cccc-dddd"})
			return err
		}},
		{"64 KiB recovery code", mfa.ErrInvalidInput, func() error {
			_, err := e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: huge})
			return err
		}},
		{"recovery code, bad token request", mfa.ErrInvalidInput, func() error {
			_, err := e.m.AuthenticateRecoveryCode(e.ctx, "alice", mfa.RecoveryRequest{Code: codes[0], CreateMFAToken: &mfa.TokenRequest{Scopes: []string{huge}}})
			return err
		}},
		{"64 KiB token", mfa.ErrTokenInvalid, func() error {
			_, err := e.m.ValidateMFAToken(e.ctx, "alice", huge, "user:update")
			return err
		}},
		{"64 KiB scope", mfa.ErrInvalidInput, func() error {
			_, err := e.m.ValidateMFAToken(e.ctx, "alice", "mfat_x", huge)
			return err
		}},
		{"empty scope", mfa.ErrInvalidInput, func() error {
			_, err := e.m.ValidateMFAToken(e.ctx, "alice", "mfat_x", "")
			return err
		}},
		{"unknown action", mfa.ErrInvalidInput, func() error {
			_, err := e.m.AuthorizeAction(e.ctx, "alice", "tranfser", "mfat_x")
			return err
		}},
		{"64 KiB action", mfa.ErrInvalidInput, func() error {
			_, err := e.m.AuthorizeAction(e.ctx, "alice", huge, "")
			return err
		}},
		{"remove unknown device", mfa.ErrDeviceNotFound, func() error {
			return e.m.RemoveDevice(e.ctx, "alice", "nope")
		}},
		{"remove device, empty ID", mfa.ErrInvalidInput, func() error {
			return e.m.RemoveDevice(e.ctx, "alice", "")
		}},
		{"unlock, empty user", mfa.ErrInvalidInput, func() error {
			return e.m.UnlockUser(e.ctx, "")
		}},
		{"alias with a bidi override", mfa.ErrInvalidInput, func() error {
			_, err := e.m.AddDevice(e.ctx, "alice", mfa.WithAlias("Phone\u202egnp.exe"))
			return err
		}},
		{"account name with a zero-width space", mfa.ErrInvalidInput, func() error {
			_, err := e.m.AddDevice(e.ctx, "alice", mfa.WithAccountName("alice@exam\u200bple.com"))
			return err
		}},
		{"delete unknown device", mfa.ErrDeviceNotFound, func() error {
			return e.m.DeleteDevice(e.ctx, "alice", "nope", "")
		}},
		{"delete without device ID", mfa.ErrInvalidInput, func() error {
			return e.m.DeleteDevice(e.ctx, "alice", "", "")
		}},
		{"delete without token", mfa.ErrTokenRequired, func() error {
			return e.m.DeleteDevice(e.ctx, "alice", devices[0].ID, "")
		}},
		{"64 KiB account name", mfa.ErrInvalidInput, func() error {
			_, err := e.m.AddDevice(e.ctx, "alice", mfa.WithAccountName(huge))
			return err
		}},
		{"second device", mfa.ErrDeviceLimit, func() error {
			_, err := e.m.AddDevice(e.ctx, "alice")
			return err
		}},
		{"reset empty user", mfa.ErrInvalidInput, func() error { return e.m.ResetUser(e.ctx, "") }},
		{"acknowledge huge user", mfa.ErrInvalidInput, func() error { return e.m.CompleteAcknowledgement(e.ctx, huge) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.state(t, "alice")
			err := tc.call()
			mustErr(t, err, tc.want)
			if len(err.Error()) > 300 {
				t.Fatalf("error text is %d bytes: input echoed back?", len(err.Error()))
			}
			e.unchanged(t, "alice", before)
		})
	}
	// After all of that the good code still works: nothing was counted.
	_, err := e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: good})
	mustOK(t, err)
}
