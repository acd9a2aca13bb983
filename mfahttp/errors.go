package mfahttp

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/mfakit/mfa"
)

// httpError is an error of the HTTP layer itself, with its status.
type httpError struct {
	status  int
	code    string
	message string
	field   string // the offending input, if any
}

func (e *httpError) Error() string { return "mfahttp: " + e.message }

var (
	errNoSession   = &httpError{http.StatusUnauthorized, "unauthenticated", "not logged in", ""}
	errMFARequired = &httpError{http.StatusUnauthorized, "mfa_required", "multi-factor authentication required", ""}
	errCrossOrigin = &httpError{http.StatusForbidden, "cross_origin", "cross-origin request refused", ""}
	errBadJSON     = &httpError{http.StatusBadRequest, "bad_request", "request body must be one JSON object with known fields", ""}
	errTooLarge    = &httpError{http.StatusRequestEntityTooLarge, "too_large", "request body too large", ""}
	errContentType = &httpError{http.StatusUnsupportedMediaType, "unsupported_media_type", "request body must be application/json", ""}
	// errTokenTTL has the code and field of mfa's own answer to a TTL above
	// TokenConfig.MaxTTL, so that a client sees one error for both.
	errTokenTTL = &httpError{http.StatusBadRequest, mfa.ErrInvalidInput.Code, "token TTL out of range", "createMfaToken.ttl"}
)

// status maps an error to its HTTP status.
func status(err error) int {
	var he *httpError
	if errors.As(err, &he) {
		return he.status
	}
	switch {
	case passkeysOff(err):
		// The passkey endpoints of a server without passkeys are as good
		// as absent.
		return http.StatusNotFound
	case errors.Is(err, mfa.ErrInvalidInput):
		return http.StatusBadRequest
	case errors.Is(err, mfa.ErrInvalidCode), errors.Is(err, mfa.ErrCodeReused), errors.Is(err, mfa.ErrPasskeyRefused):
		return http.StatusUnauthorized
	case errors.Is(err, mfa.ErrDeviceLimit):
		// The guide documents 401 for a second TOTP device.
		return http.StatusUnauthorized
	case errors.Is(err, mfa.ErrTokenRequired), errors.Is(err, mfa.ErrTokenInvalid), errors.Is(err, mfa.ErrTokenExpired):
		return http.StatusForbidden
	case errors.Is(err, mfa.ErrRateLimited):
		return http.StatusTooManyRequests
	case errors.Is(err, mfa.ErrDeviceNotFound), errors.Is(err, mfa.ErrNoDevice):
		return http.StatusNotFound
	case errors.Is(err, mfa.ErrRecoveryCodesAcknowledged), errors.Is(err, mfa.ErrInvalidStep),
		errors.Is(err, mfa.ErrChallengeInvalid), errors.Is(err, mfa.ErrPasskeyRegistered):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// passkeysOff reports whether err is mfa's answer to a passkey call when
// mfa.Config.Passkeys is nil: ErrInvalidConfig for the field Passkeys.
func passkeysOff(err error) bool {
	var e *mfa.Error
	return errors.Is(err, mfa.ErrInvalidConfig) && errors.As(err, &e) && e.Field == "Passkeys"
}

// errPasskeysOff is how passkeysOff errors are described to a client: the
// code of mfa's error, without the name of the Config field.
var errPasskeysOff = errorJSON{Code: mfa.ErrInvalidConfig.Code, Message: "passkeys are not enabled on this server"}

type errorBody struct {
	Error errorJSON `json:"error"`
}

type errorJSON struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	Field      string `json:"field,omitempty"`
	RetryAfter int    `json:"retryAfter,omitempty"` // seconds
}

// errorJSONOf describes err for a client. Server failures get a generic
// message; their detail goes to the log only.
func errorJSONOf(err error) errorJSON {
	var he *httpError
	if errors.As(err, &he) {
		return errorJSON{Code: he.code, Message: he.message, Field: he.field}
	}
	if passkeysOff(err) {
		return errPasskeysOff
	}
	var e *mfa.Error
	if !errors.As(err, &e) || status(err) == http.StatusInternalServerError {
		return errorJSON{Code: "internal_error", Message: "internal error"}
	}
	return errorJSON{Code: e.Code, Message: e.Message, Field: e.Field, RetryAfter: retrySeconds(e.RetryAfter)}
}

func retrySeconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := status(err)
	switch {
	case st != http.StatusInternalServerError:
	case r.Context().Err() != nil:
		// The client went away or its deadline passed: not a server fault.
		h.logger.InfoContext(r.Context(), "mfahttp: request abandoned", "method", r.Method, "path", r.URL.Path, "error", err)
	default:
		h.logger.ErrorContext(r.Context(), "mfahttp: request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	body := errorBody{Error: errorJSONOf(err)}
	if st == http.StatusTooManyRequests && body.Error.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(body.Error.RetryAfter))
	}
	writeJSON(w, st, body)
}
