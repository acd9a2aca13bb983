package mfatest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mfakit/mfa"
)

// Concurrency is the number of goroutines the concurrent subtests race.
const Concurrency = 64

// TestStore runs the conformance suite of the [mfa.Store] contract against
// stores made by newStore, which is called once per subtest. Run it under
// the race detector:
//
//	func TestConformance(t *testing.T) {
//		mfatest.TestStore(t, func(t *testing.T) mfa.Store { return mystore.New() })
//	}
//
// The suite checks every method's results, its not-found and idempotency
// rules, that a cancelled context changes nothing, and that each atomic
// operation lets exactly one of Concurrency racing goroutines win. It
// finishes with whole flows through [mfa.MFA] on the store. Every subtest
// uses its own user IDs, so stores may share a database between them.
func TestStore(t *testing.T, newStore func(t *testing.T) mfa.Store) {
	t.Helper()
	for _, tc := range storeTests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			tc.fn(t, &harness{s: s, ctx: context.Background(), prefix: uniquePrefix()})
		})
	}
	for _, tc := range flowTests {
		t.Run("MFA/"+tc.name, func(t *testing.T) {
			tc.fn(t, newFlowHarness(t, newStore(t)))
		})
	}
	t.Run("Cleaner", func(t *testing.T) {
		s := newStore(t)
		if _, ok := s.(mfa.Cleaner); !ok {
			t.Skip("store does not implement mfa.Cleaner")
		}
		testCleanup(t, &harness{s: s, ctx: context.Background(), prefix: uniquePrefix()})
	})
}

var storeTests = []struct {
	name string
	fn   func(*testing.T, *harness)
}{
	{"LoadUser/Unknown", testLoadUnknown},
	{"LoadUser/RecordsAreTheCallers", testLoadRecordsAreTheCallers},
	{"Device/InsertAndLoad", testInsertAndLoad},
	{"Device/InsertReplacesPending", testInsertReplacesPending},
	{"Device/LimitOneVerified", testDeviceLimit},
	{"Device/PendingExpires", testPendingExpires},
	{"Device/Verify", testVerify},
	{"Device/Import", testImport},
	{"Device/SeveralOfAType", testSeveralDevices},
	{"Device/Default", testDefaultDevice},
	{"Device/AcceptStep", testAcceptStep},
	{"Device/UpdateSecret", testUpdateSecret},
	{"Device/Delete", testDeleteDevice},
	{"Device/UsersAreIsolated", testIsolation},
	{"RecoveryCodes/Replace", testReplaceCodes},
	{"RecoveryCodes/Consume", testConsumeCode},
	{"RecoveryCodes/Acknowledge", testAcknowledge},
	{"Token/InsertGetConsume", testTokens},
	{"Lockout/Swap", testSwapLockout},
	{"DeleteUser", testDeleteUser},
	{"CancelledContext", testCancelled},
	{"Concurrent/AcceptStep", testConcurrentAcceptStep},
	{"Concurrent/VerifyDevice", testConcurrentVerify},
	{"Concurrent/ImportDevice", testConcurrentImport},
	{"Concurrent/ConsumeRecoveryCode", testConcurrentConsumeCode},
	{"Concurrent/ConsumeToken", testConcurrentConsumeToken},
	{"Concurrent/SwapLockout", testConcurrentSwap},
	{"Concurrent/CountFailures", testConcurrentCount},
}

var prefixSeq atomic.Int64

// uniquePrefix makes user and device IDs unique across subtests and runs,
// so that stores sharing a database do not see each other's rows.
func uniquePrefix() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return fmt.Sprintf("t%x%d-", b, prefixSeq.Add(1))
}

type harness struct {
	s      mfa.Store
	ctx    context.Context
	prefix string
}

// base is a time with microsecond precision, which SQL stores keep exactly.
var base = time.Date(2026, 3, 4, 5, 6, 7, 891011000, time.UTC)

func (h *harness) user(name string) string { return h.prefix + name }

func (h *harness) device(userID, name string) mfa.DeviceRecord {
	d := mfa.DeviceRecord{
		ID:          h.prefix + name,
		UserID:      userID,
		Type:        mfa.DeviceTOTP,
		Alias:       "phone " + name,
		AccountName: userID + "@example.com",
		Secret:      []byte("sealed-secret-" + name),
		CreatedAt:   base,
		ExpiresAt:   base.Add(10 * time.Minute),
		Algorithm:   mfa.SHA256,
		Digits:      8,
		Period:      60 * time.Second,
	}
	return d
}

// enrolled stores a verified device and a recovery code set for a new user.
func (h *harness) enrolled(t *testing.T, name string) (string, mfa.DeviceRecord, mfa.RecoveryCodeSet) {
	t.Helper()
	u := h.user(name)
	d := h.device(u, name+"-dev")
	if err := h.s.InsertPendingDevice(h.ctx, d, 1); err != nil {
		t.Fatalf("InsertPendingDevice: %v", err)
	}
	codes := codeSet(3, true)
	if err := h.s.VerifyDevice(h.ctx, u, d.ID, 100, base.Add(time.Minute), codes, mfa.Lockout{}, 1); err != nil {
		t.Fatalf("VerifyDevice: %v", err)
	}
	return u, d, codes
}

func codeSet(n int, pending bool) mfa.RecoveryCodeSet {
	set := mfa.RecoveryCodeSet{KeyID: "k1", CreatedAt: base, Hashes: make([][mfa.HashSize]byte, n)}
	for i := range set.Hashes {
		if _, err := rand.Read(set.Hashes[i][:]); err != nil {
			panic(err)
		}
	}
	if pending {
		set.Sealed = []byte("sealed-codes")
	}
	return set
}

func (h *harness) load(t *testing.T, userID string, now time.Time) mfa.UserState {
	t.Helper()
	st, err := h.s.LoadUser(h.ctx, userID, now)
	if err != nil {
		t.Fatalf("LoadUser: %v", err)
	}
	return st
}

func wantErr(t *testing.T, op string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", op, err, want)
	}
}

func noErr(t *testing.T, op string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
}

