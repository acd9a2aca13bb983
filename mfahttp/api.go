package mfahttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/mfakit/mfa"
)

// TokenHeader carries an MFA token to an action that needs one, as the
// hosted API's x-mfa-auth-token.
const TokenHeader = "X-Mfa-Auth-Token"

// maxBody bounds request bodies; the largest legitimate one but a
// passkey's is a few hundred bytes.
const maxBody = 16 << 10

// maxPasskeyBody bounds the bodies that carry a browser's answer to a
// passkey ceremony: mfa takes answers of up to 64 KiB (a registration
// with a certificate chain in its attestation is a few kilobytes), and
// the envelope around one is small.
const maxPasskeyBody = 80 << 10

// ScopeRegenerateRecoveryCodes is the token scope that POST
// /api/recovery-codes needs (an unscoped token also serves), the built-in
// action mfa.ActionRegenerateRecoveryCodes: a new set of recovery codes is
// a new second factor, so a session alone may not make one.
const ScopeRegenerateRecoveryCodes = mfa.ActionRegenerateRecoveryCodes

// apiFallbackPattern is the API's catch-all route: it matches every
// request under /api/ that no other route does.
const apiFallbackPattern = "/api/"

func (h *Handler) routes() {
	h.uiRoutes() // the page and its assets, in ui.go
	h.mux.HandleFunc("GET /api/openapi.json", h.serveOpenAPI)
	h.mux.HandleFunc("GET /api/devices", h.withSession(h.listDevices))
	h.mux.HandleFunc("POST /api/devices/totp", h.withSession(h.registerDevice))
	h.mux.HandleFunc("POST /api/devices/totp/authenticate", h.withSession(h.authenticateDevice))
	h.mux.HandleFunc("POST /api/devices/passkey", h.withSession(h.beginPasskeyRegistration))
	h.mux.HandleFunc("POST /api/devices/passkey/finish", h.withSession(h.finishPasskeyRegistration))
	h.mux.HandleFunc("POST /api/devices/passkey/authenticate/options", h.withSession(h.beginPasskeyAuthentication))
	h.mux.HandleFunc("POST /api/devices/passkey/authenticate", h.withSession(h.authenticatePasskey))
	h.mux.HandleFunc("DELETE /api/devices/{id}", h.withSession(h.fullSession(h.deleteDevice)))
	h.mux.HandleFunc("POST /api/devices/{id}/default", h.withSession(h.fullSession(h.setDefaultDevice)))
	h.mux.HandleFunc("GET /api/methods", h.withSession(h.methods))
	h.mux.HandleFunc("POST /api/recovery-codes/authenticate", h.withSession(h.authenticateRecoveryCode))
	h.mux.HandleFunc("GET /api/recovery-codes", h.withSession(h.fullSession(h.getRecoveryCodes)))
	h.mux.HandleFunc("POST /api/recovery-codes", h.withSession(h.fullSession(h.newRecoveryCodes)))
	h.mux.HandleFunc("POST /api/recovery-codes/acknowledge", h.withSession(h.fullSession(h.acknowledge)))
	h.mux.HandleFunc("GET /api/recovery-codes/pending", h.withSession(h.pendingAcknowledgement))
	h.mux.HandleFunc("GET /api/actions/{action}", h.withSession(h.actionRequired))
	// Every flow step may change state (even a sync adds a device for a
	// login that must enrol), so all of them are POSTs, which the
	// cross-origin protection checks.
	h.mux.HandleFunc("POST /api/flow", h.withSession(h.flowStep))
	h.mux.HandleFunc("POST /api/flow/{step}", h.withSession(h.flowStep))
	h.mux.HandleFunc(apiFallbackPattern, h.apiFallback)
}

// apiFallback answers an API request that no route takes: 405 with the
// methods the path allows, else 404. The mux would answer 405 itself, but
// in plain text, and only without this catch-all.
func (h *Handler) apiFallback(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		probe := r.WithContext(r.Context())
		probe.Method = method
		if _, pattern := h.mux.Handler(probe); pattern != apiFallbackPattern {
			allow = append(allow, method)
		}
	}
	if len(allow) == 0 {
		writeJSON(w, http.StatusNotFound, errorBody{Error: errorJSON{Code: "not_found", Message: "no such endpoint"}})
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: errorJSON{Code: "method_not_allowed", Message: "method not allowed; use " + strings.Join(allow, " or ")}})
}

