package mfa

import (
	"context"
	"crypto/fips140"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MFA is the entry point: a Go service creates one with [New] and calls it
// from its handlers. An MFA is safe for concurrent use, holds no per-user
// state of its own and so can run in any number of instances over one
// [Store].
type MFA struct {
	store    Store
	issuer   string
	keys     *Keyring
	totp     TOTPConfig
	recovery RecoveryConfig
	tokens   TokenConfig
	lockout  LockoutConfig
	devices  DeviceLimits
	passkeys PasskeyVerifier
	actions  map[string]ActionPolicy
	now      func() time.Time
	rand     io.Reader
	onEvent  func(context.Context, Event)
	log      *slog.Logger
	decoy    []byte // a sealed random secret; see decoy.go
}

// Config configures an [MFA]. Store, Issuer and Keys are required; every
// other field's zero value is the safe default.
type Config struct {
	// Store keeps devices, recovery codes, tokens and lockout state.
	Store Store
	// Issuer is the name authenticator apps show above the account, e.g.
	// the product's name. It may not contain a colon (Key Uri Format).
	Issuer string
	// Keys encrypts TOTP secrets and pending recovery codes at rest and
	// keys the recovery code hashes.
	Keys *Keyring

	TOTP     TOTPConfig
	Recovery RecoveryConfig
	Tokens   TokenConfig
	Lockout  LockoutConfig
	// Devices limits how many verified devices of each type a user may
	// have.
	Devices DeviceLimits
	// Passkeys runs the WebAuthn ceremonies of passkeys used as a second
	// factor: a *passkey.Verifier from github.com/mfakit/mfa/passkey. Nil,
	// the default, turns passkeys off.
	Passkeys PasskeyVerifier

	// Actions maps an action name (e.g. "change-email") to its policy for
	// action-based MFA; see [MFA.AuthorizeAction]. An action that is neither
	// here nor built in is refused, so that a misspelt name fails closed.
	// The built-in actions ([ActionCredentialUnlink],
	// [ActionRegenerateRecoveryCodes], [ActionCredentialLink]) may not be
	// redefined.
	Actions map[string]ActionPolicy

	// Now returns the current time; default time.Now. Tests inject a clock.
	Now func() time.Time
	// Rand is the source of every secret, code, token and ID; default
	// crypto/rand.Reader. It must be safe for concurrent use. The nonces
	// of the at-rest encryption do not come from it: AES-GCM draws them
	// itself, as FIPS 140-3 requires.
	Rand io.Reader
	// OnEvent, if set, receives audit events. It runs synchronously in the
	// calling goroutine; events never carry secrets, codes or tokens.
	OnEvent func(context.Context, Event)
	// Logger, if set, receives what mfakit logs: store failures (at
	// Error, with their cause, which the caller's error hides), failures it
	// works around (Warn) and key rotation (Info). Nothing is logged by
	// default, and no record carries a secret, a code or a token.
	Logger *slog.Logger
}

// TOTPConfig sets the parameters of new TOTP devices (RFC 6238). Changing
// Algorithm, Digits or Period later breaks devices already enrolled.
type TOTPConfig struct {
	// Algorithm is the HMAC hash; default SHA1, the one all apps support.
	// FIPS 140-3 mode (GODEBUG=fips140=only) refuses SHA1: set SHA256 or
	// SHA512 there.
	Algorithm Algorithm
	// Digits is the code length, 6 or 8; default 6.
	Digits int
	// Period is the time step; default 30 s, whole seconds only.
	Period time.Duration
	// Skew is how many steps before and after the current one are
	// accepted, for clock drift and typing time; default 1, at most 10.
	// Set NoSkew to accept the current step only.
	Skew int
	// SecretSize is the secret length in bytes; default 20 (160 bits, RFC
	// 4226 §4), at least 16.
	SecretSize int
	// PendingTTL is how long an unverified device can be verified; default
	// 10 minutes.
	PendingTTL time.Duration
}

// NoSkew as TOTPConfig.Skew accepts codes of the current time step only.
const NoSkew = -1

// RecoveryConfig sets the recovery codes.
type RecoveryConfig struct {
	// Count is the number of codes in a set; default 10, at most 100.
	Count int
	// RevealFor is how long after it is made a set can be shown while it
	// waits for acknowledgement; default 1 hour. A set older than that
	// counts as acknowledged: [MFA.GetRecoveryCodes] no longer shows it
	// and its sealed plaintext is dropped by the next write to the set or
	// by [MFA.Cleanup]. The codes stay valid; a user who lost them makes a
	// new set with [MFA.GetNewRecoveryCodes].
	RevealFor time.Duration
}

// TokenConfig sets MFA token lifetimes.
type TokenConfig struct {
	// SingleUseTTL is the default lifetime of a single-use token; 5 min.
	SingleUseTTL time.Duration
	// PersistentTTL is the default lifetime of a persistent token; 10 min.
	PersistentTTL time.Duration
	// MaxTTL bounds TokenRequest.TTL; default 1 hour.
	MaxTTL time.Duration
}

// LockoutConfig sets throttling of failed attempts (RFC 4226 §7.3, NIST SP
// 800-63B §5.2.2). Failures of TOTP and recovery codes count together, per
// user, in the store. After Threshold consecutive failures each further
// attempt waits BaseDelay, doubling with every failure up to MaxDelay; at
// MaxFailures the user is locked until an operator calls [MFA.UnlockUser].
// A success resets the count.
type LockoutConfig struct {
	// Threshold is the number of failures allowed without delay; default 5.
	Threshold int
	// BaseDelay is the first delay; default 30 s, at least 1 s.
	BaseDelay time.Duration
	// MaxDelay caps the delay; default 1 hour.
	MaxDelay time.Duration
	// MaxFailures is the number of consecutive failures after which only
	// an operator can unlock the user ([MFA.UnlockUser]); default and
	// maximum 100.
	MaxFailures int
}

// ActionPolicy makes an action need an MFA token (action-based MFA). The
// server decides how a token authorises the action, whatever the client
// asked for when it requested the token; see [MFA.AuthorizeAction].
type ActionPolicy struct {
	// Scope is the scope a token must carry to authorise the action
	// (an unscoped token carries every scope); default the action name.
	Scope string
	// AllowUnenrolled lets users without a verified device do the action
	// without MFA. By default they must enrol first.
	AllowUnenrolled bool
	// Persistent lets a persistent token authorise the action without
	// being used up, so that one code can authorise a series of actions.
	// By default the action consumes the token that authorises it, even
	// one the client asked to be persistent. A single-use token is always
	// consumed.
	Persistent bool
	// MaxTokenAge refuses tokens issued longer ago than this, with
	// ErrTokenExpired, however long they live; default 5 minutes. A
	// Persistent action without a MaxTokenAge accepts a token until the
	// token itself expires.
	MaxTokenAge time.Duration
}

// The built-in actions: the operations of mfakit itself that need an MFA
// token. [MFA.AuthorizeAction] always knows them, they always consume
// their token, and Config.Actions may not redefine them. Each action's
// scope is its name.
const (
	// ActionCredentialUnlink deletes a device ([MFA.DeleteDevice]).
	ActionCredentialUnlink = ScopeCredentialUnlink
	// ActionRegenerateRecoveryCodes replaces the recovery codes through a
	// user's own session (mfahttp's POST /api/recovery-codes).
	ActionRegenerateRecoveryCodes = "recovery_codes:regenerate"
	// ActionCredentialLink adds a factor for a user who already has one.
	// A user without a verified device needs no token for it.
	ActionCredentialLink = ScopeCredentialLink
)

// ScopeCredentialLink is the token scope of [ActionCredentialLink], the
// hosted SDK's scope for adding a factor.
const ScopeCredentialLink = "credential:link"

// builtinActions are the policies of the built-in actions.
var builtinActions = map[string]ActionPolicy{
	ActionCredentialUnlink:        {Scope: ActionCredentialUnlink, MaxTokenAge: defaultMaxTokenAge},
	ActionRegenerateRecoveryCodes: {Scope: ActionRegenerateRecoveryCodes, MaxTokenAge: defaultMaxTokenAge},
	ActionCredentialLink:          {Scope: ActionCredentialLink, AllowUnenrolled: true, MaxTokenAge: defaultMaxTokenAge},
}

// defaultMaxTokenAge is ActionPolicy.MaxTokenAge's default.
const defaultMaxTokenAge = 5 * time.Minute

// Limits on input sizes; anything longer is refused with ErrInvalidInput
// before it reaches the store.
const (
	maxUserIDLen = 256
	maxLabelLen  = 128
	maxScopeLen  = 64
	maxScopes    = 16
)

// New validates cfg, fills in defaults and returns an MFA. Each invalid
// field gives an ErrInvalidConfig error that names it.
func New(cfg Config) (*MFA, error) {
	if cfg.Store == nil {
		return nil, invalidConfig("Store", "Config.Store is required")
	}
	if err := validateLabel("Issuer", cfg.Issuer, true); err != nil {
		return nil, invalidConfig("Issuer", err.(*Error).Message)
	}
	if cfg.Keys == nil || cfg.Keys.primary == nil {
		return nil, invalidConfig("Keys", "Config.Keys is required: create one with NewKeyring")
	}
	m := &MFA{
		store:    cfg.Store,
		issuer:   cfg.Issuer,
		keys:     cfg.Keys,
		totp:     cfg.TOTP,
		recovery: cfg.Recovery,
		tokens:   cfg.Tokens,
		lockout:  cfg.Lockout,
		devices:  cfg.Devices,
		passkeys: cfg.Passkeys,
		actions:  maps.Clone(cfg.Actions),
		now:      cfg.Now,
		rand:     cfg.Rand,
		onEvent:  cfg.OnEvent,
		log:      cfg.Logger,
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	switch {
	case m.rand == nil:
		m.rand = rand.Reader
	case m.rand != rand.Reader && fips140.Enforced():
		// The FIPS 140-3 module's generator is the only approved source of
		// the secrets, codes and tokens.
		return nil, invalidConfig("Rand", "FIPS 140-3 mode (GODEBUG=fips140=only) allows no random source but crypto/rand.Reader: leave Config.Rand nil")
	}
	for _, check := range []func() error{m.setTOTPDefaults, m.setRecoveryDefaults, m.setTokenDefaults, m.setLockoutDefaults, m.setDeviceLimits, m.checkActions, m.newDecoy} {
		if err := check(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *MFA) setTOTPDefaults() error {
	t := &m.totp
	if t.Algorithm == "" {
		t.Algorithm = SHA1
	}
	if !t.Algorithm.valid() {
		return invalidConfig("TOTP.Algorithm", fmt.Sprintf("TOTP.Algorithm %q is not SHA1, SHA256 or SHA512", t.Algorithm))
	}
	if t.Algorithm == SHA1 && fips140.Enforced() {
		return invalidConfig("TOTP.Algorithm", "TOTP.Algorithm is SHA1 (the default), which FIPS 140-3 mode (GODEBUG=fips140=only) does not allow: set SHA256 or SHA512")
	}
	switch t.Digits {
	case 0:
		t.Digits = 6
	case 6, 8:
	default:
		return invalidConfig("TOTP.Digits", "TOTP.Digits must be 6 or 8")
	}
	switch {
	case t.Period == 0:
		t.Period = 30 * time.Second
	case t.Period < time.Second || t.Period%time.Second != 0 || t.Period > 10*time.Minute:
		return invalidConfig("TOTP.Period", "TOTP.Period must be whole seconds between 1 s and 10 min")
	}
	switch {
	case t.Skew == 0:
		t.Skew = 1
	case t.Skew == NoSkew:
		t.Skew = 0
	case t.Skew < 0 || t.Skew > maxSkew:
		return invalidConfig("TOTP.Skew", "TOTP.Skew must be between 1 and 10, or NoSkew")
	}
	switch {
	case t.SecretSize == 0:
		t.SecretSize = 20
	case t.SecretSize < 16 || t.SecretSize > 128:
		return invalidConfig("TOTP.SecretSize", "TOTP.SecretSize must be between 16 and 128 bytes")
	}
	switch {
	case t.PendingTTL == 0:
		t.PendingTTL = 10 * time.Minute
	case t.PendingTTL < 0:
		return invalidConfig("TOTP.PendingTTL", "TOTP.PendingTTL must be positive")
	}
	return nil
}

func (m *MFA) setRecoveryDefaults() error {
	switch {
	case m.recovery.Count == 0:
		m.recovery.Count = 10
	case m.recovery.Count < 1 || m.recovery.Count > 100:
		return invalidConfig("Recovery.Count", "Recovery.Count must be between 1 and 100")
	}
	switch {
	case m.recovery.RevealFor == 0:
		m.recovery.RevealFor = time.Hour
	case m.recovery.RevealFor < 0:
		return invalidConfig("Recovery.RevealFor", "Recovery.RevealFor must be positive")
	}
	return nil
}

func (m *MFA) setTokenDefaults() error {
	t := &m.tokens
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"Tokens.SingleUseTTL", &t.SingleUseTTL, 5 * time.Minute},
		{"Tokens.PersistentTTL", &t.PersistentTTL, 10 * time.Minute},
		{"Tokens.MaxTTL", &t.MaxTTL, time.Hour},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
		if *d.v < 0 {
			return invalidConfig(d.name, d.name+" must be positive")
		}
	}
	if t.SingleUseTTL > t.MaxTTL || t.PersistentTTL > t.MaxTTL {
		return invalidConfig("Tokens.MaxTTL", "Tokens.MaxTTL must not be shorter than the default lifetimes")
	}
	return nil
}

// DeviceLimits sets how many verified devices of each type a user may
// have. A zero field takes its default.
type DeviceLimits struct {
	// TOTP is the limit of authenticator apps; default 1, as the hosted
	// SDK's guide has it, at most 10.
	TOTP int
	// Passkey is the limit of passkeys; default 10, at most 100.
	Passkey int
}

// maxDeviceLimit bounds each limit of DeviceLimits.
var maxDeviceLimit = DeviceLimits{TOTP: 10, Passkey: 100}

func (m *MFA) setDeviceLimits() error {
	for _, l := range []struct {
		field    string
		v        *int
		def, max int
	}{
		{"Devices.TOTP", &m.devices.TOTP, 1, maxDeviceLimit.TOTP},
		{"Devices.Passkey", &m.devices.Passkey, 10, maxDeviceLimit.Passkey},
	} {
		switch {
		case *l.v == 0:
			*l.v = l.def
		case *l.v < 1 || *l.v > l.max:
			return invalidConfig(l.field, fmt.Sprintf("%s must be between 1 and %d", l.field, l.max))
		}
	}
	return nil
}

// limit returns how many verified devices of type t a user may have.
func (m *MFA) limit(t DeviceType) int {
	if t == DevicePasskey {
		return m.devices.Passkey
	}
	return m.devices.TOTP
}

func (m *MFA) setLockoutDefaults() error {
	l := &m.lockout
	if l.Threshold == 0 {
		l.Threshold = 5
	}
	if l.BaseDelay == 0 {
		l.BaseDelay = 30 * time.Second
	}
	if l.MaxDelay == 0 {
		l.MaxDelay = time.Hour
	}
	if l.MaxFailures == 0 {
		l.MaxFailures = 100
	}
	switch {
	case l.MaxFailures < 1 || l.MaxFailures > 100:
		return invalidConfig("Lockout.MaxFailures", "Lockout.MaxFailures must be between 1 and 100 (NIST SP 800-63B §5.2.2)")
	case l.Threshold < 1 || l.Threshold > l.MaxFailures:
		return invalidConfig("Lockout.Threshold", "Lockout.Threshold must be between 1 and Lockout.MaxFailures")
	case l.BaseDelay < time.Second:
		return invalidConfig("Lockout.BaseDelay", "Lockout.BaseDelay must be at least 1 s")
	case l.MaxDelay < l.BaseDelay:
		return invalidConfig("Lockout.MaxDelay", "Lockout.MaxDelay must not be shorter than Lockout.BaseDelay")
	}
	return nil
}

// checkActions validates Config.Actions, fills in each policy's defaults
// and adds the built-in actions.
func (m *MFA) checkActions() error {
	if m.actions == nil {
		m.actions = make(map[string]ActionPolicy, len(builtinActions))
	}
	for name, p := range m.actions {
		field := fmt.Sprintf("Actions[%q]", name)
		if _, ok := builtinActions[name]; ok {
			return invalidConfig(field, fmt.Sprintf("%q is a built-in action and cannot be redefined", name))
		}
		if err := validateScope(name); err != nil {
			return invalidConfig(field, "action names must be 1 to 64 printable ASCII characters")
		}
		if p.Scope == "" {
			p.Scope = name
		}
		if err := validateScope(p.Scope); err != nil {
			return invalidConfig(field+".Scope", "scopes must be 1 to 64 printable ASCII characters")
		}
		switch {
		case p.MaxTokenAge < 0:
			return invalidConfig(field+".MaxTokenAge", "MaxTokenAge must be positive")
		case p.MaxTokenAge == 0 && !p.Persistent:
			p.MaxTokenAge = defaultMaxTokenAge
		}
		m.actions[name] = p
	}
	maps.Copy(m.actions, builtinActions)
	return nil
}

// validateUserID checks a user ID: 1 to 256 bytes of UTF-8 without control
// characters.
func validateUserID(id string) error {
	if id == "" {
		return invalidInput("userID", "user ID is required")
	}
	if len(id) > maxUserIDLen {
		return invalidInput("userID", fmt.Sprintf("user ID is longer than %d bytes", maxUserIDLen))
	}
	if !printableUTF8(id) {
		return invalidInput("userID", "user ID must be UTF-8 without control characters")
	}
	return nil
}

// validateLabel checks an issuer, account name or alias: printable UTF-8,
// at most 128 bytes, nothing invisible, and no colon or look-alike of one
// in an otpauth label (Key Uri Format). Invisible characters (format
// characters such as bidi overrides and zero-width joiners, fillers,
// variation selectors, line separators, private-use and unassigned code
// points) could make the label an authenticator app shows read as
// another service's.
func validateLabel(field, s string, noColon bool) error {
	switch {
	case s == "":
		return invalidInput(field, field+" is required")
	case len(s) > maxLabelLen:
		return invalidInput(field, fmt.Sprintf("%s is longer than %d bytes", field, maxLabelLen))
	case !printableUTF8(s):
		return invalidInput(field, field+" must be UTF-8 without control characters")
	case strings.IndexFunc(s, isInvisible) >= 0:
		return invalidInput(field, field+" must not contain invisible characters (bidi controls, zero-width or blank characters)")
	case noColon && strings.ContainsAny(s, colons):
		return invalidInput(field, field+" must not contain a colon")
	}
	return nil
}

// isInvisible reports whether r shows as nothing, or as a blank that is
// not a space: anything but letters, marks, numbers, punctuation, symbols
// and spaces (unicode.IsGraphic), the default-ignorable fillers, variation
// selectors, and the braille blank.
func isInvisible(r rune) bool {
	return !unicode.IsGraphic(r) || unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector) || r == '\u2800'
}

// colons are the colon and the characters that look like one, which an
// otpauth label may not hold: the colon separates issuer and account.
const colons = ":\uff1a\u2236\ua789\ufe55\ufe13"

func printableUTF8(s string) bool {
	// Printable ASCII, the usual case, is checked a byte at a time; the
	// rest from the first other byte, which starts a rune.
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return printableRunes(s[i:])
		}
	}
	return true
}

