package sqltest

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/mfatest"
	"github.com/mfakit/mfa/sqlstore"
)

// The multi-process tests run service instances as separate operating
// system processes on one database: the test binary starts itself again
// with -test.run=^TestHelperProcess$ and the child's part in the
// environment. Each child opens its own *sql.DB and *mfa.MFA with the
// parent's key and a fixed clock, prints "ready", waits for a line on
// stdin so that all children start at once, does its part and prints one
// JSON line per call.

// Environment of a child process.
const (
	childRoleEnv    = "MFA_SQLSTORE_CHILD" // what the child does; unset in a normal run
	childDialectEnv = "MFA_SQLSTORE_CHILD_DIALECT"
	childDSNEnv     = "MFA_SQLSTORE_CHILD_DSN"
	childKeyEnv     = "MFA_SQLSTORE_CHILD_KEY" // mfa.Key.Encode
	childNowEnv     = "MFA_SQLSTORE_CHILD_NOW" // RFC 3339, the child's fixed clock
	childUserEnv    = "MFA_SQLSTORE_CHILD_USER"
	childArgEnv     = "MFA_SQLSTORE_CHILD_ARG" // a code, token or secret
	childCallsEnv   = "MFA_SQLSTORE_CHILD_CALLS"
)

// childLinePrefix marks the child's output lines among the test
// framework's.
const childLinePrefix = "MFACHILD "

// childResult is one call's outcome, as a child prints it.
type childResult struct {
	Call     string `json:"call"`
	User     string `json:"user,omitempty"`
	Code     string `json:"code,omitempty"` // mfa.ErrorCode of the error; "" on success
	Err      string `json:"err,omitempty"`
	Store    bool   `json:"store,omitempty"` // errors.Is(err, mfa.ErrStore)
	Secret   string `json:"secret,omitempty"`
	DeviceID string `json:"deviceId,omitempty"`
	Verified bool   `json:"verified,omitempty"`
}

// TestHelperProcess is a child's body; it does nothing in a normal run.
func TestHelperProcess(t *testing.T) {
	role := os.Getenv(childRoleEnv)
	if role == "" {
		t.Skip("helper process of the multi-process tests; runs only as their child")
	}
	ctx := context.Background()
	driver, dialect := "pgx", sqlstore.PostgreSQL
	if os.Getenv(childDialectEnv) == "sqlite" {
		driver, dialect = "sqlite", sqlstore.SQLite
	}
	db, err := sql.Open(driver, os.Getenv(childDSNEnv))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := sqlstore.New(ctx, db, dialect)
	if err != nil {
		t.Fatal(err)
	}
	key, err := mfa.DecodeKey(os.Getenv(childKeyEnv))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := mfa.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	now, err := time.Parse(time.RFC3339Nano, os.Getenv(childNowEnv))
	if err != nil {
		t.Fatal(err)
	}
	m, err := mfa.New(mfa.Config{Store: store, Issuer: "mfakit", Keys: keys, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	calls, _ := strconv.Atoi(os.Getenv(childCallsEnv))
	user, arg := os.Getenv(childUserEnv), os.Getenv(childArgEnv)

	fmt.Println(childLinePrefix + "ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		t.Fatalf("waiting for the start signal: %v", err)
	}

	var mu sync.Mutex
	report := func(r childResult, err error) {
		if err != nil {
			r.Code, r.Err, r.Store = mfa.ErrorCode(err), err.Error(), errors.Is(err, mfa.ErrStore)
		}
		b, _ := json.Marshal(r)
		mu.Lock()
		defer mu.Unlock()
		fmt.Println(childLinePrefix + string(b))
	}
	// concurrently runs fn in calls goroutines released at once.
	concurrently := func(fn func() error) {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				report(childResult{Call: role, User: user}, fn())
			}()
		}
		close(start)
		wg.Wait()
	}

	switch role {
	case "totp": // calls goroutines try one TOTP code
		concurrently(func() error {
			_, err := m.AuthenticateDevice(ctx, user, mfa.AuthenticateRequest{Code: arg})
			return err
		})
	case "recovery": // calls goroutines try one recovery code
		concurrently(func() error {
			_, err := m.AuthenticateRecoveryCode(ctx, user, mfa.RecoveryRequest{Code: arg})
			return err
		})
	case "token": // calls goroutines validate one single-use token
		concurrently(func() error {
			_, err := m.ValidateMFAToken(ctx, user, arg, "user:update")
			return err
		})
	case "add": // adds a device and reports its secret
		reg, err := m.AddDevice(ctx, user)
		r := childResult{Call: role, User: user}
		if err == nil {
			r.Secret, r.DeviceID = reg.Secret, reg.DeviceID
		}
		report(r, err)
	case "verify": // verifies the pending device whose secret is arg
		res, err := m.AuthenticateDevice(ctx, user, mfa.AuthenticateRequest{Code: mfatest.Code(t, arg, now)})
		r := childResult{Call: role, User: user}
		if err == nil {
			r.DeviceID, r.Verified = res.Device.ID, res.DeviceVerified
		}
		report(r, err)
	case "enrol": // enrols calls users user-0, user-1, ... one after another
		for i := range calls {
			u := user + "-" + strconv.Itoa(i)
			reg, err := m.AddDevice(ctx, u)
			report(childResult{Call: "add", User: u}, err)
			if err != nil {
				continue
			}
			res, err := m.AuthenticateDevice(ctx, u, mfa.AuthenticateRequest{Code: mfatest.Code(t, reg.Secret, now)})
			r := childResult{Call: "verify", User: u}
			if err == nil {
				r.Verified = res.DeviceVerified
			}
			report(r, err)
		}
	default:
		t.Fatalf("unknown child role %q", role)
	}
}

