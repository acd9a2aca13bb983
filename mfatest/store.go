package mfatest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
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
	{"Passkey/Verify", testVerifyPasskey},
	{"Passkey/VerifyOnlyAPasskey", testVerifyPasskeyNotAPasskey},
	{"Passkey/Limit", testPasskeyLimit},
	{"Passkey/Registered", testPasskeyRegistered},
	{"Passkey/DeleteDeviceFreesCredential", testPasskeyDeleteFrees},
	{"Passkey/Import", testImportPasskey},
	{"Passkey/LoadUser", testPasskeyLoad},
	{"Passkey/Accept", testAcceptPasskey},
	{"Passkey/AcceptLockout", testAcceptPasskeyLockout},
	{"Passkey/AcceptNotFound", testAcceptPasskeyNotFound},
	{"Passkey/Challenge", testChallenge},
	{"Passkey/DeleteUser", testPasskeyDeleteUser},
	{"DeleteUser", testDeleteUser},
	{"CancelledContext", testCancelled},
	{"Concurrent/AcceptStep", testConcurrentAcceptStep},
	{"Concurrent/VerifyDevice", testConcurrentVerify},
	{"Concurrent/ImportDevice", testConcurrentImport},
	{"Concurrent/ConsumeRecoveryCode", testConcurrentConsumeCode},
	{"Concurrent/ConsumeToken", testConcurrentConsumeToken},
	{"Concurrent/SwapLockout", testConcurrentSwap},
	{"Concurrent/CountFailures", testConcurrentCount},
	{"Concurrent/TakeChallenge", testConcurrentTakeChallenge},
	{"Concurrent/AcceptPasskey", testConcurrentAcceptPasskey},
	{"Concurrent/VerifyPasskey", testConcurrentVerifyPasskey},
	{"Concurrent/VerifyPasskeySameCredential", testConcurrentSameCredential},
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
	if passkeyDiffers(got.Passkey, want.Passkey) {
		t.Fatalf("device %s has the passkey credential\n got  %s\n want %s", got.ID, showPasskey(got.Passkey), showPasskey(want.Passkey))
	}
}

// passkeyDiffers reports whether two credentials differ; a nil slice and
// an empty one are alike.
func passkeyDiffers(got, want *mfa.PasskeyCredential) bool {
	if got == nil || want == nil {
		return (got == nil) != (want == nil)
	}
	return !bytes.Equal(got.ID, want.ID) || !bytes.Equal(got.UserHandle, want.UserHandle) || !bytes.Equal(got.PublicKey, want.PublicKey) ||
		got.SignCount != want.SignCount || got.AAGUID != want.AAGUID || !slices.Equal(got.Transports, want.Transports) ||
		got.BackupEligible != want.BackupEligible || got.BackupState != want.BackupState || got.UserVerified != want.UserVerified ||
		got.AttestationType != want.AttestationType || got.AttestationFormat != want.AttestationFormat
}

func showPasskey(c *mfa.PasskeyCredential) string {
	if c == nil {
		return "nil"
	}
	return fmt.Sprintf("%+v", *c)
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
	// The pending device, begun when the user had no factor, is gone: it
	// cannot become a further factor that no token authorised.
	st := h.load(t, u, base)
	if len(st.Devices) != 1 {
		t.Fatalf("%d devices after the import, want the imported one alone", len(st.Devices))
	}
	sameDevice(t, st.Devices[0], d)
	wantErr(t, "VerifyDevice(pending before the import)", h.s.VerifyDevice(h.ctx, u, pending.ID, 7, base, mfa.RecoveryCodeSet{}, mfa.Lockout{}, 2), mfa.ErrDeviceNotFound)
	sameCodes(t, st.RecoveryCodes, codes)
	if st.RecoveryCodes.Format != mfa.RecoveryFormatImported {
		t.Fatalf("code set format %q, want %q", st.RecoveryCodes.Format, mfa.RecoveryFormatImported)
	}

	// A second device of the type is refused and changes nothing: a
	// pending device stays.
	later := h.device(u, "later")
	noErr(t, "InsertPendingDevice(after the import)", h.s.InsertPendingDevice(h.ctx, later, 2))
	again := imported(h.device(u, "again"))
	wantErr(t, "ImportDevice(second)", h.s.ImportDevice(h.ctx, again, codeSet(2, false), 1), mfa.ErrDeviceLimit)
	after := h.load(t, u, base)
	if len(after.Devices) != 2 {
		t.Fatalf("a refused import left %d devices, want the imported and the pending one", len(after.Devices))
	}
	for _, got := range after.Devices {
		if got.ID != d.ID {
			sameDevice(t, got, later)
		}
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
	ch := h.challenge(u, "before", base.Add(time.Hour))
	noErr(t, "PutChallenge", h.s.PutChallenge(h.ctx, ch))
	before := h.load(t, u, base)
	// carol's passkey device is pending, dave's verified.
	carol := h.user("carol")
	pending := h.passkeyDevice(carol, "carol-key")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, pending, 1))
	dave, daveKey := h.passkeyEnrolled(t, "dave", h.credential("dave"))

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
		"VerifyPasskey": func() error {
			return s.VerifyPasskey(ctx, carol, pending.ID, h.credential("carol"), base, codeSet(1, true), mfa.Lockout{}, 1)
		},
		"AcceptPasskey": func() error {
			return s.AcceptPasskey(ctx, dave, daveKey.ID, 9, false, base.Add(time.Hour), mfa.Lockout{})
		},
		"PutChallenge":  func() error { return s.PutChallenge(ctx, h.challenge(u, "after", base.Add(time.Hour))) },
		"TakeChallenge": func() error { _, err := s.TakeChallenge(ctx, u, base); return err },
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
	if st := h.load(t, carol, base); len(st.Devices) != 1 {
		t.Fatalf("cancelled calls changed carol's devices: %+v", st.Devices)
	} else {
		sameDevice(t, st.Devices[0], pending)
	}
	if st := h.load(t, dave, base); len(st.Devices) != 1 {
		t.Fatalf("cancelled calls changed dave's devices: %+v", st.Devices)
	} else {
		sameDevice(t, st.Devices[0], daveKey)
	}
	got, err := s.TakeChallenge(h.ctx, u, base)
	noErr(t, "TakeChallenge after the cancelled calls", err)
	sameChallenge(t, got, ch)
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
	// alice's login ceremony expired before now, frank's at now; gina's
	// lives on, beside her passkey.
	// hank has nothing but a live ceremony.
	for name, expires := range map[string]time.Time{"alice": base.Add(10 * time.Minute), "frank": base.Add(11 * time.Minute)} {
		noErr(t, "PutChallenge", h.s.PutChallenge(h.ctx, h.challenge(h.user(name), name, expires)))
	}
	gina, ginaKey := h.passkeyEnrolled(t, "gina", h.credential("gina"))
	ginaCh := h.challenge(gina, "gina", base.Add(time.Hour))
	noErr(t, "PutChallenge", h.s.PutChallenge(h.ctx, ginaCh))
	hankCh := h.challenge(h.user("hank"), "hank", base.Add(11*time.Minute+time.Microsecond))
	noErr(t, "PutChallenge", h.s.PutChallenge(h.ctx, hankCh))
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
	// The expired ceremonies are gone even for a reader whose clock is
	// behind.
	for _, name := range []string{"alice", "frank"} {
		_, err := h.s.TakeChallenge(h.ctx, h.user(name), base)
		wantErr(t, "TakeChallenge("+name+") after Cleanup", err, mfa.ErrChallengeInvalid)
	}
	if st := h.load(t, gina, now); len(st.Devices) != 1 {
		t.Fatalf("Cleanup changed gina's devices: %+v", st.Devices)
	} else {
		sameDevice(t, st.Devices[0], ginaKey)
	}
	got, err := h.s.TakeChallenge(h.ctx, gina, now)
	noErr(t, "TakeChallenge(live) after Cleanup", err)
	sameChallenge(t, got, ginaCh)
	got, err = h.s.TakeChallenge(h.ctx, hankCh.UserID, now)
	noErr(t, "TakeChallenge(live, of a user with nothing else) after Cleanup", err)
	sameChallenge(t, got, hankCh)
}

