// Package mfahttp serves mfakit over HTTP: a JSON API that mirrors the
// hosted headless MFA SDK's endpoints, middleware for account-based and
// action-based MFA, and an embedded custom UI with the guide's four views.
//
// Mount the handler under a prefix and plug in the application's sessions
// through [App]:
//
//	h := mfahttp.New(m, app)
//	mux.Handle("/mfa/", http.StripPrefix("/mfa", h))
//	mux.Handle("POST /email", h.RequireMFAToken("change-email")(changeEmail))
//
// Every state-changing request is checked by Go's [http.CrossOriginProtection],
// in the handler and in both middlewares; every request that changes state
// uses POST or DELETE, never GET. Bodies are limited in size and decoded
// strictly; responses that carry a secret or recovery codes are marked
// Cache-Control: no-store.
package mfahttp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/mfakit/mfa"
)

// Session is the application's view of the request's login.
type Session struct {
	// UserID identifies the user to mfakit.
	UserID string
	// AccountName is the label the authenticator app shows for a device
	// added in this session, under the issuer, and the name the browser
	// shows for a passkey: something the user
	// recognises, such as their email address. Empty means the user ID.
	// It may not contain a colon.
	AccountName string
	// Scopes are the session's scopes; mfa.ScopeRequiresAdditionalAuth
	// while the login waits for its second factor.
	Scopes []string
}

// deviceOptions are the options of a device added in session s.
func (s Session) deviceOptions() []mfa.DeviceOption {
	if s.AccountName == "" {
		return nil
	}
	return []mfa.DeviceOption{mfa.WithAccountName(s.AccountName)}
}

// App connects mfahttp to the application's sessions.
type App interface {
	// Session returns the request's session, or ErrNoSession when the
	// request is not logged in (the handler answers 401).
	Session(r *http.Request) (Session, error)
	// CompleteMFA is called when a code succeeds for a session that held
	// mfa.ScopeRequiresAdditionalAuth: the application drops that scope
	// from the session (for example by issuing a new session cookie on w).
	CompleteMFA(w http.ResponseWriter, r *http.Request, userID string) error
}

// ErrNoSession is returned by App.Session for a request without a login.
var ErrNoSession = errors.New("mfahttp: no session")

// Handler serves the JSON API and the UI. Create it with [New].
type Handler struct {
	m      *mfa.MFA
	app    App
	mux    *http.ServeMux
	cop    *http.CrossOriginProtection
	logger *slog.Logger
	qrSize int
}

// Option configures a Handler.
type Option func(*Handler)

// WithLogger logs server-side failures (store and key errors, never
// secrets) to l; by default they go to slog.Default().
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.logger = l } }

// WithCrossOriginProtection replaces the default cross-origin protection,
// e.g. one with trusted origins added.
func WithCrossOriginProtection(c *http.CrossOriginProtection) Option {
	return func(h *Handler) { h.cop = c }
}

// New returns a handler for m; app supplies sessions. It panics when m or
// app is nil, at start-up rather than at the first request.
func New(m *mfa.MFA, app App, opts ...Option) *Handler {
	if m == nil || app == nil {
		panic("mfahttp: New needs an *mfa.MFA and an App; got a nil one")
	}
	h := &Handler{m: m, app: app, mux: http.NewServeMux(), cop: http.NewCrossOriginProtection(), logger: slog.Default(), qrSize: 256}
	for _, o := range opts {
		o(h)
	}
	h.routes()
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.cop.Check(r); err != nil {
		h.writeError(w, r, errCrossOrigin)
		return
	}
	h.mux.ServeHTTP(w, r)
}

type sessionKey struct{}

// withSession runs fn with the request's session, answering 401 without
// one.
func (h *Handler) withSession(fn func(w http.ResponseWriter, r *http.Request, s Session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := h.app.Session(r)
		switch {
		case errors.Is(err, ErrNoSession) || (err == nil && s.UserID == ""):
			h.writeError(w, r, errNoSession)
			return
		case err != nil:
			h.writeError(w, r, err)
			return
		}
		fn(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)), s)
	}
}

// completed tells the application that the session's second factor is
// done, if the session was waiting for it.
func (h *Handler) completed(w http.ResponseWriter, r *http.Request, s Session) error {
	if !needsMFA(s) {
		return nil
	}
	return h.app.CompleteMFA(w, r, s.UserID)
}

func needsMFA(s Session) bool {
	for _, sc := range s.Scopes {
		if sc == mfa.ScopeRequiresAdditionalAuth {
			return true
		}
	}
	return false
}