func sameDevice(t *testing.T, got, want mfa.DeviceRecord) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || got.Type != want.Type || got.Alias != want.Alias ||
		got.AccountName != want.AccountName || !bytes.Equal(got.Secret, want.Secret) || got.Verified != want.Verified ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) || !got.VerifiedAt.Equal(want.VerifiedAt) ||
		!got.LastUsedAt.Equal(want.LastUsedAt) || got.LastStep != want.LastStep ||
		got.Algorithm != want.Algorithm || got.Digits != want.Digits || got.Period != want.Period {
		t.Fatalf("device differs:\n got  %+v\n want %+v", got, want)
	}
}

func sameCodes(t *testing.T, got, want mfa.RecoveryCodeSet) {
	t.Helper()
	if got.KeyID != want.KeyID || !reflect.DeepEqual(sortedHashes(got.Hashes), sortedHashes(want.Hashes)) ||
		!bytes.Equal(got.Sealed, want.Sealed) || got.Pending() != want.Pending() || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Fatalf("recovery codes differ:\n got  %+v\n want %+v", got, want)
	}
}

func sortedHashes(h [][mfa.HashSize]byte) map[[mfa.HashSize]byte]int {
	m := make(map[[mfa.HashSize]byte]int, len(h))
	for _, x := range h {
		m[x]++
	}
	return m
}

func testLoadUnknown(t *testing.T, h *harness) {
	st := h.load(t, h.user("nobody"), base)
	if len(st.Devices) != 0 || len(st.RecoveryCodes.Hashes) != 0 || st.RecoveryCodes.Pending() || st.Lockout.Failures != 0 {
		t.Fatalf("unknown user: got %+v, want zero state", st)
	}
	lk, err := h.s.Lockout(h.ctx, h.user("nobody"))
	noErr(t, "Lockout", err)
	if lk.Failures != 0 {
		t.Fatalf("unknown user lockout: %+v", lk)
	}
}

// testLoadRecordsAreTheCallers checks that LoadUser returns the whole
// state, and records that the caller may change without changing the
// store.
func testLoadRecordsAreTheCallers(t *testing.T, h *harness) {
	u, _, _ := h.enrolled(t, "alice")
	_, err := h.s.SwapLockout(h.ctx, u, mfa.Lockout{}, mfa.Lockout{Failures: 3, LastFailure: base})
	noErr(t, "SwapLockout", err)

	st := h.load(t, u, base)
	if len(st.Devices) != 1 || len(st.RecoveryCodes.Hashes) == 0 || st.Lockout.Failures != 3 {
		t.Fatalf("LoadUser(alice) = %+v", st)
	}
	want := st.Devices[0]
	st.Devices[0].LastStep, st.Devices[0].ID = 1<<40, "changed"
	if again := h.load(t, u, base); again.Devices[0].LastStep != want.LastStep || again.Devices[0].ID != want.ID {
		t.Fatalf("changing a loaded record changed the store: %+v", again.Devices[0])
	}
}

func testInsertAndLoad(t *testing.T, h *harness) {
	u := h.user("alice")
	d := h.device(u, "d1")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, d, 1))
	st := h.load(t, u, base)
	if len(st.Devices) != 1 {
		t.Fatalf("got %d devices, want 1", len(st.Devices))
	}
	sameDevice(t, st.Devices[0], d)

	// A device without TOTP parameters, as mfakit 0.1 stored them, reads
	// back without them.
	v := h.user("bob")
	old := h.device(v, "d0")
	old.Algorithm, old.Digits, old.Period = "", 0, 0
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, old, 1))
	sameDevice(t, h.load(t, v, base).Devices[0], old)
}

func testInsertReplacesPending(t *testing.T, h *harness) {
	u := h.user("alice")
	d1, d2 := h.device(u, "d1"), h.device(u, "d2")
	noErr(t, "insert d1", h.s.InsertPendingDevice(h.ctx, d1, 1))
	noErr(t, "insert d2", h.s.InsertPendingDevice(h.ctx, d2, 1))
	st := h.load(t, u, base)
	if len(st.Devices) != 1 || st.Devices[0].ID != d2.ID {
		t.Fatalf("got devices %+v, want only %s", st.Devices, d2.ID)
	}
	wantErr(t, "VerifyDevice(replaced)", h.s.VerifyDevice(h.ctx, u, d1.ID, 1, base, codeSet(1, true), mfa.Lockout{}, 1), mfa.ErrDeviceNotFound)
}

func testDeviceLimit(t *testing.T, h *harness) {
	u, d, codes := h.enrolled(t, "alice")
	before := h.load(t, u, base)
	wantErr(t, "InsertPendingDevice with a verified device", h.s.InsertPendingDevice(h.ctx, h.device(u, "second"), 1), mfa.ErrDeviceLimit)
	after := h.load(t, u, base)
	if len(after.Devices) != 1 || after.Devices[0].ID != d.ID {
		t.Fatalf("device limit changed devices: %+v", after.Devices)
	}
	sameDevice(t, after.Devices[0], before.Devices[0])
	sameCodes(t, after.RecoveryCodes, codes)
}

func testPendingExpires(t *testing.T, h *harness) {
	u := h.user("alice")
	d := h.device(u, "d1")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, d, 1))
	if st := h.load(t, u, d.ExpiresAt.Add(-time.Microsecond)); len(st.Devices) != 1 {
		t.Fatalf("pending device missing before expiry")
	}
	if st := h.load(t, u, d.ExpiresAt); len(st.Devices) != 0 {
		t.Fatalf("pending device still read at its expiry: %+v", st.Devices)
	}
	wantErr(t, "VerifyDevice after expiry", h.s.VerifyDevice(h.ctx, u, d.ID, 1, d.ExpiresAt, codeSet(1, true), mfa.Lockout{}, 1), mfa.ErrDeviceNotFound)
	// An expired pending device does not block a new one.
	noErr(t, "InsertPendingDevice after expiry", h.s.InsertPendingDevice(h.ctx, h.device(u, "d2"), 1))
}