func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// passkeyDevice returns a pending passkey device of userID; its Secret
// stands for the sealed registration ceremony.
func (h *harness) passkeyDevice(userID, name string) mfa.DeviceRecord {
	return mfa.DeviceRecord{
		ID:          h.prefix + name,
		UserID:      userID,
		Type:        mfa.DevicePasskey,
		Alias:       "key " + name,
		AccountName: userID + "@example.com",
		Secret:      []byte("sealed-ceremony-" + name),
		CreatedAt:   base,
		ExpiresAt:   base.Add(5 * time.Minute),
	}
}

// credential returns a passkey credential with every field set, whose ID
// no other subtest's credential has. Its counter is 0, as for most synced
// passkeys.
func (h *harness) credential(name string) mfa.PasskeyCredential {
	c := mfa.PasskeyCredential{
		ID:                append([]byte(h.prefix+name+"\x00"), randomBytes(16)...),
		UserHandle:        randomBytes(32),
		PublicKey:         append([]byte{0xa5, 0x01, 0x02, 0x03, 0x26}, randomBytes(72)...),
		Transports:        []string{"internal", "hybrid"},
		BackupEligible:    true,
		BackupState:       true,
		UserVerified:      true,
		AttestationType:   "none",
		AttestationFormat: "none",
	}
	copy(c.AAGUID[:], randomBytes(16))
	return c
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// passkeyEnrolled stores, for a new user, a verified passkey device that
// holds cred and a recovery code set, and returns the user and the device
// as the store must read it back.
func (h *harness) passkeyEnrolled(t *testing.T, name string, cred mfa.PasskeyCredential) (string, mfa.DeviceRecord) {
	t.Helper()
	u := h.user(name)
	d := h.passkeyDevice(u, name+"-key")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, d, 1))
	at := base.Add(time.Minute)
	noErr(t, "VerifyPasskey", h.s.VerifyPasskey(h.ctx, u, d.ID, cred, at, codeSet(3, true), mfa.Lockout{}, 1))
	return u, verifiedPasskey(d, cred, at)
}

// verifiedPasskey returns the pending passkey device d as VerifyPasskey
// leaves it.
func verifiedPasskey(d mfa.DeviceRecord, cred mfa.PasskeyCredential, at time.Time) mfa.DeviceRecord {
	d.Verified, d.VerifiedAt, d.ExpiresAt, d.Secret, d.Passkey = true, at, time.Time{}, nil, &cred
	return d
}

// challenge returns a login ceremony of userID.
func (h *harness) challenge(userID, name string, expires time.Time) mfa.ChallengeRecord {
	return mfa.ChallengeRecord{UserID: userID, Sealed: []byte("sealed-session-" + name), CreatedAt: expires.Add(-5 * time.Minute), ExpiresAt: expires}
}

func sameChallenge(t *testing.T, got, want mfa.ChallengeRecord) {
	t.Helper()
	if got.UserID != want.UserID || !bytes.Equal(got.Sealed, want.Sealed) || !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("login ceremony differs:\n got  %+v\n want %+v", got, want)
	}
}

// onlyDevice returns the one device LoadUser reads for userID.
func (h *harness) onlyDevice(t *testing.T, userID string, now time.Time) mfa.DeviceRecord {
	t.Helper()
	st := h.load(t, userID, now)
	if len(st.Devices) != 1 {
		t.Fatalf("%d devices, want 1: %+v", len(st.Devices), st.Devices)
	}
	return st.Devices[0]
}