func printableRunes(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// validateScope checks a scope: 1 to 64 printable ASCII characters, no
// spaces.
func validateScope(s string) error {
	if s == "" || len(s) > maxScopeLen {
		return invalidInput("scope", fmt.Sprintf("scope must be 1 to %d characters", maxScopeLen))
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return invalidInput("scope", "scope must be printable ASCII without spaces")
		}
	}
	return nil
}

// newID returns a random UUID (RFC 9562 version 4) read from m.rand.
func (m *MFA) newID() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(m.rand, b[:]); err != nil {
		return "", keyError("cannot read random bytes", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	var s [36]byte
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = hex[c>>4], hex[c&0x0f]
		j += 2
	}
	return string(s[:]), nil
}

// TOTPDigits returns the length of the codes devices show, for a UI to
// size its input.
func (m *MFA) TOTPDigits() int { return m.totp.Digits }

// TOTPPeriod returns how often devices show a new code.
func (m *MFA) TOTPPeriod() time.Duration { return m.totp.Period }

// Cleanup removes expired records, and the sealed plaintext of recovery
// codes past RecoveryConfig.RevealFor, when the store supports it (see
// [Cleaner]); a service may call it on a timer. mfakit treats all of them
// as absent either way.
func (m *MFA) Cleanup(ctx context.Context) error {
	c, ok := m.store.(Cleaner)
	if !ok {
		return nil
	}
	now := m.now()
	return m.storeErr(ctx, "cleanup", c.Cleanup(ctx, now, now.Add(-m.recovery.RevealFor)))
}