func testVerify(t *testing.T, h *harness) {
	u := h.user("alice")
	d := h.device(u, "d1")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, d, 1))
	ok, err := h.s.SwapLockout(h.ctx, u, mfa.Lockout{}, mfa.Lockout{Failures: 1, LastFailure: base})
	noErr(t, "SwapLockout", err)
	if !ok {
		t.Fatal("SwapLockout from zero failed")
	}
	at := base.Add(time.Minute)
	codes := codeSet(10, true)
	lk := mfa.Lockout{Failures: 1, LastFailure: base}
	wantErr(t, "VerifyDevice(unknown)", h.s.VerifyDevice(h.ctx, u, h.prefix+"nope", 7, at, codes, lk, 1), mfa.ErrDeviceNotFound)
	// A caller that checked an older lockout state changes nothing.
	before := h.load(t, u, at)
	wantErr(t, "VerifyDevice(stale lockout)", h.s.VerifyDevice(h.ctx, u, d.ID, 7, at, codes, mfa.Lockout{}, 1), mfa.ErrLockoutChanged)
	wantErr(t, "VerifyDevice(stale lockout time)", h.s.VerifyDevice(h.ctx, u, d.ID, 7, at, codes, mfa.Lockout{Failures: 1, LastFailure: at}, 1), mfa.ErrLockoutChanged)
	if after := h.load(t, u, at); after.Devices[0].Verified || len(after.RecoveryCodes.Hashes) != 0 || !after.Lockout.Equal(before.Lockout) {
		t.Fatalf("VerifyDevice with a stale lockout changed state: %+v", after)
	}
	noErr(t, "VerifyDevice", h.s.VerifyDevice(h.ctx, u, d.ID, 7, at, codes, lk, 1))
	st := h.load(t, u, at)
	want := d
	want.Verified, want.VerifiedAt, want.LastUsedAt, want.LastStep, want.ExpiresAt = true, at, at, 7, time.Time{}
	if len(st.Devices) != 1 {
		t.Fatalf("got %d devices", len(st.Devices))
	}
	sameDevice(t, st.Devices[0], want)
	sameCodes(t, st.RecoveryCodes, codes)
	if st.Lockout.Failures != 0 {
		t.Fatalf("VerifyDevice did not reset lockout: %+v", st.Lockout)
	}
	// A verified device never expires.
	if st := h.load(t, u, at.Add(365*24*time.Hour)); len(st.Devices) != 1 {
		t.Fatal("verified device expired")
	}
	wantErr(t, "VerifyDevice twice", h.s.VerifyDevice(h.ctx, u, d.ID, 8, at, codeSet(10, true), mfa.Lockout{}, 1), mfa.ErrCodeReused)
	sameCodes(t, h.load(t, u, at).RecoveryCodes, codes)
}

// imported returns d as an imported device: verified, with a last step.
func imported(d mfa.DeviceRecord) mfa.DeviceRecord {
	d.Verified, d.VerifiedAt, d.LastUsedAt, d.LastStep, d.ExpiresAt = true, base, base, 42, time.Time{}
	return d
}

func testImport(t *testing.T, h *harness) {
	u := h.user("alice")
	pending := h.device(u, "pending")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, pending, 1))
	d := imported(h.device(u, "imported"))
	codes := codeSet(3, false)
	codes.Format = mfa.RecoveryFormatImported
	noErr(t, "ImportDevice", h.s.ImportDevice(h.ctx, d, codes, 1))
	st := h.load(t, u, base)
	if len(st.Devices) != 2 {
		t.Fatalf("%d devices after the import, want the pending one and the imported one", len(st.Devices))
	}
	for _, got := range st.Devices {
		if got.ID == d.ID {
			sameDevice(t, got, d)
		} else {
			sameDevice(t, got, pending)
		}
	}
	sameCodes(t, st.RecoveryCodes, codes)
	if st.RecoveryCodes.Format != mfa.RecoveryFormatImported {
		t.Fatalf("code set format %q, want %q", st.RecoveryCodes.Format, mfa.RecoveryFormatImported)
	}

	// A second device of the type is refused and changes nothing.
	again := imported(h.device(u, "again"))
	wantErr(t, "ImportDevice(second)", h.s.ImportDevice(h.ctx, again, codeSet(2, false), 1), mfa.ErrDeviceLimit)
	after := h.load(t, u, base)
	if len(after.Devices) != 2 {
		t.Fatalf("a refused import left %d devices", len(after.Devices))
	}
	sameCodes(t, after.RecoveryCodes, codes)
	v, _, _ := h.enrolled(t, "bob")
	wantErr(t, "ImportDevice(enrolled user)", h.s.ImportDevice(h.ctx, imported(h.device(v, "x")), mfa.RecoveryCodeSet{}, 1), mfa.ErrDeviceLimit)

	// Without codes, the user has no code set.
	w := h.user("carol")
	noErr(t, "ImportDevice(no codes)", h.s.ImportDevice(h.ctx, imported(h.device(w, "c")), mfa.RecoveryCodeSet{}, 1))
	if st := h.load(t, w, base); len(st.Devices) != 1 || len(st.RecoveryCodes.Hashes) != 0 || st.RecoveryCodes.KeyID != "" {
		t.Fatalf("import without codes: %+v", st)
	}
}

// testSeveralDevices: up to limit verified devices of a type; a second
// device keeps the user's recovery codes, and they go with the last one.
func testSeveralDevices(t *testing.T, h *harness) {
	u, first, codes := h.enrolled(t, "alice")
	second := h.device(u, "second")
	noErr(t, "InsertPendingDevice(limit 2)", h.s.InsertPendingDevice(h.ctx, second, 2))
	noErr(t, "VerifyDevice(no codes, limit 2)", h.s.VerifyDevice(h.ctx, u, second.ID, 7, base, mfa.RecoveryCodeSet{}, mfa.Lockout{}, 2))
	st := h.load(t, u, base)
	if len(st.Devices) != 2 {
		t.Fatalf("%d devices, want 2", len(st.Devices))
	}
	sameCodes(t, st.RecoveryCodes, codes)

	third := h.device(u, "third")
	wantErr(t, "InsertPendingDevice(over limit 2)", h.s.InsertPendingDevice(h.ctx, third, 2), mfa.ErrDeviceLimit)
	noErr(t, "InsertPendingDevice(limit 3)", h.s.InsertPendingDevice(h.ctx, third, 3))
	wantErr(t, "VerifyDevice(over limit 2)", h.s.VerifyDevice(h.ctx, u, third.ID, 7, base, mfa.RecoveryCodeSet{}, mfa.Lockout{}, 2), mfa.ErrDeviceLimit)
	if st := h.load(t, u, base); len(st.Devices) != 3 || st.Devices[2].Verified && st.Devices[2].ID == third.ID {
		t.Fatalf("a verification over the limit changed the devices: %+v", st.Devices)
	}
	wantErr(t, "ImportDevice(over limit 2)", h.s.ImportDevice(h.ctx, imported(h.device(u, "imported")), mfa.RecoveryCodeSet{}, 2), mfa.ErrDeviceLimit)

	noErr(t, "DeleteDevice(first of two)", h.s.DeleteDevice(h.ctx, u, first.ID))
	sameCodes(t, h.load(t, u, base).RecoveryCodes, codes)
	noErr(t, "DeleteDevice(last verified)", h.s.DeleteDevice(h.ctx, u, second.ID))
	if st := h.load(t, u, base); len(st.RecoveryCodes.Hashes) != 0 || st.RecoveryCodes.Pending() {
		t.Fatalf("codes after the last verified device went: %+v", st.RecoveryCodes)
	}
}

