package memstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/mfatest"
)

// TestConformanceCollisions runs the conformance suite on a store where
// every user ID has the same hash, so that every lookup, insertion and
// removal walks a chain of users.
func TestConformanceCollisions(t *testing.T) {
	mfatest.TestStore(t, func(*testing.T) mfa.Store {
		s := New()
		s.sameHash = true
		return s
	})
}

// TestRecordsHoldNoPointers checks what keeps the cost of a call from
// growing with the number of users: the garbage collector has nothing to
// scan in the records.
func TestRecordsHoldNoPointers(t *testing.T) {
	for _, v := range []any{record{}, device{}, passkey{}} {
		if path := pointerIn(reflect.TypeOf(v), reflect.TypeOf(v).Name()); path != "" {
			t.Errorf("%s holds a pointer, which the garbage collector must scan for every user", path)
		}
	}
}

// pointerIn returns the path of a field of t that is or holds a pointer,
// or "".
func pointerIn(t reflect.Type, path string) string {
	switch t.Kind() {
	case reflect.Pointer, reflect.String, reflect.Slice, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return path
	case reflect.Array:
		return pointerIn(t.Elem(), path+"[]")
	case reflect.Struct:
		for i := range t.NumField() {
			if p := pointerIn(t.Field(i).Type, path+"."+t.Field(i).Name); p != "" {
				return p
			}
		}
	}
	return ""
}

// churnUser is a user ID longer than uidInline, so that it lives in the
// text arena, which compaction moves.
var churnUser = strings.Repeat("u", uidInline+1)

