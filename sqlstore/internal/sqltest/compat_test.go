package sqltest

import (
	"context"
	"crypto/fips140"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/mfatest"
	"github.com/mfakit/mfa/sqlstore"
)

// compatDB is testdata/mfakit-0.1.json: what the SQLite database beside
// it, written by mfakit 0.1, holds.
type compatDB struct {
	Keys                           []string
	File, UserID, DeviceID, Secret string
	At                             time.Time
	RecoveryCodes                  []string
	Token                          string
}

// TestOpensDatabaseOf01 opens a copy of a SQLite database that mfakit 0.1
// wrote, which New migrates, and uses it: the device's code is accepted,
// the pending recovery codes are shown and work, the token still
// authorises.
func TestOpensDatabaseOf01(t *testing.T) {
	if fips140.Enforced() {
		t.Skip("the database holds a SHA1 device, which FIPS 140-3 mode refuses")
	}
	raw, err := os.ReadFile("testdata/mfakit-0.1.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx compatDB
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join("testdata", fx.File))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mfa.db")
	if err := os.WriteFile(path, db, 0o600); err != nil {
		t.Fatal(err)
	}
	var keys []mfa.Key
	for _, s := range fx.Keys {
		k, err := mfa.DecodeKey(s)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	ring, err := mfa.NewKeyring(keys[0], keys[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	clock := mfatest.NewClock(fx.At.Add(30 * time.Second))
	m, err := mfa.New(mfa.Config{Store: newStore(t, openSQLite(t, path), sqlstore.SQLite), Issuer: "Compat", Keys: ring, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}

	devices, err := m.GetUserDevices(ctx, fx.UserID)
	if err != nil || len(devices) != 1 || devices[0].ID != fx.DeviceID || !devices[0].Verified || devices[0].Alias != "Phone" {
		t.Fatalf("devices %+v, %v", devices, err)
	}
	codes, err := m.GetRecoveryCodes(ctx, fx.UserID, false)
	if err != nil || !slices.Equal(codes, fx.RecoveryCodes) {
		t.Fatalf("recovery codes %v, %v; want %v", codes, err, fx.RecoveryCodes)
	}
	if _, err := m.ValidateMFAToken(ctx, fx.UserID, fx.Token, "user:update"); err != nil {
		t.Fatalf("the stored token: %v", err)
	}
	if _, err := m.AuthenticateDevice(ctx, fx.UserID, mfa.AuthenticateRequest{Code: mfatest.Code(t, fx.Secret, clock.Now())}); err != nil {
		t.Fatalf("a code of the stored device: %v", err)
	}
	if _, err := m.AuthenticateRecoveryCode(ctx, fx.UserID, mfa.RecoveryRequest{Code: fx.RecoveryCodes[0]}); err != nil {
		t.Fatalf("a stored recovery code: %v", err)
	}
}
