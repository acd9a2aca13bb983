package sqltest

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/mfatest"
	"github.com/mfakit/mfa/sqlstore"
)

// TestNoPlaintextAtRest enrols a user through the whole flow and searches
// everything the database holds, twice: while the recovery codes wait for
// acknowledgement (their sealed plaintext is stored) and after. Neither the
// TOTP secret (raw, hex, base32 in both cases), nor any recovery code
// (formatted or normalised, either case, raw or hex), nor the MFA token may
// appear. The user and device IDs must appear, so that the search is known
// to see the data.
func TestNoPlaintextAtRest(t *testing.T) {
	t.Run("PostgreSQL", func(t *testing.T) {
		dsn, schema := postgresSchemaNamed(t)
		db := openDB(t, "pgx", dsn)
		dumps := func(t *testing.T) map[string][]byte {
			return map[string][]byte{"pg_dump": pgDump(t, schema), "SELECT": selectAll(t, db, schema)}
		}
		testNoPlaintext(t, newStore(t, db, sqlstore.PostgreSQL), dumps)
	})
	t.Run("SQLite", func(t *testing.T) {
		path := t.TempDir() + "/mfa.db"
		db := openSQLite(t, path)
		dumps := func(t *testing.T) map[string][]byte {
			files := map[string][]byte{}
			for _, suffix := range []string{"", "-wal", "-shm"} {
				b, err := os.ReadFile(path + suffix)
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
				files["mfa.db"+suffix] = b
			}
			return files
		}
		needles, controls := testNoPlaintext(t, newStore(t, db, sqlstore.SQLite), dumps)
		// Closing checkpoints the WAL into the main file: look again.
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		t.Run("AfterClose", func(t *testing.T) { searchDumps(t, dumps(t), needles, controls) })
	})
}

// testNoPlaintext enrols a user, searches the dumps, and returns what it
// searched for: the needles that must not be found and the controls that
// must.
func testNoPlaintext(t *testing.T, store mfa.Store, dumps func(t *testing.T) map[string][]byte) (needles, controls map[string][]byte) {
	ctx := context.Background()
	clock := mfatest.NewClock(processEpoch)
	m, err := mfa.New(mfa.Config{Store: store, Issuer: "mfakit", Keys: mfatest.Keyring(t), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	const user = "plaintext-user-7c1f"
	reg, err := m.AddDevice(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.AuthenticateDevice(ctx, user, mfa.AuthenticateRequest{
		Code:           mfatest.Code(t, reg.Secret, clock.Now()),
		CreateMFAToken: &mfa.TokenRequest{Scopes: []string{"user:update"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	codes, err := m.GetRecoveryCodes(ctx, user, false)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(reg.Secret)
	if err != nil {
		t.Fatal(err)
	}

	needles = map[string][]byte{
		"secret":              raw,
		"secret (hex)":        []byte(hex.EncodeToString(raw)),
		"secret (base32)":     []byte(strings.ToUpper(reg.Secret)),
		"secret (base32, lc)": []byte(strings.ToLower(reg.Secret)),
		"token":               []byte(res.MFAToken.Value),
		"token (hex)":         []byte(hex.EncodeToString([]byte(res.MFAToken.Value))),
	}
	for i, c := range codes {
		for _, form := range []string{c, strings.ReplaceAll(c, "-", "")} {
			for _, v := range []string{strings.ToLower(form), strings.ToUpper(form)} {
				needles[fmt.Sprintf("recovery code %d %q", i, v)] = []byte(v)
				needles[fmt.Sprintf("recovery code %d %q (hex)", i, v)] = []byte(hex.EncodeToString([]byte(v)))
			}
		}
	}
	controls = map[string][]byte{"user ID": []byte(user), "device ID": []byte(reg.DeviceID)}

	t.Run("CodesPending", func(t *testing.T) { searchDumps(t, dumps(t), needles, controls) })
	if err := m.CompleteAcknowledgement(ctx, user); err != nil {
		t.Fatal(err)
	}
	t.Run("CodesAcknowledged", func(t *testing.T) { searchDumps(t, dumps(t), needles, controls) })
	return needles, controls
}

// searchDumps fails the test for every needle found in a dump, and when
// no dump holds a control.
func searchDumps(t *testing.T, dumps, needles, controls map[string][]byte) {
	t.Helper()
	for name, want := range controls {
		found := false
		for _, d := range dumps {
			found = found || bytes.Contains(d, want)
		}
		if !found {
			t.Errorf("the %s is in no dump: the search cannot see the data", name)
		}
	}
	for dump, d := range dumps {
		for name, needle := range needles {
			if bytes.Contains(d, needle) {
				t.Errorf("%s holds the %s in plain text", dump, name)
			}
		}
	}
}

// pgDump returns pg_dump's output for the schema's data. Without pg_dump
// the test is skipped, or fails under CI.
func pgDump(t *testing.T, schema string) []byte {
	t.Helper()
	if _, err := exec.LookPath("pg_dump"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("pg_dump not found; install the PostgreSQL client")
		}
		t.Skip("pg_dump not found; skipping the dump of PostgreSQL")
	}
	var stderr bytes.Buffer
	cmd := exec.Command("pg_dump", "--data-only", "--schema="+schema, "--dbname="+postgresBase(t))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, stderr.String())
	}
	return out
}

// selectAll returns every column of every table of the schema as text,
// as SELECT column::text renders it (bytea as hex), and as the driver
// returns it (bytea as bytes).
func selectAll(t *testing.T, db *sql.DB, schema string) []byte {
	t.Helper()
	rows, err := db.Query("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1", schema)
	if err != nil {
		t.Fatal(err)
	}
	type column struct{ table, name string }
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.table, &c.name); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if len(cols) == 0 {
		t.Fatal("no columns in the schema")
	}
	var out bytes.Buffer
	for _, c := range cols {
		q := fmt.Sprintf(`SELECT %[1]q::text, %[1]q FROM %[2]q.%[3]q`, c.name, schema, c.table)
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var text sql.NullString
			var value any
			if err := rows.Scan(&text, &value); err != nil {
				t.Fatal(err)
			}
			out.WriteString(text.String)
			out.WriteByte(0)
			if b, ok := value.([]byte); ok {
				out.Write(b)
			} else {
				fmt.Fprint(&out, value)
			}
			out.WriteByte(0)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return out.Bytes()
}