// fullSession refuses sessions that still wait for their second factor.
func (h *Handler) fullSession(fn func(http.ResponseWriter, *http.Request, Session)) func(http.ResponseWriter, *http.Request, Session) {
	return func(w http.ResponseWriter, r *http.Request, s Session) {
		if needsMFA(s) {
			h.writeError(w, r, errMFARequired)
			return
		}
		fn(w, r, s)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the status is sent; a write error means the client left
}

// writeSecretJSON writes a response that carries a secret, a token or
// recovery codes: no cache may keep it.
func writeSecretJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, v)
}

// decodeJSON reads exactly one JSON object with known fields from a
// size-limited body. An empty body leaves v as it is when optional. Keys
// must be the documented ones, exactly, and each at most once per object
// (checkKeys): encoding/json alone would take "CODE" for "code" and let a
// repeated key overwrite the first.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	return decodeJSONLimit(w, r, v, optional, maxBody)
}

// decodeJSONLimit is decodeJSON with a body of at most limit bytes.
func decodeJSONLimit(w http.ResponseWriter, r *http.Request, v any, optional bool, limit int64) error {
	if optional && r.ContentLength == 0 {
		return nil
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		return errContentType
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return errTooLarge
		}
		return errBadJSON
	}
	if err := checkKeys(body, reflect.TypeOf(v)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errBadJSON
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errBadJSON
	}
	return nil
}

type devicesResponse struct {
	Devices []mfa.Device `json:"devices"`
}

// pendingDevice is what a session still waiting for its second factor
// learns of a device: enough to ask for a code from it, nothing the user
// named it or when it was added, verified or last used.
type pendingDevice struct {
	ID       string         `json:"id"`
	Type     mfa.DeviceType `json:"type"`
	Verified bool           `json:"verified"`
	Default  bool           `json:"default"`
	Digits   int            `json:"digits,omitempty"`
}

type pendingDevicesResponse struct {
	Devices []pendingDevice `json:"devices"`
}

// listDevices answers GET /api/devices with {"devices":[...]}, the user's
// devices, pending ones too. A full session gets each mfa.Device whole:
// id, type, verified, default, digits, alias, createdAt, verifiedAt, lastUsedAt.
// A session still waiting for its second factor (needsMFA) gets only what
// the code prompt needs, a pendingDevice: id, type, verified, default and digits,
// no alias and no dates, since whoever holds it has passed only the first
// factor.
func (h *Handler) listDevices(w http.ResponseWriter, r *http.Request, s Session) {
	devices, err := h.m.GetUserDevices(r.Context(), s.UserID)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if !needsMFA(s) {
		writeJSON(w, http.StatusOK, devicesResponse{Devices: devices})
		return
	}
	out := pendingDevicesResponse{Devices: make([]pendingDevice, 0, len(devices))}
	for _, d := range devices {
		out.Devices = append(out.Devices, pendingDevice{ID: d.ID, Type: d.Type, Verified: d.Verified, Default: d.Default, Digits: d.Digits})
	}
	writeJSON(w, http.StatusOK, out)
}

// registerRequest is the body of POST /api/devices/totp and POST
// /api/devices/passkey.
type registerRequest struct {
	Alias string `json:"alias,omitempty"`
	// MFAToken is an MFA token for the built-in action
	// mfa.ActionCredentialLink, which adding a factor for a user who has
	// one already needs (mfa.WithMFAToken); it is consumed.
	MFAToken string `json:"mfaToken,omitempty"`
}

// options are the device options of a device added in session s with
// this request.
func (req registerRequest) options(s Session) []mfa.DeviceOption {
	opts := s.deviceOptions()
	if req.Alias != "" {
		opts = append(opts, mfa.WithAlias(req.Alias))
	}
	if req.MFAToken != "" {
		opts = append(opts, mfa.WithMFAToken(req.MFAToken))
	}
	return opts
}

type registration struct {
	ID     string `json:"id"`
	Digits int    `json:"digits"` // the length of the device's codes
	Secret string `json:"secret"`
	URI    string `json:"uri"`
	QRCode string `json:"qrCode"` // a data:image/png;base64 URI
}

func (h *Handler) registration(reg *mfa.Registration) (*registration, error) {
	if reg == nil {
		return nil, nil
	}
	qr, err := reg.QRCodeDataURI(h.qrSize)
	if err != nil {
		return nil, err
	}
	return &registration{ID: reg.DeviceID, Digits: reg.Digits, Secret: reg.Secret, URI: reg.URI, QRCode: qr}, nil
}

func (h *Handler) registerDevice(w http.ResponseWriter, r *http.Request, s Session) {
	var req registerRequest
	if err := decodeJSON(w, r, &req, true); err != nil {
		h.writeError(w, r, err)
		return
	}
	reg, err := h.m.AddDevice(r.Context(), s.UserID, req.options(s)...)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out, err := h.registration(reg)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeSecretJSON(w, out)
}

