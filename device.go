package mfa

import (
	"context"
	"time"
)

// DeviceType is the kind of an MFA device. mfakit supports TOTP devices.
type DeviceType string

// The device types.
const (
	// DeviceTOTP is a TOTP authenticator app (RFC 6238).
	DeviceTOTP DeviceType = "totp"
	// DevicePasskey is a passkey (WebAuthn) used as a second factor.
	DevicePasskey DeviceType = "passkey"
)

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
	// Digits is the length of a TOTP device's codes, for a UI to size its
	// input; 0 for a passkey.
	Digits int `json:"digits,omitempty"`
}

// maxIDLen bounds device IDs accepted as input.
const maxIDLen = 64

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

// GetUserDevices returns the user's devices: the verified ones and a
// pending one, if any. A user without devices gets an empty slice. One
// verified device is the default ([MFA.SetDefaultDevice]).
func (m *MFA) GetUserDevices(ctx context.Context, userID string) ([]Device, error) {
	if err := validateUserID(userID); err != nil {
		return nil, err
	}
	st, err := m.store.LoadUser(ctx, userID, m.now())
	if err != nil {
		return nil, m.storeErr(ctx, "load user", err)
	}
	out := make([]Device, 0, len(st.Devices))
	def := defaultDevice(st.Devices)
	for _, d := range st.Devices {
		out = append(out, m.device(d, d.ID == def, new([2]time.Time)))
	}
	return out, nil
}

// defaultDevice returns the ID of the user's default device: the verified
// one the user chose, else the first verified one; "" when none is
// verified.
func defaultDevice(devices []DeviceRecord) string {
	first := ""
	for _, d := range devices {
		switch {
		case !d.Verified:
		case d.Default:
			return d.ID
		case first == "":
			first = d.ID
		}
	}
	return first
}

// device returns d as a Device whose VerifiedAt and LastUsedAt point into
// times.
func (m *MFA) device(d DeviceRecord, isDefault bool, times *[2]time.Time) Device {
	dev := Device{
		ID:        d.ID,
		UserID:    d.UserID,
		Alias:     d.Alias,
		Type:      d.Type,
		Verified:  d.Verified,
		Default:   isDefault,
		CreatedAt: d.CreatedAt,
	}
	if d.Type == DeviceTOTP {
		dev.Digits = m.deviceParams(d).digits
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

// SetDefaultDevice makes one of the user's verified devices the default:
// the one a UI asks for first when the user has several (the hosted SDK's
// setDefaultMfaDevice). ErrDeviceNotFound when the user has no verified
// device with that ID. It emits EventDeviceDefaultSet.
func (m *MFA) SetDefaultDevice(ctx context.Context, userID, deviceID string) error {
	if err := validateUserID(userID); err != nil {
		return err
	}
	if deviceID == "" || len(deviceID) > maxIDLen {
		return invalidInput("deviceId", "device ID is required and at most 64 bytes")
	}
	if err := m.store.SetDefaultDevice(ctx, userID, deviceID); err != nil {
		return m.storeErr(ctx, "set default device", err)
	}
	m.emit(ctx, Event{Type: EventDeviceDefaultSet, UserID: userID, DeviceID: deviceID})
	return nil
}

// GetMFAMethods returns the ways the user can give a second factor now,
// in this order: MethodTOTP for a verified authenticator app,
// MethodPasskey for a verified passkey, MethodRecoveryCode for unused
// recovery codes (the hosted SDK's getMfaMethods). None for a user who
// has not enrolled.
func (m *MFA) GetMFAMethods(ctx context.Context, userID string) ([]Method, error) {
	if err := validateUserID(userID); err != nil {
		return nil, err
	}
	st, err := m.store.LoadUser(ctx, userID, m.now())
	if err != nil {
		return nil, m.storeErr(ctx, "load user", err)
	}
	var totp, passkey bool
	for _, d := range st.Devices {
		totp = totp || d.Verified && d.Type == DeviceTOTP
		passkey = passkey || d.Verified && d.Type == DevicePasskey
	}
	methods := []Method{}
	if totp {
		methods = append(methods, MethodTOTP)
	}
	if passkey {
		methods = append(methods, MethodPasskey)
	}
	if (totp || passkey) && len(st.RecoveryCodes.Hashes) > 0 {
		methods = append(methods, MethodRecoveryCode)
	}
	return methods, nil
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
	st, err := m.store.LoadUser(ctx, userID, m.now())
	if err != nil {
		return m.storeErr(ctx, "load user", err)
	}
	_, err = pickDevice(st.Devices, deviceID)
	return err
}

// deleteDevice removes the device, and with it the user's MFA tokens, and
// reports it with an event of type typ and EventTokensRevoked.
func (m *MFA) deleteDevice(ctx context.Context, userID, deviceID string, typ EventType) error {
	if err := m.store.DeleteDevice(ctx, userID, deviceID); err != nil {
		return m.storeErr(ctx, "delete device", err)
	}
	m.emit(ctx, Event{Type: typ, UserID: userID, DeviceID: deviceID})
	m.emit(ctx, Event{Type: EventTokensRevoked, UserID: userID, DeviceID: deviceID})
	return nil
}
