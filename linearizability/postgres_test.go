package linearizability

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/sqlstore"
)

// openPostgres opens a pool on dsn whose connections, when a call's
// context ends while a statement runs, ask the server to cancel it and
// wait a second for its answer before they give up on the connection: so
// that, but for that second running out, a call has finished on the
// server too when it returns. (pgx's default closes the connection at
// once, and the server goes on running the statement.)
func openPostgres(tb testing.TB, dsn string) *sql.DB {
	tb.Helper()
	return stdlib.OpenDB(*postgresConfig(tb, dsn))
}

func postgresConfig(tb testing.TB, dsn string) *pgx.ConnConfig {
	tb.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: time.Second}
	}
	return cfg
}

// openPostgresTimeout opens a store like openPostgres and sqlstore.New
// whose sessions run with a statement_timeout of d. The store is made
// first, on sessions without it: sqlstore.New's check of the schema
// version may take longer than a few milliseconds on a loaded machine,
// and it is the calls under test that are meant to time out, not that.
func openPostgresTimeout(tb testing.TB, ctx context.Context, dsn string, d time.Duration, idle int) (*sql.DB, *sqlstore.Store) {
	tb.Helper()
	cfg := postgresConfig(tb, dsn)
	var on atomic.Bool
	set := fmt.Sprintf("SET statement_timeout = '%dus'", d.Microseconds())
	cfg.AfterConnect = func(ctx context.Context, c *pgconn.PgConn) error {
		if !on.Load() {
			return nil
		}
		return c.Exec(ctx, set).Close()
	}
	db := stdlib.OpenDB(*cfg)
	store, err := sqlstore.New(ctx, db, sqlstore.PostgreSQL)
	if err != nil {
		db.Close()
		tb.Fatal(err)
	}
	// Every session opened from here on sets the timeout; the ones
	// sqlstore.New used, idle now, are closed.
	on.Store(true)
	db.SetMaxIdleConns(0)
	db.SetMaxIdleConns(idle)
	db.SetMaxOpenConns(idle)
	return db, store
}

// postgresOpenEnded tells whether a store failure on PostgreSQL may still
// take effect after the call returned. Not when the server answered with
// an error: the statement ended (a statement timeout, a query cancelled at
// the call's deadline, a terminated backend, a server shutting down or
// starting up). Not when pgx says nothing was sent, or the connection
// could not be made, or it was closed by a server process that exited.
// Not when database/sql gave up on the call's context by itself: before
// the statement was sent, or after the connection read its end. But when
// pgx timed out waiting for the server, which the cancel request did not
// answer within the second openPostgres gives it, the statement may run
// on; so may anything not recognised here.
func postgresOpenEnded(err error) bool {
	var pgErr *pgconn.PgError
	var connectErr *pgconn.ConnectError
	switch {
	case errors.As(err, &pgErr), errors.As(err, &connectErr), pgconn.SafeToRetry(err):
		return false
	case pgconn.Timeout(err):
		return true
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return false
	}
	msg := err.Error()
	for _, settled := range []string{"connection refused", "EOF", "connection reset by peer", "broken pipe", "conn closed", "bad connection"} {
		if strings.Contains(msg, settled) {
			return false
		}
	}
	return true
}

// pgCluster is a throwaway PostgreSQL cluster of the test's own, made with
// initdb and run with pg_ctl, so that restarting it and terminating its
// backends disturbs no other test. initdb refuses to run as root: as root,
// the cluster belongs to the postgres user.
type pgCluster struct {
	t    *testing.T
	bin  string // the directory of initdb, pg_ctl and postgres
	dir  string // the cluster's directory: data, socket, log
	port int
	log  *os.File
	as   []string // runuser -u postgres -- when running as root
}

// postgresBin returns the directory of the newest PostgreSQL's binaries
// under /usr/lib/postgresql. Without them the test is skipped, or fails on
// CI, which installs them.
func postgresBin(t *testing.T) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	var ok []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			ok = append(ok, d)
		}
	}
	if len(ok) == 0 {
		msg := "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin: apt-get install postgresql"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	sort.Slice(ok, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(ok[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(ok[j])))
		return vi < vj
	})
	return ok[len(ok)-1]
}

