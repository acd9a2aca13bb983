package linearizability

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/sqlstore"
)

// sqliteDSN is the connection string sqlstore's documentation recommends.
func sqliteDSN(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"
}

func openSQLite(t *testing.T, path string) (*sql.DB, *sqlstore.Store) {
	t.Helper()
	db, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := sqlstore.New(context.Background(), db, sqlstore.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	return db, store
}

// TestSQLiteTwoProcessesKilled checks histories of two processes whose
// clients share one SQLite file, one of which is killed with SIGKILL in
// the middle of the run. A new process then opens the file and carries on
// in its place. At the end the file is opened again, checked with PRAGMA
// integrity_check and read: every success a client saw, including those
// of the killed process, must be in the state read, and a call that was
// in flight when the process died may or may not have taken effect.
func TestSQLiteTwoProcessesKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the multi-process history in -short mode")
	}
	var ta tally
	for i := range histories(t) {
		s := seed(t)
		res, h, killedInFlight := sqliteHistory(t, s, runDuration(t, 3*time.Second))
		logResult(t, "SQLite history "+strconv.Itoa(i+1), s, res, h)
		t.Logf("faults: 1 process killed with SIGKILL, %d of its calls in flight", killedInFlight)
		requireOk(t, "SQLite history", s, res)
		ta.add(res, h)
		ta.fault("processes killed with SIGKILL", 1)
	}
	ta.log(t)
}

func sqliteHistory(t *testing.T, seed uint64, d time.Duration) (checkResult, *history, int) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mfa.db")
	_, store := openSQLite(t, path)
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
	users := enrol(t, store, keys, "sqlite", 4, rec)
	cfg := childConfig{Dialect: "sqlite", DSN: sqliteDSN(path), Key: key.Encode(), Users: users, ClockStart: clockStart.UnixNano(),
		Tick: defaultTick, Clients: 3, Duration: d, Seed: seed, Mix: defaultMix, Pause: time.Millisecond}
	p := &parent{t: t, h: h, dir: dir}
	first, _ := p.startTwo(cfg)
	end := time.Now().Add(d)

	// Kill the first process between a third and two thirds of the way,
	// and start another on the same file in its place.
	rng := rand.New(rand.NewPCG(seed, 11))
	time.Sleep(d/3 + time.Duration(rng.Int64N(int64(d/3))))
	p.kill(first)
	inFlight := 0
	for _, o := range h.list() {
		if !o.Returned && o.ID>>40 == 1 {
			inFlight++
		}
	}
	cfg.Proc = 3
	cfg.Duration = max(time.Until(end), 100*time.Millisecond)
	third := p.start(cfg)
	third.send([]byte("go"))
	p.wait()

	// Open the file again, as after a crash, and read what it holds.
	db, store := openSQLite(t, path)
	var integrity string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("PRAGMA integrity_check after the kill: %q, %v", integrity, err)
	}
	finalRead(t, store, p.known(users), rec)
	return check(t, h, 0), h, inFlight
}