func testVerifyPasskey(t *testing.T, h *harness) {
	u := h.user("alice")
	d := h.passkeyDevice(u, "key")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, d, 1))
	lk := mfa.Lockout{Failures: 1, LastFailure: base}
	ok, err := h.s.SwapLockout(h.ctx, u, mfa.Lockout{}, lk)
	if err != nil || !ok {
		t.Fatalf("SwapLockout from zero: %v, %v", ok, err)
	}
	at := base.Add(time.Minute)
	cred, codes := h.credential("key"), codeSet(10, true)
	wantErr(t, "VerifyPasskey(unknown)", h.s.VerifyPasskey(h.ctx, u, h.prefix+"nope", cred, at, codes, lk, 1), mfa.ErrDeviceNotFound)
	wantErr(t, "VerifyPasskey(another user's)", h.s.VerifyPasskey(h.ctx, h.user("bob"), d.ID, cred, at, codes, mfa.Lockout{}, 1), mfa.ErrDeviceNotFound)

	// A caller that checked an older lockout state changes nothing; the
	// lockout is checked first.
	before := h.load(t, u, at)
	wantErr(t, "VerifyPasskey(stale lockout)", h.s.VerifyPasskey(h.ctx, u, d.ID, cred, at, codes, mfa.Lockout{}, 1), mfa.ErrLockoutChanged)
	wantErr(t, "VerifyPasskey(stale lockout time)", h.s.VerifyPasskey(h.ctx, u, d.ID, cred, at, codes, mfa.Lockout{Failures: 1, LastFailure: at}, 1), mfa.ErrLockoutChanged)
	wantErr(t, "VerifyPasskey(stale lockout, unknown device)", h.s.VerifyPasskey(h.ctx, u, h.prefix+"nope", cred, at, codes, mfa.Lockout{}, 1), mfa.ErrLockoutChanged)
	wantErr(t, "VerifyPasskey(stale lockout, at expiry)", h.s.VerifyPasskey(h.ctx, u, d.ID, cred, d.ExpiresAt, codes, mfa.Lockout{}, 1), mfa.ErrLockoutChanged)
	// At its ExpiresAt the pending device is gone.
	wantErr(t, "VerifyPasskey(at expiry)", h.s.VerifyPasskey(h.ctx, u, d.ID, cred, d.ExpiresAt, codes, lk, 1), mfa.ErrDeviceNotFound)
	after := h.load(t, u, at)
	if len(after.Devices) != 1 || len(after.RecoveryCodes.Hashes) != 0 || !after.Lockout.Equal(before.Lockout) {
		t.Fatalf("refused verifications changed state: %+v", after)
	}
	sameDevice(t, after.Devices[0], d)

	noErr(t, "VerifyPasskey", h.s.VerifyPasskey(h.ctx, u, d.ID, cred, at, codes, lk, 1))
	st := h.load(t, u, at)
	if len(st.Devices) != 1 {
		t.Fatalf("%d devices after VerifyPasskey", len(st.Devices))
	}
	want := verifiedPasskey(d, cred, at)
	sameDevice(t, st.Devices[0], want)
	if got := st.Devices[0]; len(got.Secret) != 0 || !got.LastUsedAt.IsZero() || got.LastStep != 0 {
		t.Fatalf("after VerifyPasskey: Secret %q, LastUsedAt %v, LastStep %d; want none, zero, 0", got.Secret, got.LastUsedAt, got.LastStep)
	}
	sameCodes(t, st.RecoveryCodes, codes)
	if !st.Lockout.Equal(mfa.Lockout{}) {
		t.Fatalf("VerifyPasskey did not reset the lockout: %+v", st.Lockout)
	}
	// A verified passkey never expires.
	sameDevice(t, h.onlyDevice(t, u, at.Add(365*24*time.Hour)), want)

	// Verifying again is refused and changes nothing, whatever the
	// credential.
	wantErr(t, "VerifyPasskey(twice)", h.s.VerifyPasskey(h.ctx, u, d.ID, h.credential("again"), at.Add(time.Second), codeSet(4, true), mfa.Lockout{}, 1), mfa.ErrCodeReused)
	wantErr(t, "VerifyPasskey(twice, same credential)", h.s.VerifyPasskey(h.ctx, u, d.ID, cred, at, codeSet(4, true), mfa.Lockout{}, 2), mfa.ErrCodeReused)
	st = h.load(t, u, at)
	if len(st.Devices) != 1 {
		t.Fatalf("%d devices after a second VerifyPasskey", len(st.Devices))
	}
	sameDevice(t, st.Devices[0], want)
	sameCodes(t, st.RecoveryCodes, codes)
}

// testVerifyPasskeyNotAPasskey: VerifyPasskey finds only the user's
// pending passkey devices.
func testVerifyPasskeyNotAPasskey(t *testing.T, h *harness) {
	cred := h.credential("key")
	// A pending TOTP device.
	u := h.user("alice")
	p := h.device(u, "totp")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, p, 1))
	wantErr(t, "VerifyPasskey(pending TOTP device)", h.s.VerifyPasskey(h.ctx, u, p.ID, cred, base, codeSet(2, true), mfa.Lockout{}, 1), mfa.ErrDeviceNotFound)
	if st := h.load(t, u, base); len(st.Devices) != 1 || len(st.RecoveryCodes.Hashes) != 0 {
		t.Fatalf("a refused VerifyPasskey changed state: %+v", st)
	} else {
		sameDevice(t, st.Devices[0], p)
	}
	// A verified TOTP device: not found, rather than already verified.
	v, vd, vcodes := h.enrolled(t, "bob")
	wantErr(t, "VerifyPasskey(verified TOTP device)", h.s.VerifyPasskey(h.ctx, v, vd.ID, cred, base, codeSet(2, true), mfa.Lockout{}, 2), mfa.ErrDeviceNotFound)
	if st := h.load(t, v, base); len(st.Devices) != 1 || st.Devices[0].Passkey != nil {
		t.Fatalf("a refused VerifyPasskey changed bob's device: %+v", st.Devices)
	} else {
		sameCodes(t, st.RecoveryCodes, vcodes)
	}
	// The credential of the refused calls is free.
	w := h.user("carol")
	d := h.passkeyDevice(w, "key")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, d, 1))
	noErr(t, "VerifyPasskey", h.s.VerifyPasskey(h.ctx, w, d.ID, cred, base, mfa.RecoveryCodeSet{}, mfa.Lockout{}, 1))
	sameDevice(t, h.onlyDevice(t, w, base), verifiedPasskey(d, cred, base))
}

