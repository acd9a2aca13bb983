package mfahttp

import (
	"encoding/json"
	"net/http"

	"github.com/mfakit/mfa"
)

// Passkeys, default devices and methods.
//
// The passkey endpoints pass the browser's JSON through to mfa: the
// PublicKeyCredential that navigator.credentials.create or .get resolved
// to (its toJSON()) is the "response" member of the body. Browsers add
// members to it over time, so its content is not checked against a list
// of keys here: checkKeys stops at a json.RawMessage (an Unmarshaler)
// except for refusing a key repeated in one object, and the decoder does
// not look into it. The envelope around it is strict, as every body is.

// passkeyFinishRequest is the body of POST /api/devices/passkey/finish.
type passkeyFinishRequest struct {
	Response json.RawMessage `json:"response"`
}

// passkeyAuthRequest is the body of POST
// /api/devices/passkey/authenticate.
type passkeyAuthRequest struct {
	Response json.RawMessage `json:"response"`
	withToken
}

// beginPasskeyRegistration answers POST /api/devices/passkey with the
// pending passkey's ID and the options for navigator.credentials.create.
// As POST /api/devices/totp, it is open to a session still waiting for
// its second factor: mfa refuses a factor added for a user who has one
// already without a token for mfa.ActionCredentialLink, which only a
// second factor gets.
func (h *Handler) beginPasskeyRegistration(w http.ResponseWriter, r *http.Request, s Session) {
	var req registerRequest
	if err := decodeJSON(w, r, &req, true); err != nil {
		h.writeError(w, r, err)
		return
	}
	reg, err := h.m.BeginPasskeyRegistration(r.Context(), s.UserID, req.options(s)...)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	// The options hold the ceremony's challenge: no cache may keep them.
	writeSecretJSON(w, reg)
}

// finishPasskeyRegistration answers POST /api/devices/passkey/finish with
// the verified passkey. A first factor completes a session that waits for
// its second, as the first code of a new TOTP device does in POST
// /api/devices/totp/authenticate.
func (h *Handler) finishPasskeyRegistration(w http.ResponseWriter, r *http.Request, s Session) {
	var req passkeyFinishRequest
	if err := decodeJSONLimit(w, r, &req, false, maxPasskeyBody); err != nil {
		h.writeError(w, r, err)
		return
	}
	dev, err := h.m.FinishPasskeyRegistration(r.Context(), s.UserID, req.Response)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if err := h.completed(w, r, s); err != nil {
		h.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, dev)
}

// beginPasskeyAuthentication answers POST
// /api/devices/passkey/authenticate/options with the options for
// navigator.credentials.get. It is a POST: it replaces the user's
// authentication in progress.
func (h *Handler) beginPasskeyAuthentication(w http.ResponseWriter, r *http.Request, s Session) {
	options, err := h.m.BeginPasskeyAuthentication(r.Context(), s.UserID)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	writeSecretJSON(w, options)
}

// authenticatePasskey answers POST /api/devices/passkey/authenticate as
// authenticateDevice does a TOTP code.
func (h *Handler) authenticatePasskey(w http.ResponseWriter, r *http.Request, s Session) {
	var req passkeyAuthRequest
	h.authenticate(w, r, s, &req, maxPasskeyBody, func(tr *mfa.TokenRequest) (*mfa.AuthResult, error) {
		return h.m.AuthenticatePasskey(r.Context(), s.UserID, mfa.PasskeyRequest{Response: req.Response, CreateMFAToken: tr})
	})
}

// setDefaultDevice answers POST /api/devices/{id}/default with 204.
func (h *Handler) setDefaultDevice(w http.ResponseWriter, r *http.Request, s Session) {
	if err := h.m.SetDefaultDevice(r.Context(), s.UserID, r.PathValue("id")); err != nil {
		h.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type methodsResponse struct {
	Methods []mfa.Method `json:"methods"`
}

// methods answers GET /api/methods with the ways the user can give a
// second factor, for a login UI to choose its prompt; a session still
// waiting for its second factor may ask.
func (h *Handler) methods(w http.ResponseWriter, r *http.Request, s Session) {
	methods, err := h.m.GetMFAMethods(r.Context(), s.UserID)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	if methods == nil {
		methods = []mfa.Method{}
	}
	writeJSON(w, http.StatusOK, methodsResponse{Methods: methods})
}