func testDefaultDevice(t *testing.T, h *harness) {
	u, first, _ := h.enrolled(t, "alice")
	second := h.device(u, "second")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, second, 2))
	wantErr(t, "SetDefaultDevice(pending)", h.s.SetDefaultDevice(h.ctx, u, second.ID), mfa.ErrDeviceNotFound)
	noErr(t, "VerifyDevice", h.s.VerifyDevice(h.ctx, u, second.ID, 7, base, mfa.RecoveryCodeSet{}, mfa.Lockout{}, 2))
	wantErr(t, "SetDefaultDevice(unknown)", h.s.SetDefaultDevice(h.ctx, u, h.prefix+"nope"), mfa.ErrDeviceNotFound)
	wantErr(t, "SetDefaultDevice(another user's)", h.s.SetDefaultDevice(h.ctx, h.user("bob"), second.ID), mfa.ErrDeviceNotFound)
	for _, want := range []string{second.ID, first.ID} {
		noErr(t, "SetDefaultDevice", h.s.SetDefaultDevice(h.ctx, u, want))
		for _, d := range h.load(t, u, base).Devices {
			if d.Default != (d.ID == want) {
				t.Fatalf("after SetDefaultDevice(%s), %s has Default %t", want, d.ID, d.Default)
			}
		}
	}
}

func testAcceptStep(t *testing.T, h *harness) {
	u, d, _ := h.enrolled(t, "alice")
	at := base.Add(2 * time.Minute)
	wantErr(t, "AcceptStep(same step)", h.s.AcceptStep(h.ctx, u, d.ID, 100, at, mfa.Lockout{}), mfa.ErrCodeReused)
	wantErr(t, "AcceptStep(older step)", h.s.AcceptStep(h.ctx, u, d.ID, 99, at, mfa.Lockout{}), mfa.ErrCodeReused)
	wantErr(t, "AcceptStep(unknown device)", h.s.AcceptStep(h.ctx, u, h.prefix+"nope", 101, at, mfa.Lockout{}), mfa.ErrDeviceNotFound)
	wantErr(t, "AcceptStep(other user)", h.s.AcceptStep(h.ctx, h.user("bob"), d.ID, 101, at, mfa.Lockout{}), mfa.ErrDeviceNotFound)
	lk := mfa.Lockout{Failures: 1, LastFailure: at}
	if _, err := h.s.SwapLockout(h.ctx, u, mfa.Lockout{}, lk); err != nil {
		t.Fatal(err)
	}
	// A caller that checked an older lockout state changes nothing, even
	// with a fresh step.
	wantErr(t, "AcceptStep(stale lockout)", h.s.AcceptStep(h.ctx, u, d.ID, 101, at, mfa.Lockout{}), mfa.ErrLockoutChanged)
	wantErr(t, "AcceptStep(stale lockout, replayed step)", h.s.AcceptStep(h.ctx, u, d.ID, 100, at, mfa.Lockout{}), mfa.ErrLockoutChanged)
	if st := h.load(t, u, at); st.Devices[0].LastStep != 100 || !st.Lockout.Equal(lk) {
		t.Fatalf("AcceptStep with a stale lockout changed state: %+v", st)
	}
	noErr(t, "AcceptStep(newer)", h.s.AcceptStep(h.ctx, u, d.ID, 101, at, lk))
	st := h.load(t, u, at)
	if got := st.Devices[0]; got.LastStep != 101 || !got.LastUsedAt.Equal(at) {
		t.Fatalf("after AcceptStep: LastStep %d LastUsedAt %v", got.LastStep, got.LastUsedAt)
	}
	if st.Lockout.Failures != 0 {
		t.Fatal("AcceptStep did not reset lockout")
	}
	wantErr(t, "AcceptStep(replay)", h.s.AcceptStep(h.ctx, u, d.ID, 101, at, mfa.Lockout{}), mfa.ErrCodeReused)

	// A pending device is not a factor.
	v := h.user("pending")
	p := h.device(v, "p")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, p, 1))
	wantErr(t, "AcceptStep(pending)", h.s.AcceptStep(h.ctx, v, p.ID, 1, base, mfa.Lockout{}), mfa.ErrDeviceNotFound)
}

func testUpdateSecret(t *testing.T, h *harness) {
	u, d, _ := h.enrolled(t, "alice")
	noErr(t, "UpdateDeviceSecret", h.s.UpdateDeviceSecret(h.ctx, u, d.ID, []byte("resealed")))
	if got := h.load(t, u, base).Devices[0].Secret; string(got) != "resealed" {
		t.Fatalf("secret %q, want resealed", got)
	}
	wantErr(t, "UpdateDeviceSecret(unknown)", h.s.UpdateDeviceSecret(h.ctx, u, h.prefix+"nope", []byte("x")), mfa.ErrDeviceNotFound)
}

