package mfa

import "context"

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
	st, err := m.store.LoadUser(ctx, userID, m.now())
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
