package mfa

import (
	"context"
	"crypto/fips140"
	"encoding/base32"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TOTPImport is a TOTP enrolment brought from another system: an
// authenticator app the user already has, with the recovery codes the user
// has not used yet. Give the device by URI or by Secret with its
// parameters, not both.
type TOTPImport struct {
	// URI is the device's otpauth://totp/ URI (Key Uri Format). Its label
	// gives the account name and its parameters the algorithm, digits and
	// period, which default to SHA1, 6 and 30 s as the format says.
	URI string
	// Secret is the device's secret in base32 (case, spaces and padding do
	// not matter), with Algorithm, Digits and Period; their zero values
	// are SHA1, 6 and 30 s, the values of nearly every system.
	Secret    string
	Algorithm Algorithm
	Digits    int
	Period    time.Duration
	// AccountName is the label the app shows under the issuer; default
	// the URI's account, else the user ID. Alias names the device for the
	// user, as WithAlias does.
	AccountName string
	Alias       string
	// LastUsedAt is when the old system last accepted a code of the
	// device, if known: that code's time step becomes the device's last
	// accepted one, so that it cannot be used again here.
	LastUsedAt time.Time
	// RecoveryCodes are the user's unused recovery codes from the old
	// system. They are hashed on import, never kept in plaintext, and are
	// not shown again: the user saved them before. A code is matched
	// exactly after case folding, in its own format (RecoveryFormatImported).
	RecoveryCodes []string
}

// Limits of an import, besides those of enrolment.
const (
	// minImportSecret is the shortest secret ImportTOTPDevice takes: 80
	// bits, the secrets of older systems. RFC 4226 §4 asks for 128;
	// mfakit's own are 160.
	minImportSecret = 10
	// minFIPSSecret is the shortest secret in FIPS 140-3 mode, whose HMAC
	// wants keys of at least 112 bits.
	minFIPSSecret  = 16
	maxImportCodes = 100
)

// ImportTOTPDevice stores a verified TOTP device from another system for
// userID, sealed like any other, with the user's unused recovery codes
// from that system. It is an operator's call, for a migration: it needs no
// MFA token. A user has at most one verified TOTP device: ErrDeviceLimit
// when the user already has one, which also makes a re-run of a migration
// skip the users it imported. The input is checked as at enrolment (and in
// FIPS 140-3 mode SHA1 and secrets under 16 bytes are refused); an import
// that is refused, for any reason, stores nothing. An import ends the
// user's registration in progress, if any, an app's or a passkey's: begun
// while the user had no factor, it needed no token for
// ActionCredentialLink, and must not finish as a further factor. It emits
// EventDeviceImported.
func (m *MFA) ImportTOTPDevice(ctx context.Context, userID string, in TOTPImport) (*Device, error) {
	if err := validateUserID(userID); err != nil {
		return nil, err
	}
	d, secret, err := m.importedDevice(userID, in)
	defer clear(secret)
	if err != nil {
		return nil, err
	}
	codes, err := m.importedCodes(userID, in.RecoveryCodes)
	if err != nil {
		return nil, err
	}
	if d.ID, err = m.newID(); err != nil {
		return nil, err
	}
	d.Secret = m.keys.seal(secret, secretAAD(userID, d.ID))
	now := m.now()
	d.CreatedAt, d.VerifiedAt, d.Verified = now, now, true
	codes.CreatedAt = now
	if err := m.store.ImportDevice(ctx, d, codes, m.limit(d.Type)); err != nil {
		return nil, m.storeErr(ctx, "import device", err)
	}
	m.emit(ctx, Event{Type: EventDeviceImported, UserID: userID, DeviceID: d.ID, Remaining: len(codes.Hashes)})
	// Read it back: whether it is the default depends on the user's other
	// devices.
	devices, err := m.GetUserDevices(ctx, userID)
	if err != nil {
		return nil, err
	}
	for i := range devices {
		if devices[i].ID == d.ID {
			return &devices[i], nil
		}
	}
	dev := m.device(d, false, new([2]time.Time)) // removed meanwhile
	return &dev, nil
}

// importedDevice checks the device part of in and returns its record (all
// but the ID, the sealed secret and the times of the import) and its
// secret.
func (m *MFA) importedDevice(userID string, in TOTPImport) (DeviceRecord, []byte, error) {
	d := DeviceRecord{UserID: userID, Type: DeviceTOTP, Alias: in.Alias, AccountName: in.AccountName,
		Algorithm: in.Algorithm, Digits: in.Digits, Period: in.Period}
	encoded := in.Secret
	switch {
	case in.URI != "" && in.Secret != "":
		return d, nil, invalidInput("URI", "give the device by URI or by Secret, not both")
	case in.URI != "":
		u, err := parseOTPAuth(in.URI)
		if err != nil {
			return d, nil, err
		}
		if d.Algorithm != "" || d.Digits != 0 || d.Period != 0 {
			return d, nil, invalidInput("URI", "the URI gives the algorithm, digits and period")
		}
		encoded, d.Algorithm, d.Digits, d.Period = u.secret, u.alg, u.digits, u.period
		if d.AccountName == "" {
			d.AccountName = u.account
		}
	case in.Secret == "":
		return d, nil, invalidInput("Secret", "give the device's URI or Secret")
	}
	if d.Algorithm == "" {
		d.Algorithm = SHA1
	}
	if d.Digits == 0 {
		d.Digits = 6
	}
	if d.Period == 0 {
		d.Period = 30 * time.Second
	}
	if d.AccountName == "" {
		d.AccountName = userID
	}
	fips := fips140.Enforced()
	switch {
	case !d.Algorithm.valid():
		return d, nil, invalidInput("Algorithm", fmt.Sprintf("algorithm %q is not SHA1, SHA256 or SHA512", d.Algorithm))
	case d.Algorithm == SHA1 && fips:
		return d, nil, invalidInput("Algorithm", "FIPS 140-3 mode (GODEBUG=fips140=only) does not allow SHA1 devices")
	case d.Digits != 6 && d.Digits != 8:
		return d, nil, invalidInput("Digits", "digits must be 6 or 8")
	case d.Period < time.Second || d.Period%time.Second != 0 || d.Period > 10*time.Minute:
		return d, nil, invalidInput("Period", "the period must be whole seconds between 1 s and 10 min")
	}
	if err := validateLabel("AccountName", d.AccountName, true); err != nil {
		return d, nil, err
	}
	if d.Alias != "" {
		if err := validateLabel("Alias", d.Alias, false); err != nil {
			return d, nil, err
		}
	}
	if !in.LastUsedAt.IsZero() {
		if in.LastUsedAt.After(m.now()) {
			return d, nil, invalidInput("LastUsedAt", "LastUsedAt is in the future")
		}
		d.LastUsedAt = in.LastUsedAt
		d.LastStep = in.LastUsedAt.Unix() / int64(d.Period/time.Second)
	}
	secret, err := decodeSecret(encoded)
	if err != nil {
		return d, nil, err
	}
	minLen := minImportSecret
	if fips {
		minLen = minFIPSSecret
	}
	if len(secret) < minLen || len(secret) > 128 {
		clear(secret)
		return d, nil, invalidInput("Secret", fmt.Sprintf("the secret must be %d to 128 bytes", minLen))
	}
	return d, secret, nil
}

// importedCodes hashes the user's codes from the old system into a set of
// format RecoveryFormatImported; no set when there are none.
func (m *MFA) importedCodes(userID string, codes []string) (RecoveryCodeSet, error) {
	if len(codes) == 0 {
		return RecoveryCodeSet{}, nil
	}
	if len(codes) > maxImportCodes {
		return RecoveryCodeSet{}, invalidInput("RecoveryCodes", fmt.Sprintf("at most %d recovery codes", maxImportCodes))
	}
	set := RecoveryCodeSet{KeyID: m.keys.PrimaryID(), Format: RecoveryFormatImported}
	seen := make(map[[HashSize]byte]bool, len(codes))
	for i, c := range codes {
		code, ok := importedCode(c)
		if !ok {
			// The code is not repeated: it is a secret.
			return RecoveryCodeSet{}, invalidInput("RecoveryCodes", fmt.Sprintf("recovery code %d is not 1 to 64 printable ASCII characters", i+1))
		}
		h := recoveryHash(m.keys.primary.hashKey, userID, []byte(code))
		if !seen[h] {
			seen[h] = true
			set.Hashes = append(set.Hashes, h)
		}
	}
	return set, nil
}

// otpauthKey is what an otpauth://totp/ URI holds.
type otpauthKey struct {
	account, secret string
	alg             Algorithm
	digits          int
	period          time.Duration
}

// parseOTPAuth reads a Key Uri Format URI of a TOTP device. Absent
// parameters take the format's defaults: SHA1, 6 digits, 30 s. Error
// messages never repeat the URI, which holds the secret.
func parseOTPAuth(s string) (otpauthKey, error) {
	k := otpauthKey{alg: SHA1, digits: 6, period: 30 * time.Second}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "otpauth" {
		return k, invalidInput("URI", "not an otpauth:// URI")
	}
	if u.Host != "totp" {
		return k, invalidInput("URI", "not a TOTP device (otpauth://totp/...)")
	}
	label := strings.TrimPrefix(u.Path, "/")
	if _, account, ok := strings.Cut(label, ":"); ok {
		label = account
	}
	k.account = strings.TrimSpace(label)
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return k, invalidInput("URI", "the URI's query does not parse")
	}
	k.secret = q.Get("secret")
	if k.secret == "" {
		return k, invalidInput("URI", "the URI has no secret")
	}
	if v := q.Get("algorithm"); v != "" {
		k.alg = Algorithm(strings.ToUpper(v))
	}
	if v := q.Get("digits"); v != "" {
		if k.digits, err = strconv.Atoi(v); err != nil {
			return k, invalidInput("URI", "the URI's digits is not a number")
		}
	}
	if v := q.Get("period"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p <= 0 || p > 600 {
			return k, invalidInput("URI", "the URI's period is not 1 to 600 seconds")
		}
		k.period = time.Duration(p) * time.Second
	}
	return k, nil
}

// decodeSecret reads a base32 secret (RFC 4648 §6), ignoring case, spaces
// and padding. The error never repeats the input.
func decodeSecret(s string) ([]byte, error) {
	s = strings.ToUpper(strings.TrimRight(strings.ReplaceAll(s, " ", ""), "="))
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		return nil, invalidInput("Secret", "the secret is not base32")
	}
	return b, nil
}