// TestCompaction replaces a user's recovery codes and pending device until
// the arenas have been compacted several times, and checks that the store
// still answers right, that its arenas stay proportional to what it
// holds, and that what LoadUser handed out earlier never changes.
func TestCompaction(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := New()
	if err := s.InsertPendingDevice(ctx, device1(churnUser, "d-0", now), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyDevice(ctx, churnUser, "d-0", 1, now, codeSet(0, now), mfa.Lockout{}, 1); err != nil {
		t.Fatal(err)
	}
	first, err := s.LoadUser(ctx, churnUser, now)
	if err != nil {
		t.Fatal(err)
	}
	kept := bytes.Clone(first.Devices[0].Secret)
	keptHashes := append([][mfa.HashSize]byte(nil), first.RecoveryCodes.Hashes...)
	keptID := strings.Clone(first.Devices[0].ID)

	arenas := s.arenas
	compactions := 0
	const rounds = 5000
	for i := 1; i <= rounds; i++ {
		if err := s.ReplaceRecoveryCodes(ctx, churnUser, codeSet(i, now)); err != nil {
			t.Fatal(err)
		}
		// A second user's pending device is replaced every round.
		other := fmt.Sprintf("other-%d", i%3)
		if err := s.InsertPendingDevice(ctx, device1(other, fmt.Sprintf("p-%d", i), now), 1); err != nil {
			t.Fatal(err)
		}
		if len(s.text.chunks) < len(arenas.text.chunks) || len(s.hashes.chunks) < len(arenas.hashes.chunks) {
			compactions++
		}
		arenas = s.arenas
	}
	if compactions < 3 {
		t.Fatalf("%d compactions in %d rounds; the test does not reach compaction", compactions, rounds)
	}
	// What is live: one device, one set of codes, three pending devices.
	if held := len(s.hashes.chunks) * arenaChunk; held > 2*minGarbage+4*arenaChunk {
		t.Errorf("the hash arena holds %d bytes for 10 live hashes", held)
	}
	if held := len(s.text.chunks) * arenaChunk; held > 2*minGarbage+4*arenaChunk {
		t.Errorf("the text arena holds %d bytes for a few live strings", held)
	}

	st, err := s.LoadUser(ctx, churnUser, now)
	if err != nil {
		t.Fatal(err)
	}
	want := codeSet(rounds, now)
	if len(st.Devices) != 1 || st.Devices[0].ID != "d-0" || !bytes.Equal(st.Devices[0].Secret, kept) || !reflect.DeepEqual(st.RecoveryCodes.Hashes, want.Hashes) || st.RecoveryCodes.KeyID != want.KeyID {
		t.Fatalf("after compaction LoadUser = %+v", st)
	}
	for i := range 3 {
		o, err := s.LoadUser(ctx, fmt.Sprintf("other-%d", i), now)
		if err != nil || len(o.Devices) != 1 {
			t.Fatalf("other-%d: %+v, %v", i, o.Devices, err)
		}
	}
	// What was handed out before is unchanged.
	if !bytes.Equal(first.Devices[0].Secret, kept) || !reflect.DeepEqual(first.RecoveryCodes.Hashes, keptHashes) || first.Devices[0].ID != keptID {
		t.Fatal("a value handed out by LoadUser changed")
	}
}

// TestCompactionKeepsPasskeys churns the arenas around a passkey until
// they have been compacted several times, and checks that its credential
// reads back whole, that the credential index still finds its ID, and
// that the credential LoadUser handed out earlier never changes.
func TestCompactionKeepsPasskeys(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := New()
	cred := mfa.PasskeyCredential{
		ID: []byte("credential-0"), UserHandle: bytes.Repeat([]byte{7}, 32), PublicKey: bytes.Repeat([]byte{9}, 77),
		SignCount: 3, AAGUID: [16]byte{1, 2, 3}, Transports: []string{"usb", strings.Repeat("t", 300)},
		BackupEligible: true, UserVerified: true, AttestationType: "basic_full", AttestationFormat: "packed",
	}
	dev := device1(churnUser, "k-0", now)
	dev.Type = mfa.DevicePasskey
	if err := s.InsertPendingDevice(ctx, dev, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyPasskey(ctx, churnUser, "k-0", cred, now, codeSet(0, now), mfa.Lockout{}, 1); err != nil {
		t.Fatal(err)
	}
	first, err := s.LoadUser(ctx, churnUser, now)
	if err != nil {
		t.Fatal(err)
	}
	kept := clonePasskey(first.Devices[0].Passkey)

	arenas := s.arenas
	compactions := 0
	for i := 1; i <= 3000; i++ {
		// Another user's passkey comes and goes, with its credential.
		other := fmt.Sprintf("other-%d", i%3)
		p := device1(other, fmt.Sprintf("p-%d", i), now)
		p.Type = mfa.DevicePasskey
		if err := s.InsertPendingDevice(ctx, p, 1); err != nil {
			t.Fatal(err)
		}
		c := mfa.PasskeyCredential{ID: fmt.Appendf(nil, "credential-%d", i), PublicKey: bytes.Repeat([]byte{byte(i)}, 500)}
		if err := s.VerifyPasskey(ctx, other, p.ID, c, now, mfa.RecoveryCodeSet{}, mfa.Lockout{}, 1); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteDevice(ctx, other, p.ID); err != nil {
			t.Fatal(err)
		}
		if len(s.text.chunks) < len(arenas.text.chunks) || len(s.bytes.chunks) < len(arenas.bytes.chunks) {
			compactions++
		}
		arenas = s.arenas
	}
	if compactions < 3 {
		t.Fatalf("%d compactions; the test does not reach compaction", compactions)
	}
	if msg := checkInvariants(s); msg != "" {
		t.Fatal(msg)
	}
	if len(s.creds) != 1 || len(s.freePasskeys) != int(s.npasskey)-2 {
		t.Fatalf("after the churn: %d credentials indexed, %d of %d passkeys free; want 1 and all but one", len(s.creds), len(s.freePasskeys), s.npasskey-1)
	}
	st, err := s.LoadUser(ctx, churnUser, now)
	if err != nil {
		t.Fatal(err)
	}
	if diff := diffPasskey(st.Devices[0].Passkey, &cred); diff != "" {
		t.Fatalf("after compaction: %s", diff)
	}
	if diff := diffPasskey(first.Devices[0].Passkey, kept); diff != "" {
		t.Fatalf("a credential LoadUser handed out changed: %s", diff)
	}
	p := device1("late", "late", now)
	p.Type = mfa.DevicePasskey
	if err := s.InsertPendingDevice(ctx, p, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyPasskey(ctx, "late", "late", mfa.PasskeyCredential{ID: bytes.Clone(cred.ID)}, now, mfa.RecoveryCodeSet{}, mfa.Lockout{}, 1); !errors.Is(err, mfa.ErrPasskeyRegistered) {
		t.Fatalf("VerifyPasskey of the compacted credential's ID: %v, want ErrPasskeyRegistered", err)
	}
	if err := s.AcceptPasskey(ctx, churnUser, "k-0", 4, true, now, mfa.Lockout{}); err != nil {
		t.Fatal(err)
	}
}

// TestSlotReuse checks that a user who takes the slot of a deleted one
// sees none of that user's state.
func TestSlotReuse(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := New()
	if err := s.InsertPendingDevice(ctx, device1("alice", "d-a", now), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyDevice(ctx, "alice", "d-a", 7, now, codeSet(1, now), mfa.Lockout{}, 1); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.SwapLockout(ctx, "alice", mfa.Lockout{}, mfa.Lockout{Failures: 3, LastFailure: now}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := s.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if len(s.free) != 1 || len(s.index) != 0 {
		t.Fatalf("after DeleteUser: free slots %v, index %v", s.free, s.index)
	}
	if ok, err := s.SwapLockout(ctx, "bob", mfa.Lockout{}, mfa.Lockout{Failures: 1, LastFailure: now}); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if len(s.free) != 0 {
		t.Fatal("bob did not take alice's slot")
	}
	st, err := s.LoadUser(ctx, "bob", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Devices) != 0 || st.RecoveryCodes.Hashes != nil || st.Lockout.Failures != 1 {
		t.Fatalf("bob sees %+v", st)
	}
	if st, err := s.LoadUser(ctx, "alice", now); err != nil || len(st.Devices) != 0 || st.Lockout.Failures != 0 {
		t.Fatalf("alice after deletion: %+v, %v", st, err)
	}
}

// TestTimesRoundTrip checks that times keep their instant, to the
// nanosecond, whatever their location.
func TestTimesRoundTrip(t *testing.T) {
	for _, tm := range []time.Time{
		{},
		time.Unix(0, 0),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 11, 28, 9, 0, 0, 123456789, time.FixedZone("x", 3600)),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Now(),
	} {
		got := stampOf(tm).time()
		if !got.Equal(tm) || got.IsZero() != tm.IsZero() {
			t.Errorf("%v comes back as %v", tm, got)
		}
	}
}

func device1(userID, id string, now time.Time) mfa.DeviceRecord {
	return mfa.DeviceRecord{
		ID: id, UserID: userID, Type: mfa.DeviceTOTP, AccountName: userID,
		Secret:    bytes.Repeat([]byte(id), 8),
		CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	}
}

func codeSet(n int, now time.Time) mfa.RecoveryCodeSet {
	set := mfa.RecoveryCodeSet{KeyID: fmt.Sprintf("key-%d", n), CreatedAt: now}
	for i := range 10 {
		var h [mfa.HashSize]byte
		copy(h[:], fmt.Sprintf("%d/%d", n, i))
		set.Hashes = append(set.Hashes, h)
	}
	return set
}