func testDeleteDevice(t *testing.T, h *harness) {
	u, d, _ := h.enrolled(t, "alice")
	mine := token(u, false, base.Add(time.Hour))
	theirs := token(h.user("bob"), false, base.Add(time.Hour))
	noErr(t, "InsertToken", h.s.InsertToken(h.ctx, mine))
	noErr(t, "InsertToken", h.s.InsertToken(h.ctx, theirs))
	noErr(t, "DeleteDevice(absent)", h.s.DeleteDevice(h.ctx, u, h.prefix+"nope"))
	noErr(t, "DeleteDevice(other user's)", h.s.DeleteDevice(h.ctx, h.user("bob"), d.ID))
	if st := h.load(t, u, base); len(st.Devices) != 1 {
		t.Fatal("deleting another user's device ID removed alice's")
	}
	_, err := h.s.Token(h.ctx, mine.UserID, mine.Hash)
	noErr(t, "Token after deleting an absent device", err)
	noErr(t, "DeleteDevice", h.s.DeleteDevice(h.ctx, u, d.ID))
	st := h.load(t, u, base)
	if len(st.Devices) != 0 || len(st.RecoveryCodes.Hashes) != 0 || st.RecoveryCodes.Pending() {
		t.Fatalf("after deleting the verified device: %+v", st)
	}
	_, err = h.s.Token(h.ctx, mine.UserID, mine.Hash)
	wantErr(t, "Token after DeleteDevice (tokens are revoked with the device)", err, mfa.ErrTokenInvalid)
	_, err = h.s.Token(h.ctx, theirs.UserID, theirs.Hash)
	noErr(t, "another user's Token after DeleteDevice", err)
	noErr(t, "DeleteDevice(again)", h.s.DeleteDevice(h.ctx, u, d.ID))

	// Deleting a pending device keeps the codes of the verified one.
	v, _, codes := h.enrolled(t, "bob")
	wantErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, h.device(v, "p"), 1), mfa.ErrDeviceLimit)
	w := h.user("carol")
	p := h.device(w, "p2")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, p, 1))
	pendingTok := token(w, true, base.Add(time.Hour))
	noErr(t, "InsertToken", h.s.InsertToken(h.ctx, pendingTok))
	noErr(t, "DeleteDevice(pending)", h.s.DeleteDevice(h.ctx, w, p.ID))
	if st := h.load(t, w, base); len(st.Devices) != 0 {
		t.Fatal("pending device not deleted")
	}
	_, err = h.s.Token(h.ctx, pendingTok.UserID, pendingTok.Hash)
	wantErr(t, "Token after deleting a pending device", err, mfa.ErrTokenInvalid)
	sameCodes(t, h.load(t, v, base).RecoveryCodes, codes)
}

func testIsolation(t *testing.T, h *harness) {
	a, da, ca := h.enrolled(t, "alice")
	b, _, _ := h.enrolled(t, "bob")
	noErr(t, "DeleteUser(bob)", h.s.DeleteUser(h.ctx, b))
	st := h.load(t, a, base)
	if len(st.Devices) != 1 || st.Devices[0].ID != da.ID {
		t.Fatal("deleting bob changed alice")
	}
	sameCodes(t, st.RecoveryCodes, ca)
}

func testReplaceCodes(t *testing.T, h *harness) {
	wantErr(t, "ReplaceRecoveryCodes(no device)", h.s.ReplaceRecoveryCodes(h.ctx, h.user("nobody"), codeSet(2, true)), mfa.ErrNoDevice)
	if st := h.load(t, h.user("nobody"), base); len(st.RecoveryCodes.Hashes) != 0 {
		t.Fatal("codes stored for a user without device")
	}
	p := h.user("pending")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, h.device(p, "p"), 1))
	wantErr(t, "ReplaceRecoveryCodes(pending device only)", h.s.ReplaceRecoveryCodes(h.ctx, p, codeSet(2, true)), mfa.ErrNoDevice)

	u, _, old := h.enrolled(t, "alice")
	noErr(t, "AcknowledgeRecoveryCodes", h.s.AcknowledgeRecoveryCodes(h.ctx, u, base))
	next := codeSet(10, true)
	noErr(t, "ReplaceRecoveryCodes", h.s.ReplaceRecoveryCodes(h.ctx, u, next))
	sameCodes(t, h.load(t, u, base).RecoveryCodes, next)
	_, err := h.s.ConsumeRecoveryCode(h.ctx, u, old.Hashes[0], base, mfa.Lockout{})
	wantErr(t, "ConsumeRecoveryCode(old set)", err, mfa.ErrInvalidCode)
}

func testConsumeCode(t *testing.T, h *harness) {
	u, _, codes := h.enrolled(t, "alice")
	lk := mfa.Lockout{Failures: 3, LastFailure: base}
	if _, err := h.s.SwapLockout(h.ctx, u, mfa.Lockout{}, lk); err != nil {
		t.Fatal(err)
	}
	_, err := h.s.ConsumeRecoveryCode(h.ctx, u, codes.Hashes[1], base, mfa.Lockout{Failures: 2, LastFailure: base})
	wantErr(t, "ConsumeRecoveryCode(stale lockout)", err, mfa.ErrLockoutChanged)
	if st := h.load(t, u, base); len(st.RecoveryCodes.Hashes) != 3 || !st.Lockout.Equal(lk) {
		t.Fatalf("ConsumeRecoveryCode with a stale lockout changed state: %+v", st)
	}
	left, err := h.s.ConsumeRecoveryCode(h.ctx, u, codes.Hashes[1], base, lk)
	noErr(t, "ConsumeRecoveryCode", err)
	if left != 2 {
		t.Fatalf("remaining %d, want 2", left)
	}
	st := h.load(t, u, base)
	if len(st.RecoveryCodes.Hashes) != 2 || st.Lockout.Failures != 0 {
		t.Fatalf("after consume: %d codes, %d failures", len(st.RecoveryCodes.Hashes), st.Lockout.Failures)
	}
	_, err = h.s.ConsumeRecoveryCode(h.ctx, u, codes.Hashes[1], base, mfa.Lockout{})
	wantErr(t, "ConsumeRecoveryCode(twice)", err, mfa.ErrInvalidCode)
	_, err = h.s.ConsumeRecoveryCode(h.ctx, h.user("bob"), codes.Hashes[0], base, mfa.Lockout{})
	wantErr(t, "ConsumeRecoveryCode(other user)", err, mfa.ErrInvalidCode)
	for i, want := range []int{1, 0} {
		left, err := h.s.ConsumeRecoveryCode(h.ctx, u, codes.Hashes[[]int{0, 2}[i]], base, mfa.Lockout{})
		noErr(t, "ConsumeRecoveryCode", err)
		if left != want {
			t.Fatalf("remaining %d, want %d", left, want)
		}
	}
	if st := h.load(t, u, base); len(st.RecoveryCodes.Hashes) != 0 || len(st.Devices) != 1 {
		t.Fatalf("after using every code: %+v", st)
	}
}

