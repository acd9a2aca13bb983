package mfa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"time"
)

// PasskeyTTL is how long a passkey ceremony, registration or
// authentication, may take from its Begin to its Finish, by Config.Now: the
// browser's five minutes to let the user answer, and a margin.
const PasskeyTTL = 10 * time.Minute

// maxPasskeyResponse bounds a browser's answer to a ceremony. A
// registration with a certificate chain in its attestation is a few
// kilobytes.
const maxPasskeyResponse = 64 << 10

// userHandleSize is the size of the random user handle mfakit makes for a
// user's first passkey.
const userHandleSize = 32

// PasskeyRegistration is a passkey registration in progress.
type PasskeyRegistration struct {
	// DeviceID is the ID of the pending passkey device.
	DeviceID string `json:"deviceId"`
	// Options are for navigator.credentials.create: {"publicKey": {...}}.
	Options json.RawMessage `json:"options"`
}

// String describes r without its options, which hold the challenge.
func (r PasskeyRegistration) String() string {
	return "mfa.PasskeyRegistration{DeviceID: " + r.DeviceID + ", Options: [redacted]}"
}

// GoString is like String.
func (r PasskeyRegistration) GoString() string { return r.String() }

// LogValue implements slog.LogValuer with the device ID only.
func (r PasskeyRegistration) LogValue() slog.Value { return slog.StringValue(r.String()) }

// PasskeyRequest is a browser's answer to BeginPasskeyAuthentication.
type PasskeyRequest struct {
	// Response is the JSON of the PublicKeyCredential that
	// navigator.credentials.get resolved to (its toJSON()).
	Response json.RawMessage
	// CreateMFAToken, if set, issues an MFA token on success (action-based
	// MFA).
	CreateMFAToken *TokenRequest
}

// PasskeysEnabled reports whether Config.Passkeys is set, e.g. for a UI
// that offers passkeys only then.
func (m *MFA) PasskeysEnabled() bool { return m.passkeys != nil }

// passkeyVerifier returns Config.Passkeys, or an error when passkeys are
// off.
func (m *MFA) passkeyVerifier() (PasskeyVerifier, error) {
	if m.passkeys == nil {
		return nil, invalidConfig("Passkeys", "passkeys are off: Config.Passkeys is nil")
	}
	return m.passkeys, nil
}

// passkeyAAD binds a sealed ceremony to its user and to what it is for:
// "device:" and the ID of the pending device it registers, or "login".
func passkeyAAD(userID, id string) []byte {
	b := make([]byte, 0, len("mfakit/passkey-session\x00")+len(userID)+1+len(id))
	b = append(b, "mfakit/passkey-session\x00"...)
	b = append(b, userID...)
	b = append(b, 0)
	return append(b, id...)
}