// ResetUser removes all of the user's MFA state (devices, recovery codes,
// MFA tokens, lockout), for an administrator after identity proofing. The
// user can then enrol again, so whoever can reach the account with its
// password alone can enrol a device of their own: to lift a lockout, use
// [MFA.UnlockUser] instead.
func (m *MFA) ResetUser(ctx context.Context, userID string) error {
	if err := validateUserID(userID); err != nil {
		return err
	}
	if err := m.store.DeleteUser(ctx, userID); err != nil {
		return m.storeErr(ctx, "reset user", err)
	}
	m.emit(ctx, Event{Type: EventUserReset, UserID: userID})
	return nil
}

// UnlockUser clears the user's lockout (the count of consecutive failed
// attempts and the wait it imposes) and nothing else: devices, recovery
// codes and tokens stay. It is an operator's call, for support staff who
// verified the user another way; unlocking a user who is not locked is a
// no-op that still emits EventUserUnlocked.
func (m *MFA) UnlockUser(ctx context.Context, userID string) error {
	if err := validateUserID(userID); err != nil {
		return err
	}
	lk, err := m.store.Lockout(ctx, userID)
	if err != nil {
		return m.storeErr(ctx, "read lockout", err)
	}
	failures := lk.Failures
	for range maxSwapRetries {
		if lk.Equal(Lockout{}) {
			m.emit(ctx, Event{Type: EventUserUnlocked, UserID: userID, Failures: failures})
			return nil
		}
		ok, err := m.store.SwapLockout(ctx, userID, lk, Lockout{})
		if err != nil {
			return m.storeErr(ctx, "unlock user", err)
		}
		if ok {
			lk = Lockout{}
			continue
		}
		if lk, err = m.store.Lockout(ctx, userID); err != nil {
			return m.storeErr(ctx, "read lockout", err)
		}
		failures = max(failures, lk.Failures)
	}
	return m.storeErr(ctx, "unlock user", ErrLockoutChanged)
}

