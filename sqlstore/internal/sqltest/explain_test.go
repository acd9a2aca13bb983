package sqltest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa/sqlstore"
	"github.com/mfakit/mfa/sqlstore/internal/queries"
)

// explainUsers is how many enrolled users TestQueriesUseIndexes loads: with
// ten codes, a token and a lockout row each, every table is large enough
// that a sequential scan would cost far more than an index lookup.
const explainUsers = 20_000

// TestQueriesUseIndexes fills the tables with explainUsers users, runs
// ANALYZE, and has PostgreSQL EXPLAIN every query the store sends on a
// request's path, with realistic arguments, under both a custom plan (the
// arguments known) and a generic one (what a prepared statement may switch
// to after five executions). No plan may read an mfa_ table sequentially.
func TestQueriesUseIndexes(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the 20,000-user EXPLAIN test in -short mode")
	}
	db := openPostgres(t)
	newStore(t, db, sqlstore.PostgreSQL)
	ctx := context.Background()
	fillTables(t, db, explainUsers)

	const user = "user-12345"
	dev := fmt.Sprintf("dev-%d", 12345)
	hash := sha256.Sum256([]byte("code-12345-3"))
	tok := sha256.Sum256([]byte("token-12345"))
	passkey := fmt.Sprintf("passkey-%d", 12345)
	cred := sha256.Sum256([]byte("credential-new"))
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	const codes = 10
	// The passkey columns of a device: none, or a new credential.
	noPasskey := make([]any, 11)
	credential := []any{cred[:], int64(0), []byte("handle"), []byte("cose-key"), make([]byte, 16), `["internal","hybrid"]`,
		true, true, true, "none", "none"}
	args := map[string][]any{
		"LoadUser":             {user, now},
		"DeletePendingDevices": {user},
		"CountVerifiedOfType":  {user, "totp"},
		"CountVerifiedLike":    {user, dev},
		"SetDefaultDevice":     {user, dev},
		"InsertDevice":         append([]any{"new-dev", user, "totp", "", user, []byte("sealed"), false, now, now.Add(10 * time.Minute), nil, nil, 0, "SHA256", 8, 30}, noPasskey...),
		"VerifyDevice":         {user, dev, now, int64(59_000_000)},
		"DeviceVerified":       {user, dev},
		"AcceptStep":           {user, dev, int64(59_000_000), now, 0, nil},
		"AcceptStepZero":       {user, dev, int64(59_000_000), now},
		"AcceptStepOutcome":    {user, dev},
		"UpdateDeviceSecret":   {user, dev, []byte("sealed")},
		"DeleteDevice":         {user, dev},
		"DeleteCodes":          {user},
		"AnyVerifiedDevice":    {user},
		"UpsertCodeSet":        {user, "test", []byte("sealed"), now, nil},
		"DeleteCodeSet":        {user},
		"ConsumeCode":          {user, hash[:]},
		"CountCodes":           {user},
		"AcknowledgeCodes":     {user, now},
		"InsertToken":          {tok[:], user, true, `["user:update"]`, now, now.Add(5 * time.Minute)},
		"Token":                {tok[:], user},
		"ConsumeToken":         {tok[:], user, now},
		"DeleteUserTokens":     {user},
		"Lockout":              {user},
		"SwapLockoutFromZero":  {user, 1, now},
		"SwapLockout":          {user, 2, now, 1, now},
		"LockoutForUpdate":     {user},
		"ResetLockout":         {user},
		"VerifyPasskey":        append([]any{user, dev, now, []byte{}}, credential...),
		"VerifyPasskeyOutcome": {user, dev},
		"AcceptPasskey":        {user, passkey, int64(7), true, now, 1, now},
		"AcceptPasskeyZero":    {user, passkey, int64(7), true, now},
		"AcceptPasskeyOutcome": {user, passkey},
		"PutChallenge":         {user, []byte("sealed"), now, now.Add(5 * time.Minute)},
		"TakeChallenge":        {user},
	}
	insertCodes := []any{user}
	for i := range codes {
		h := sha256.Sum256(fmt.Appendf(nil, "new-code-%d", i))
		insertCodes = append(insertCodes, h[:])
	}
	args["InsertCodes"] = insertCodes

	stmts := postgreSQLQueries(codes)
	names := make([]string, 0, len(stmts))
	for name := range stmts {
		names = append(names, name)
	}
	sort.Strings(names)
	// One connection, so that the prepared statements and the setting
	// apply to the EXPLAINs after them.
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The detector itself: a query without a usable index must be caught.
	var control string
	if err := conn.QueryRowContext(ctx, "EXPLAIN (FORMAT JSON) DELETE FROM mfa_lockouts WHERE failures = 0").Scan(&control); err != nil {
		t.Fatal(err)
	}
	if scans := seqScans(t, control); len(scans) != 1 || scans[0] != "mfa_lockouts" {
		t.Fatalf("control query: found sequential scans %v, want [mfa_lockouts]; plan %s", scans, control)
	}
	for i, name := range names {
		a, ok := args[name]
		if strings.HasPrefix(name, "DeleteUser") {
			a, ok = []any{user}, true
		}
		if !ok {
			t.Errorf("%s: no arguments for EXPLAIN; add them to TestQueriesUseIndexes", name)
			continue
		}
		stmt := fmt.Sprintf("q%d", i)
		if _, err := conn.ExecContext(ctx, "PREPARE "+stmt+" AS "+stmts[name]); err != nil {
			t.Errorf("%s: PREPARE: %v", name, err)
			continue
		}
		// EXECUTE takes its arguments as expressions, not as parameters
		// of the EXPLAIN statement, so they are written as literals.
		params := make([]string, len(a))
		for j, v := range a {
			params[j] = sqlLiteral(t, v)
		}
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			if _, err := conn.ExecContext(ctx, "SET plan_cache_mode = "+mode); err != nil {
				t.Fatal(err)
			}
			var plan string
			explain := "EXPLAIN (FORMAT JSON) EXECUTE " + stmt + "(" + strings.Join(params, ", ") + ")"
			if err := conn.QueryRowContext(ctx, explain).Scan(&plan); err != nil {
				t.Errorf("%s (%s): EXPLAIN: %v", name, mode, err)
				continue
			}
			if scans := seqScans(t, plan); len(scans) > 0 {
				t.Errorf("%s (%s): sequential scan of %v:\n%s\nplan: %s", name, mode, scans, stmts[name], plan)
			}
		}
	}
}

