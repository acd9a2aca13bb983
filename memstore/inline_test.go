package memstore

import (
	"context"
	"testing"
	"time"

	"github.com/mfakit/mfa"
)

// TestInlineDeviceLeavesNoCopy checks that once a user's devices outgrow
// the inline record, the inline copy is cleared, so that deleting the
// device leaves its sealed secret nowhere in the store.
func TestInlineDeviceLeavesNoCopy(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := New()
	d1 := mfa.DeviceRecord{ID: "d1", UserID: "alice", Type: mfa.DeviceTOTP, Secret: []byte("sealed-1"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.InsertPendingDevice(ctx, d1); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyDevice(ctx, "alice", "d1", 1, now, mfa.RecoveryCodeSet{}, mfa.Lockout{}); err != nil {
		t.Fatal(err)
	}
	u := s.users["alice"]
	if u.first[0].ID != "d1" {
		t.Fatalf("the first device is not kept inline: %+v", u.first[0])
	}
	d2 := mfa.DeviceRecord{ID: "d2", UserID: "alice", Type: "other", Secret: []byte("sealed-2"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.InsertPendingDevice(ctx, d2); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDevice(ctx, "alice", "d1"); err != nil {
		t.Fatal(err)
	}
	if u.first[0].ID != "" || u.first[0].Secret != nil {
		t.Fatalf("a deleted device stays inline: %+v", u.first[0])
	}
	var st mfa.UserState
	if err := s.LoadUser(ctx, "alice", now, &st); err != nil || len(st.Devices) != 1 || st.Devices[0].ID != "d2" {
		t.Fatalf("LoadUser = %+v, %v", st.Devices, err)
	}
}
