// Package linearizability checks mfakit's concurrency promises the way
// Jepsen checks a database: many clients call the MFA API at once, under
// injected store faults, process kills and database restarts; every call's
// start, end, input and outcome is recorded; and the whole history is
// checked with porcupine against a sequential model of the same
// operations. The promises are that of concurrent callers exactly one
// wins, that no failed attempt is lost, and that a TOTP time step, a
// recovery code and a single-use MFA token are each accepted once.
//
// The model (model_test.go) is partitioned per user (TOTP steps, recovery
// codes, the lockout) and per MFA token (its single use). It allows what
// the Store contract in store.go allows, including the latitude of
// AcceptStep for the zero lockout state, and nothing more; an operation
// whose outcome is unknown (a store failure, a timeout, a killed process)
// may have happened or not. docs/RELIABILITY.md describes the checks, the
// faults and the figures of a long run.
//
// It is a module of its own, with no code but its tests, so that
// porcupine and the database drivers stay out of the module graph of
// services that import mfakit. From the repository's root:
//
//	go test ./linearizability/
//
// The PostgreSQL history starts a throwaway cluster of its own with initdb
// and pg_ctl; like the other PostgreSQL tests it runs only when
// MFA_TEST_POSTGRES_DSN is set. MFA_LINEARIZABILITY_DURATION runs each
// history longer than the short default, and MFA_LINEARIZABILITY_HISTORIES
// runs more of them.
package linearizability
