package mfa

import (
	"context"
	"encoding/base32"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Registration is what a user needs to add a new TOTP device to an
// authenticator app: the otpauth URI (shown as a QR code) or the secret
// for manual entry. It is returned once, by [MFA.AddDevice]; show it to
// the user and do not log or keep it. Its String method hides the secret.
type Registration struct {
	DeviceID string `json:"id"`
	// Digits is the length of the device's codes, for a UI to size its
	// input.
	Digits int `json:"digits"`
	// Secret is the TOTP secret in unpadded base32 (RFC 4648 §6).
	Secret string `json:"secret"`
	// URI is the otpauth://totp/Issuer:account?secret=...&issuer=... URI of
	// the Key Uri Format that authenticator apps scan.
	URI string `json:"uri"`
}

// String describes r without its secret or URI. It has a value receiver
// so that formatting a Registration, or a pointer to one, never prints them.
func (r Registration) String() string {
	return "mfa.Registration{DeviceID: " + r.DeviceID + ", Secret: [redacted]}"
}

// GoString is like String.
func (r Registration) GoString() string { return r.String() }

// LogValue implements slog.LogValuer with the device ID only.
func (r Registration) LogValue() slog.Value { return slog.StringValue(r.String()) }

// DeviceOption sets an option of [MFA.AddDevice] or
// [MFA.BeginPasskeyRegistration].
type DeviceOption func(*deviceOptions)

type deviceOptions struct {
	accountName string
	alias       string
	mfaToken    string
}

// WithMFAToken gives the MFA token that adding a factor for a user who
// already has one needs: a token for the built-in action
// [ActionCredentialLink] (scope "credential:link", or no scope), which
// [MFA.AddDevice] consumes. A user's first factor needs none.
func WithMFAToken(token string) DeviceOption {
	return func(o *deviceOptions) { o.mfaToken = token }
}

// WithAccountName sets the account label the authenticator app shows under
// the issuer, e.g. the user's email address. The default is the user ID.
// It may not contain a colon.
func WithAccountName(name string) DeviceOption {
	return func(o *deviceOptions) { o.accountName = name }
}

// WithAlias sets a name for the device that the user sees in the device
// list, e.g. "Phone".
func WithAlias(alias string) DeviceOption {
	return func(o *deviceOptions) { o.alias = alias }
}

// AddDevice starts enrolling a TOTP device for userID and returns its
// registration. The device is pending until [MFA.AuthenticateDevice]
// accepts its first code, and expires after TOTPConfig.PendingTTL; a
// pending device is never counted as a factor. A new AddDevice replaces a
// pending device, whose secret stops working. A user has at most
// Config.Devices.TOTP verified TOTP devices (by default one): past that
// AddDevice returns ErrDeviceLimit. Adding a factor for a user who already
// has one needs an MFA token for [ActionCredentialLink], given with
// [WithMFAToken] and consumed; a stolen session alone cannot add a factor
// of its own.
func (m *MFA) AddDevice(ctx context.Context, userID string, opts ...DeviceOption) (*Registration, error) {
	if err := validateUserID(userID); err != nil {
		return nil, err
	}
	o, err := deviceOpts(userID, opts)
	if err != nil {
		return nil, err
	}
	if _, err := m.mayAddDevice(ctx, userID, DeviceTOTP, o.mfaToken); err != nil {
		return nil, err
	}
	id, err := m.newID()
	if err != nil {
		return nil, err
	}
	secret := make([]byte, m.totp.SecretSize)
	defer clear(secret)
	if _, err := m.rand.Read(secret); err != nil {
		return nil, keyError("cannot read random bytes", err)
	}
	sealed := m.keys.seal(secret, secretAAD(userID, id))
	now := m.now()
	rec := DeviceRecord{
		ID:          id,
		UserID:      userID,
		Type:        DeviceTOTP,
		Alias:       o.alias,
		AccountName: o.accountName,
		Secret:      sealed,
		CreatedAt:   now,
		ExpiresAt:   now.Add(m.totp.PendingTTL),
		Algorithm:   m.totp.Algorithm,
		Digits:      m.totp.Digits,
		Period:      m.totp.Period,
	}
	reg, err := m.registration(rec, secret)
	if err != nil {
		return nil, err
	}
	if err := m.store.InsertPendingDevice(ctx, rec, m.limit(DeviceTOTP)); err != nil {
		return nil, m.storeErr(ctx, "add device", err)
	}
	m.emit(ctx, Event{Type: EventDeviceAdded, UserID: userID, DeviceID: id})
	return reg, nil
}

// deviceOpts applies opts and checks the labels they set.
func deviceOpts(userID string, opts []DeviceOption) (deviceOptions, error) {
	o := deviceOptions{accountName: userID}
	for _, opt := range opts {
		opt(&o)
	}
	if err := validateLabel("accountName", o.accountName, true); err != nil {
		return o, err
	}
	if o.alias != "" {
		if err := validateLabel("alias", o.alias, false); err != nil {
			return o, err
		}
	}
	return o, nil
}

// mayAddDevice checks that the user may add a device of type t: under the
// type's limit, and with a token for ActionCredentialLink when the user
// has a factor already, which it consumes. It returns the user's state as
// read for the check. The store checks the limit again when it adds the
// device.
func (m *MFA) mayAddDevice(ctx context.Context, userID string, t DeviceType, token string) (UserState, error) {
	st, err := m.store.LoadUser(ctx, userID, m.now())
	if err != nil {
		return st, m.storeErr(ctx, "load user", err)
	}
	n := 0
	for _, d := range st.Devices {
		if d.Verified && d.Type == t {
			n++
		}
	}
	if n >= m.limit(t) {
		msg := "" // the sentinel's, for the one device of the default
		if m.limit(t) > 1 {
			msg = fmt.Sprintf("user already has %d verified %s devices, the most allowed; delete one first", n, t)
		}
		return st, newError(ErrDeviceLimit, "", msg)
	}
	if !hasVerifiedDevice(st) {
		return st, nil
	}
	_, err = m.AuthorizeAction(ctx, userID, ActionCredentialLink, token)
	return st, err
}

// PendingRegistration returns the registration of the user's pending
// device again, e.g. to show its QR code after a page reload. It returns
// ErrNoDevice when the user has no pending device.
func (m *MFA) PendingRegistration(ctx context.Context, userID string) (*Registration, error) {
	if err := validateUserID(userID); err != nil {
		return nil, err
	}
	st, err := m.store.LoadUser(ctx, userID, m.now())
	if err != nil {
		return nil, m.storeErr(ctx, "load user", err)
	}
	for _, d := range st.Devices {
		if d.Verified || d.Type != DeviceTOTP {
			continue
		}
		secret, _, err := m.openSecret(d, new(secretBuf))
		if err != nil {
			return nil, err
		}
		defer clear(secret)
		return m.registration(d, secret)
	}
	return nil, newError(ErrNoDevice, "", "user has no pending device")
}

func (m *MFA) registration(d DeviceRecord, secret []byte) (*Registration, error) {
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
	p := m.deviceParams(d)
	return &Registration{
		DeviceID: d.ID,
		Digits:   p.digits,
		Secret:   b32,
		URI:      m.otpauthURI(d.AccountName, b32, p),
	}, nil
}

// otpauthURI returns the Key Uri Format URI of a TOTP device,
// otpauth://totp/Issuer:account?secret=...&issuer=...&algorithm=...&digits=...&period=...
//
// Issuer and account are percent-encoded (RFC 3986 §2.1) except for
// unreserved characters, with spaces as %20, which every app decodes,
// rather than "+", which some show literally. pquerna/otp's totp.Generate
// (v1.5.0) leaves '&', '+' and '=' unescaped in the query, so an issuer
// "Acme & Co" read back as "Acme " and "C++" as "C  ".
func (m *MFA) otpauthURI(accountName, secret string, p totpParams) string {
	esc := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	issuer := esc(m.issuer)
	return "otpauth://totp/" + issuer + ":" + esc(accountName) +
		"?secret=" + secret +
		"&issuer=" + issuer +
		"&algorithm=" + string(p.alg) +
		"&digits=" + strconv.Itoa(p.digits) +
		"&period=" + strconv.Itoa(int(p.period/time.Second))
}
