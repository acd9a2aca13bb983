package mfa

import (
	"context"
	"crypto/fips140"
	"crypto/subtle"
	"fmt"
	"sync"
	"time"
)

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
	// Method is MethodTOTP or MethodRecoveryCode.
	Method Method
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

// Method is how a user authenticated, in AuthResult.Method and events.
type Method string

// The authentication methods.
const (
	MethodTOTP         Method = "totp"
	MethodRecoveryCode Method = "recovery_code"
	MethodPasskey      Method = "passkey"
)

// secretBuf is room for opening a sealed secret: the associated data and
// the plaintext.
type secretBuf [512]byte

// secretBufs pools the buffers a code check opens a secret into, so that
// it does not allocate one; putSecretBuf clears a buffer before it goes
// back, so that the pool holds no secret.
var secretBufs = sync.Pool{New: func() any { return new(secretBuf) }}

func getSecretBuf() *secretBuf { return secretBufs.Get().(*secretBuf) }

func putSecretBuf(b *secretBuf) {
	clear(b[:])
	secretBufs.Put(b)
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
	if !codeDigits(req.Code) {
		return nil, invalidInput("code", "code must be 6 or 8 digits")
	}
	if len(req.DeviceID) > maxIDLen {
		return nil, invalidInput("deviceId", "device ID is too long")
	}
	if err := m.checkTokenRequest(req.CreateMFAToken); err != nil {
		return nil, err
	}
	now := m.now()
	st, err := m.store.LoadUser(ctx, userID, now)
	if err != nil {
		return nil, m.storeErr(ctx, "load user", err)
	}
	buf := getSecretBuf()
	defer putSecretBuf(buf)
	// The candidates are indices into st.Devices, held on the stack for
	// the few devices a user has.
	var idx [4]int
	cand, err := totpCandidates(idx[:0], st.Devices, req.DeviceID)
	if err != nil {
		code, _ := parseDigits(req.Code, m.totp.Digits)
		m.decoyTOTP(ctx, userID, code, now, buf)
		return nil, err
	}
	// A code's length is its device's: keep the devices it fits.
	fit := cand[:0]
	for _, i := range cand {
		if _, ok := parseDigits(req.Code, m.deviceParams(st.Devices[i]).digits); ok {
			fit = append(fit, i)
		}
	}
	if len(fit) == 0 {
		return nil, invalidInput("code", fmt.Sprintf("code must be %d digits", m.deviceParams(st.Devices[cand[0]]).digits))
	}
	for _, i := range fit {
		if m.deviceParams(st.Devices[i]).alg == SHA1 && fips140.Enforced() {
			return nil, newError(ErrInvalidConfig, "TOTP.Algorithm", "this device uses SHA1, which FIPS 140-3 mode (GODEBUG=fips140=only) does not allow: the user must enrol a new device")
		}
	}
	a := &attempt{userID: userID, deviceID: st.Devices[fit[0]].ID, method: MethodTOTP, lk: st.Lockout, now: now}
	if err := m.checkLock(ctx, a); err != nil {
		return nil, err
	}
	// Check the code against every device it fits, whatever matches, and
	// take a device where it is fresh before one where it is a replay.
	var (
		d                     DeviceRecord
		step                  int64
		found, fresh, primary bool
	)
	for _, i := range fit {
		c := st.Devices[i]
		s, ok, f, pr, err := m.checkDevice(c, req.Code, now, buf)
		if err != nil {
			return nil, err
		}
		if ok && (!found || f && !fresh) {
			d, step, found, fresh, primary = c, s, true, f, pr
		}
	}
	if found {
		a.deviceID = d.ID
	}
	switch {
	case !found:
		return nil, m.failed(ctx, EventAuthFailed, a, newError(ErrInvalidCode, "code", ""))
	case !fresh:
		return nil, m.failed(ctx, EventReplayRefused, a, newError(ErrCodeReused, "code", ""))
	}

	// The first factor of a user brings the recovery codes; a further
	// device keeps the ones the user has.
	firstFactor := !hasVerifiedDevice(st)
	var codes RecoveryCodeSet
	if !d.Verified && firstFactor {
		if codes, _, err = m.newRecoveryCodes(userID, now); err != nil {
			return nil, err
		}
	}
	tok, err := m.accept(ctx, a, req.CreateMFAToken, func(lk Lockout) error {
		if d.Verified {
			return m.store.AcceptStep(ctx, userID, d.ID, step, now, lk)
		}
		return m.store.VerifyDevice(ctx, userID, d.ID, step, now, codes, lk, m.limit(d.Type))
	})
	if err != nil {
		return nil, err
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
	r.RecoveryCodesRemaining = len(st.RecoveryCodes.Hashes)
	r.RecoveryCodesPending = m.revealable(st.RecoveryCodes, now)
	if !d.Verified {
		d.Verified, d.VerifiedAt, d.ExpiresAt = true, now, time.Time{}
		r.DeviceVerified = true
		if firstFactor {
			r.RecoveryCodesRemaining = len(codes.Hashes)
			r.RecoveryCodesPending = true
		}
		m.emit(ctx, Event{Type: EventDeviceVerified, UserID: userID, DeviceID: d.ID})
	}
	out.dev = m.device(d, firstFactor || defaultDevice(st.Devices) == d.ID, &out.times)
	r.Device = &out.dev
	if !primary {
		if secret, _, err := m.openSecret(d, buf); err == nil {
			m.reseal(ctx, d, secret)
			clear(secret)
		}
	}
	m.emit(ctx, Event{Type: EventAuthSucceeded, UserID: userID, DeviceID: d.ID, Method: MethodTOTP, Remaining: r.RecoveryCodesRemaining})
	return r, nil
}

// checkDevice opens d's secret into buf and looks for code in the steps
// around now, as matchStep does; primary reports whether the secret is
// sealed with the primary key. The secret is cleared before it returns.
func (m *MFA) checkDevice(d DeviceRecord, code string, now time.Time, buf *secretBuf) (step int64, found, fresh, primary bool, err error) {
	p := m.deviceParams(d)
	n, _ := parseDigits(code, p.digits)
	secret, primary, err := m.openSecret(d, buf)
	if err != nil {
		return 0, false, false, false, err
	}
	defer clear(secret)
	step, found, fresh = m.matchStep(p, secret, n, now, d.LastStep)
	return step, found, fresh, primary, nil
}

// totpCandidates appends to dst, which is empty, the indices in devices
// of the TOTP devices a code may come from: the one named by id; or else
// every verified one, the default first; or else the pending one.
func totpCandidates(dst []int, devices []DeviceRecord, id string) ([]int, error) {
	if id != "" {
		for i, d := range devices {
			if d.ID != id {
				continue
			}
			if d.Type != DeviceTOTP {
				return dst, newError(ErrDeviceNotFound, "deviceId", "no authenticator app with that ID")
			}
			return append(dst, i), nil
		}
		return dst, newError(ErrDeviceNotFound, "deviceId", "")
	}
	def := defaultDevice(devices)
	for i, d := range devices {
		if d.Verified && d.Type == DeviceTOTP {
			dst = append(dst, i)
			if d.ID == def {
				dst[0], dst[len(dst)-1] = dst[len(dst)-1], dst[0]
			}
		}
	}
	if len(dst) > 0 {
		return dst, nil
	}
	for i, d := range devices {
		if !d.Verified && d.Type == DeviceTOTP {
			return append(dst, i), nil
		}
	}
	return dst, newError(ErrNoDevice, "", "")
}

// matchStep looks for code in the steps around now. It computes every
// step of the window whatever matches, so that the time taken does not
// depend on the code. found reports a match; step is the latest step the
// code matches, and fresh reports that it is newer than lastStep, i.e. not
// a replay (RFC 6238 §5.2). Taking the latest step matters when a code
// happens to match two steps of the window: accepting the earlier one
// would leave the later one open for a second use of the same code.
func (m *MFA) matchStep(p totpParams, secret []byte, code uint32, now time.Time, lastStep int64) (step int64, found, fresh bool) {
	cur := now.Unix() / int64(p.period/time.Second)
	skew := int64(m.totp.Skew)
	var buf [2*maxSkew + 1]uint32
	values := buf[:2*skew+1]
	hotpRange(p.alg, secret, uint64(cur-skew), values, p.digits)
	for i, v := range values {
		if subtle.ConstantTimeEq(int32(v), int32(code)) != 1 {
			continue
		}
		step, found = cur-skew+int64(i), true
	}
	return step, found, found && step > lastStep
}