// postgreSQLQueries returns every query the store sends to PostgreSQL on a
// request's path (all but migrations and Cleanup), by name, with the
// recovery code insert for a set of codes codes. A statement added to
// package queries belongs here.
func postgreSQLQueries(codes int) map[string]string {
	m := map[string]string{
		"LoadUser":             queries.LoadUserPostgreSQL,
		"DeletePendingDevices": queries.DeletePendingDevices,
		"CountVerifiedOfType":  queries.CountVerifiedOfType,
		"CountVerifiedLike":    queries.CountVerifiedLikeDevice,
		"SetDefaultDevice":     queries.SetDefaultDevice,
		"InsertDevice":         queries.InsertDevice,
		"VerifyDevice":         queries.VerifyDevice,
		"DeviceVerified":       queries.DeviceVerified,
		"AcceptStep":           queries.AcceptStepPostgreSQL,
		"AcceptStepZero":       queries.AcceptStepZeroLockoutPostgreSQL,
		"AcceptStepOutcome":    queries.AcceptStepOutcome,
		"UpdateDeviceSecret":   queries.UpdateDeviceSecret,
		"DeleteDevice":         queries.DeleteDevice,
		"DeleteCodes":          queries.DeleteCodes,
		"AnyVerifiedDevice":    queries.AnyVerifiedDevice,
		"UpsertCodeSet":        queries.UpsertCodeSet,
		"DeleteCodeSet":        queries.DeleteCodeSet,
		"InsertCodes":          queries.InsertCodes(codes),
		"ConsumeCode":          queries.ConsumeCode,
		"CountCodes":           queries.CountCodes,
		"AcknowledgeCodes":     queries.AcknowledgeCodes,
		"InsertToken":          queries.InsertTokenPostgreSQL,
		"Token":                queries.Token,
		"ConsumeToken":         queries.ConsumeToken,
		"DeleteUserTokens":     queries.DeleteUserTokens,
		"Lockout":              queries.Lockout,
		"LockoutForUpdate":     queries.LockoutForUpdatePostgreSQL,
		"SwapLockoutFromZero":  queries.SwapLockoutFromZero,
		"SwapLockout":          queries.SwapLockout,
		"ResetLockout":         queries.ResetLockout,
		"VerifyPasskey":        queries.VerifyPasskey,
		"VerifyPasskeyOutcome": queries.VerifyPasskeyOutcome,
		"AcceptPasskey":        queries.AcceptPasskeyPostgreSQL,
		"AcceptPasskeyZero":    queries.AcceptPasskeyZeroLockoutPostgreSQL,
		"AcceptPasskeyOutcome": queries.AcceptPasskeyOutcome,
		"PutChallenge":         queries.PutChallenge,
		"TakeChallenge":        queries.TakeChallenge,
	}
	for i, q := range queries.DeleteUser {
		m["DeleteUser"+string(rune('0'+i))] = q
	}
	return m
}

// sqlLiteral writes v as a PostgreSQL literal.
func sqlLiteral(t *testing.T, v any) string {
	t.Helper()
	switch v := v.(type) {
	case nil:
		return "NULL"
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case []byte:
		return fmt.Sprintf("'\\x%x'::bytea", v)
	case time.Time:
		return "'" + v.Format(time.RFC3339Nano) + "'::timestamptz"
	case bool, int, int64:
		return fmt.Sprint(v)
	}
	t.Fatalf("no literal for %T", v)
	return ""
}

