package mfa

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Recovery codes (look-up secrets, NIST SP 800-63B §5.1.2) are 16
// characters of Crockford's base32 alphabet, 80 bits each, shown in groups
// of four: "7k2m-q9xd-4hcv-8tpa". Input is normalised before it is checked:
// case, spaces and dashes do not matter, and the letters o, i and l read as
// 0, 1 and 1.
const (
	recoveryCodeLen  = 16
	recoveryRandSize = recoveryCodeLen * 5 / 8
	recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	maxRecoveryInput = 64
)

// RecoveryFormat is how a recovery code set reads a code typed in.
type RecoveryFormat string

// The recovery code formats.
const (
	// RecoveryFormatMFAKit is mfakit's own codes: 16 characters of
	// Crockford's base32, where case, spaces and dashes do not matter and
	// o, i and l read as 0, 1 and 1.
	RecoveryFormatMFAKit RecoveryFormat = ""
	// RecoveryFormatImported is codes imported from another system
	// ([MFA.ImportTOTPDevice]), matched exactly after case folding and
	// trimming spaces.
	RecoveryFormatImported RecoveryFormat = "imported"
)

// RecoveryRequest is a recovery code to check.
type RecoveryRequest struct {
	Code string
	// CreateMFAToken, if set, issues an MFA token on success.
	CreateMFAToken *TokenRequest
}

// newRecoveryCodes makes a set of codes for userID: the stored form (keyed
// hashes and the sealed plaintext) and the codes to show.
func (m *MFA) newRecoveryCodes(userID string, now time.Time) (RecoveryCodeSet, []string, error) {
	n := m.recovery.Count
	raw := make([]byte, n*recoveryRandSize)
	plain := make([]byte, n*recoveryCodeLen)
	defer clear(raw)
	defer clear(plain)
	if _, err := io.ReadFull(m.rand, raw); err != nil {
		return RecoveryCodeSet{}, nil, keyError("cannot read random bytes", err)
	}
	set := RecoveryCodeSet{KeyID: m.keys.PrimaryID(), Hashes: make([][HashSize]byte, n), CreatedAt: now}
	hashKey := m.keys.primary.hashKey
	shown := make([]string, n)
	for i := range n {
		code := plain[i*recoveryCodeLen : (i+1)*recoveryCodeLen]
		encodeRecoveryCode(code, raw[i*recoveryRandSize:(i+1)*recoveryRandSize])
		set.Hashes[i] = recoveryHash(hashKey, userID, code)
		shown[i] = formatRecoveryCode(code)
	}
	set.Sealed = m.keys.seal(plain, recoveryAAD(userID))
	return set, shown, nil
}

// encodeRecoveryCode writes the 5-bit groups of raw, most significant
// first, as alphabet characters: 10 bytes (80 bits) make 16 characters.
func encodeRecoveryCode(dst, raw []byte) {
	var window uint32
	bits, j := 0, 0
	for _, b := range raw {
		window = window<<8 | uint32(b)
		bits += 8
		for bits >= 5 {
			bits -= 5
			dst[j] = recoveryAlphabet[window>>bits&31]
			j++
		}
	}
}

func formatRecoveryCode(code []byte) string {
	out := make([]byte, 0, recoveryCodeLen+recoveryCodeLen/4-1)
	for i := 0; i < len(code); i += 4 {
		if i > 0 {
			out = append(out, '-')
		}
		out = append(out, code[i:i+4]...)
	}
	return string(out)
}

// readRecoveryCode turns user input into the bytes that a set of the given
// format hashed, or refuses input that cannot be one of its codes.
func readRecoveryCode(f RecoveryFormat, s string) ([]byte, error) {
	if f == RecoveryFormatImported {
		code, ok := importedCode(s)
		if !ok {
			return nil, invalidInput("code", "a recovery code is 1 to 64 letters, digits and punctuation")
		}
		return []byte(code), nil
	}
	code, ok := normalizeRecoveryCode(s)
	if !ok {
		return nil, invalidInput("code", "a recovery code is 16 letters and digits, like 7k2m-q9xd-4hcv-8tpa")
	}
	return code[:], nil
}

// importedCode is how an imported code is kept and read: lower case,
// without the spaces around it. It reports whether s can be such a code:
// 1 to 64 printable ASCII characters.
func importedCode(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	return s, s != "" && len(s) <= maxRecoveryInput && printableASCII(s)
}

// printableASCII reports whether s holds only printable ASCII and spaces.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// normalizeRecoveryCode turns user input into the 16 characters that were
// hashed, or reports that the input cannot be a recovery code.
func normalizeRecoveryCode(s string) ([recoveryCodeLen]byte, bool) {
	var out [recoveryCodeLen]byte
	if len(s) > maxRecoveryInput {
		return out, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		switch c {
		case 'o':
			c = '0'
		case 'i', 'l':
			c = '1'
		}
		if !isRecoveryChar(c) || n == recoveryCodeLen {
			return out, false
		}
		out[n] = c
		n++
	}
	return out, n == recoveryCodeLen
}