// sealCeremony seals a ceremony's session with the user handle it was made
// for and whether a registration was begun as the user's first factor:
// that flag in one byte, the handle's length in one byte, the handle, the
// session.
func (m *MFA) sealCeremony(userID, id string, first bool, handle, session []byte) []byte {
	b := make([]byte, 0, 2+len(handle)+len(session))
	if first {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = append(b, byte(len(handle)))
	b = append(b, handle...)
	b = append(b, session...)
	return m.keys.seal(b, passkeyAAD(userID, id))
}

func (m *MFA) openCeremony(userID, id string, sealed []byte) (first bool, handle, session []byte, err error) {
	b, _, err := m.keys.open(nil, sealed, passkeyAAD(userID, id))
	if err != nil {
		return false, nil, nil, err
	}
	if len(b) < 2 || int(b[1]) > len(b)-2 {
		return false, nil, nil, keyError("passkey ceremony is malformed", nil)
	}
	return b[0] == 1, b[2 : 2+int(b[1])], b[2+int(b[1]):], nil
}

// passkeyCredentials returns the credentials of the user's verified
// passkeys and the user handle they were registered with.
func passkeyCredentials(devices []DeviceRecord) (creds []PasskeyCredential, handle []byte) {
	for _, d := range devices {
		if d.Verified && d.Type == DevicePasskey && d.Passkey != nil {
			creds = append(creds, *d.Passkey)
			if handle == nil {
				handle = d.Passkey.UserHandle
			}
		}
	}
	return creds, handle
}

// checkPasskeyResponse refuses a response that no browser sends.
func checkPasskeyResponse(resp json.RawMessage) error {
	switch {
	case len(resp) == 0:
		return invalidInput("response", "the browser's response is required")
	case len(resp) > maxPasskeyResponse:
		return invalidInput("response", "the browser's response is too large")
	case !json.Valid(resp):
		return invalidInput("response", "the browser's response is not JSON")
	}
	return nil
}

// refused reports a refusal of the verifier as ErrPasskeyRefused. Its
// reason is the verifier's, which names what failed (an origin, a
// challenge mismatch) and never carries key material.
func refused(err error) error {
	return &Error{Code: ErrPasskeyRefused.Code, Message: ErrPasskeyRefused.Message, Field: "response", kind: ErrPasskeyRefused, cause: err}
}

// BeginPasskeyRegistration starts registering a passkey for userID and
// returns the options for navigator.credentials.create. The passkey is a
// pending device until FinishPasskeyRegistration, within PasskeyTTL; as
// with AddDevice, it replaces any other pending device, the user has at
// most Config.Devices.Passkey passkeys, and adding a factor for a user who
// already has one needs an MFA token for [ActionCredentialLink], given
// with [WithMFAToken] and consumed. WithAccountName sets the name the
// browser shows for the passkey (the user ID by default); WithAlias names
// the device. The user's passkeys are excluded, so an authenticator is not
// registered twice. It returns ErrInvalidConfig when Config.Passkeys is
// nil.
func (m *MFA) BeginPasskeyRegistration(ctx context.Context, userID string, opts ...DeviceOption) (*PasskeyRegistration, error) {
	pv, err := m.passkeyVerifier()
	if err != nil {
		return nil, err
	}
	if err := validateUserID(userID); err != nil {
		return nil, err
	}
	o, err := deviceOpts(userID, opts)
	if err != nil {
		return nil, err
	}
	st, err := m.mayAddDevice(ctx, userID, DevicePasskey, o.mfaToken)
	if err != nil {
		return nil, err
	}
	creds, handle := passkeyCredentials(st.Devices)
	if handle == nil {
		handle = make([]byte, userHandleSize)
		if _, err := io.ReadFull(m.rand, handle); err != nil {
			return nil, keyError("cannot read random bytes", err)
		}
	}
	options, session, err := pv.BeginRegistration(PasskeyUser{ID: handle, Name: o.accountName}, creds)
	if err != nil {
		return nil, &Error{Code: ErrInvalidInput.Code, Message: "cannot start a passkey registration", kind: ErrInvalidInput, cause: err}
	}
	id, err := m.newID()
	if err != nil {
		return nil, err
	}
	now := m.now()
	rec := DeviceRecord{
		ID:          id,
		UserID:      userID,
		Type:        DevicePasskey,
		Alias:       o.alias,
		AccountName: o.accountName,
		Secret:      m.sealCeremony(userID, "device:"+id, !hasVerifiedDevice(st), handle, session),
		CreatedAt:   now,
		ExpiresAt:   now.Add(PasskeyTTL),
	}
	if err := m.store.InsertPendingDevice(ctx, rec, m.limit(DevicePasskey)); err != nil {
		return nil, m.storeErr(ctx, "add passkey", err)
	}
	m.emit(ctx, Event{Type: EventDeviceAdded, UserID: userID, DeviceID: id})
	return &PasskeyRegistration{DeviceID: id, Options: options}, nil
}

// FinishPasskeyRegistration checks the browser's answer to the user's
// registration in progress (the JSON of the PublicKeyCredential that
// navigator.credentials.create resolved to) and makes the passkey a
// verified device. The ceremony is used once: of concurrent finishes one
// succeeds, the others get ErrChallengeInvalid, as does a finish after
// PasskeyTTL or without a registration in progress. A response the
// verifier refuses gets ErrPasskeyRefused and leaves the registration in
// progress; a passkey registered already, to this user or another, gets
// ErrPasskeyRegistered. The user's first factor brings the recovery codes,
// pending acknowledgement, as a first TOTP code does.
func (m *MFA) FinishPasskeyRegistration(ctx context.Context, userID string, response json.RawMessage) (*Device, error) {
	pv, err := m.passkeyVerifier()
	if err != nil {
		return nil, err
	}
	if err := validateUserID(userID); err != nil {
		return nil, err
	}
	if err := checkPasskeyResponse(response); err != nil {
		return nil, err
	}
	now := m.now()
	st, err := m.store.LoadUser(ctx, userID, now)
	if err != nil {
		return nil, m.storeErr(ctx, "load user", err)
	}
	var d DeviceRecord
	for _, c := range st.Devices {
		if !c.Verified && c.Type == DevicePasskey {
			d = c
		}
	}
	if d.ID == "" {
		return nil, newError(ErrChallengeInvalid, "", "no passkey registration in progress, or it expired; start again")
	}
	a := &attempt{userID: userID, deviceID: d.ID, method: MethodPasskey, lk: st.Lockout, now: now}
	if err := m.checkLock(ctx, a); err != nil {
		return nil, err
	}
	began1st, handle, session, err := m.openCeremony(userID, "device:"+d.ID, d.Secret)
	if err != nil {
		return nil, err
	}
	firstFactor := !hasVerifiedDevice(st)
	if began1st && !firstFactor {
		// Begun without a credential:link token as the user's first factor,
		// while another factor was verified meanwhile: the token is due.
		// (An import removes the registration, so the store refuses one
		// that lands between this check and VerifyPasskey.)
		return nil, newError(ErrTokenRequired, "", "the user has a factor now: start again with an MFA token for credential:link")
	}
	cred, err := pv.FinishRegistration(PasskeyUser{ID: handle, Name: d.AccountName}, session, response)
	if err != nil {
		err = refused(err)
		m.emit(ctx, a.event(EventAuthFailed, err))
		return nil, err
	}
	cred.UserHandle = handle
	var codes RecoveryCodeSet
	if firstFactor {
		if codes, _, err = m.newRecoveryCodes(userID, now); err != nil {
			return nil, err
		}
	}
	_, err = m.succeed(ctx, userID, a.lk, now, func(lk Lockout) error {
		return m.store.VerifyPasskey(ctx, userID, d.ID, cred, now, codes, lk, m.limit(DevicePasskey))
	})
	switch {
	case errors.Is(err, ErrCodeReused), errors.Is(err, ErrDeviceNotFound):
		return nil, newError(ErrChallengeInvalid, "", "this passkey registration was finished already, or it expired; start again")
	case err != nil:
		return nil, m.storeErr(ctx, "verify passkey", err)
	}
	d.Verified, d.VerifiedAt, d.ExpiresAt, d.Secret, d.Passkey = true, now, time.Time{}, nil, &cred
	m.emit(ctx, Event{Type: EventDeviceVerified, UserID: userID, DeviceID: d.ID})
	var times [2]time.Time
	dev := m.device(d, firstFactor || defaultDevice(st.Devices) == d.ID, &times)
	return &dev, nil
}

// BeginPasskeyAuthentication starts a passkey authentication for userID
// and returns the options for navigator.credentials.get, offering the
// user's passkeys. It replaces the user's authentication in progress, if
// any; AuthenticatePasskey must follow within PasskeyTTL. ErrNoDevice when
// the user has no passkey; ErrInvalidConfig when Config.Passkeys is nil.
func (m *MFA) BeginPasskeyAuthentication(ctx context.Context, userID string) (json.RawMessage, error) {
	pv, err := m.passkeyVerifier()
	if err != nil {
		return nil, err
	}
	if err := validateUserID(userID); err != nil {
		return nil, err
	}
	now := m.now()
	st, err := m.store.LoadUser(ctx, userID, now)
	if err != nil {
		return nil, m.storeErr(ctx, "load user", err)
	}
	creds, handle := passkeyCredentials(st.Devices)
	if len(creds) == 0 {
		return nil, newError(ErrNoDevice, "", "user has no passkey")
	}
	options, session, err := pv.BeginLogin(PasskeyUser{ID: handle, Name: userID}, creds)
	if err != nil {
		return nil, &Error{Code: ErrInvalidInput.Code, Message: "cannot start a passkey authentication", kind: ErrInvalidInput, cause: err}
	}
	c := ChallengeRecord{UserID: userID, Sealed: m.sealCeremony(userID, "login", false, handle, session), CreatedAt: now, ExpiresAt: now.Add(PasskeyTTL)}
	if err := m.store.PutChallenge(ctx, c); err != nil {
		return nil, m.storeErr(ctx, "put challenge", err)
	}
	return options, nil
}

// AuthenticatePasskey checks the browser's answer to the user's
// authentication in progress, the second factor of a login or a step-up
// as AuthenticateDevice is for a TOTP code, and issues the MFA token that
// CreateMFAToken asks for.
//
// The challenge is used once, whatever the outcome: of concurrent
// attempts one gets it, the others ErrChallengeInvalid, as does an attempt
// after PasskeyTTL or without an authentication in progress. The
// authenticator's signature counter must grow, unless it keeps none
// (WebAuthn §6.1.1): it is checked and advanced atomically in the store, and
// a counter that does not grow, the mark of a cloned authenticator or a
// replayed assertion, gets ErrPasskeyRefused and emits
// EventPasskeyCounterRefused. A refused assertion counts towards the
// lockout as a wrong code does; while the user is locked even a valid one
// gets ErrRateLimited.
func (m *MFA) AuthenticatePasskey(ctx context.Context, userID string, req PasskeyRequest) (*AuthResult, error) {
	pv, err := m.passkeyVerifier()
	if err != nil {
		return nil, err
	}
	if err := validateUserID(userID); err != nil {
		return nil, err
	}
	if err := checkPasskeyResponse(req.Response); err != nil {
		return nil, err
	}
	if err := m.checkTokenRequest(req.CreateMFAToken); err != nil {
		return nil, err
	}
	now := m.now()
	st, err := m.store.LoadUser(ctx, userID, now)
	if err != nil {
		return nil, m.storeErr(ctx, "load user", err)
	}
	a := &attempt{userID: userID, method: MethodPasskey, lk: st.Lockout, now: now}
	if err := m.checkLock(ctx, a); err != nil {
		return nil, err
	}
	c, err := m.store.TakeChallenge(ctx, userID, now)
	if errors.Is(err, ErrChallengeInvalid) {
		return nil, newError(ErrChallengeInvalid, "", "")
	}
	if err != nil {
		return nil, m.storeErr(ctx, "take challenge", err)
	}
	_, handle, session, err := m.openCeremony(userID, "login", c.Sealed)
	if err != nil {
		return nil, err
	}
	creds, _ := passkeyCredentials(st.Devices)
	as, err := pv.FinishLogin(PasskeyUser{ID: handle, Name: userID}, session, creds, req.Response)
	if err != nil {
		return nil, m.failed(ctx, EventAuthFailed, a, refused(err))
	}
	var d DeviceRecord
	for _, dev := range st.Devices {
		if dev.Type == DevicePasskey && dev.Passkey != nil && bytes.Equal(dev.Passkey.ID, as.CredentialID) {
			d = dev
		}
	}
	if d.ID == "" {
		// The verifier answered for a credential it was not given.
		return nil, m.failed(ctx, EventAuthFailed, a, refused(errors.New("unknown credential")))
	}
	a.deviceID = d.ID
	tok, err := m.accept(ctx, a, req.CreateMFAToken, func(lk Lockout) error {
		return m.store.AcceptPasskey(ctx, userID, d.ID, as.SignCount, as.BackupState, now, lk)
	})
	if err != nil {
		return nil, err
	}
	cred := *d.Passkey
	cred.SignCount, cred.BackupState = as.SignCount, as.BackupState
	d.Passkey, d.LastUsedAt = &cred, now
	out := &struct {
		AuthResult
		dev   Device
		times [2]time.Time
	}{}
	r := &out.AuthResult
	r.UserID, r.Method, r.MFAToken = userID, MethodPasskey, tok
	r.RecoveryCodesRemaining = len(st.RecoveryCodes.Hashes)
	r.RecoveryCodesPending = m.revealable(st.RecoveryCodes, now)
	out.dev = m.device(d, defaultDevice(st.Devices) == d.ID, &out.times)
	r.Device = &out.dev
	m.emit(ctx, Event{Type: EventAuthSucceeded, UserID: userID, DeviceID: d.ID, Method: MethodPasskey, Remaining: r.RecoveryCodesRemaining})
	return r, nil
}