// seqScans returns the mfa_ tables a JSON plan reads with a Seq Scan.
func seqScans(t *testing.T, plan string) []string {
	t.Helper()
	var doc []struct{ Plan map[string]any }
	if err := json.Unmarshal([]byte(plan), &doc); err != nil || len(doc) != 1 {
		t.Fatalf("cannot read plan %s: %v", plan, err)
	}
	var scans []string
	var walk func(node map[string]any)
	walk = func(node map[string]any) {
		rel, _ := node["Relation Name"].(string)
		if node["Node Type"] == "Seq Scan" && strings.HasPrefix(rel, "mfa_") {
			scans = append(scans, rel)
		}
		children, _ := node["Plans"].([]any)
		for _, c := range children {
			if m, ok := c.(map[string]any); ok {
				walk(m)
			}
		}
	}
	walk(doc[0].Plan)
	return scans
}

// fillTables inserts n enrolled users straight into the tables: user-i has
// a verified device dev-i, a pending device, ten recovery codes, a token
// and a lockout row; a third of them have a passkey passkey-i, and half a
// passkey login ceremony. The values need not decrypt; only the sizes and
// the distribution matter to the planner. ANALYZE then gives it statistics.
func fillTables(t *testing.T, db *sql.DB, n int) {
	t.Helper()
	ctx := context.Background()
	for _, stmt := range []string{
		`INSERT INTO mfa_devices (id, user_id, type, alias, account_name, secret, verified, created_at, verified_at, last_used_at, last_step)
			SELECT 'dev-' || i, 'user-' || i, 'totp', '', 'user-' || i, sha256(('secret-' || i)::bytea), TRUE, now(), now(), now(), 58000000 + i
			FROM generate_series(1, $1) i`,
		`INSERT INTO mfa_devices (id, user_id, type, alias, account_name, secret, verified, created_at, expires_at, last_step)
			SELECT 'pending-' || i, 'user-' || i, 'totp', '', 'user-' || i, sha256(('pending-' || i)::bytea), FALSE, now(), now() + interval '10 minutes', 0
			FROM generate_series(1, $1, 10) i`,
		`INSERT INTO mfa_devices (id, user_id, type, alias, account_name, secret, verified, created_at, verified_at, last_used_at, last_step,
			credential_id, sign_count, user_handle, public_key, aaguid, transports, backup_eligible, backup_state, user_verified,
			attestation_type, attestation_format)
			SELECT 'passkey-' || i, 'user-' || i, 'passkey', '', 'user-' || i, ''::bytea, TRUE, now(), now(), now(), 0,
				sha256(('credential-' || i)::bytea), i % 3, sha256(('handle-' || i)::bytea), sha256(('key-' || i)::bytea),
				'\x00000000000000000000000000000000'::bytea, '["internal"]', TRUE, TRUE, TRUE, 'none', 'none'
			FROM generate_series(3, $1, 3) i`,
		`INSERT INTO mfa_passkey_challenges (user_id, sealed, created_at, expires_at)
			SELECT 'user-' || i, sha256(('challenge-' || i)::bytea), now(), now() + (i % 300) * interval '1 second'
			FROM generate_series(1, $1, 2) i`,
		`INSERT INTO mfa_recovery_code_sets (user_id, key_id, sealed, created_at)
			SELECT 'user-' || i, 'test', CASE WHEN i % 10 = 0 THEN sha256(('sealed-' || i)::bytea) END, now()
			FROM generate_series(1, $1) i`,
		`INSERT INTO mfa_recovery_codes (user_id, hash)
			SELECT 'user-' || i, sha256(('code-' || i || '-' || j)::bytea)
			FROM generate_series(1, $1) i, generate_series(0, 9) j`,
		`INSERT INTO mfa_tokens (hash, user_id, single_use, scopes, created_at, expires_at)
			SELECT sha256(('token-' || i)::bytea), 'user-' || i, i % 2 = 0, '[]', now(), now() + (i % 600) * interval '1 second'
			FROM generate_series(1, $1) i`,
		`INSERT INTO mfa_lockouts (user_id, failures, last_failure)
			SELECT 'user-' || i, i % 3, CASE WHEN i % 3 > 0 THEN now() END
			FROM generate_series(1, $1) i`,
		`ANALYZE mfa_devices, mfa_recovery_code_sets, mfa_recovery_codes, mfa_tokens, mfa_lockouts, mfa_passkey_challenges`,
	} {
		var err error
		if strings.Contains(stmt, "$1") {
			_, err = db.ExecContext(ctx, stmt, n)
		} else {
			_, err = db.ExecContext(ctx, stmt)
		}
		if err != nil {
			t.Fatalf("fill tables: %v\n%s", err, stmt)
		}
	}
}
