package mfa_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
)

// TestLogger checks what the core logs: a store failure at Error with its
// cause, which the caller's error hides; key rotation at Info; and nothing
// without Config.Logger.
func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	fs := &failingStore{Store: memstore.New()}
	oldKey, err := mfa.GenerateKey("old")
	mustOK(t, err)
	oldRing, err := mfa.NewKeyring(oldKey)
	mustOK(t, err)
	e := newEnv(t, func(c *mfa.Config) { c.Store, c.Keys, c.Logger = fs, oldRing, logger })
	secret, _ := e.enrol(t, "alice")

	fs.method, fs.err = "LoadUser", errors.New("connection reset by peer")
	_, err = e.m.GetUserDevices(e.ctx, "alice")
	mustErr(t, err, mfa.ErrStore)
	if strings.Contains(mfa.ErrorCode(err), "connection reset") {
		t.Fatal("the caller's error code carries the cause")
	}
	if out := buf.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "op=\"load user\"") || !strings.Contains(out, "connection reset by peer") {
		t.Fatalf("store failure logged as:\n%s", out)
	}
	fs.method = ""

	// A login after rotation re-encrypts the secret, and says so.
	newKey, err := mfa.GenerateKey("new")
	mustOK(t, err)
	ring, err := mfa.NewKeyring(newKey, oldKey)
	mustOK(t, err)
	m, err := mfa.New(mfa.Config{Store: fs, Issuer: "Acme", Keys: ring, Now: e.clock.Now, Logger: logger})
	mustOK(t, err)
	buf.Reset()
	_, err = m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, secret, 0)})
	mustOK(t, err)
	if out := buf.String(); !strings.Contains(out, "level=INFO") || !strings.Contains(out, "re-encrypted") || !strings.Contains(out, "keyId=new") {
		t.Fatalf("rotation logged as:\n%s", out)
	}

	// Without a Logger, nothing is logged, and nothing breaks.
	quiet, err := mfa.New(mfa.Config{Store: memstore.New(), Issuer: "Acme", Keys: mfatest.Keyring(t)})
	mustOK(t, err)
	_, err = quiet.GetUserDevices(e.ctx, "alice")
	mustOK(t, err)
}