func testPasskeyLimit(t *testing.T, h *harness) {
	u, first := h.passkeyEnrolled(t, "alice", h.credential("first"))
	codes := h.load(t, u, base).RecoveryCodes
	wantErr(t, "InsertPendingDevice(over limit 1)", h.s.InsertPendingDevice(h.ctx, h.passkeyDevice(u, "no"), 1), mfa.ErrDeviceLimit)
	second := h.passkeyDevice(u, "second")
	noErr(t, "InsertPendingDevice(limit 2)", h.s.InsertPendingDevice(h.ctx, second, 2))
	cred := h.credential("second")
	wantErr(t, "VerifyPasskey(over limit 1)", h.s.VerifyPasskey(h.ctx, u, second.ID, cred, base, codeSet(2, true), mfa.Lockout{}, 1), mfa.ErrDeviceLimit)
	for _, d := range h.load(t, u, base).Devices {
		if d.ID == second.ID {
			sameDevice(t, d, second)
		}
	}
	// Without hashes, the user's recovery code set stays.
	noErr(t, "VerifyPasskey(no codes, limit 2)", h.s.VerifyPasskey(h.ctx, u, second.ID, cred, base, mfa.RecoveryCodeSet{}, mfa.Lockout{}, 2))
	st := h.load(t, u, base)
	if len(st.Devices) != 2 {
		t.Fatalf("%d devices, want 2", len(st.Devices))
	}
	for _, d := range st.Devices {
		if d.ID == first.ID {
			sameDevice(t, d, first)
		} else {
			sameDevice(t, d, verifiedPasskey(second, cred, base))
		}
	}
	sameCodes(t, st.RecoveryCodes, codes)

	// The limit is per type: a TOTP device does not count against
	// passkeys.
	v, _, vcodes := h.enrolled(t, "bob")
	k := h.passkeyDevice(v, "key")
	noErr(t, "InsertPendingDevice(passkey beside TOTP)", h.s.InsertPendingDevice(h.ctx, k, 1))
	noErr(t, "VerifyPasskey(passkey beside TOTP)", h.s.VerifyPasskey(h.ctx, v, k.ID, h.credential("bob"), base, mfa.RecoveryCodeSet{}, mfa.Lockout{}, 1))
	if st := h.load(t, v, base); len(st.Devices) != 2 {
		t.Fatalf("bob has %d devices, want his TOTP device and his passkey", len(st.Devices))
	} else {
		sameCodes(t, st.RecoveryCodes, vcodes)
	}
}

// testPasskeyRegistered: a credential ID is held by at most one device of
// any user (WebAuthn §7.1 step 22).
func testPasskeyRegistered(t *testing.T, h *harness) {
	bobCred := h.credential("bob")
	v, vd := h.passkeyEnrolled(t, "bob", bobCred)
	u := h.user("alice")
	d := h.passkeyDevice(u, "key")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, d, 1))
	lk := mfa.Lockout{Failures: 2, LastFailure: base}
	if ok, err := h.s.SwapLockout(h.ctx, u, mfa.Lockout{}, lk); err != nil || !ok {
		t.Fatalf("SwapLockout: %v, %v", ok, err)
	}
	// Another authenticator's key under the same credential ID.
	dup := h.credential("alice")
	dup.ID = bytes.Clone(bobCred.ID)
	wantErr(t, "VerifyPasskey(credential of another user)", h.s.VerifyPasskey(h.ctx, u, d.ID, dup, base, codeSet(5, true), lk, 1), mfa.ErrPasskeyRegistered)
	st := h.load(t, u, base)
	if len(st.Devices) != 1 || len(st.RecoveryCodes.Hashes) != 0 || !st.Lockout.Equal(lk) {
		t.Fatalf("a refused VerifyPasskey changed alice: %+v", st)
	}
	sameDevice(t, st.Devices[0], d)
	sameDevice(t, h.onlyDevice(t, v, base), vd)

	// The user's own other device counts too.
	second := h.passkeyDevice(v, "second")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, second, 2))
	wantErr(t, "VerifyPasskey(credential of the same user)", h.s.VerifyPasskey(h.ctx, v, second.ID, dup, base, mfa.RecoveryCodeSet{}, mfa.Lockout{}, 2), mfa.ErrPasskeyRegistered)
	for _, got := range h.load(t, v, base).Devices {
		if got.ID == second.ID {
			sameDevice(t, got, second)
		}
	}

	// IDs are compared whole: one that only starts the same is another.
	longer := h.credential("longer")
	longer.ID = append(bytes.Clone(bobCred.ID), 0)
	noErr(t, "VerifyPasskey(longer ID)", h.s.VerifyPasskey(h.ctx, u, d.ID, longer, base, mfa.RecoveryCodeSet{}, lk, 1))
	shorter := h.credential("shorter")
	shorter.ID = bytes.Clone(bobCred.ID[:len(bobCred.ID)-1])
	noErr(t, "VerifyPasskey(shorter ID)", h.s.VerifyPasskey(h.ctx, v, second.ID, shorter, base, mfa.RecoveryCodeSet{}, mfa.Lockout{}, 2))
	sameDevice(t, h.onlyDevice(t, u, base), verifiedPasskey(d, longer, base))
}