func testAcknowledge(t *testing.T, h *harness) {
	u, _, codes := h.enrolled(t, "alice")
	// A set made after notAfter keeps its plaintext: it is newer than what
	// the caller read.
	noErr(t, "AcknowledgeRecoveryCodes(older notAfter)", h.s.AcknowledgeRecoveryCodes(h.ctx, u, base.Add(-time.Microsecond)))
	sameCodes(t, h.load(t, u, base).RecoveryCodes, codes)
	noErr(t, "AcknowledgeRecoveryCodes", h.s.AcknowledgeRecoveryCodes(h.ctx, u, base))
	st := h.load(t, u, base)
	if st.RecoveryCodes.Pending() || st.RecoveryCodes.Sealed != nil {
		t.Fatal("codes still pending after acknowledgement")
	}
	want := codes
	want.Sealed = nil
	sameCodes(t, st.RecoveryCodes, want)
	noErr(t, "AcknowledgeRecoveryCodes(again)", h.s.AcknowledgeRecoveryCodes(h.ctx, u, base))
	noErr(t, "AcknowledgeRecoveryCodes(unknown user)", h.s.AcknowledgeRecoveryCodes(h.ctx, h.user("nobody"), base))
}

func token(userID string, singleUse bool, expires time.Time, scopes ...string) mfa.TokenRecord {
	t := mfa.TokenRecord{UserID: userID, SingleUse: singleUse, Scopes: scopes, CreatedAt: base, ExpiresAt: expires}
	if _, err := rand.Read(t.Hash[:]); err != nil {
		panic(err)
	}
	return t
}

func testTokens(t *testing.T, h *harness) {
	u := h.user("alice")
	_, err := h.s.Token(h.ctx, u, [mfa.HashSize]byte{1})
	wantErr(t, "Token(unknown)", err, mfa.ErrTokenInvalid)

	tok := token(u, true, base.Add(5*time.Minute), "credential:unlink", "user:update")
	noErr(t, "InsertToken", h.s.InsertToken(h.ctx, tok))
	got, err := h.s.Token(h.ctx, tok.UserID, tok.Hash)
	noErr(t, "Token", err)
	if got.Hash != tok.Hash || got.UserID != u || !got.SingleUse || !reflect.DeepEqual(got.Scopes, tok.Scopes) ||
		!got.CreatedAt.Equal(tok.CreatedAt) || !got.ExpiresAt.Equal(tok.ExpiresAt) {
		t.Fatalf("Token: got %+v, want %+v", got, tok)
	}
	// A token is its user's: for anyone else it does not exist.
	_, err = h.s.Token(h.ctx, h.user("bob"), tok.Hash)
	wantErr(t, "Token(another user)", err, mfa.ErrTokenInvalid)
	wantErr(t, "ConsumeToken(another user)", h.s.ConsumeToken(h.ctx, h.user("bob"), tok.Hash, base), mfa.ErrTokenInvalid)
	wantErr(t, "ConsumeToken(at expiry)", h.s.ConsumeToken(h.ctx, tok.UserID, tok.Hash, tok.ExpiresAt), mfa.ErrTokenInvalid)
	noErr(t, "ConsumeToken", h.s.ConsumeToken(h.ctx, tok.UserID, tok.Hash, base))
	wantErr(t, "ConsumeToken(twice)", h.s.ConsumeToken(h.ctx, tok.UserID, tok.Hash, base), mfa.ErrTokenInvalid)
	_, err = h.s.Token(h.ctx, tok.UserID, tok.Hash)
	wantErr(t, "Token(consumed)", err, mfa.ErrTokenInvalid)

	// Expired tokens still read, so that callers can say "expired".
	old := token(u, false, base.Add(time.Second))
	noErr(t, "InsertToken", h.s.InsertToken(h.ctx, old))
	got, err = h.s.Token(h.ctx, old.UserID, old.Hash)
	noErr(t, "Token(expired)", err)
	if got.SingleUse || len(got.Scopes) != 0 {
		t.Fatalf("persistent unscoped token read back as %+v", got)
	}
}

func testSwapLockout(t *testing.T, h *harness) {
	u := h.user("alice")
	l1 := mfa.Lockout{Failures: 1, LastFailure: base}
	ok, err := h.s.SwapLockout(h.ctx, u, mfa.Lockout{Failures: 1}, l1)
	noErr(t, "SwapLockout", err)
	if ok {
		t.Fatal("SwapLockout succeeded with a stale old value")
	}
	ok, err = h.s.SwapLockout(h.ctx, u, mfa.Lockout{}, l1)
	noErr(t, "SwapLockout", err)
	if !ok {
		t.Fatal("SwapLockout from zero failed")
	}
	l2 := mfa.Lockout{Failures: 2, LastFailure: base.Add(time.Second)}
	ok, err = h.s.SwapLockout(h.ctx, u, l1, l2)
	if err != nil || !ok {
		t.Fatalf("SwapLockout 1->2: %v %v", ok, err)
	}
	got, err := h.s.Lockout(h.ctx, u)
	noErr(t, "Lockout", err)
	if got.Failures != 2 || !got.LastFailure.Equal(l2.LastFailure) {
		t.Fatalf("Lockout: got %+v, want %+v", got, l2)
	}
	if st := h.load(t, u, base); st.Lockout.Failures != 2 {
		t.Fatalf("LoadUser lockout: %+v", st.Lockout)
	}
	ok, err = h.s.SwapLockout(h.ctx, u, l1, mfa.Lockout{Failures: 9})
	if err != nil || ok {
		t.Fatalf("SwapLockout with stale old: %v %v", ok, err)
	}
	// Same count, other time: a caller that read the state before a reset
	// and a new run of failures does not pass.
	ok, err = h.s.SwapLockout(h.ctx, u, mfa.Lockout{Failures: 2, LastFailure: base}, mfa.Lockout{Failures: 3, LastFailure: base})
	if err != nil || ok {
		t.Fatalf("SwapLockout with the same count but another time: %v %v", ok, err)
	}
}

