package linearizability

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/sqlstore"

	_ "modernc.org/sqlite" // the "sqlite" driver
)

// The histories on SQLite and PostgreSQL run clients in several operating
// system processes on one database: the test binary starts itself again
// with -test.run=^TestHelperProcess$ and the path of a JSON childConfig in
// childEnv. A child opens its own *sql.DB and store, prints "ready", waits
// for "go" on its standard input, runs its clients and prints "done".
// It streams every call to its parent as it happens, one line per record
// on its standard output: the start of a call before the call is made, its
// outcome after, so that a call in flight when the child is killed is
// known, and a success the child saw is known even if the child is killed
// a moment later. A token issued or a recovery code set made in one child
// is passed to the others (a "share"), through the parent, on their
// standard input.

// childEnv names the environment variable with a child's config file.
const childEnv = "MFA_LINEARIZABILITY_CHILD"

// linePrefix marks a child's records among the test framework's output.
const linePrefix = "LIN "

// childConfig is what a child process does.
type childConfig struct {
	Proc    int    `json:"proc"`    // the process's number, from 1
	Dialect string `json:"dialect"` // "sqlite" or "postgres"
	DSN     string `json:"dsn"`
	// StatementTimeout, on PostgreSQL, is a low statement_timeout that
	// the sessions of one client in four have.
	StatementTimeout time.Duration `json:"statementTimeout,omitempty"`
	Key              string        `json:"key"` // mfa.Key.Encode
	Users            []userSetup   `json:"users"`
	ClockStart       int64         `json:"clockStart"` // wall-clock nanoseconds
	Tick             time.Duration `json:"tick"`
	Clients          int           `json:"clients"`
	Duration         time.Duration `json:"duration"`
	Seed             uint64        `json:"seed"`
	Mix              mix           `json:"mix"`
	DeadlineRate     float64       `json:"deadlineRate,omitempty"`
	Pause            time.Duration `json:"pause,omitempty"`
}

// record is one line of a child's output.
type record struct {
	R      string  `json:"r"` // "ready", "call", "ret", "share", "done"
	ID     int64   `json:"id,omitempty"`
	Client int     `json:"c,omitempty"`
	T      int64   `json:"t,omitempty"` // wall-clock nanoseconds
	In     *Input  `json:"in,omitempty"`
	Out    *Output `json:"out,omitempty"`
	Share  *share  `json:"share,omitempty"`
}

// lineWriter writes records to standard output, one write each, so that
// a record is whole or absent when the process is killed.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (lw *lineWriter) write(r record) {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	b = append(append([]byte(linePrefix), b...), '\n')
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if _, err := lw.w.Write(b); err != nil {
		panic(err)
	}
}

// pipeRecorder is a child's recorder: every call and outcome goes to the
// parent as it happens, stamped with the wall clock, which the parent and
// every other child read alike.
type pipeRecorder struct {
	out  *lineWriter
	proc int
	next atomic.Int64
}

func (r *pipeRecorder) call(client int, in Input) int64 {
	id := int64(r.proc)<<40 | r.next.Add(1)
	r.out.write(record{R: "call", ID: id, Client: client, T: wallStamp(), In: &in})
	return id
}

func (r *pipeRecorder) at() int64 { return wallStamp() }

func (r *pipeRecorder) ret(id int64, out Output) {
	r.out.write(record{R: "ret", ID: id, T: wallStamp(), Out: &out})
}