func testPasskeyDeleteFrees(t *testing.T, h *harness) {
	cred := h.credential("key")
	v, vd := h.passkeyEnrolled(t, "bob", cred)
	u := h.user("alice")
	d := h.passkeyDevice(u, "key")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, d, 1))
	wantErr(t, "VerifyPasskey(registered)", h.s.VerifyPasskey(h.ctx, u, d.ID, cred, base, mfa.RecoveryCodeSet{}, mfa.Lockout{}, 1), mfa.ErrPasskeyRegistered)
	// Deleting a pending device or another user's device ID keeps it.
	noErr(t, "DeleteDevice(bob's ID as alice)", h.s.DeleteDevice(h.ctx, u, vd.ID))
	wantErr(t, "VerifyPasskey(registered)", h.s.VerifyPasskey(h.ctx, u, d.ID, cred, base, mfa.RecoveryCodeSet{}, mfa.Lockout{}, 1), mfa.ErrPasskeyRegistered)
	sameDevice(t, h.onlyDevice(t, v, base), vd)

	noErr(t, "DeleteDevice(bob's passkey)", h.s.DeleteDevice(h.ctx, v, vd.ID))
	if st := h.load(t, v, base); len(st.Devices) != 0 || len(st.RecoveryCodes.Hashes) != 0 {
		t.Fatalf("after deleting bob's only device: %+v", st)
	}
	noErr(t, "VerifyPasskey(freed credential)", h.s.VerifyPasskey(h.ctx, u, d.ID, cred, base, mfa.RecoveryCodeSet{}, mfa.Lockout{}, 1))
	sameDevice(t, h.onlyDevice(t, u, base), verifiedPasskey(d, cred, base))
	// Now alice holds it.
	again := h.passkeyDevice(v, "again")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, again, 1))
	wantErr(t, "VerifyPasskey(bob again)", h.s.VerifyPasskey(h.ctx, v, again.ID, cred, base, mfa.RecoveryCodeSet{}, mfa.Lockout{}, 1), mfa.ErrPasskeyRegistered)
}

// testImportPasskey: an imported passkey device keeps its credential,
// which is then as registered as a verified one's.
func testImportPasskey(t *testing.T, h *harness) {
	u := h.user("alice")
	cred := h.credential("imported")
	cred.SignCount = 17
	d := h.passkeyDevice(u, "imported")
	d.Verified, d.VerifiedAt, d.ExpiresAt, d.Secret, d.Passkey = true, base, time.Time{}, nil, &cred
	noErr(t, "ImportDevice", h.s.ImportDevice(h.ctx, d, codeSet(2, false), 1))
	sameDevice(t, h.onlyDevice(t, u, base), d)

	at := base.Add(time.Minute)
	wantErr(t, "AcceptPasskey(17 after 17)", h.s.AcceptPasskey(h.ctx, u, d.ID, 17, true, at, mfa.Lockout{}), mfa.ErrCodeReused)
	noErr(t, "AcceptPasskey(18 after 17)", h.s.AcceptPasskey(h.ctx, u, d.ID, 18, true, at, mfa.Lockout{}))
	if got := h.onlyDevice(t, u, at); got.Passkey == nil || got.Passkey.SignCount != 18 || !got.LastUsedAt.Equal(at) {
		t.Fatalf("after AcceptPasskey: %s, LastUsedAt %v", showPasskey(got.Passkey), got.LastUsedAt)
	}

	v := h.user("bob")
	p := h.passkeyDevice(v, "key")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, p, 1))
	wantErr(t, "VerifyPasskey(credential of an imported device)", h.s.VerifyPasskey(h.ctx, v, p.ID, cred, base, mfa.RecoveryCodeSet{}, mfa.Lockout{}, 1), mfa.ErrPasskeyRegistered)
	sameDevice(t, h.onlyDevice(t, v, base), p)
}

// testPasskeyLoad checks that a credential reads back whole, and that the
// store does not change a credential it returned.
func testPasskeyLoad(t *testing.T, h *harness) {
	u := h.user("alice")
	d := h.passkeyDevice(u, "key")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, d, 1))
	if got := h.onlyDevice(t, u, base); got.Passkey != nil {
		t.Fatalf("a pending passkey device reads with a credential: %s", showPasskey(got.Passkey))
	}
	cred := h.credential("key")
	cred.SignCount, cred.Transports, cred.BackupEligible, cred.BackupState = 41, []string{"usb", "nfc", "ble"}, false, false
	cred.AttestationType, cred.AttestationFormat = "basic_full", "packed"
	cred.PublicKey = randomBytes(1000)
	at := base.Add(time.Minute)
	noErr(t, "VerifyPasskey", h.s.VerifyPasskey(h.ctx, u, d.ID, cred, at, codeSet(2, true), mfa.Lockout{}, 1))
	kept := h.onlyDevice(t, u, at)
	sameDevice(t, kept, verifiedPasskey(d, cred, at))

	// A credential with only what is required reads back so too.
	v := h.user("bob")
	e := h.passkeyDevice(v, "bare")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, e, 1))
	bare := mfa.PasskeyCredential{ID: []byte(h.prefix + "bare"), PublicKey: []byte{0xa4, 0x01, 0x01}}
	noErr(t, "VerifyPasskey(bare)", h.s.VerifyPasskey(h.ctx, v, e.ID, bare, at, mfa.RecoveryCodeSet{}, mfa.Lockout{}, 1))
	sameDevice(t, h.onlyDevice(t, v, at), verifiedPasskey(e, bare, at))

	// A TOTP device reads without a credential.
	w, wd, _ := h.enrolled(t, "carol")
	if got := h.onlyDevice(t, w, at); got.Passkey != nil {
		t.Fatalf("TOTP device %s reads with a credential: %s", wd.ID, showPasskey(got.Passkey))
	}

	// The store never changes what it handed out.
	used := at.Add(time.Minute)
	noErr(t, "AcceptPasskey", h.s.AcceptPasskey(h.ctx, u, d.ID, 42, true, used, mfa.Lockout{}))
	if kept.Passkey.SignCount != 41 || kept.Passkey.BackupState || !kept.LastUsedAt.IsZero() {
		t.Fatalf("AcceptPasskey changed a record LoadUser returned before: %s, LastUsedAt %v", showPasskey(kept.Passkey), kept.LastUsedAt)
	}
	sameDevice(t, kept, verifiedPasskey(d, cred, at))
	want := cred
	want.SignCount, want.BackupState = 42, true
	wantDev := verifiedPasskey(d, want, at)
	wantDev.LastUsedAt = used
	sameDevice(t, h.onlyDevice(t, u, used), wantDev)
}

