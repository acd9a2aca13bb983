// Package loadtest holds a load test of mfahttp on a loopback listener and
// nothing else: it has no code outside its tests.
//
// TestLoad serves mfahttp (with a test App that takes the user from a
// header) on 127.0.0.1 and drives it with virtual users on a bounded
// number of concurrent clients, first against memstore, then against
// PostgreSQL through sqlstore (in a scratch schema of the database named
// by MFA_TEST_POSTGRES_DSN; skipped without it). Every virtual user
// enrols (add a device, verify its first code, read and acknowledge the
// recovery codes) and then logs in once per round, with a TOTP code that
// asks for a single-use MFA token, which it spends on an action behind
// mfahttp's RequireMFAToken. Between rounds the server's clock
// moves on one TOTP time step, so that every login has a fresh code.
// Users also try the expected failures in turn: a reused token, a wrong
// code, a replayed code, and a recovery code used twice. Every answer is
// counted by status and error code, and any the scenario does not expect
// fails the test.
//
// The logins run twice on the same store with the same users. The test
// reports p50 and p99 latency per request kind and the throughput of each
// run, and fails when goroutines outlive the runs or the heap grows from
// the first run to the second by more than a small slack.
//
// The run is bounded by its size and by a deadline, and stops by itself.
// The default size keeps `go test ./...` short; environment variables
// make it bigger, for the figures in docs/PERFORMANCE.md:
//
//	MFA_LOAD_USERS    virtual users (default 200; 60 under -race; 40 with -short)
//	MFA_LOAD_WORKERS  concurrent clients (default 16)
//	MFA_LOAD_ROUNDS   login rounds per run (default 4, at most 16)
//	MFA_LOAD_TIMEOUT  deadline for each store's test (default 1m)
//
// For example:
//
//	MFA_TEST_POSTGRES_DSN=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  MFA_LOAD_USERS=2000 MFA_LOAD_WORKERS=32 MFA_LOAD_ROUNDS=8 MFA_LOAD_TIMEOUT=5m \
//	  go test -run TestLoad -count=1 -v ./loadtest/
package loadtest