func isRecoveryChar(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' && c != 'i' && c != 'l' && c != 'o' && c != 'u'
}

// recoveryHash is HMAC-SHA256 of a normalised code, bound to its user.
func recoveryHash(key []byte, userID string, code []byte) [HashSize]byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("mfakit/recovery-code\x00"))
	h.Write([]byte(userID))
	h.Write([]byte{0})
	h.Write(code)
	var out [HashSize]byte
	h.Sum(out[:0])
	return out
}

func recoveryAAD(userID string) []byte {
	return append([]byte("mfakit/recovery-codes\x00"), userID...)
}

// revealable reports whether set waits for acknowledgement at now: it has
// its sealed plaintext and is younger than RecoveryConfig.RevealFor. An
// older set counts as acknowledged.
func (m *MFA) revealable(set RecoveryCodeSet, now time.Time) bool {
	return set.Pending() && now.Before(set.CreatedAt.Add(m.recovery.RevealFor))
}

func hasVerifiedDevice(st UserState) bool {
	for _, d := range st.Devices {
		if d.Verified {
			return true
		}
	}
	return false
}

// GetRecoveryCodes returns the user's recovery codes while they wait for
// acknowledgement, or ErrRecoveryCodesAcknowledged once they have been
// acknowledged (only their hashes remain) or are older than
// RecoveryConfig.RevealFor. With generateNew it makes a new set instead,
// as [MFA.GetNewRecoveryCodes]. ErrNoDevice when the user has no verified
// device. It only reads: the plaintext of a set past its reveal time is
// dropped by the next write to the set or by [MFA.Cleanup].
func (m *MFA) GetRecoveryCodes(ctx context.Context, userID string, generateNew bool) ([]string, error) {
	if generateNew {
		return m.GetNewRecoveryCodes(ctx, userID)
	}
	if err := validateUserID(userID); err != nil {
		return nil, err
	}
	now := m.now()
	st, err := m.store.LoadUser(ctx, userID, now)
	if err != nil {
		return nil, m.storeErr(ctx, "load user", err)
	}
	if !hasVerifiedDevice(st) {
		return nil, newError(ErrNoDevice, "", "")
	}
	set := st.RecoveryCodes
	switch {
	case !set.Pending():
		return nil, newError(ErrRecoveryCodesAcknowledged, "", "")
	case !m.revealable(set, now):
		return nil, newError(ErrRecoveryCodesAcknowledged, "", "recovery codes are shown only for a while after they are made; generate new ones to see codes again")
	}
	plain, _, err := m.keys.open(nil, set.Sealed, recoveryAAD(userID))
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	if len(plain)%recoveryCodeLen != 0 {
		return nil, keyError("sealed recovery codes have the wrong length", nil)
	}
	hashKey, err := m.keys.hashKey(set.KeyID)
	if err != nil {
		return nil, err
	}
	// Show only the codes still unused: the sealed list is the whole set.
	codes := make([]string, 0, len(set.Hashes))
	for i := 0; i < len(plain); i += recoveryCodeLen {
		code := plain[i : i+recoveryCodeLen]
		h := recoveryHash(hashKey, userID, code)
		if slices.Contains(set.Hashes, h) {
			codes = append(codes, formatRecoveryCode(code))
		}
	}
	return codes, nil
}

// GetNewRecoveryCodes makes a new set of recovery codes for the user,
// invalidating every old code, and marks the set pending acknowledgement.
// ErrNoDevice when the user has no verified device.
func (m *MFA) GetNewRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	if err := validateUserID(userID); err != nil {
		return nil, err
	}
	now := m.now()
	set, codes, err := m.newRecoveryCodes(userID, now)
	if err != nil {
		return nil, err
	}
	if err := m.store.ReplaceRecoveryCodes(ctx, userID, set); err != nil {
		return nil, m.storeErr(ctx, "replace recovery codes", err)
	}
	m.emit(ctx, Event{Type: EventRecoveryCodesRegenerated, UserID: userID, Remaining: len(codes)})
	return codes, nil
}

// IsPendingRecoveryCodesAcknowledgment reports whether the user's recovery
// codes wait for [MFA.CompleteAcknowledgement]; false once they are older
// than RecoveryConfig.RevealFor.
func (m *MFA) IsPendingRecoveryCodesAcknowledgment(ctx context.Context, userID string) (bool, error) {
	if err := validateUserID(userID); err != nil {
		return false, err
	}
	now := m.now()
	st, err := m.store.LoadUser(ctx, userID, now)
	if err != nil {
		return false, m.storeErr(ctx, "load user", err)
	}
	return hasVerifiedDevice(st) && m.revealable(st.RecoveryCodes, now), nil
}