// testAcceptPasskey checks the signature counter (WebAuthn §6.1.1): an
// authenticator without one presents 0 every time; one with a counter
// must present a greater count each time.
func testAcceptPasskey(t *testing.T, h *harness) {
	cred := h.credential("key")
	u, d := h.passkeyEnrolled(t, "alice", cred)
	want := d
	accept := func(count uint32, backup bool, at time.Time) {
		t.Helper()
		noErr(t, fmt.Sprintf("AcceptPasskey(%d)", count), h.s.AcceptPasskey(h.ctx, u, d.ID, count, backup, at, mfa.Lockout{}))
		c := *want.Passkey
		c.SignCount, c.BackupState = count, backup
		want.Passkey, want.LastUsedAt = &c, at
		sameDevice(t, h.onlyDevice(t, u, at), want)
	}
	refuse := func(count uint32, at time.Time) {
		t.Helper()
		wantErr(t, fmt.Sprintf("AcceptPasskey(%d after %d)", count, want.Passkey.SignCount), h.s.AcceptPasskey(h.ctx, u, d.ID, count, !want.Passkey.BackupState, at, mfa.Lockout{}), mfa.ErrCodeReused)
		sameDevice(t, h.onlyDevice(t, u, at), want)
	}
	at := base.Add(2 * time.Minute)
	for i := range 3 {
		accept(0, i%2 == 1, at.Add(time.Duration(i)*time.Second))
	}
	at = at.Add(time.Minute)
	accept(5, true, at)
	refuse(5, at.Add(time.Second))
	refuse(4, at.Add(time.Second))
	refuse(0, at.Add(time.Second))
	accept(6, false, at.Add(2*time.Second))
	accept(math.MaxUint32, true, at.Add(3*time.Second))
	refuse(math.MaxUint32, at.Add(4*time.Second))
	refuse(0, at.Add(4*time.Second))

	// A credential registered with a count must present a greater one.
	counted := h.credential("counted")
	counted.SignCount = 10
	v, vd := h.passkeyEnrolled(t, "bob", counted)
	for _, c := range []uint32{10, 9, 0} {
		wantErr(t, fmt.Sprintf("AcceptPasskey(%d after 10)", c), h.s.AcceptPasskey(h.ctx, v, vd.ID, c, true, at, mfa.Lockout{}), mfa.ErrCodeReused)
	}
	sameDevice(t, h.onlyDevice(t, v, at), vd)
	noErr(t, "AcceptPasskey(11 after 10)", h.s.AcceptPasskey(h.ctx, v, vd.ID, 11, false, at, mfa.Lockout{}))
	if got := h.onlyDevice(t, v, at); got.Passkey == nil || got.Passkey.SignCount != 11 || got.Passkey.BackupState || !got.LastUsedAt.Equal(at) {
		t.Fatalf("after AcceptPasskey(11): %s, LastUsedAt %v", showPasskey(got.Passkey), got.LastUsedAt)
	}
}

func testAcceptPasskeyLockout(t *testing.T, h *harness) {
	u, d := h.passkeyEnrolled(t, "alice", h.credential("key"))
	at := base.Add(2 * time.Minute)
	noErr(t, "AcceptPasskey", h.s.AcceptPasskey(h.ctx, u, d.ID, 3, true, at, mfa.Lockout{}))
	lk := mfa.Lockout{Failures: 2, LastFailure: at}
	if ok, err := h.s.SwapLockout(h.ctx, u, mfa.Lockout{}, lk); err != nil || !ok {
		t.Fatalf("SwapLockout: %v, %v", ok, err)
	}
	before := h.load(t, u, at)
	// A caller that checked an older lockout state changes nothing,
	// whatever the count and the device.
	for _, c := range []struct {
		name   string
		device string
		count  uint32
		lk     mfa.Lockout
	}{
		{"fresh count", d.ID, 4, mfa.Lockout{}},
		{"replayed count", d.ID, 3, mfa.Lockout{}},
		{"same failures, other time", d.ID, 4, mfa.Lockout{Failures: 2, LastFailure: base}},
		{"unknown device", h.prefix + "nope", 4, mfa.Lockout{}},
	} {
		wantErr(t, "AcceptPasskey(stale lockout, "+c.name+")", h.s.AcceptPasskey(h.ctx, u, c.device, c.count, false, at.Add(time.Second), c.lk), mfa.ErrLockoutChanged)
	}
	after := h.load(t, u, at)
	if len(after.Devices) != 1 || !after.Lockout.Equal(lk) {
		t.Fatalf("AcceptPasskey with a stale lockout changed state: %+v", after)
	}
	sameDevice(t, after.Devices[0], before.Devices[0])
	// A refused count keeps the failures.
	wantErr(t, "AcceptPasskey(replayed count)", h.s.AcceptPasskey(h.ctx, u, d.ID, 3, false, at, lk), mfa.ErrCodeReused)
	if st := h.load(t, u, at); !st.Lockout.Equal(lk) {
		t.Fatalf("a refused count changed the lockout: %+v", st.Lockout)
	}
	noErr(t, "AcceptPasskey(current lockout)", h.s.AcceptPasskey(h.ctx, u, d.ID, 4, false, at.Add(time.Second), lk))
	st := h.load(t, u, at)
	if !st.Lockout.Equal(mfa.Lockout{}) {
		t.Fatalf("AcceptPasskey did not reset the lockout: %+v", st.Lockout)
	}
	if got := st.Devices[0]; got.Passkey == nil || got.Passkey.SignCount != 4 || got.Passkey.BackupState || !got.LastUsedAt.Equal(at.Add(time.Second)) {
		t.Fatalf("after AcceptPasskey: %s, LastUsedAt %v", showPasskey(got.Passkey), got.LastUsedAt)
	}
}