// processEnv is what every child of one test shares.
type processEnv struct {
	dialect string // "postgres" or "sqlite"
	dsn     string
	key     mfa.Key
}

// childSpec is one child's part.
type childSpec struct {
	role, user, arg string
	calls           int
	now             time.Time
}

// runChildren starts one process per spec, one after another (so that
// their start-up, which may migrate the schema, does not race), releases
// them all at once when every one is ready, and returns their results.
func runChildren(t *testing.T, env processEnv, specs ...childSpec) []childResult {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping the multi-process test in -short mode")
	}
	type child struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		lines  chan string
		stderr *strings.Builder
	}
	var children []*child
	t.Cleanup(func() {
		for _, c := range children {
			if c.cmd.ProcessState == nil {
				_ = c.cmd.Process.Kill()
				_ = c.cmd.Wait()
			}
		}
	})
	for _, spec := range specs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			childRoleEnv+"="+spec.role,
			childDialectEnv+"="+env.dialect,
			childDSNEnv+"="+env.dsn,
			childKeyEnv+"="+env.key.Encode(),
			childNowEnv+"="+spec.now.Format(time.RFC3339Nano),
			childUserEnv+"="+spec.user,
			childArgEnv+"="+spec.arg,
			childCallsEnv+"="+strconv.Itoa(spec.calls),
			// Under -race, a process sleeps a second at exit by default.
			"GORACE=atexit_sleep_ms=0 "+os.Getenv("GORACE"),
		)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		c := &child{cmd: cmd, stdin: stdin, lines: make(chan string, 1024), stderr: new(strings.Builder)}
		cmd.Stderr = c.stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		children = append(children, c)
		go func() {
			defer close(c.lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				c.lines <- sc.Text()
			}
		}()
		// Wait for "ready", keeping other output for the failure message.
		var out []string
		for line := range c.lines {
			if line == childLinePrefix+"ready" {
				out = nil
				break
			}
			out = append(out, line)
		}
		if out != nil {
			_ = cmd.Wait()
			t.Fatalf("child %s exited before it was ready:\n%s\n%s", spec.role, strings.Join(out, "\n"), c.stderr)
		}
	}
	for _, c := range children {
		if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
			t.Fatal(err)
		}
	}
	var results []childResult
	for i, c := range children {
		var out []string
		for line := range c.lines {
			out = append(out, line)
			if js, ok := strings.CutPrefix(line, childLinePrefix); ok {
				var r childResult
				if err := json.Unmarshal([]byte(js), &r); err != nil {
					t.Fatalf("child %s: bad line %q: %v", specs[i].role, line, err)
				}
				results = append(results, r)
			}
		}
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("child %s: %v\n%s\n%s", specs[i].role, err, strings.Join(out, "\n"), c.stderr)
		}
	}
	return results
}