// TestHelperProcess is a child's body; it does nothing in a normal run.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("the child of the multi-process histories; runs only as their child")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg childConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	open := func(dsn string) (*sql.DB, *sqlstore.Store) {
		var db *sql.DB
		dialect := sqlstore.SQLite
		if cfg.Dialect == "postgres" {
			dialect = sqlstore.PostgreSQL
			db = openPostgres(t, dsn)
		} else {
			var err error
			if db, err = sql.Open("sqlite", dsn); err != nil {
				t.Fatal(err)
			}
		}
		db.SetMaxOpenConns(cfg.Clients * maxBurst)
		db.SetMaxIdleConns(cfg.Clients * maxBurst)
		store, err := sqlstore.New(ctx, db, dialect)
		if err != nil {
			t.Fatal(err)
		}
		return db, store
	}
	db, store := open(cfg.DSN)
	defer db.Close()
	timeoutStore := store
	if cfg.StatementTimeout > 0 {
		tdb, s := openPostgresTimeout(t, ctx, cfg.DSN, cfg.StatementTimeout, cfg.Clients*maxBurst)
		defer tdb.Close()
		timeoutStore = s
	}
	key, err := mfa.DecodeKey(cfg.Key)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := mfa.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]*userInfo{}
	var list []*userInfo
	for _, s := range cfg.Users {
		u := s.info(t)
		users[u.ID] = u
		list = append(list, u)
	}
	out := &lineWriter{w: os.Stdout}
	w := &workload{proc: cfg.Proc, users: list, clients: cfg.Clients, duration: cfg.Duration,
		clock: simClock{start: time.Unix(0, cfg.ClockStart), tick: cfg.Tick},
		rec:   &pipeRecorder{out: out, proc: cfg.Proc}, seed: cfg.Seed, mix: cfg.Mix, keys: keys,
		store: func(c int) mfa.Store {
			if c%4 == 3 {
				return timeoutStore
			}
			return store
		},
		publish:      func(s share) { out.write(record{R: "share", Share: &s}) },
		openEnded:    map[string]func(error) bool{"postgres": postgresOpenEnded}[cfg.Dialect],
		deadlineRate: cfg.DeadlineRate, pause: cfg.Pause,
		afterUnknown: func() {
			// Wait for the database to answer again, as a client of a
			// database that restarts would, rather than fail call after
			// call while it is down.
			for range 200 {
				ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
				err := db.PingContext(ctx)
				cancel()
				if err == nil {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		},
	}

	out.write(record{R: "ready"})
	start := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		started := false
		for sc.Scan() {
			if sc.Text() == "go" {
				if !started {
					close(start)
					started = true
				}
				continue
			}
			var s share
			if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
				panic(fmt.Sprintf("bad line from the parent: %q: %v", sc.Text(), err))
			}
			if u := users[s.User]; u != nil {
				u.apply(s)
			}
		}
	}()
	<-start
	w.run(t)
	out.write(record{R: "done"})
}

// child is the parent's handle on a child process.
type child struct {
	cfg    childConfig
	cmd    *exec.Cmd
	ready  chan struct{}
	exited chan struct{} // closed when its output has been read to the end
	done   atomic.Bool   // it printed "done"
	killed bool
	stderr bytes.Buffer
	other  []string // output lines that are not records, for failure messages

	mu    sync.Mutex // guards stdin
	stdin io.WriteCloser
}

// send writes a line to the child's standard input; a child that died
// does not read it, which is not an error.
func (c *child) send(line []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = c.stdin.Write(append(line, '\n'))
}

// parent runs the children of one history and gathers their records into
// the history, passing shares between them.
type parent struct {
	t   *testing.T
	h   *history
	dir string

	mu       sync.Mutex
	children []*child
	shares   [][]byte
}

// startTwo starts processes 1 and 2 with cfg and, once both are ready,
// lets them go at once.
func (p *parent) startTwo(cfg childConfig) (first, second *child) {
	p.t.Helper()
	cfg.Proc = 1
	first = p.start(cfg)
	cfg.Proc = 2
	second = p.start(cfg)
	first.send([]byte("go"))
	second.send([]byte("go"))
	return first, second
}