// testAcceptPasskeyNotFound: AcceptPasskey finds only the user's verified
// passkey devices.
func testAcceptPasskeyNotFound(t *testing.T, h *harness) {
	u, d := h.passkeyEnrolled(t, "alice", h.credential("key"))
	wantErr(t, "AcceptPasskey(unknown)", h.s.AcceptPasskey(h.ctx, u, h.prefix+"nope", 1, true, base, mfa.Lockout{}), mfa.ErrDeviceNotFound)
	wantErr(t, "AcceptPasskey(another user's)", h.s.AcceptPasskey(h.ctx, h.user("bob"), d.ID, 1, true, base, mfa.Lockout{}), mfa.ErrDeviceNotFound)
	sameDevice(t, h.onlyDevice(t, u, base), d)

	v, vd, _ := h.enrolled(t, "carol")
	wantErr(t, "AcceptPasskey(TOTP device)", h.s.AcceptPasskey(h.ctx, v, vd.ID, 1, true, base.Add(time.Hour), mfa.Lockout{}), mfa.ErrDeviceNotFound)
	if got := h.onlyDevice(t, v, base); got.Passkey != nil || !got.LastUsedAt.Equal(base.Add(time.Minute)) {
		t.Fatalf("a refused AcceptPasskey changed the TOTP device: %+v", got)
	}

	w := h.user("dave")
	p := h.passkeyDevice(w, "pending")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, p, 1))
	wantErr(t, "AcceptPasskey(pending)", h.s.AcceptPasskey(h.ctx, w, p.ID, 1, true, base, mfa.Lockout{}), mfa.ErrDeviceNotFound)
	sameDevice(t, h.onlyDevice(t, w, base), p)
}

func testChallenge(t *testing.T, h *harness) {
	u := h.user("alice")
	_, err := h.s.TakeChallenge(h.ctx, u, base)
	wantErr(t, "TakeChallenge(none)", err, mfa.ErrChallengeInvalid)

	c := h.challenge(u, "first", base.Add(5*time.Minute))
	noErr(t, "PutChallenge", h.s.PutChallenge(h.ctx, c))
	// A ceremony is its user's.
	_, err = h.s.TakeChallenge(h.ctx, h.user("bob"), base)
	wantErr(t, "TakeChallenge(another user)", err, mfa.ErrChallengeInvalid)
	// It is no device, nor any state LoadUser reads.
	if st := h.load(t, u, base); len(st.Devices) != 0 || len(st.RecoveryCodes.Hashes) != 0 || st.Lockout.Failures != 0 {
		t.Fatalf("LoadUser of a user with only a login ceremony: %+v", st)
	}
	got, err := h.s.TakeChallenge(h.ctx, u, c.ExpiresAt.Add(-time.Microsecond))
	noErr(t, "TakeChallenge", err)
	sameChallenge(t, got, c)
	_, err = h.s.TakeChallenge(h.ctx, u, base)
	wantErr(t, "TakeChallenge(twice)", err, mfa.ErrChallengeInvalid)

	// A new ceremony replaces the one in progress.
	noErr(t, "PutChallenge", h.s.PutChallenge(h.ctx, h.challenge(u, "old", base.Add(5*time.Minute))))
	next := h.challenge(u, "new", base.Add(6*time.Minute))
	noErr(t, "PutChallenge(replacing)", h.s.PutChallenge(h.ctx, next))
	got, err = h.s.TakeChallenge(h.ctx, u, base)
	noErr(t, "TakeChallenge", err)
	sameChallenge(t, got, next)
	_, err = h.s.TakeChallenge(h.ctx, u, base)
	wantErr(t, "TakeChallenge(after the replacement was taken)", err, mfa.ErrChallengeInvalid)
	// A shorter-lived replacement is replaced all the same.
	noErr(t, "PutChallenge", h.s.PutChallenge(h.ctx, h.challenge(u, "long", base.Add(time.Hour))))
	short := h.challenge(u, "short", base.Add(time.Minute))
	noErr(t, "PutChallenge(shorter)", h.s.PutChallenge(h.ctx, short))
	_, err = h.s.TakeChallenge(h.ctx, u, short.ExpiresAt)
	wantErr(t, "TakeChallenge(replacement expired)", err, mfa.ErrChallengeInvalid)

	// An expired ceremony is refused at its ExpiresAt and removed: a
	// reader whose clock is behind does not get it either.
	old := h.challenge(u, "expiring", base.Add(5*time.Minute))
	noErr(t, "PutChallenge", h.s.PutChallenge(h.ctx, old))
	_, err = h.s.TakeChallenge(h.ctx, u, old.ExpiresAt)
	wantErr(t, "TakeChallenge(at expiry)", err, mfa.ErrChallengeInvalid)
	_, err = h.s.TakeChallenge(h.ctx, u, base)
	wantErr(t, "TakeChallenge(after the expired one was refused)", err, mfa.ErrChallengeInvalid)

	// Ceremonies of several users are kept apart, beside their devices.
	v, vd := h.passkeyEnrolled(t, "carol", h.credential("carol"))
	cv := h.challenge(v, "carol", base.Add(time.Hour))
	cu := h.challenge(u, "alice-again", base.Add(time.Hour))
	noErr(t, "PutChallenge", h.s.PutChallenge(h.ctx, cv))
	noErr(t, "PutChallenge", h.s.PutChallenge(h.ctx, cu))
	got, err = h.s.TakeChallenge(h.ctx, v, base)
	noErr(t, "TakeChallenge(carol)", err)
	sameChallenge(t, got, cv)
	sameDevice(t, h.onlyDevice(t, v, base), vd)
	got, err = h.s.TakeChallenge(h.ctx, u, base)
	noErr(t, "TakeChallenge(alice)", err)
	sameChallenge(t, got, cu)
}

