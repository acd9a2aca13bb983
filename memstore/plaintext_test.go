package memstore

import (
	"bytes"
	"context"
	"encoding/base32"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/mfatest"
)

// dump appends every string and byte sequence reachable from v, following
// each pointer once.
func dump(buf *bytes.Buffer, v reflect.Value) {
	walk(buf, v, make(map[uintptr]bool))
}

func walk(buf *bytes.Buffer, v reflect.Value, seen map[uintptr]bool) {
	switch v.Kind() {
	case reflect.String:
		buf.WriteString(v.String())
		buf.WriteByte(0)
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			for i := range v.Len() {
				buf.WriteByte(byte(v.Index(i).Uint()))
			}
			buf.WriteByte(0)
			return
		}
		for i := range v.Len() {
			walk(buf, v.Index(i), seen)
		}
	case reflect.Pointer:
		if !v.IsNil() && !seen[v.Pointer()] {
			seen[v.Pointer()] = true
			walk(buf, v.Elem(), seen)
		}
	case reflect.Interface:
		if !v.IsNil() {
			walk(buf, v.Elem(), seen)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			walk(buf, v.Field(i), seen)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			walk(buf, iter.Key(), seen)
			walk(buf, iter.Value(), seen)
		}
	}
}

// TestNoPlaintextAtRest enrols a user, keeps the recovery codes pending,
// issues a token, and then searches everything the store holds for the
// TOTP secret (raw and base32), every recovery code and the token.
func TestNoPlaintextAtRest(t *testing.T) {
	s := New()
	clock := mfatest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	m, err := mfa.New(mfa.Config{Store: s, Issuer: "Acme", Keys: mfatest.Keyring(t), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reg, err := m.AddDevice(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.AuthenticateDevice(ctx, "alice", mfa.AuthenticateRequest{Code: mfatest.Code(t, reg.Secret, clock.Now()), CreateMFAToken: &mfa.TokenRequest{}})
	if err != nil {
		t.Fatal(err)
	}
	codes, err := m.GetRecoveryCodes(ctx, "alice", false)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(reg.Secret)
	if err != nil {
		t.Fatal(err)
	}
	needles := [][]byte{raw, []byte(reg.Secret), []byte(res.MFAToken.Value)}
	for _, c := range codes {
		needles = append(needles, []byte(c), []byte(strings.ReplaceAll(c, "-", "")))
	}

	check := func(stage string) {
		t.Helper()
		var buf bytes.Buffer
		s.mu.RLock()
		dump(&buf, reflect.ValueOf(s).Elem())
		s.mu.RUnlock()
		// Positive control: what is stored in the clear is found.
		if !bytes.Contains(buf.Bytes(), []byte(reg.DeviceID)) {
			t.Fatalf("%s: the device ID is not in the dump; the walk missed the state", stage)
		}
		for _, n := range needles {
			if bytes.Contains(buf.Bytes(), n) {
				t.Fatalf("%s: plaintext %q found in the store", stage, n)
			}
		}
	}
	check("pending acknowledgement")
	if err := m.CompleteAcknowledgement(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	check("acknowledged")
}