// CompleteAcknowledgement records that the user has saved the recovery
// codes: their plaintext is erased and only their hashes remain. It is
// idempotent; ErrNoDevice when the user has no verified device.
func (m *MFA) CompleteAcknowledgement(ctx context.Context, userID string) error {
	if err := validateUserID(userID); err != nil {
		return err
	}
	st, err := m.store.LoadUser(ctx, userID, m.now())
	if err != nil {
		return m.storeErr(ctx, "load user", err)
	}
	if !hasVerifiedDevice(st) {
		return newError(ErrNoDevice, "", "")
	}
	if !st.RecoveryCodes.Pending() {
		return nil
	}
	// Only the set read above, or an older one: a set made since keeps
	// its plaintext until the user has seen it.
	if err := m.store.AcknowledgeRecoveryCodes(ctx, userID, st.RecoveryCodes.CreatedAt); err != nil {
		return m.storeErr(ctx, "acknowledge recovery codes", err)
	}
	m.emit(ctx, Event{Type: EventRecoveryCodesAcknowledged, UserID: userID, Remaining: len(st.RecoveryCodes.Hashes)})
	return nil
}

// AuthenticateRecoveryCode checks a recovery code in place of the user's
// device. Each code works once (consumed atomically in the store) and can
// issue an MFA token like a TOTP code. Failures count towards the same
// lockout as TOTP codes. The result says how many codes remain;
// EventRecoveryCodesLow fires at LowRecoveryCodes or fewer.
func (m *MFA) AuthenticateRecoveryCode(ctx context.Context, userID string, req RecoveryRequest) (*AuthResult, error) {
	if err := validateUserID(userID); err != nil {
		return nil, err
	}
	if len(req.Code) > maxRecoveryInput || !printableASCII(req.Code) {
		return nil, invalidInput("code", "a recovery code is letters and digits")
	}
	if err := m.checkTokenRequest(req.CreateMFAToken); err != nil {
		return nil, err
	}
	now := m.now()
	st, err := m.store.LoadUser(ctx, userID, now)
	if err != nil {
		return nil, m.storeErr(ctx, "load user", err)
	}
	// How the code reads depends on the set: mfakit's own or imported.
	set := st.RecoveryCodes
	if !hasVerifiedDevice(st) {
		set = RecoveryCodeSet{}
	}
	code, err := readRecoveryCode(set.Format, req.Code)
	if err != nil {
		return nil, err
	}
	defer clear(code)
	if !hasVerifiedDevice(st) {
		m.decoyRecoveryCode(ctx, userID, code)
		return nil, newError(ErrNoDevice, "", "")
	}
	hashKey := m.keys.primary.hashKey
	if len(set.Hashes) > 0 {
		if hashKey, err = m.keys.hashKey(set.KeyID); err != nil {
			return nil, err
		}
	}
	a := &attempt{userID: userID, method: MethodRecoveryCode, lk: st.Lockout, now: now}
	if err := m.checkLock(ctx, a); err != nil {
		return nil, err
	}
	hash := recoveryHash(hashKey, userID, code)
	// Compare against every stored hash, without stopping at a match.
	found := 0
	for i := range set.Hashes {
		found |= subtle.ConstantTimeCompare(set.Hashes[i][:], hash[:])
	}
	if found == 0 {
		return nil, m.failed(ctx, EventAuthFailed, a, newError(ErrInvalidCode, "code", ""))
	}
	var remaining int
	tok, err := m.accept(ctx, a, req.CreateMFAToken, func(lk Lockout) (err error) {
		remaining, err = m.store.ConsumeRecoveryCode(ctx, userID, hash, now, lk)
		return err
	})
	if err != nil {
		return nil, err
	}
	if set.Pending() && !m.revealable(set, now) {
		// This write to the set drops the plaintext that can no longer be
		// shown. A failure leaves it for Cleanup; it is never shown again.
		if err := m.store.AcknowledgeRecoveryCodes(ctx, userID, set.CreatedAt); err != nil {
			m.log.WarnContext(ctx, "mfa: could not drop recovery codes past their reveal time; Cleanup will", slog.String("userId", userID), slog.Any("error", err))
		}
	}
	m.emit(ctx, Event{Type: EventRecoveryCodeUsed, UserID: userID, Method: MethodRecoveryCode, Remaining: remaining})
	if remaining <= LowRecoveryCodes {
		m.emit(ctx, Event{Type: EventRecoveryCodesLow, UserID: userID, Remaining: remaining})
	}
	m.emit(ctx, Event{Type: EventAuthSucceeded, UserID: userID, Method: MethodRecoveryCode, Remaining: remaining})
	return &AuthResult{
		UserID:                 userID,
		Method:                 MethodRecoveryCode,
		MFAToken:               tok,
		RecoveryCodesRemaining: remaining,
		RecoveryCodesPending:   m.revealable(set, now),
	}, nil
}