// tokenRequest is the JSON form of mfa.TokenRequest; TTL in seconds.
type tokenRequest struct {
	SingleUse bool     `json:"singleUse"`
	Scopes    []string `json:"scopes,omitempty"`
	TTL       int64    `json:"ttl,omitempty"`
}

// maxTTLSeconds is the longest TTL a time.Duration holds. A longer one
// would wrap around when converted, into a TTL that mfa accepts; mfa
// checks the ones that fit against TokenConfig.MaxTTL itself.
const maxTTLSeconds = math.MaxInt64 / int64(time.Second)

// request returns the mfa.TokenRequest; nil when t is nil.
func (t *tokenRequest) request() (*mfa.TokenRequest, error) {
	if t == nil {
		return nil, nil
	}
	if t.TTL < 0 || t.TTL > maxTTLSeconds {
		return nil, errTokenTTL
	}
	return &mfa.TokenRequest{SingleUse: t.SingleUse, Scopes: t.Scopes, TTL: time.Duration(t.TTL) * time.Second}, nil
}

// withToken is the createMfaToken field of the authentication requests.
type withToken struct {
	CreateMFAToken *tokenRequest `json:"createMfaToken,omitempty"`
}

func (t *withToken) tokenRequest() (*mfa.TokenRequest, error) { return t.CreateMFAToken.request() }

// authRequest is the body of an authentication endpoint.
type authRequest interface {
	tokenRequest() (*mfa.TokenRequest, error)
}

type authenticateRequest struct {
	Code     string `json:"code"`
	DeviceID string `json:"deviceId,omitempty"`
	withToken
}

type authResponse struct {
	Method                 mfa.Method  `json:"method"`
	Device                 *mfa.Device `json:"device,omitempty"`
	DeviceVerified         bool        `json:"deviceVerified"`
	MFAToken               *mfa.Token  `json:"mfaToken,omitempty"`
	RecoveryCodesRemaining int         `json:"recoveryCodesRemaining"`
	RecoveryCodesPending   bool        `json:"recoveryCodesPending"`
}

func (h *Handler) authenticated(w http.ResponseWriter, r *http.Request, s Session, res *mfa.AuthResult) {
	if err := h.completed(w, r, s); err != nil {
		h.writeError(w, r, err)
		return
	}
	writeSecretJSON(w, authResponse{
		Method:                 res.Method,
		Device:                 res.Device,
		DeviceVerified:         res.DeviceVerified,
		MFAToken:               res.MFAToken,
		RecoveryCodesRemaining: res.RecoveryCodesRemaining,
		RecoveryCodesPending:   res.RecoveryCodesPending,
	})
}

// authenticate answers an authentication endpoint: it decodes the body,
// of at most limit bytes, into req and gives call the token request that
// req asks for; the session completes with call's success.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, s Session, req authRequest, limit int64, call func(*mfa.TokenRequest) (*mfa.AuthResult, error)) {
	if err := decodeJSONLimit(w, r, req, false, limit); err != nil {
		h.writeError(w, r, err)
		return
	}
	tr, err := req.tokenRequest()
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	res, err := call(tr)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	h.authenticated(w, r, s, res)
}

func (h *Handler) authenticateDevice(w http.ResponseWriter, r *http.Request, s Session) {
	var req authenticateRequest
	h.authenticate(w, r, s, &req, maxBody, func(tr *mfa.TokenRequest) (*mfa.AuthResult, error) {
		return h.m.AuthenticateDevice(r.Context(), s.UserID, mfa.AuthenticateRequest{Code: req.Code, DeviceID: req.DeviceID, CreateMFAToken: tr})
	})
}

type recoveryRequest struct {
	Code string `json:"code"`
	withToken
}

func (h *Handler) authenticateRecoveryCode(w http.ResponseWriter, r *http.Request, s Session) {
	var req recoveryRequest
	h.authenticate(w, r, s, &req, maxBody, func(tr *mfa.TokenRequest) (*mfa.AuthResult, error) {
		return h.m.AuthenticateRecoveryCode(r.Context(), s.UserID, mfa.RecoveryRequest{Code: req.Code, CreateMFAToken: tr})
	})
}

