package mfa

import (
	"context"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DeviceType is the kind of an MFA device. mfakit supports TOTP devices.
type DeviceType string

// DeviceTOTP is a TOTP authenticator app (RFC 6238).
const DeviceTOTP DeviceType = "totp"

// Device is an MFA device as shown to its user. It never holds the secret.
type Device struct {
	ID         string     `json:"id"`
	UserID     string     `json:"-"`
	Alias      string     `json:"alias,omitempty"`
	Type       DeviceType `json:"type"`
	Verified   bool       `json:"verified"`
	Default    bool       `json:"default"`
	CreatedAt  time.Time  `json:"createdAt"`
	VerifiedAt *time.Time `json:"verifiedAt,omitempty"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
}

// Registration is what a user needs to add a new TOTP device to an
// authenticator app: the otpauth URI (shown as a QR code) or the secret
// for manual entry. It is returned once, by [MFA.AddDevice]; show it to
// the user and do not log or keep it. Its String method hides the secret.
type Registration struct {
	DeviceID string `json:"id"`
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

// DeviceOption sets an option of [MFA.AddDevice].
type DeviceOption func(*deviceOptions)

type deviceOptions struct {
	accountName string
	alias       string
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

// AuthenticateRequest is a TOTP code to check.
type AuthenticateRequest struct {
	// Code is the code from the app: Config.TOTP.Digits ASCII digits,
	// spaces ignored.
	Code string
	// DeviceID selects the device; by default the user's verified device,
	// or else its pending one.
	DeviceID string
	// CreateMFAToken, if set, issues an MFA token on success (action-based
	// MFA).
	CreateMFAToken *TokenRequest
}

// AuthResult is the outcome of a successful authentication.
type AuthResult struct {
	UserID string
	// Method is "totp" or "recovery_code".
	Method string
	// Device is the device used; nil for a recovery code.
	Device *Device
	// DeviceVerified is true when this code verified a pending device.
	DeviceVerified bool
	// MFAToken is the token requested with CreateMFAToken, else nil.
	MFAToken               *Token
	RecoveryCodesRemaining int
	// RecoveryCodesPending is true while the recovery codes wait for
	// [MFA.CompleteAcknowledgement].
	RecoveryCodesPending bool
}

// Authentication methods reported in AuthResult.Method and events.
const (
	MethodTOTP         = "totp"
	MethodRecoveryCode = "recovery_code"
)

// maxIDLen bounds device IDs accepted as input.
const maxIDLen = 64

// AddDevice starts enrolling a TOTP device for userID and returns its
// registration. The device is pending until [MFA.AuthenticateDevice]
// accepts its first code, and expires after TOTPConfig.PendingTTL; a
// pending device is never counted as a factor. A new AddDevice replaces a
// pending device, whose secret stops working. A user has at most one
// verified TOTP device: while it exists AddDevice returns ErrDeviceLimit.
func (m *MFA) AddDevice(ctx context.Context, userID string, opts ...DeviceOption) (*Registration, error) {
	if err := validateUserID(userID); err != nil {
		return nil, err
	}
	o := deviceOptions{accountName: userID}
	for _, opt := range opts {
		opt(&o)
	}
	if err := validateLabel("accountName", o.accountName, true); err != nil {
		return nil, err
	}
	if o.alias != "" {
		if err := validateLabel("alias", o.alias, false); err != nil {
			return nil, err
		}
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
	}
	reg, err := m.registration(id, o.accountName, secret)
	if err != nil {
		return nil, err
	}
	if err := m.store.InsertPendingDevice(ctx, rec); err != nil {
		return nil, storeError("add device", err)
	}
	m.emit(ctx, Event{Type: EventDeviceAdded, UserID: userID, DeviceID: id})
	return reg, nil
}

// PendingRegistration returns the registration of the user's pending
// device again, e.g. to show its QR code after a page reload. It returns
// ErrNoDevice when the user has no pending device.
func (m *MFA) PendingRegistration(ctx context.Context, userID string) (*Registration, error) {
	if err := validateUserID(userID); err != nil {
		return nil, err
	}
	st, err := m.loadUser(ctx, userID, m.now())
	if err != nil {
		return nil, storeError("load user", err)
	}
	for _, d := range st.Devices {
		if d.Verified {
			continue
		}
		secret, _, err := m.openSecret(d, new(secretBuf))
		if err != nil {
			return nil, err
		}
		defer clear(secret)
		return m.registration(d.ID, d.AccountName, secret)
	}
	return nil, newError(ErrNoDevice, "", "user has no pending device")
}

func (m *MFA) registration(deviceID, accountName string, secret []byte) (*Registration, error) {
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
	return &Registration{
		DeviceID: deviceID,
		Secret:   b32,
		URI:      m.otpauthURI(accountName, b32),
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
func (m *MFA) otpauthURI(accountName, secret string) string {
	esc := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	issuer := esc(m.issuer)
	return "otpauth://totp/" + issuer + ":" + esc(accountName) +
		"?secret=" + secret +
		"&issuer=" + issuer +
		"&algorithm=" + string(m.totp.Algorithm) +
		"&digits=" + strconv.Itoa(m.totp.Digits) +
		"&period=" + strconv.Itoa(int(m.totp.Period/time.Second))
}

// secretAAD binds a sealed TOTP secret to its user and device.
func secretAAD(userID, deviceID string) []byte {
	return appendSecretAAD(make([]byte, 0, secretAADLen(userID, deviceID)), userID, deviceID)
}

const secretAADPrefix = "mfakit/totp-secret\x00"

func secretAADLen(userID, deviceID string) int {
	return len(secretAADPrefix) + len(userID) + 1 + len(deviceID)
}

func appendSecretAAD(b []byte, userID, deviceID string) []byte {
	b = append(b, secretAADPrefix...)
	b = append(b, userID...)
	b = append(b, 0)
	return append(b, deviceID...)
}

// loadUser reads the user's state into a new UserState.
func (m *MFA) loadUser(ctx context.Context, userID string, now time.Time) (UserState, error) {
	var st UserState
	err := m.store.LoadUser(ctx, userID, now, &st)
	return st, err
}

// secretBuf is room for opening a sealed secret: the associated data and
// the plaintext.
type secretBuf [512]byte

// scratch is the working memory of one code check: the user's state as
// loaded, with room for the devices, and the opened secret. It is pooled,
// so that checking a code does not allocate, and cleared before it goes
// back, so that the pool holds neither secrets nor references to a user.
type scratch struct {
	st      UserState
	devices [2]DeviceRecord
	secret  secretBuf
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func getScratch() *scratch {
	s := scratchPool.Get().(*scratch)
	s.st.Devices = s.devices[:0]
	return s
}

func (s *scratch) put() {
	*s = scratch{}
	scratchPool.Put(s)
}

// openSecret decrypts a device's TOTP secret into buf, or into a new
// buffer when it does not fit. The caller clears the secret after use, and
// buf, which also holds the associated data, before reusing it.
func (m *MFA) openSecret(d DeviceRecord, buf *secretBuf) (secret []byte, primary bool, err error) {
	n := secretAADLen(d.UserID, d.ID)
	var b []byte
	if n+len(d.Secret) <= len(buf) {
		b = buf[: n : n+len(d.Secret)]
	} else {
		b = make([]byte, n, n+len(d.Secret))
	}
	aad := appendSecretAAD(b[:0], d.UserID, d.ID)
	secret, primary, err = m.keys.open(b[n:n], d.Secret, aad)
	if err != nil {
		return nil, false, err
	}
	return secret, primary, nil
}

// AuthenticateDevice checks a TOTP code (RFC 6238) of the user's device.
//
// The code may come from the current time step or Skew steps either side.
// A code is accepted once: the device remembers the last accepted step and
// refuses it and older ones with ErrCodeReused (RFC 6238 §5.2), atomically
// in the store. The first correct code of a pending device verifies it and
// creates the recovery codes, pending acknowledgement. Every attempt counts
// towards the lockout until it succeeds; while the user is locked even a
// correct code gets ErrRateLimited.
//
// Account-based MFA: a success is the second factor of a login; the caller
// drops [ScopeRequiresAdditionalAuth] from the session. Action-based MFA:
// set CreateMFAToken and pass the token to the protected action.
func (m *MFA) AuthenticateDevice(ctx context.Context, userID string, req AuthenticateRequest) (*AuthResult, error) {
	if err := validateUserID(userID); err != nil {
		return nil, err
	}
	code, ok := parseDigits(req.Code, m.totp.Digits)
	if !ok {
		return nil, invalidInput("code", fmt.Sprintf("code must be %d digits", m.totp.Digits))
	}
	if len(req.DeviceID) > maxIDLen {
		return nil, invalidInput("deviceId", "device ID is too long")
	}
	if err := m.checkTokenRequest(req.CreateMFAToken); err != nil {
		return nil, err
	}
	now := m.now()
	sc := getScratch()
	defer sc.put()
	st := &sc.st
	if err := m.store.LoadUser(ctx, userID, now, st); err != nil {
		return nil, storeError("load user", err)
	}
	d, err := pickDevice(st.Devices, req.DeviceID)
	if err != nil {
		m.decoyTOTP(ctx, userID, code, now, &sc.secret)
		return nil, err
	}
	if err := m.checkLock(ctx, userID, d.ID, MethodTOTP, st.Lockout, now); err != nil {
		return nil, err
	}
	secret, primary, err := m.openSecret(d, &sc.secret)
	if err != nil {
		return nil, err
	}
	defer clear(secret)
	step, found, fresh := m.matchStep(secret, code, now, d.LastStep)
	switch {
	case !found:
		return nil, m.failed(ctx, EventAuthFailed, userID, d.ID, MethodTOTP, st.Lockout, now, newError(ErrInvalidCode, "code", ""))
	case !fresh:
		return nil, m.failed(ctx, EventReplayRefused, userID, d.ID, MethodTOTP, st.Lockout, now, newError(ErrCodeReused, "code", ""))
	}

	tok, err := m.issueToken(ctx, userID, req.CreateMFAToken, now)
	if err != nil {
		return nil, err
	}
	var codes RecoveryCodeSet
	if !d.Verified {
		if codes, _, err = m.newRecoveryCodes(userID, now); err != nil {
			return nil, err
		}
	}
	err = m.succeed(ctx, userID, st.Lockout, now, func(lk Lockout) error {
		if d.Verified {
			return m.store.AcceptStep(ctx, userID, d.ID, step, now, lk)
		}
		return m.store.VerifyDevice(ctx, userID, d.ID, step, now, codes, lk)
	})
	if err != nil {
		m.discardToken(ctx, tok, now)
		if errors.Is(err, ErrCodeReused) {
			return nil, m.failed(ctx, EventReplayRefused, userID, d.ID, MethodTOTP, st.Lockout, now, err)
		}
		if errors.Is(err, ErrRateLimited) {
			m.emit(ctx, Event{Type: EventAuthFailed, UserID: userID, DeviceID: d.ID, Method: MethodTOTP, ErrorCode: ErrRateLimited.Code})
			return nil, err
		}
		return nil, storeError("accept code", err)
	}

	// One allocation for the result, its device and the device's times.
	out := &struct {
		AuthResult
		dev   Device
		times [2]time.Time
	}{}
	r := &out.AuthResult
	r.UserID, r.Method, r.MFAToken = userID, MethodTOTP, tok
	d.LastStep, d.LastUsedAt = step, now
	if d.Verified {
		r.RecoveryCodesRemaining = len(st.RecoveryCodes.Hashes)
		r.RecoveryCodesPending = m.revealable(st.RecoveryCodes, now)
	} else {
		d.Verified, d.VerifiedAt, d.ExpiresAt = true, now, time.Time{}
		r.DeviceVerified = true
		r.RecoveryCodesRemaining = len(codes.Hashes)
		r.RecoveryCodesPending = true
		m.emit(ctx, Event{Type: EventDeviceVerified, UserID: userID, DeviceID: d.ID})
	}
	out.dev = deviceFromRecord(d, &out.times)
	r.Device = &out.dev
	if !primary {
		m.reseal(ctx, d, secret)
	}
	m.emit(ctx, Event{Type: EventAuthSucceeded, UserID: userID, DeviceID: d.ID, Method: MethodTOTP, Remaining: r.RecoveryCodesRemaining})
	return r, nil
}

// pickDevice chooses the device to check: the one named, or the verified
// one, or the pending one.
func pickDevice(devices []DeviceRecord, id string) (DeviceRecord, error) {
	if id != "" {
		for _, d := range devices {
			if d.ID == id {
				return d, nil
			}
		}
		return DeviceRecord{}, newError(ErrDeviceNotFound, "deviceId", "")
	}
	pending := -1
	for i, d := range devices {
		if d.Verified {
			return d, nil
		}
		pending = i
	}
	if pending < 0 {
		return DeviceRecord{}, newError(ErrNoDevice, "", "")
	}
	return devices[pending], nil
}

// matchStep looks for code in the steps around now. It computes every
// step of the window whatever matches, so that the time taken does not
// depend on the code. found reports a match; step is the latest step the
// code matches, and fresh reports that it is newer than lastStep, i.e. not
// a replay (RFC 6238 §5.2). Taking the latest step matters when a code
// happens to match two steps of the window: accepting the earlier one
// would leave the later one open for a second use of the same code.
func (m *MFA) matchStep(secret []byte, code uint32, now time.Time, lastStep int64) (step int64, found, fresh bool) {
	cur := now.Unix() / int64(m.totp.Period/time.Second)
	skew := int64(m.totp.Skew)
	var buf [2*maxSkew + 1]uint32
	values := buf[:2*skew+1]
	hotpRange(m.totp.Algorithm, secret, uint64(cur-skew), values, m.totp.Digits)
	for i, v := range values {
		if subtle.ConstantTimeEq(int32(v), int32(code)) != 1 {
			continue
		}
		step, found = cur-skew+int64(i), true
	}
	return step, found, found && step > lastStep
}

// reseal re-encrypts a device secret that an older key sealed with the
// primary key. A failure leaves the old ciphertext, which still opens, and
// is reported as an event: it does not undo the authentication.
func (m *MFA) reseal(ctx context.Context, d DeviceRecord, secret []byte) {
	err := m.store.UpdateDeviceSecret(ctx, d.UserID, d.ID, m.keys.seal(secret, secretAAD(d.UserID, d.ID)))
	m.emit(ctx, Event{Type: EventDeviceReencrypted, UserID: d.UserID, DeviceID: d.ID, KeyID: m.keys.PrimaryID(), ErrorCode: ErrorCode(storeError("re-encrypt", err))})
}

// ReencryptUser re-encrypts every device secret of the user that is not
// sealed with the primary key, and returns how many it re-encrypted. Run
// it over all users after adding a new primary key; see [Keyring].
func (m *MFA) ReencryptUser(ctx context.Context, userID string) (int, error) {
	if err := validateUserID(userID); err != nil {
		return 0, err
	}
	st, err := m.loadUser(ctx, userID, m.now())
	if err != nil {
		return 0, storeError("load user", err)
	}
	n := 0
	for _, d := range st.Devices {
		secret, primary, err := m.openSecret(d, new(secretBuf))
		if err != nil {
			return n, err
		}
		if !primary {
			err := storeError("re-encrypt", m.store.UpdateDeviceSecret(ctx, userID, d.ID, m.keys.seal(secret, secretAAD(d.UserID, d.ID))))
			if err != nil {
				clear(secret)
				return n, err
			}
			n++
			m.emit(ctx, Event{Type: EventDeviceReencrypted, UserID: userID, DeviceID: d.ID, KeyID: m.keys.PrimaryID()})
		}
		clear(secret)
	}
	return n, nil
}

// GetUserDevices returns the user's devices: the verified one and a
// pending one, if any. A user without devices gets an empty slice.
func (m *MFA) GetUserDevices(ctx context.Context, userID string) ([]Device, error) {
	if err := validateUserID(userID); err != nil {
		return nil, err
	}
	st, err := m.loadUser(ctx, userID, m.now())
	if err != nil {
		return nil, storeError("load user", err)
	}
	out := make([]Device, 0, len(st.Devices))
	for _, d := range st.Devices {
		out = append(out, deviceFromRecord(d, new([2]time.Time)))
	}
	return out, nil
}

// deviceFromRecord returns d as a Device whose VerifiedAt and LastUsedAt
// point into times.
func deviceFromRecord(d DeviceRecord, times *[2]time.Time) Device {
	dev := Device{
		ID:        d.ID,
		UserID:    d.UserID,
		Alias:     d.Alias,
		Type:      d.Type,
		Verified:  d.Verified,
		Default:   d.Verified,
		CreatedAt: d.CreatedAt,
	}
	if !d.VerifiedAt.IsZero() {
		times[0] = d.VerifiedAt
		dev.VerifiedAt = &times[0]
	}
	if !d.LastUsedAt.IsZero() {
		times[1] = d.LastUsedAt
		dev.LastUsedAt = &times[1]
	}
	return dev
}

// ScopeCredentialUnlink is the token scope that [MFA.DeleteDevice] needs
// (an unscoped token also serves): the scope of the built-in action
// [ActionCredentialUnlink].
const ScopeCredentialUnlink = "credential:unlink"

// DeleteDevice deletes one of the user's devices. It needs an MFA token
// for the built-in action [ActionCredentialUnlink] (scope
// "credential:unlink", or no scope), which it consumes, as
// [MFA.AuthorizeAction] does: ErrTokenRequired when mfaToken is empty.
// Deleting a device revokes all of the user's MFA tokens, so that no token
// outlives the factor that issued it, and deleting the verified device
// also deletes the recovery codes, which stand in for it. A pending device
// needs a token too, so that one verified between the check and the delete
// cannot slip through; it expires by itself and is replaced by the next
// [MFA.AddDevice] anyway. The token is consumed before the delete: if the
// store then fails, the device stays and the user needs a new token, never
// the other way round.
func (m *MFA) DeleteDevice(ctx context.Context, userID, deviceID, mfaToken string) error {
	if err := m.findDevice(ctx, userID, deviceID); err != nil {
		return err
	}
	if _, err := m.AuthorizeAction(ctx, userID, ActionCredentialUnlink, mfaToken); err != nil {
		return err
	}
	return m.deleteDevice(ctx, userID, deviceID, EventDeviceDeleted)
}

// findDevice checks the arguments of a device deletion and that the user
// has the device.
func (m *MFA) findDevice(ctx context.Context, userID, deviceID string) error {
	if err := validateUserID(userID); err != nil {
		return err
	}
	if deviceID == "" || len(deviceID) > maxIDLen {
		return invalidInput("deviceId", "device ID is required and at most 64 bytes")
	}
	st, err := m.loadUser(ctx, userID, m.now())
	if err != nil {
		return storeError("load user", err)
	}
	_, err = pickDevice(st.Devices, deviceID)
	return err
}

// deleteDevice removes the device, and with it the user's MFA tokens, and
// reports it with an event of type typ and EventTokensRevoked.
func (m *MFA) deleteDevice(ctx context.Context, userID, deviceID string, typ EventType) error {
	if err := m.store.DeleteDevice(ctx, userID, deviceID); err != nil {
		return storeError("delete device", err)
	}
	m.emit(ctx, Event{Type: typ, UserID: userID, DeviceID: deviceID})
	m.emit(ctx, Event{Type: EventTokensRevoked, UserID: userID, DeviceID: deviceID})
	return nil
}