// tally counts results by error code ("" for success) and fails the test
// on a code not in allowed.
func tally(t *testing.T, results []childResult, allowed ...string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, r := range results {
		n[r.Code]++
		if r.Code != "" && !contains(allowed, r.Code) {
			t.Errorf("%s for %s: unexpected error %s", r.Call, r.User, r.Err)
		}
	}
	return n
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// processHarness is the parent's side of a multi-process test: its own
// store and MFA on the database the children use, with the same key.
type processHarness struct {
	env   processEnv
	store *sqlstore.Store
	m     *mfa.MFA
	clock *mfatest.Clock
	ctx   context.Context
}

var processEpoch = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func newProcessHarness(t *testing.T, dialect string, dsn string, db *sql.DB) *processHarness {
	t.Helper()
	key, err := mfa.GenerateKey("multiprocess")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := mfa.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	d := sqlstore.PostgreSQL
	if dialect == "sqlite" {
		d = sqlstore.SQLite
	}
	h := &processHarness{env: processEnv{dialect: dialect, dsn: dsn, key: key}, store: newStore(t, db, d),
		clock: mfatest.NewClock(processEpoch), ctx: context.Background()}
	h.m, err = mfa.New(mfa.Config{Store: h.store, Issuer: "mfakit", Keys: keys, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// enrol verifies a device for user and acknowledges its codes at the
// clock's time, then moves the clock to the next time step.
func (h *processHarness) enrol(t *testing.T, user string) (secret string, codes []string) {
	t.Helper()
	reg, err := h.m.AddDevice(h.ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.AuthenticateDevice(h.ctx, user, mfa.AuthenticateRequest{Code: mfatest.Code(t, reg.Secret, h.clock.Now())}); err != nil {
		t.Fatal(err)
	}
	if codes, err = h.m.GetRecoveryCodes(h.ctx, user, false); err != nil {
		t.Fatal(err)
	}
	if err := h.m.CompleteAcknowledgement(h.ctx, user); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(30 * time.Second)
	return reg.Secret, codes
}

// exactlyOneWin checks that of all calls one succeeded.
func exactlyOneWin(t *testing.T, what string, results []childResult, calls int, losers ...string) {
	t.Helper()
	if len(results) != calls {
		t.Fatalf("%s: %d results, want %d", what, len(results), calls)
	}
	if n := tally(t, results, losers...); n[""] != 1 {
		t.Fatalf("%s: %d of %d calls in two processes succeeded, want exactly 1 (%v)", what, n[""], calls, n)
	}
}

// TestTwoProcesses runs two service instances as two processes on one
// database: a TOTP code, a recovery code and a single-use token are each
// accepted once across both, failures in both add up to one lockout, and
// a device added in one is verified in the other.
func TestTwoProcesses(t *testing.T) {
	t.Run("PostgreSQL", func(t *testing.T) {
		dsn := postgresSchema(t)
		testTwoProcesses(t, newProcessHarness(t, "postgres", dsn, openDB(t, "pgx", dsn)))
	})
	t.Run("SQLite", func(t *testing.T) {
		dsn := sqliteDSN(t.TempDir() + "/mfa.db")
		testTwoProcesses(t, newProcessHarness(t, "sqlite", dsn, openDB(t, "sqlite", dsn)))
	})
}

func testTwoProcesses(t *testing.T, h *processHarness) {
	const perChild = 4 // goroutines in each child
	code, reused, rateLimited := mfa.ErrInvalidCode.Code, mfa.ErrCodeReused.Code, mfa.ErrRateLimited.Code

	t.Run("OneTOTPCode", func(t *testing.T) {
		secret, _ := h.enrol(t, "totp-user")
		now := h.clock.Now()
		spec := childSpec{role: "totp", user: "totp-user", arg: mfatest.Code(t, secret, now), calls: perChild, now: now}
		// Every attempt counts towards the lockout until one succeeds, so
		// the losers are refused as a replay or by the lockout.
		exactlyOneWin(t, "the same TOTP code", runChildren(t, h.env, spec, spec), 2*perChild, reused, rateLimited)
	})

	t.Run("OneRecoveryCode", func(t *testing.T) {
		_, codes := h.enrol(t, "recovery-user")
		spec := childSpec{role: "recovery", user: "recovery-user", arg: codes[0], calls: perChild, now: h.clock.Now()}
		exactlyOneWin(t, "the same recovery code", runChildren(t, h.env, spec, spec), 2*perChild, code, rateLimited)
		st, err := h.store.LoadUser(h.ctx, "recovery-user", h.clock.Now())
		if err != nil || len(st.RecoveryCodes.Hashes) != 9 {
			t.Fatalf("after the race: %d codes left (%v), want 9", len(st.RecoveryCodes.Hashes), err)
		}
	})

	t.Run("OneSingleUseToken", func(t *testing.T) {
		secret, _ := h.enrol(t, "token-user")
		res, err := h.m.AuthenticateDevice(h.ctx, "token-user", mfa.AuthenticateRequest{
			Code:           mfatest.Code(t, secret, h.clock.Now()),
			CreateMFAToken: &mfa.TokenRequest{SingleUse: true, Scopes: []string{"user:update"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		spec := childSpec{role: "token", user: "token-user", arg: res.MFAToken.Value, calls: perChild, now: h.clock.Now()}
		exactlyOneWin(t, "the same single-use token", runChildren(t, h.env, spec, spec), 2*perChild, mfa.ErrTokenInvalid.Code)
	})

	t.Run("OneLockout", func(t *testing.T) {
		secret, _ := h.enrol(t, "lockout-user")
		now := h.clock.Now()
		right := mfatest.Code(t, secret, now)
		wrong := fmt.Sprintf("%06d", (mustAtoi(t, right)+500_000)%1_000_000)
		// Three wrong codes in each process: six failures where the
		// threshold is five, so the sixth is refused by the lockout.
		spec := childSpec{role: "totp", user: "lockout-user", arg: wrong, calls: 3, now: now}
		n := tally(t, runChildren(t, h.env, spec, spec), code, rateLimited)
		if n[code] != 5 || n[rateLimited] != 1 {
			t.Fatalf("six wrong codes in two processes: %v, want 5 %s and 1 %s", n, code, rateLimited)
		}
		_, err := h.m.AuthenticateDevice(h.ctx, "lockout-user", mfa.AuthenticateRequest{Code: right})
		if !errors.Is(err, mfa.ErrRateLimited) {
			t.Fatalf("right code after the failures: got %v, want ErrRateLimited", err)
		}
		if lk, err := h.store.Lockout(h.ctx, "lockout-user"); err != nil || lk.Failures != 5 {
			t.Fatalf("stored failures %d (%v), want 5", lk.Failures, err)
		}
	})

	t.Run("DeviceAddedInOneVerifiedInOther", func(t *testing.T) {
		now := h.clock.Now()
		added := runChildren(t, h.env, childSpec{role: "add", user: "device-user", now: now})
		if len(added) != 1 || added[0].Code != "" || added[0].Secret == "" {
			t.Fatalf("AddDevice in the first process: %+v", added)
		}
		verified := runChildren(t, h.env, childSpec{role: "verify", user: "device-user", arg: added[0].Secret, now: now})
		if len(verified) != 1 || verified[0].Code != "" || !verified[0].Verified || verified[0].DeviceID != added[0].DeviceID {
			t.Fatalf("verification in the second process: %+v, want device %s verified", verified, added[0].DeviceID)
		}
		devices, err := h.m.GetUserDevices(h.ctx, "device-user")
		if err != nil || len(devices) != 1 || !devices[0].Verified || devices[0].ID != added[0].DeviceID {
			t.Fatalf("devices seen by the parent: %+v (%v)", devices, err)
		}
		codes, err := h.m.GetRecoveryCodes(h.ctx, "device-user", false)
		if err != nil || len(codes) != 10 {
			t.Fatalf("pending recovery codes seen by the parent: %d (%v), want 10", len(codes), err)
		}
	})
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSQLiteTwoWriters has two processes enrol users in one SQLite file at
// the same time, 200 calls each. With a busy timeout a writer waits for the
// other and every call succeeds; without one a call may fail, but only with
// a store error that says the database is busy, and no failed call leaves
// half its work. Either way the file passes PRAGMA integrity_check and
// every enrolment that succeeded reads back whole.
func TestSQLiteTwoWriters(t *testing.T) {
	for _, tc := range []struct {
		name      string
		dsn       func(path string) string
		mustAllOK bool
	}{
		{"Waits", sqliteDSN, true},
		{"FailsClearly", func(path string) string {
			return "file:" + path + "?_pragma=busy_timeout(0)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := t.TempDir() + "/mfa.db"
			h := newProcessHarness(t, "sqlite", tc.dsn(path), openSQLite(t, path))
			const users = 100 // two calls each
			results := runChildren(t, h.env,
				childSpec{role: "enrol", user: "a", calls: users, now: h.clock.Now()},
				childSpec{role: "enrol", user: "b", calls: users, now: h.clock.Now()})
			if len(results) < 2*users {
				t.Fatalf("%d results, want at least %d", len(results), 2*users)
			}
			verified := map[string]bool{}
			busy := 0
			for _, r := range results {
				switch {
				case r.Code == "":
					if r.Call == "verify" {
						verified[r.User] = true
					}
				case r.Store && (strings.Contains(r.Err, "SQLITE_BUSY") || strings.Contains(r.Err, "database is locked")):
					if busy == 0 {
						t.Logf("a busy failure: %s %s: %s", r.Call, r.User, r.Err)
					}
					busy++
				default:
					t.Errorf("%s %s: %s, want success or a busy store error", r.Call, r.User, r.Err)
				}
			}
			t.Logf("%d calls, %d failed as busy, %d users enrolled", len(results), busy, len(verified))
			if tc.mustAllOK && busy > 0 {
				t.Errorf("%d calls failed as busy despite busy_timeout", busy)
			}

			var check string
			if err := openSQLite(t, path).QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
				t.Fatalf("integrity_check: %q %v", check, err)
			}
			for _, prefix := range []string{"a", "b"} {
				for i := range users {
					u := prefix + "-" + strconv.Itoa(i)
					st, err := h.store.LoadUser(h.ctx, u, h.clock.Now())
					if err != nil {
						t.Fatal(err)
					}
					whole := len(st.Devices) == 1 && st.Devices[0].Verified && len(st.RecoveryCodes.Hashes) == 10 && st.RecoveryCodes.Pending()
					unverified := len(st.RecoveryCodes.Hashes) == 0 && st.RecoveryCodes.Sealed == nil &&
						(len(st.Devices) == 0 || len(st.Devices) == 1 && !st.Devices[0].Verified)
					switch {
					case verified[u] && !whole:
						t.Errorf("%s: enrolment succeeded but reads back as %+v", u, st)
					case !verified[u] && !unverified:
						t.Errorf("%s: enrolment failed but left %+v", u, st)
					}
				}
			}
		})
	}
}
