package mfa

import (
	"context"
	"log/slog"
)

// reseal re-encrypts a device secret that an older key sealed with the
// primary key. A failure leaves the old ciphertext, which still opens, and
// is reported as an event: it does not undo the authentication.
func (m *MFA) reseal(ctx context.Context, d DeviceRecord, secret []byte) {
	err := m.storeErr(ctx, "re-encrypt", m.store.UpdateDeviceSecret(ctx, d.UserID, d.ID, m.keys.seal(secret, secretAAD(d.UserID, d.ID))))
	if err != nil {
		m.log.WarnContext(ctx, "mfa: a device secret stays sealed with an older key, which still opens it", deviceAttrs(d)...)
	} else {
		m.logResealed(ctx, d)
	}
	m.emit(ctx, Event{Type: EventDeviceReencrypted, UserID: d.UserID, DeviceID: d.ID, KeyID: m.keys.PrimaryID(), ErrorCode: ErrorCode(err)})
}

func (m *MFA) logResealed(ctx context.Context, d DeviceRecord) {
	m.log.InfoContext(ctx, "mfa: device secret re-encrypted with the primary key", append(deviceAttrs(d), slog.String("keyId", m.keys.PrimaryID()))...)
}

// deviceAttrs are the log attributes of a device: its user and ID.
func deviceAttrs(d DeviceRecord) []any {
	return []any{slog.String("userId", d.UserID), slog.String("deviceId", d.ID)}
}

// ReencryptUser re-encrypts every device secret of the user that is not
// sealed with the primary key, and returns how many it re-encrypted. Run
// it over all users after adding a new primary key; see [Keyring].
func (m *MFA) ReencryptUser(ctx context.Context, userID string) (int, error) {
	if err := validateUserID(userID); err != nil {
		return 0, err
	}
	st, err := m.store.LoadUser(ctx, userID, m.now())
	if err != nil {
		return 0, m.storeErr(ctx, "load user", err)
	}
	n := 0
	for _, d := range st.Devices {
		if d.Type != DeviceTOTP {
			continue // a passkey keeps no secret; a ceremony lives minutes
		}
		secret, primary, err := m.openSecret(d, new(secretBuf))
		if err != nil {
			return n, err
		}
		if !primary {
			err := m.storeErr(ctx, "re-encrypt", m.store.UpdateDeviceSecret(ctx, userID, d.ID, m.keys.seal(secret, secretAAD(d.UserID, d.ID))))
			if err != nil {
				clear(secret)
				return n, err
			}
			n++
			m.logResealed(ctx, d)
			m.emit(ctx, Event{Type: EventDeviceReencrypted, UserID: userID, DeviceID: d.ID, KeyID: m.keys.PrimaryID()})
		}
		clear(secret)
	}
	return n, nil
}