// RemoveDevice deletes one of the user's devices without an MFA token. It
// is an operator's call, for support staff who verified the user another
// way (a user deletes their own device with [MFA.DeleteDevice]). Like
// DeleteDevice it revokes all of the user's MFA tokens, and removing the
// verified device removes the recovery codes. ErrDeviceNotFound when the
// user has no such device.
func (m *MFA) RemoveDevice(ctx context.Context, userID, deviceID string) error {
	if err := m.findDevice(ctx, userID, deviceID); err != nil {
		return err
	}
	return m.deleteDevice(ctx, userID, deviceID, EventDeviceRemoved)
}

// IsEnrolled reports whether the user has a verified device, e.g. to
// decide after the first factor whether a login needs the second. A
// pending device does not count. It emits EventEnrollmentChecked.
func (m *MFA) IsEnrolled(ctx context.Context, userID string) (bool, error) {
	if err := validateUserID(userID); err != nil {
		return false, err
	}
	st, err := m.store.LoadUser(ctx, userID, m.now())
	if err != nil {
		return false, m.storeErr(ctx, "load user", err)
	}
	enrolled := hasVerifiedDevice(st)
	m.emit(ctx, Event{Type: EventEnrollmentChecked, UserID: userID, Enrolled: enrolled})
	return enrolled, nil
}
