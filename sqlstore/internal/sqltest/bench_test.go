package sqltest

import (
	"context"
	"encoding/base32"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/mfatest"
	"github.com/mfakit/mfa/sqlstore"
)

// The throughput benchmarks of docs/PERFORMANCE.md ("PostgreSQL and
// SQLite"). scripts/bench-postgres.sh runs the PostgreSQL one next to
// pgbench on the same server.
//
// Every iteration is one successful AuthenticateDevice of an enrolled user
// (verified device, acknowledged codes) with a fresh code: LoadUser and
// AcceptStep, each one statement. Each client has its own users and its
// own clock; after a pass over its users the clock moves on three time
// steps, so that every code is new: a code sometimes also matches the next
// step, is then accepted at that step, and with the clock only one step on
// the next pass's code would be a replay.

// benchUsers is the number of enrolled users in a benchmark's database.
const benchUsers = 10_000

// benchClients is the number of concurrent clients, as pgbench -c 8.
const benchClients = 8

func BenchmarkAuthenticateDevicePostgres(b *testing.B) {
	db := openDB(b, "pgx", postgresSchema(b))
	db.SetMaxOpenConns(benchClients)
	db.SetMaxIdleConns(benchClients)
	f := newThroughputFixture(b, newStore(b, db, sqlstore.PostgreSQL), benchUsers, benchClients)
	b.Run(fmt.Sprintf("clients=%d", benchClients), func(b *testing.B) { f.run(b, benchClients) })
}

func BenchmarkAuthenticateDeviceSQLite(b *testing.B) {
	for _, mode := range []string{"FULL", "NORMAL"} {
		b.Run("synchronous="+mode, func(b *testing.B) {
			db := openDB(b, "sqlite", sqliteDSN(filepath.Join(b.TempDir(), "mfa.db"))+"&_pragma=synchronous("+mode+")")
			f := newThroughputFixture(b, newStore(b, db, sqlstore.SQLite), benchUsers, benchClients)
			for _, clients := range []int{1, benchClients} {
				b.Run("clients="+strconv.Itoa(clients), func(b *testing.B) { f.run(b, clients) })
			}
		})
	}
}

// throughputFixture holds enrolled users split among clients. Its state
// (each client's clock and position) carries over from one run to the
// next, since the store remembers the last step of every device.
type throughputFixture struct {
	clients []*benchClient
}

type benchClient struct {
	m       *mfa.MFA
	clock   *mfatest.Clock
	users   []string
	secrets [][]byte
	next    int // the next user to authenticate, counting across passes
}

var benchEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newThroughputFixture(b *testing.B, store mfa.Store, users, clients int) *throughputFixture {
	b.Helper()
	keys := mfatest.Keyring(b)
	f := &throughputFixture{}
	var wg sync.WaitGroup
	errs := make([]error, clients)
	for c := range clients {
		clock := mfatest.NewClock(benchEpoch)
		m, err := mfa.New(mfa.Config{Store: store, Issuer: "bench", Keys: keys, Now: clock.Now})
		if err != nil {
			b.Fatal(err)
		}
		bc := &benchClient{m: m, clock: clock}
		f.clients = append(f.clients, bc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[c] = bc.enrol(c, users/clients)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	return f
}

// enrol adds n users through the API, as a service would.
func (c *benchClient) enrol(client, n int) error {
	ctx := context.Background()
	for i := range n {
		u := fmt.Sprintf("bench-%d-%d", client, i)
		reg, err := c.m.AddDevice(ctx, u)
		if err != nil {
			return err
		}
		secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(reg.Secret)
		if err != nil {
			return err
		}
		code := benchCode(secret, c.clock.Now())
		if want, err := totp.GenerateCodeCustom(reg.Secret, c.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}); err != nil || code != want {
			return fmt.Errorf("benchCode = %s, pquerna/otp computes %s (%v)", code, want, err)
		}
		if _, err := c.m.AuthenticateDevice(ctx, u, mfa.AuthenticateRequest{Code: code}); err != nil {
			return err
		}
		if err := c.m.CompleteAcknowledgement(ctx, u); err != nil {
			return err
		}
		c.users = append(c.users, u)
		c.secrets = append(c.secrets, secret)
	}
	// Enrolment used the first step; logins start at the next.
	c.clock.Advance(30 * time.Second)
	return nil
}

// benchCode is the code the clients' authenticator app shows for secret
// at at. It is mfatest.StepCode rather than pquerna/otp, which enrol checks
// it against, so that the simulated app costs the client little of the CPU
// it shares with the server.
func benchCode(secret []byte, at time.Time) string {
	return mfatest.StepCode(secret, at.Unix()/30)
}

// run does b.N authentications spread over the first clients clients, which
// take iterations from a shared counter, and reports the throughput and
// the client's CPU time per authentication.
func (f *throughputFixture) run(b *testing.B, clients int) {
	ctx := context.Background()
	var remaining atomic.Int64
	remaining.Store(int64(b.N))
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	for _, c := range f.clients[:clients] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for remaining.Add(-1) >= 0 {
				if err := c.login(ctx); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	cpu1, _ := processCPU()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "auth/s")
	if cpuOK {
		// This process's CPU time per authentication: the library,
		// database/sql, the driver, the runtime and their system calls,
		// the client's share of the CPUs it has in common with a
		// PostgreSQL server; with SQLite, which runs in this process, the
		// whole cost of a login.
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "client-µs/auth")
	}
}

// login authenticates the client's next user with the code of the
// client's current step, moving the clock on after each pass.
func (c *benchClient) login(ctx context.Context) error {
	i := c.next % len(c.users)
	if i == 0 && c.next > 0 {
		c.clock.Advance(3 * 30 * time.Second)
	}
	c.next++
	code := benchCode(c.secrets[i], c.clock.Now())
	_, err := c.m.AuthenticateDevice(ctx, c.users[i], mfa.AuthenticateRequest{Code: code})
	return err
}
