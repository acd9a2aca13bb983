package mfa

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"
)

// ScopeRequiresAdditionalAuth is the session scope that marks a login
// waiting for its second factor (account-based MFA). The application puts
// it on a session after the first factor and removes it when
// [MFA.AuthenticateDevice] or [MFA.AuthenticateRecoveryCode] succeeds;
// [SyncFlow] acts on it.
const ScopeRequiresAdditionalAuth = "requiresAdditionalAuth"

// TokenRequest asks for an MFA token on a successful authentication
// (action-based MFA).
type TokenRequest struct {
	// SingleUse tokens authorise one action; persistent ones any number of
	// actions until they expire.
	SingleUse bool
	// Scopes restrict the token to actions with these scopes, e.g.
	// "credential:unlink" or "user:update". No scopes: any action.
	Scopes []string
	// TTL is the token's lifetime; 0 means TokenConfig's default for the
	// kind of token, and it may not exceed TokenConfig.MaxTTL.
	TTL time.Duration
}

// Token is an MFA token. Value is shown once, when the token is issued;
// only its SHA-256 hash is stored. String hides the value.
type Token struct {
	Value     string    `json:"value,omitempty"`
	SingleUse bool      `json:"singleUse"`
	Scopes    []string  `json:"scopes,omitempty"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// String describes t without its value. It has a value receiver so that
// formatting a Token, or a pointer to one, never prints the value.
func (t Token) String() string {
	return fmt.Sprintf("mfa.Token{Value: [redacted], SingleUse: %t, Scopes: %q, ExpiresAt: %s}", t.SingleUse, t.Scopes, t.ExpiresAt.Format(time.RFC3339))
}

// GoString is like String.
func (t Token) GoString() string { return t.String() }

// LogValue implements slog.LogValuer without the value.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.Bool("singleUse", t.SingleUse), slog.Any("scopes", t.Scopes), slog.Time("expiresAt", t.ExpiresAt))
}

// Token values are "mfat_" followed by 32 random bytes (256 bits) in
// unpadded base64url.
const (
	tokenPrefix   = "mfat_"
	tokenRandSize = 32
	tokenLen      = len(tokenPrefix) + (tokenRandSize*8+5)/6
)

func (m *MFA) checkTokenRequest(r *TokenRequest) error {
	if r == nil {
		return nil
	}
	if r.TTL < 0 || r.TTL > m.tokens.MaxTTL {
		return invalidInput("createMfaToken.ttl", fmt.Sprintf("token TTL must be between 0 and %s", m.tokens.MaxTTL))
	}
	if len(r.Scopes) > maxScopes {
		return invalidInput("createMfaToken.scopes", fmt.Sprintf("at most %d scopes", maxScopes))
	}
	for _, s := range r.Scopes {
		if err := validateScope(s); err != nil {
			err.(*Error).Field = "createMfaToken.scopes"
			return err
		}
	}
	return nil
}

// issueToken creates and stores the token r asks for; nil when r is nil.
func (m *MFA) issueToken(ctx context.Context, userID string, r *TokenRequest, now time.Time) (*Token, error) {
	if r == nil {
		return nil, nil
	}
	var raw [tokenRandSize]byte
	if _, err := io.ReadFull(m.rand, raw[:]); err != nil {
		return nil, keyError("cannot read random bytes", err)
	}
	ttl := r.TTL
	if ttl == 0 {
		ttl = m.tokens.PersistentTTL
		if r.SingleUse {
			ttl = m.tokens.SingleUseTTL
		}
	}
	t := &Token{
		Value:     tokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:]),
		SingleUse: r.SingleUse,
		Scopes:    slices.Clone(r.Scopes),
		ExpiresAt: now.Add(ttl),
	}
	rec := TokenRecord{
		Hash:      sha256.Sum256([]byte(t.Value)),
		UserID:    userID,
		SingleUse: t.SingleUse,
		Scopes:    t.Scopes,
		CreatedAt: now,
		ExpiresAt: t.ExpiresAt,
	}
	if err := m.store.InsertToken(ctx, rec); err != nil {
		return nil, storeError("issue token", err)
	}
	m.emit(ctx, Event{Type: EventTokenIssued, UserID: userID, Scopes: t.Scopes, SingleUse: t.SingleUse})
	return t, nil
}

// discardToken removes a token issued for an authentication that then
// failed. Its value was never returned, so it could not be used anyway;
// removing it only reclaims space, and a failure to do so is harmless.
func (m *MFA) discardToken(ctx context.Context, t *Token, now time.Time) {
	if t == nil {
		return
	}
	if err := m.store.ConsumeToken(ctx, sha256.Sum256([]byte(t.Value)), now); err != nil && !errors.Is(err, ErrTokenInvalid) {
		m.emit(ctx, Event{Type: EventTokenRefused, ErrorCode: ErrorCode(storeError("discard token", err))})
	}
}

// tokenHash checks the shape of a token value and returns its hash.
func tokenHash(v string) ([HashSize]byte, bool) {
	if len(v) != tokenLen || v[:len(tokenPrefix)] != tokenPrefix {
		return [HashSize]byte{}, false
	}
	for i := len(tokenPrefix); i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return [HashSize]byte{}, false
		}
	}
	return sha256.Sum256([]byte(v)), true
}

// ValidateMFAToken checks an MFA token for an action: it must belong to
// userID, be unexpired, and carry scope (unless scope is "" or the token
// has no scopes). A single-use token is consumed atomically, so of
// concurrent calls with one token exactly one succeeds. It returns the
// token's details (without its value), ErrTokenRequired when token is
// empty, ErrTokenExpired, or ErrTokenInvalid.
func (m *MFA) ValidateMFAToken(ctx context.Context, userID, token, scope string) (*Token, error) {
	if err := validateUserID(userID); err != nil {
		return nil, err
	}
	if scope != "" {
		if err := validateScope(scope); err != nil {
			return nil, err
		}
	}
	if token == "" {
		return nil, m.tokenRefused(ctx, userID, newError(ErrTokenRequired, "", ""))
	}
	hash, ok := tokenHash(token)
	if !ok {
		return nil, m.tokenRefused(ctx, userID, newError(ErrTokenInvalid, "", "malformed MFA token"))
	}
	now := m.now()
	rec, err := m.store.Token(ctx, hash)
	switch {
	case errors.Is(err, ErrTokenInvalid):
		return nil, m.tokenRefused(ctx, userID, newError(ErrTokenInvalid, "", ""))
	case err != nil:
		return nil, storeError("read token", err)
	case rec.UserID != userID:
		return nil, m.tokenRefused(ctx, userID, newError(ErrTokenInvalid, "", ""))
	case !now.Before(rec.ExpiresAt):
		return nil, m.tokenRefused(ctx, userID, newError(ErrTokenExpired, "", ""))
	case scope != "" && len(rec.Scopes) > 0 && !slices.Contains(rec.Scopes, scope):
		return nil, m.tokenRefused(ctx, userID, newError(ErrTokenInvalid, "scope", "MFA token does not carry scope "+scope))
	}
	typ := EventTokenValidated
	if rec.SingleUse {
		if err := m.store.ConsumeToken(ctx, hash, now); err != nil {
			if errors.Is(err, ErrTokenInvalid) {
				return nil, m.tokenRefused(ctx, userID, newError(ErrTokenInvalid, "", "MFA token already used"))
			}
			return nil, storeError("consume token", err)
		}
		typ = EventTokenConsumed
	}
	m.emit(ctx, Event{Type: typ, UserID: userID, Scopes: rec.Scopes, SingleUse: rec.SingleUse})
	return &Token{SingleUse: rec.SingleUse, Scopes: slices.Clone(rec.Scopes), ExpiresAt: rec.ExpiresAt}, nil
}

func (m *MFA) tokenRefused(ctx context.Context, userID string, err *Error) error {
	m.emit(ctx, Event{Type: EventTokenRefused, UserID: userID, ErrorCode: err.Code})
	return err
}

// IsMFARequiredForAction reports whether the action needs an MFA token
// under Config.Actions. Actions without a policy do not. A user without a
// verified device is required to do MFA too (and so to enrol first),
// unless the policy sets AllowUnenrolled.
func (m *MFA) IsMFARequiredForAction(ctx context.Context, userID, action string) (bool, error) {
	if err := validateUserID(userID); err != nil {
		return false, err
	}
	p, ok := m.actions[action]
	if !ok {
		return false, nil
	}
	if !p.AllowUnenrolled {
		return true, nil
	}
	st, err := m.loadUser(ctx, userID, m.now())
	if err != nil {
		return false, storeError("load user", err)
	}
	for _, d := range st.Devices {
		if d.Verified {
			return true, nil
		}
	}
	return false, nil
}

// ActionScope returns the scope a token needs for action, and whether the
// action has a policy in Config.Actions.
func (m *MFA) ActionScope(action string) (string, bool) {
	p, ok := m.actions[action]
	return p.Scope, ok
}
