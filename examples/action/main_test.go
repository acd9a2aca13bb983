package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	var out strings.Builder
	// Any start time works; one just before a step boundary shows that the
	// example does not depend on where in a step it starts.
	start := time.Date(2026, 5, 6, 7, 8, 29, 900_000_000, time.UTC)
	if err := run(context.Background(), &out, start); err != nil {
		t.Fatalf("run: %v", err)
	}
	want := []string{
		"1. enrolled user-42: device verified true, 10 recovery codes saved",
		`2. MFA required for "change-email": true; "chnage-email" (misspelt): refused (mfa_invalid_input)`,
		"3. code accepted: token issued, single use false, scopes [change-email], valid for 10m0s",
		"4. change-email with the token: allowed",
		"5. change-email with the same token again: refused (mfa_token_invalid)",
		"6. change-email with a token issued 6 minutes ago: refused (mfa_token_expired)",
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(got), len(want), out.String())
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %q\nwant %q", i+1, got[i], want[i])
		}
	}
}

func TestRunNow(t *testing.T) {
	if err := run(context.Background(), new(strings.Builder), time.Now()); err != nil {
		t.Fatalf("run: %v", err)
	}
}