func testPasskeyDeleteUser(t *testing.T, h *harness) {
	cred := h.credential("key")
	u, _ := h.passkeyEnrolled(t, "alice", cred)
	noErr(t, "PutChallenge", h.s.PutChallenge(h.ctx, h.challenge(u, "alice", base.Add(time.Hour))))
	other := h.challenge(h.user("bob"), "bob", base.Add(time.Hour))
	noErr(t, "PutChallenge", h.s.PutChallenge(h.ctx, other))
	// A user with only a ceremony.
	w := h.user("carol")
	noErr(t, "PutChallenge", h.s.PutChallenge(h.ctx, h.challenge(w, "carol", base.Add(time.Hour))))

	noErr(t, "DeleteUser", h.s.DeleteUser(h.ctx, u))
	noErr(t, "DeleteUser(only a ceremony)", h.s.DeleteUser(h.ctx, w))
	for _, id := range []string{u, w} {
		_, err := h.s.TakeChallenge(h.ctx, id, base)
		wantErr(t, "TakeChallenge after DeleteUser", err, mfa.ErrChallengeInvalid)
	}
	if st := h.load(t, u, base); len(st.Devices) != 0 || len(st.RecoveryCodes.Hashes) != 0 {
		t.Fatalf("after DeleteUser: %+v", st)
	}
	got, err := h.s.TakeChallenge(h.ctx, other.UserID, base)
	noErr(t, "another user's TakeChallenge after DeleteUser", err)
	sameChallenge(t, got, other)

	// The user's credential ID is free again.
	v := h.user("dave")
	d := h.passkeyDevice(v, "key")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, d, 1))
	noErr(t, "VerifyPasskey(credential of a deleted user)", h.s.VerifyPasskey(h.ctx, v, d.ID, cred, base, mfa.RecoveryCodeSet{}, mfa.Lockout{}, 1))
	sameDevice(t, h.onlyDevice(t, v, base), verifiedPasskey(d, cred, base))
}

func testConcurrentTakeChallenge(t *testing.T, h *harness) {
	u := h.user("alice")
	c := h.challenge(u, "alice", base.Add(time.Hour))
	noErr(t, "PutChallenge", h.s.PutChallenge(h.ctx, c))
	var (
		mu  sync.Mutex
		got []mfa.ChallengeRecord
	)
	exactlyOne(t, "TakeChallenge", race(t, mfa.ErrChallengeInvalid, func() error {
		r, err := h.s.TakeChallenge(h.ctx, u, base)
		if err == nil {
			mu.Lock()
			got = append(got, r)
			mu.Unlock()
		}
		return err
	}))
	sameChallenge(t, got[0], c)
	_, err := h.s.TakeChallenge(h.ctx, u, base)
	wantErr(t, "TakeChallenge after the race", err, mfa.ErrChallengeInvalid)
}

func testConcurrentAcceptPasskey(t *testing.T, h *harness) {
	u, d := h.passkeyEnrolled(t, "alice", h.credential("key"))
	at := base.Add(time.Hour)
	exactlyOne(t, "AcceptPasskey", race(t, mfa.ErrCodeReused, func() error { return h.s.AcceptPasskey(h.ctx, u, d.ID, 7, false, at, mfa.Lockout{}) }))
	if got := h.onlyDevice(t, u, at); got.Passkey == nil || got.Passkey.SignCount != 7 || got.Passkey.BackupState || !got.LastUsedAt.Equal(at) {
		t.Fatalf("after the race: %s, LastUsedAt %v", showPasskey(got.Passkey), got.LastUsedAt)
	}
}

func testConcurrentVerifyPasskey(t *testing.T, h *harness) {
	u := h.user("alice")
	d := h.passkeyDevice(u, "key")
	noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, d, 1))
	cred := h.credential("key")
	exactlyOne(t, "VerifyPasskey", race(t, mfa.ErrCodeReused, func() error {
		return h.s.VerifyPasskey(h.ctx, u, d.ID, cred, base, codeSet(10, true), mfa.Lockout{}, 1)
	}))
	st := h.load(t, u, base)
	if len(st.Devices) != 1 || len(st.RecoveryCodes.Hashes) != 10 {
		t.Fatalf("after racing verifications: %d devices, %d codes", len(st.Devices), len(st.RecoveryCodes.Hashes))
	}
	sameDevice(t, st.Devices[0], verifiedPasskey(d, cred, base))
}

// testConcurrentSameCredential races users who verify passkeys with the
// same credential ID: one holds it.
func testConcurrentSameCredential(t *testing.T, h *harness) {
	users := make([]string, Concurrency)
	devices := make([]mfa.DeviceRecord, Concurrency)
	for i := range users {
		users[i] = h.user(fmt.Sprintf("u%d", i))
		devices[i] = h.passkeyDevice(users[i], fmt.Sprintf("u%d-key", i))
		noErr(t, "InsertPendingDevice", h.s.InsertPendingDevice(h.ctx, devices[i], 1))
	}
	id := h.credential("shared").ID
	var n atomic.Int32
	exactlyOne(t, "VerifyPasskey of one credential ID by many users", race(t, mfa.ErrPasskeyRegistered, func() error {
		i := n.Add(1) - 1
		cred := h.credential(fmt.Sprintf("u%d", i))
		cred.ID = id
		return h.s.VerifyPasskey(h.ctx, users[i], devices[i].ID, cred, base, mfa.RecoveryCodeSet{}, mfa.Lockout{}, 1)
	}))
	holders := 0
	for i, u := range users {
		got := h.onlyDevice(t, u, base)
		if got.Verified {
			holders++
			if got.Passkey == nil || !bytes.Equal(got.Passkey.ID, id) {
				t.Fatalf("the winner's device reads %s", showPasskey(got.Passkey))
			}
		} else {
			sameDevice(t, got, devices[i])
		}
	}
	if holders != 1 {
		t.Fatalf("%d users hold the credential, want 1", holders)
	}
}