// start starts a child and waits until it is ready; go releases it.
func (p *parent) start(cfg childConfig) *child {
	t := p.t
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(p.dir, fmt.Sprintf("child-%d.json", cfg.Proc))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1", "-test.timeout=0")
	cmd.Env = append(os.Environ(), childEnv+"="+path,
		// Under -race, a process sleeps a second at exit by default.
		"GORACE=atexit_sleep_ms=0 "+os.Getenv("GORACE"))
	c := &child{cfg: cfg, cmd: cmd, ready: make(chan struct{}), exited: make(chan struct{})}
	cmd.Stderr = &c.stderr
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.children = append(p.children, c)
	p.mu.Unlock()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-c.exited
			_ = cmd.Wait()
		}
	})
	go p.read(c, stdout)
	select {
	case <-c.ready:
	case <-c.exited:
		_ = cmd.Wait()
		t.Fatalf("child %d exited before it was ready:\n%s\n%s", cfg.Proc, strings.Join(c.other, "\n"), c.stderr.String())
	case <-time.After(time.Minute):
		t.Fatalf("child %d was not ready within a minute", cfg.Proc)
	}
	// A child started late learns what the others shared so far.
	p.mu.Lock()
	shares := p.shares
	p.mu.Unlock()
	for _, s := range shares {
		c.send(s)
	}
	return c
}

// read gathers a child's records until its output ends.
func (p *parent) read(c *child, stdout io.Reader) {
	defer close(c.exited)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line, ok := bytes.CutPrefix(sc.Bytes(), []byte(linePrefix))
		if !ok {
			if len(c.other) < 200 {
				c.other = append(c.other, sc.Text())
			}
			continue
		}
		var r record
		if err := json.Unmarshal(line, &r); err != nil {
			c.other = append(c.other, fmt.Sprintf("bad record %q: %v", line, err))
			continue
		}
		switch r.R {
		case "ready":
			close(c.ready)
		case "call":
			p.h.addCall(r.ID, r.Client, *r.In, r.T)
		case "ret":
			p.h.addReturn(r.ID, *r.Out, r.T)
		case "share":
			s, err := json.Marshal(r.Share)
			if err != nil {
				panic(err)
			}
			p.mu.Lock()
			p.shares = append(p.shares, s)
			others := make([]*child, 0, len(p.children))
			for _, o := range p.children {
				if o != c {
					others = append(others, o)
				}
			}
			p.mu.Unlock()
			for _, o := range others {
				o.send(s)
			}
		case "done":
			c.done.Store(true)
		}
	}
}

// kill kills a child with SIGKILL and waits until it is gone.
func (p *parent) kill(c *child) {
	c.killed = true
	if err := c.cmd.Process.Kill(); err != nil {
		p.t.Fatalf("kill child %d: %v", c.cfg.Proc, err)
	}
	<-c.exited
	_ = c.cmd.Wait()
}

// wait waits for every child that was not killed to finish, and fails the
// test if one failed.
func (p *parent) wait() {
	t := p.t
	t.Helper()
	p.mu.Lock()
	children := p.children
	p.mu.Unlock()
	for _, c := range children {
		if c.killed {
			continue
		}
		select {
		case <-c.exited:
		case <-time.After(c.cfg.Duration + 2*time.Minute):
			t.Fatalf("child %d did not finish", c.cfg.Proc)
		}
		err := c.cmd.Wait()
		if err != nil || !c.done.Load() {
			t.Fatalf("child %d failed (%v):\n%s\n%s", c.cfg.Proc, err, strings.Join(c.other, "\n"), c.stderr.String())
		}
	}
}

// known returns the users as the parent knows them at the end: with every
// token and recovery code set the children shared.
func (p *parent) known(users []userSetup) []*userInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	byID := map[string]*userInfo{}
	var out []*userInfo
	for _, s := range users {
		u := s.info(p.t)
		byID[u.ID] = u
		out = append(out, u)
	}
	for _, b := range p.shares {
		var s share
		if err := json.Unmarshal(b, &s); err != nil {
			p.t.Fatal(err)
		}
		if u := byID[s.User]; u != nil {
			u.apply(s)
		}
	}
	return out
}
