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
		Scopes:    slices.Clone(t.Scopes), // the caller may change t's
		CreatedAt: now,
		ExpiresAt: t.ExpiresAt,
	}
	if err := m.store.InsertToken(ctx, rec); err != nil {
		return nil, m.storeErr(ctx, "issue token", err)
	}
	m.emit(ctx, Event{Type: EventTokenIssued, UserID: userID, Scopes: slices.Clone(t.Scopes), SingleUse: t.SingleUse})
	return t, nil
}

// discardToken removes a token issued for an authentication that then
// failed. Its value was never returned, so it could not be used anyway;
// removing it only reclaims space, and a failure to do so is harmless.
func (m *MFA) discardToken(ctx context.Context, userID string, t *Token, now time.Time) {
	if t == nil {
		return
	}
	if err := m.store.ConsumeToken(ctx, userID, sha256.Sum256([]byte(t.Value)), now); err != nil && !errors.Is(err, ErrTokenInvalid) {
		m.emit(ctx, Event{Type: EventTokenRefused, UserID: userID, ErrorCode: ErrorCode(m.storeErr(ctx, "discard token", err))})
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

// ValidateMFAToken checks an MFA token for scope: it must belong to
// userID, be unexpired, and carry scope (a token without scopes carries
// every scope). A single-use token is consumed atomically, so of
// concurrent calls with one token exactly one succeeds; a persistent one
// is not. It returns the token's details (without its value),
// ErrTokenRequired when token is empty, ErrTokenExpired, or
// ErrTokenInvalid; ErrInvalidInput (Field "scope") when scope is empty.
//
// ValidateMFAToken applies no action policy: to authorise an action, use
// [MFA.AuthorizeAction], which decides on the server whether the action
// needs a token, how old it may be, and whether it is used up.
func (m *MFA) ValidateMFAToken(ctx context.Context, userID, token, scope string) (*Token, error) {
	if err := validateUserID(userID); err != nil {
		return nil, err
	}
	if err := validateScope(scope); err != nil {
		return nil, err
	}
	now := m.now()
	rec, hash, err := m.checkToken(ctx, userID, token, scope, now)
	if err != nil {
		return nil, err
	}
	return m.useToken(ctx, rec, hash, rec.SingleUse, "", now)
}

// AuthorizeAction decides on the server whether userID may do action, and
// uses up the MFA token that authorises it: the server-side twin of the
// hosted SDK's consumeMfaTokenIfRequiredForAction. The action's policy
// comes from Config.Actions or is a built-in action; an action that is
// neither gives ErrInvalidInput (Field "action"), so that a misspelt name
// fails closed.
//
// It returns (nil, nil) when the action needs no MFA for this user (see
// [MFA.IsMFARequiredForAction]); ErrTokenRequired when it does and token
// is empty. Otherwise the token must belong to the user, be unexpired,
// carry the policy's scope (or none) and be younger than the policy's
// MaxTokenAge (else ErrTokenExpired). The token is then consumed unless
// the policy is Persistent and the token is persistent too; of concurrent
// callers with one consumable token exactly one succeeds. The result
// describes the token, without its value.
func (m *MFA) AuthorizeAction(ctx context.Context, userID, action, token string) (*Token, error) {
	p, err := m.actionPolicy(userID, action)
	if err != nil {
		return nil, err
	}
	now := m.now()
	required, err := m.mfaRequired(ctx, userID, p, now)
	if err != nil || !required {
		return nil, err
	}
	rec, hash, err := m.checkToken(ctx, userID, token, p.Scope, now)
	if err != nil {
		return nil, err
	}
	if p.MaxTokenAge > 0 && !now.Before(rec.CreatedAt.Add(p.MaxTokenAge)) {
		return nil, m.tokenRefused(ctx, userID, newError(ErrTokenExpired, "", fmt.Sprintf("MFA token is older than action %s allows; authenticate again", action)))
	}
	return m.useToken(ctx, rec, hash, rec.SingleUse || !p.Persistent, action, now)
}

// checkToken reads the token and checks that it belongs to userID, has not
// expired and carries scope.
func (m *MFA) checkToken(ctx context.Context, userID, token, scope string, now time.Time) (TokenRecord, [HashSize]byte, error) {
	if token == "" {
		return TokenRecord{}, [HashSize]byte{}, m.tokenRefused(ctx, userID, newError(ErrTokenRequired, "", ""))
	}
	hash, ok := tokenHash(token)
	if !ok {
		return TokenRecord{}, hash, m.tokenRefused(ctx, userID, newError(ErrTokenInvalid, "", "malformed MFA token"))
	}
	rec, err := m.store.Token(ctx, userID, hash)
	switch {
	case errors.Is(err, ErrTokenInvalid):
		return rec, hash, m.tokenRefused(ctx, userID, newError(ErrTokenInvalid, "", ""))
	case err != nil:
		return rec, hash, m.storeErr(ctx, "read token", err)
	case rec.UserID != userID:
		return rec, hash, m.tokenRefused(ctx, userID, newError(ErrTokenInvalid, "", ""))
	case !now.Before(rec.ExpiresAt):
		return rec, hash, m.tokenRefused(ctx, userID, newError(ErrTokenExpired, "", ""))
	case len(rec.Scopes) > 0 && !slices.Contains(rec.Scopes, scope):
		return rec, hash, m.tokenRefused(ctx, userID, newError(ErrTokenInvalid, "scope", "MFA token does not carry scope "+scope))
	}
	return rec, hash, nil
}

// useToken consumes the checked token rec when consume is set, atomically,
// and reports its use.
func (m *MFA) useToken(ctx context.Context, rec TokenRecord, hash [HashSize]byte, consume bool, action string, now time.Time) (*Token, error) {
	typ := EventTokenValidated
	if consume {
		if err := m.store.ConsumeToken(ctx, rec.UserID, hash, now); err != nil {
			if errors.Is(err, ErrTokenInvalid) {
				return nil, m.tokenRefused(ctx, rec.UserID, newError(ErrTokenInvalid, "", "MFA token already used"))
			}
			return nil, m.storeErr(ctx, "consume token", err)
		}
		typ = EventTokenConsumed
	}
	// The event and the result get copies: the record's scopes may be the
	// store's own.
	m.emit(ctx, Event{Type: typ, UserID: rec.UserID, Scopes: slices.Clone(rec.Scopes), SingleUse: rec.SingleUse, Action: action})
	return &Token{SingleUse: rec.SingleUse, Scopes: slices.Clone(rec.Scopes), ExpiresAt: rec.ExpiresAt}, nil
}

func (m *MFA) tokenRefused(ctx context.Context, userID string, err *Error) error {
	m.emit(ctx, Event{Type: EventTokenRefused, UserID: userID, ErrorCode: err.Code})
	return err
}

// IsMFARequiredForAction reports whether the action needs an MFA token for
// the user: always for an action in Config.Actions or a built-in one,
// except that a policy with AllowUnenrolled spares users without a
// verified device (the built-in [ActionCredentialLink] is such an
// action). By default a user without a device is required to do MFA too,
// and so to enrol first. An action that is neither configured nor built
// in gives ErrInvalidInput (Field "action"): a misspelt action fails
// closed.
func (m *MFA) IsMFARequiredForAction(ctx context.Context, userID, action string) (bool, error) {
	p, err := m.actionPolicy(userID, action)
	if err != nil {
		return false, err
	}
	return m.mfaRequired(ctx, userID, p, m.now())
}

// actionPolicy checks userID and returns the policy of action.
func (m *MFA) actionPolicy(userID, action string) (ActionPolicy, error) {
	if err := validateUserID(userID); err != nil {
		return ActionPolicy{}, err
	}
	p, ok := m.actions[action]
	if !ok {
		// The name is not repeated: it is the caller's input.
		return ActionPolicy{}, invalidInput("action", "unknown action: an action must be named in Config.Actions or be built in")
	}
	return p, nil
}

// mfaRequired applies policy p to the user.
func (m *MFA) mfaRequired(ctx context.Context, userID string, p ActionPolicy, now time.Time) (bool, error) {
	if !p.AllowUnenrolled {
		return true, nil
	}
	st, err := m.store.LoadUser(ctx, userID, now)
	if err != nil {
		return false, m.storeErr(ctx, "load user", err)
	}
	return hasVerifiedDevice(st), nil
}

// ActionScope returns the scope a token needs for action, and whether the
// action is known: named in Config.Actions or built in.
func (m *MFA) ActionScope(action string) (string, bool) {
	p, ok := m.actions[action]
	return p.Scope, ok
}