func (h *Handler) deleteDevice(w http.ResponseWriter, r *http.Request, s Session) {
	if err := h.m.DeleteDevice(r.Context(), s.UserID, r.PathValue("id"), r.Header.Get(TokenHeader)); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type codesResponse struct {
	RecoveryCodes []string `json:"recoveryCodes"`
}

func (h *Handler) getRecoveryCodes(w http.ResponseWriter, r *http.Request, s Session) {
	codes, err := h.m.GetRecoveryCodes(r.Context(), s.UserID, false)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeSecretJSON(w, codesResponse{RecoveryCodes: codes})
}

// newRecoveryCodes replaces the recovery codes. It needs an MFA token for
// the built-in action mfa.ActionRegenerateRecoveryCodes, which consumes it:
// otherwise a stolen session could make itself a second factor that lasts.
func (h *Handler) newRecoveryCodes(w http.ResponseWriter, r *http.Request, s Session) {
	if _, err := h.m.AuthorizeAction(r.Context(), s.UserID, mfa.ActionRegenerateRecoveryCodes, r.Header.Get(TokenHeader)); err != nil {
		h.writeError(w, r, err)
		return
	}
	codes, err := h.m.GetNewRecoveryCodes(r.Context(), s.UserID)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeSecretJSON(w, codesResponse{RecoveryCodes: codes})
}

func (h *Handler) acknowledge(w http.ResponseWriter, r *http.Request, s Session) {
	if err := h.m.CompleteAcknowledgement(r.Context(), s.UserID); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) pendingAcknowledgement(w http.ResponseWriter, r *http.Request, s Session) {
	pending, err := h.m.IsPendingRecoveryCodesAcknowledgment(r.Context(), s.UserID)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Pending bool `json:"pending"`
	}{pending})
}

func (h *Handler) actionRequired(w http.ResponseWriter, r *http.Request, s Session) {
	required, err := h.m.IsMFARequiredForAction(r.Context(), s.UserID, r.PathValue("action"))
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Required bool `json:"required"`
	}{required})
}

// flowState is the JSON form of mfa.FlowState.
type flowState struct {
	View          mfa.View      `json:"view"`
	Registration  *registration `json:"registration,omitempty"`
	RecoveryCodes []string      `json:"recoveryCodes,omitempty"`
	Devices       []mfa.Device  `json:"devices,omitempty"`
	Methods       []mfa.Method  `json:"methods,omitempty"`
	Error         *errorJSON    `json:"error,omitempty"`
	Complete      bool          `json:"complete"`
}

type codeRequest struct {
	Code string `json:"code"`
}

// flowStep runs one step of a SyncFlow rebuilt for this request: POST
// api/flow syncs, POST api/flow/{step} takes the step named in the path.
// Step failures (a wrong code, a refused step) come back in the state's
// error with status 200, so that the UI always learns which view to show;
// server failures are 500.
func (h *Handler) flowStep(w http.ResponseWriter, r *http.Request, s Session) {
	ctx := r.Context()
	f := h.m.NewSyncFlow(s.UserID, nil)
	f.SetScopes(s.Scopes)
	f.SetDeviceOptions(s.deviceOptions()...)
	var st mfa.FlowState // a step's error is st.Err
	switch step := r.PathValue("step"); step {
	case "":
		st, _ = f.Sync(ctx, s.Scopes)
	case "add-device":
		st, _ = f.AddDevice(ctx)
	case "continue":
		st, _ = f.Continue(ctx)
	case "acknowledge":
		st, _ = f.Acknowledge(ctx)
	case "passkey":
		var req passkeyFinishRequest
		if err := decodeJSONLimit(w, r, &req, false, maxPasskeyBody); err != nil {
			h.writeError(w, r, err)
			return
		}
		st, _ = f.SubmitPasskey(ctx, req.Response)
	case "otp", "recovery-code":
		var code codeRequest
		if err := decodeJSON(w, r, &code, false); err != nil {
			h.writeError(w, r, err)
			return
		}
		if step == "otp" {
			st, _ = f.SubmitOTP(ctx, code.Code)
		} else {
			st, _ = f.SubmitRecoveryCode(ctx, code.Code)
		}
	default:
		writeJSON(w, http.StatusNotFound, errorBody{Error: errorJSON{Code: "not_found", Message: "no such flow step"}})
		return
	}
	// A code that was accepted completes the session even when a later
	// read of the step failed: the code is spent either way.
	if st.Complete {
		if err := h.completed(w, r, s); err != nil {
			h.writeError(w, r, err)
			return
		}
	}
	if st.Err != nil && status(st.Err) == http.StatusInternalServerError {
		h.writeError(w, r, st.Err)
		return
	}
	reg, err := h.registration(st.Registration)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	out := flowState{View: st.View, Registration: reg, RecoveryCodes: st.RecoveryCodes, Devices: st.Devices, Methods: st.Methods, Complete: st.Complete}
	if st.Err != nil {
		e := errorJSONOf(st.Err)
		out.Error = &e
		if e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
		}
	}
	writeSecretJSON(w, out)
}