// startCluster makes and starts a cluster on a free port; it is stopped
// and removed when the test ends.
func startCluster(t *testing.T) *pgCluster {
	t.Helper()
	c := &pgCluster{t: t, bin: postgresBin(t)}
	dir, err := os.MkdirTemp("", "mfa-linearizability-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, the cluster must belong to the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		c.as = []string{"runuser", "-u", "postgres", "--"}
	}
	if c.log, err = os.Create(filepath.Join(dir, "server.log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.log.Close() })
	c.run("initdb", "-D", c.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	// fsync off: the cluster is thrown away, and a restart, even an
	// immediate one, loses nothing the kernel has.
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c fsync=off -c full_page_writes=off -c max_connections=200", c.port, dir)
	c.run("pg_ctl", "start", "-D", c.data(), "-w", "-t", "60", "-o", opts)
	t.Cleanup(func() {
		c.run("pg_ctl", "stop", "-D", c.data(), "-m", "immediate", "-w", "-t", "60")
	})
	return c
}

func (c *pgCluster) data() string { return filepath.Join(c.dir, "data") }

// dsn is the connection string of the cluster's postgres database, with
// extra run-time parameters.
func (c *pgCluster) dsn(params ...string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port) + strings.Join(params, "")
}

// run runs one of the cluster's programs, as the postgres user when the
// test runs as root; its output goes to the cluster's log, which a
// failure shows.
func (c *pgCluster) run(name string, args ...string) {
	c.t.Helper()
	argv := append(append(append([]string{}, c.as...), filepath.Join(c.bin, name)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = c.log, c.log
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(c.log.Name())
		c.t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, b)
	}
}

// pgFaults counts the faults done to the cluster.
type pgFaults struct {
	terminated        int // backends terminated with pg_terminate_backend
	terminations      int
	restartsFast      int
	restartsImmediate int
}

func (f pgFaults) String() string {
	return fmt.Sprintf("%d restarts -m fast, %d restarts -m immediate, %d rounds of pg_terminate_backend (%d backends)",
		f.restartsFast, f.restartsImmediate, f.terminations, f.terminated)
}

// terminate terminates every client backend but its own. A connection of
// db that a restart or an earlier termination closed fails the first
// query; it is tried again.
func (c *pgCluster) terminate(db *sql.DB) (n int, err error) {
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		// In the select list, not the WHERE clause, whose conditions
		// PostgreSQL may evaluate in any order.
		err = db.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`).Scan(&n)
		cancel()
		if err == nil {
			return n, nil
		}
	}
	return 0, err
}

// TestPostgresTwoProcessesRestarted checks histories of two processes whose
// clients share a PostgreSQL database while the server is restarted (pg_ctl
// restart -m fast and -m immediate) and its backends are terminated
// (pg_terminate_backend); a quarter of the clients run with a
// statement_timeout of a few milliseconds, and some calls with a context
// that expires after one or two. The cluster is the test's own.
func TestPostgresTwoProcessesRestarted(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the multi-process history in -short mode")
	}
	if os.Getenv("MFA_TEST_POSTGRES_DSN") == "" {
		t.Skip("MFA_TEST_POSTGRES_DSN is not set; skipping PostgreSQL tests (this one starts a throwaway cluster of its own with initdb and pg_ctl)")
	}
	c := startCluster(t)
	var ta tally
	for i := range histories(t) {
		s := seed(t)
		res, h, f := postgresHistory(t, c, s, runDuration(t, 5*time.Second))
		logResult(t, "PostgreSQL history "+strconv.Itoa(i+1), s, res, h)
		t.Logf("faults: %s", f)
		requireOk(t, "PostgreSQL history", s, res)
		ta.add(res, h)
		ta.fault("restarts -m fast", f.restartsFast)
		ta.fault("restarts -m immediate", f.restartsImmediate)
		ta.fault("rounds of pg_terminate_backend", f.terminations)
		ta.fault("backends terminated", f.terminated)
	}
	ta.log(t)
}

func postgresHistory(t *testing.T, c *pgCluster, seed uint64, d time.Duration) (checkResult, *history, pgFaults) {
	dir := t.TempDir()
	db := openPostgres(t, c.dsn())
	defer db.Close()
	ctx := context.Background()
	// Each history has a schema of its own.
	schema := fmt.Sprintf("lin_%d", seed%1_000_000_000)
	if _, err := db.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE; CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	dsn := c.dsn("&search_path=" + schema)
	sdb := openPostgres(t, dsn)
	defer sdb.Close()
	store, err := sqlstore.New(ctx, sdb, sqlstore.PostgreSQL)
	if err != nil {
		t.Fatal(err)
	}
	key, err := mfa.GenerateKey("linearizability")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := mfa.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	clockStart := time.Now()
	h := newHistory(clockStart.UnixNano(), defaultTick)
	rec := newLocalRecorder(h, wallStamp)
	users := enrol(t, store, keys, "pg", 6, rec)
	cfg := childConfig{Dialect: "postgres", DSN: dsn, StatementTimeout: 4 * time.Millisecond, Key: key.Encode(), Users: users,
		ClockStart: clockStart.UnixNano(), Tick: defaultTick, Clients: 4, Duration: d, Seed: seed, Mix: defaultMix,
		DeadlineRate: 0.01, Pause: 5 * time.Millisecond}
	p := &parent{t: t, h: h, dir: dir}
	p.startTwo(cfg)
	end := time.Now().Add(d)

	// Faults until the end: terminations and restarts of both kinds, in
	// turn, about six to a history (at least one of each), or one a
	// second in a longer one.
	rng := rand.New(rand.NewPCG(seed, 13))
	every := min(max(d/6, 300*time.Millisecond), time.Second)
	var f pgFaults
	for i := 0; ; i++ {
		time.Sleep(every/2 + time.Duration(rng.Int64N(int64(every))))
		if time.Until(end) < every/2 {
			break
		}
		switch i % 4 {
		case 0, 2:
			n, err := c.terminate(db)
			if err != nil {
				t.Fatalf("pg_terminate_backend: %v", err)
			}
			f.terminations++
			f.terminated += n
		case 1:
			c.run("pg_ctl", "restart", "-D", c.data(), "-m", "immediate", "-w", "-t", "60")
			f.restartsImmediate++
		case 3:
			c.run("pg_ctl", "restart", "-D", c.data(), "-m", "fast", "-w", "-t", "60")
			f.restartsFast++
		}
	}
	p.wait()
	finalRead(t, store, p.known(users), rec)
	return check(t, h, 0), h, f
}