func testDeleteUser(t *testing.T, h *harness) {
	u, _, _ := h.enrolled(t, "alice")
	tok := token(u, false, base.Add(time.Hour))
	noErr(t, "InsertToken", h.s.InsertToken(h.ctx, tok))
	if _, err := h.s.SwapLockout(h.ctx, u, mfa.Lockout{}, mfa.Lockout{Failures: 4, LastFailure: base}); err != nil {
		t.Fatal(err)
	}
	other := token(h.user("bob"), false, base.Add(time.Hour))
	noErr(t, "InsertToken", h.s.InsertToken(h.ctx, other))

	noErr(t, "DeleteUser", h.s.DeleteUser(h.ctx, u))
	st := h.load(t, u, base)
	if len(st.Devices) != 0 || len(st.RecoveryCodes.Hashes) != 0 || st.Lockout.Failures != 0 {
		t.Fatalf("after DeleteUser: %+v", st)
	}
	_, err := h.s.Token(h.ctx, tok.UserID, tok.Hash)
	wantErr(t, "Token after DeleteUser", err, mfa.ErrTokenInvalid)
	_, err = h.s.Token(h.ctx, other.UserID, other.Hash)
	noErr(t, "other user's token after DeleteUser", err)
	noErr(t, "DeleteUser(again)", h.s.DeleteUser(h.ctx, u))
}

func testCancelled(t *testing.T, h *harness) {
	u, d, codes := h.enrolled(t, "alice")
	tok := token(u, true, base.Add(time.Hour))
	noErr(t, "InsertToken", h.s.InsertToken(h.ctx, tok))
	before := h.load(t, u, base)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := h.s
	calls := map[string]func() error{
		"LoadUser":      func() error { _, err := s.LoadUser(ctx, u, base); return err },
		"DeleteUser":    func() error { return s.DeleteUser(ctx, u) },
		"InsertPending": func() error { return s.InsertPendingDevice(ctx, h.device(h.user("bob"), "b"), 1) },
		"VerifyDevice":  func() error { return s.VerifyDevice(ctx, u, d.ID, 500, base, codeSet(1, true), mfa.Lockout{}, 1) },
		"AcceptStep":    func() error { return s.AcceptStep(ctx, u, d.ID, 500, base, mfa.Lockout{}) },
		"UpdateSecret":  func() error { return s.UpdateDeviceSecret(ctx, u, d.ID, []byte("x")) },
		"DeleteDevice":  func() error { return s.DeleteDevice(ctx, u, d.ID) },
		"ReplaceCodes":  func() error { return s.ReplaceRecoveryCodes(ctx, u, codeSet(1, true)) },
		"ConsumeCode": func() error {
			_, err := s.ConsumeRecoveryCode(ctx, u, codes.Hashes[0], base, mfa.Lockout{})
			return err
		},
		"Acknowledge":  func() error { return s.AcknowledgeRecoveryCodes(ctx, u, base) },
		"InsertToken":  func() error { return s.InsertToken(ctx, token(u, true, base.Add(time.Hour))) },
		"Token":        func() error { _, err := s.Token(ctx, tok.UserID, tok.Hash); return err },
		"ConsumeToken": func() error { return s.ConsumeToken(ctx, tok.UserID, tok.Hash, base) },
		"Lockout":      func() error { _, err := s.Lockout(ctx, u); return err },
		"SwapLockout":  func() error { _, err := s.SwapLockout(ctx, u, before.Lockout, mfa.Lockout{Failures: 50}); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: got %v, want an error wrapping context.Canceled", name, err)
		}
	}
	after := h.load(t, u, base)
	if len(after.Devices) != 1 {
		t.Fatalf("cancelled calls changed devices: %+v", after.Devices)
	}
	sameDevice(t, after.Devices[0], before.Devices[0])
	sameCodes(t, after.RecoveryCodes, before.RecoveryCodes)
	if after.Lockout.Failures != before.Lockout.Failures {
		t.Fatal("cancelled calls changed lockout")
	}
	if _, err := s.Token(h.ctx, tok.UserID, tok.Hash); err != nil {
		t.Fatalf("cancelled calls changed tokens: %v", err)
	}
	if st := h.load(t, h.user("bob"), base); len(st.Devices) != 0 {
		t.Fatal("cancelled InsertPendingDevice stored a device")
	}
}

// race runs fn in Concurrency goroutines released at once and returns how
// many returned nil; every other result must match loser.
func race(t *testing.T, loser error, fn func() error) int {
	t.Helper()
	return raceAny(t, []error{loser}, fn)
}

// raceAny is race with several acceptable loser errors.
func raceAny(t *testing.T, losers []error, fn func() error) int {
	t.Helper()
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		wins  atomic.Int64
		mu    sync.Mutex
		bad   []error
	)
	for range Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := fn()
			switch {
			case err == nil:
				wins.Add(1)
			case !isAny(err, losers):
				mu.Lock()
				bad = append(bad, err)
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range bad {
		t.Errorf("unexpected error: %v (losers must get one of %v)", err, losers)
	}
	return int(wins.Load())
}

func exactlyOne(t *testing.T, what string, wins int) {
	t.Helper()
	if wins != 1 {
		t.Fatalf("%s: %d of %d goroutines won, want exactly 1", what, wins, Concurrency)
	}
}

func testConcurrentAcceptStep(t *testing.T, h *harness) {
	u, d, _ := h.enrolled(t, "alice")
	exactlyOne(t, "AcceptStep", race(t, mfa.ErrCodeReused, func() error { return h.s.AcceptStep(h.ctx, u, d.ID, 101, base, mfa.Lockout{}) }))
}

func testConcurrentVerify(t *testing.T, h *harness) {
	u := h.user("alice")
	d := h.device(u, "d")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, d, 1))
	exactlyOne(t, "VerifyDevice", race(t, mfa.ErrCodeReused, func() error { return h.s.VerifyDevice(h.ctx, u, d.ID, 5, base, codeSet(10, true), mfa.Lockout{}, 1) }))
	if st := h.load(t, u, base); len(st.RecoveryCodes.Hashes) != 10 {
		t.Fatalf("after racing verifications: %d codes", len(st.RecoveryCodes.Hashes))
	}
}

