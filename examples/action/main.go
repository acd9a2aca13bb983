// Command action shows the life of an MFA token for a sensitive action
// (action-based MFA): the server's policy asks for MFA and refuses a
// misspelt action, a correct code issues a token scoped to the action, and
// [mfa.MFA.AuthorizeAction] lets the action through exactly once and
// refuses a token older than the policy allows.
//
//	go run ./examples/action
//
// A simulated authenticator app computes the codes (pquerna/otp); state
// lives in memory.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/pquerna/otp/totp"
)

func main() {
	if err := run(context.Background(), os.Stdout, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, "action:", err)
		os.Exit(1)
	}
}

// clock starts at a given time and moves only when told, so that the
// example's codes fall in the time steps it expects.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func run(ctx context.Context, out io.Writer, start time.Time) error {
	const (
		userID = "user-42"
		action = "change-email"
	)
	clk := &clock{t: start}
	key, err := mfa.GenerateKey("action")
	if err != nil {
		return err
	}
	keys, err := mfa.NewKeyring(key)
	if err != nil {
		return err
	}
	m, err := mfa.New(mfa.Config{
		Store:   memstore.New(),
		Issuer:  "mfakit action",
		Keys:    keys,
		Actions: map[string]mfa.ActionPolicy{action: {}}, // scope defaults to the action's name
		Now:     clk.now,
	})
	if err != nil {
		return err
	}
	// app is the user's authenticator app.
	app := func(secret string) (string, error) { return totp.GenerateCode(secret, clk.now()) }

	// 1. Enrol a device: its first code verifies it.
	reg, err := m.AddDevice(ctx, userID)
	if err != nil {
		return err
	}
	code, err := app(reg.Secret)
	if err != nil {
		return err
	}
	res, err := m.AuthenticateDevice(ctx, userID, mfa.AuthenticateRequest{Code: code})
	if err != nil {
		return err
	}
	if err := m.CompleteAcknowledgement(ctx, userID); err != nil {
		return err
	}
	fmt.Fprintf(out, "1. enrolled %s: device verified %t, %d recovery codes saved\n", userID, res.DeviceVerified, res.RecoveryCodesRemaining)

	// 2. The action's policy, decided on the server. A misspelt action is
	// refused rather than let through without MFA.
	required, err := m.IsMFARequiredForAction(ctx, userID, action)
	if err != nil {
		return err
	}
	_, err = m.IsMFARequiredForAction(ctx, userID, "chnage-email")
	if !errors.Is(err, mfa.ErrInvalidInput) {
		return fmt.Errorf("a misspelt action was not refused: %v", err)
	}
	fmt.Fprintf(out, "2. MFA required for %q: %t; %q (misspelt): refused (%s)\n", action, required, "chnage-email", mfa.ErrorCode(err))

	// 3. Before the action, a fresh code issues a token scoped to it. The
	// client asks for a persistent token; the server's policy decides how
	// the token is used. (The enrolment's code is spent: wait for the next
	// one.)
	clk.advance(30 * time.Second)
	scope, _ := m.ActionScope(action)
	tok, err := newToken(ctx, m, userID, app, reg.Secret, scope)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "3. code accepted: token issued, single use %t, scopes %v, valid for %s\n", tok.SingleUse, tok.Scopes, tok.ExpiresAt.Sub(clk.now()))

	// 4. The action authorises itself with the token, which the policy
	// consumes whatever kind of token the client asked for.
	if _, err := m.AuthorizeAction(ctx, userID, action, tok.Value); err != nil {
		return fmt.Errorf("first use of the token: %w", err)
	}
	fmt.Fprintf(out, "4. %s with the token: allowed\n", action)

	// 5. The same token again: refused.
	_, err = m.AuthorizeAction(ctx, userID, action, tok.Value)
	if err == nil {
		return fmt.Errorf("a consumed token worked twice")
	}
	fmt.Fprintf(out, "5. %s with the same token again: refused (%s)\n", action, mfa.ErrorCode(err))

	// 6. A token older than the policy's MaxTokenAge (5 minutes by
	// default) is refused though it has not expired.
	clk.advance(30 * time.Second)
	if tok, err = newToken(ctx, m, userID, app, reg.Secret, scope); err != nil {
		return err
	}
	clk.advance(6 * time.Minute)
	_, err = m.AuthorizeAction(ctx, userID, action, tok.Value)
	if !errors.Is(err, mfa.ErrTokenExpired) {
		return fmt.Errorf("a token past MaxTokenAge: %v", err)
	}
	fmt.Fprintf(out, "6. %s with a token issued 6 minutes ago: refused (%s)\n", action, mfa.ErrorCode(err))
	return nil
}

// newToken authenticates with the app's current code and returns a
// persistent token with scope.
func newToken(ctx context.Context, m *mfa.MFA, userID string, app func(string) (string, error), secret, scope string) (*mfa.Token, error) {
	code, err := app(secret)
	if err != nil {
		return nil, err
	}
	res, err := m.AuthenticateDevice(ctx, userID, mfa.AuthenticateRequest{
		Code:           code,
		CreateMFAToken: &mfa.TokenRequest{Scopes: []string{scope}},
	})
	if err != nil {
		return nil, err
	}
	return res.MFAToken, nil
}