func testConcurrentImport(t *testing.T, h *harness) {
	u := h.user("alice")
	var n atomic.Int32
	exactlyOne(t, "ImportDevice", race(t, mfa.ErrDeviceLimit, func() error {
		d := imported(h.device(u, fmt.Sprintf("d%d", n.Add(1))))
		return h.s.ImportDevice(h.ctx, d, codeSet(2, false), 1)
	}))
	if st := h.load(t, u, base); len(st.Devices) != 1 || len(st.RecoveryCodes.Hashes) != 2 {
		t.Fatalf("after the race: %d devices, %d codes", len(st.Devices), len(st.RecoveryCodes.Hashes))
	}
	// With a limit of 2, exactly two of the racers store a device.
	v := h.user("bob")
	wins := race(t, mfa.ErrDeviceLimit, func() error {
		return h.s.ImportDevice(h.ctx, imported(h.device(v, fmt.Sprintf("b%d", n.Add(1)))), mfa.RecoveryCodeSet{}, 2)
	})
	if st := h.load(t, v, base); wins != 2 || len(st.Devices) != 2 {
		t.Fatalf("%d of the racers stored a device, %d devices stored; want 2 and 2", wins, len(st.Devices))
	}
}

func testConcurrentConsumeCode(t *testing.T, h *harness) {
	u, _, codes := h.enrolled(t, "alice")
	exactlyOne(t, "ConsumeRecoveryCode", race(t, mfa.ErrInvalidCode, func() error {
		_, err := h.s.ConsumeRecoveryCode(h.ctx, u, codes.Hashes[0], base, mfa.Lockout{})
		return err
	}))
	if st := h.load(t, u, base); len(st.RecoveryCodes.Hashes) != 2 {
		t.Fatalf("after the race %d codes remain, want 2", len(st.RecoveryCodes.Hashes))
	}
}

func testConcurrentConsumeToken(t *testing.T, h *harness) {
	tok := token(h.user("alice"), true, base.Add(time.Hour))
	noErr(t, "InsertToken", h.s.InsertToken(h.ctx, tok))
	exactlyOne(t, "ConsumeToken", race(t, mfa.ErrTokenInvalid, func() error { return h.s.ConsumeToken(h.ctx, tok.UserID, tok.Hash, base) }))
}

var errLost = errors.New("swap lost")

func testConcurrentSwap(t *testing.T, h *harness) {
	u := h.user("alice")
	exactlyOne(t, "SwapLockout", race(t, errLost, func() error {
		ok, err := h.s.SwapLockout(h.ctx, u, mfa.Lockout{}, mfa.Lockout{Failures: 1, LastFailure: base})
		if err == nil && !ok {
			return errLost
		}
		return err
	}))
}

// testConcurrentCount increments the failure count from many goroutines by
// compare-and-swap; no increment may be lost.
func testConcurrentCount(t *testing.T, h *harness) {
	u := h.user("alice")
	wins := race(t, errLost, func() error {
		for {
			cur, err := h.s.Lockout(h.ctx, u)
			if err != nil {
				return err
			}
			ok, err := h.s.SwapLockout(h.ctx, u, cur, mfa.Lockout{Failures: cur.Failures + 1, LastFailure: base})
			if err != nil || ok {
				return err
			}
		}
	})
	if wins != Concurrency {
		t.Fatalf("%d of %d increments succeeded", wins, Concurrency)
	}
	lk, err := h.s.Lockout(h.ctx, u)
	noErr(t, "Lockout", err)
	if lk.Failures != Concurrency {
		t.Fatalf("failures = %d after %d increments: lost updates", lk.Failures, Concurrency)
	}
}

func testCleanup(t *testing.T, h *harness) {
	c := h.s.(mfa.Cleaner)
	u := h.user("alice")
	p := h.device(u, "p")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, p, 1))
	live := token(u, false, base.Add(time.Hour))
	dead := token(u, false, base.Add(time.Second))
	noErr(t, "InsertToken", h.s.InsertToken(h.ctx, live))
	noErr(t, "InsertToken", h.s.InsertToken(h.ctx, dead))
	v, d, codes := h.enrolled(t, "bob")
	// carol's codes were made after sealedNotAfter and keep their
	// plaintext; dave's were made before it and erin's at it, and both
	// lose it.
	kept, lost := map[string]mfa.RecoveryCodeSet{}, map[string]mfa.RecoveryCodeSet{}
	cut := base.Add(-time.Minute)
	for name, created := range map[string]time.Time{"carol": cut.Add(time.Microsecond), "dave": base.Add(-time.Hour), "erin": cut} {
		u, _, codes := h.enrolled(t, name)
		codes.CreatedAt = created
		noErr(t, "ReplaceRecoveryCodes", h.s.ReplaceRecoveryCodes(h.ctx, u, codes))
		if created.After(cut) {
			kept[u] = codes
		} else {
			codes.Sealed = nil
			lost[u] = codes
		}
	}

	now := base.Add(11 * time.Minute)
	noErr(t, "Cleanup", c.Cleanup(h.ctx, now, cut))
	for u, want := range kept {
		sameCodes(t, h.load(t, u, now).RecoveryCodes, want)
	}
	for u, want := range lost {
		sameCodes(t, h.load(t, u, now).RecoveryCodes, want)
	}
	_, err := h.s.Token(h.ctx, dead.UserID, dead.Hash)
	wantErr(t, "expired token after Cleanup", err, mfa.ErrTokenInvalid)
	_, err = h.s.Token(h.ctx, live.UserID, live.Hash)
	noErr(t, "live token after Cleanup", err)
	// The expired pending device is gone even for a reader whose clock is
	// behind: Cleanup removed it.
	if st := h.load(t, u, base); len(st.Devices) != 0 {
		t.Fatalf("expired pending device survived Cleanup: %+v", st.Devices)
	}
	st := h.load(t, v, now)
	if len(st.Devices) != 1 || st.Devices[0].ID != d.ID {
		t.Fatal("Cleanup removed a verified device")
	}
	sameCodes(t, st.RecoveryCodes, codes)
}

func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
