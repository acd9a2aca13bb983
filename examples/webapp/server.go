package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/mfahttp"
)

//go:embed templates static
var files embed.FS

// pagePolicy is the Content-Security-Policy of the example's own pages:
// no inline script or style, nothing from other origins, no framing.
const pagePolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

const (
	// siteName is the example's name in the site header of every page,
	// the MFA UI's too (app.Site).
	siteName = "mfakit demo"
	// faviconURL is the site's icon, which every page names; GET
	// /favicon.ico, which browsers ask for without one, redirects there.
	faviconURL = "/static/favicon.svg"
)

// config is what the server needs; main fills it from flags.
type config struct {
	Store mfa.Store
	Keys  *mfa.Keyring
	// RequireMFA makes users without an authenticator app enrol one when
	// they sign up or log in; by default they are only offered to.
	RequireMFA bool
	// InsecureCookies makes the session cookie "session", not Secure,
	// instead of the Secure __Host-session: for plain-HTTP runs on hosts
	// other than localhost, where browsers drop Secure cookies.
	InsecureCookies bool
	Logger          *slog.Logger
	// Passkeys runs the WebAuthn ceremonies of passkeys (see
	// passkeyVerifier); nil turns passkeys off.
	Passkeys mfa.PasskeyVerifier
	// Now is mfakit's clock; default time.Now. Tests inject one.
	Now func() time.Time
	// PasswordCost is bcrypt's cost; default bcrypt.DefaultCost. Tests
	// save time with bcrypt.MinCost.
	PasswordCost int
}

type server struct {
	m        *mfa.MFA
	app      *app
	mfa      *mfahttp.Handler
	pages    map[string]*template.Template
	log      *slog.Logger
	require  bool
	passkeys bool         // mfa.Config.Passkeys is set
	handler  http.Handler // the routes, behind cross-origin protection
}

// newServer returns the example web app: sign-up and login with a
// password, the MFA UI and API under /mfa/, an account page that needs a
// completed login, and a "change email" action that needs an MFA token.
func newServer(cfg config) (*server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m, err := mfa.New(mfa.Config{
		Store:  cfg.Store,
		Issuer: "mfakit demo",
		Keys:   cfg.Keys,
		// Changing the email address needs a fresh single-use MFA token.
		Actions:  map[string]mfa.ActionPolicy{"change-email": {}},
		Passkeys: cfg.Passkeys,
		Now:      cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	a, err := newApp(cfg.PasswordCost, cfg.InsecureCookies)
	if err != nil {
		return nil, err
	}
	s := &server{m: m, app: a, log: cfg.Logger, require: cfg.RequireMFA, passkeys: cfg.Passkeys != nil, pages: make(map[string]*template.Template)}
	s.mfa = mfahttp.New(m, a, mfahttp.WithLogger(cfg.Logger))
	for _, name := range []string{"login.html", "signup.html", "account.html"} {
		s.pages[name] = template.Must(template.New(name).Funcs(template.FuncMap{
			// A date is a <time> element: account.js writes it in the
			// browser's locale as the MFA UI does, over this fallback.
			"datetime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
			"date":     func(t time.Time) string { return t.UTC().Format(time.DateOnly) },
			"site":     func() string { return siteName },
			"favicon":  func() string { return faviconURL },
			// The password's length, as app.signUp checks it.
			"minPassword": func() int { return minPassword },
			"maxPassword": func() int { return maxPassword },
		}).ParseFS(files, "templates/layout.html", "templates/"+name))
	}
	static, err := fs.Sub(files, "static")
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("GET /signup", s.signupPage)
	mux.HandleFunc("POST /signup", s.signup)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("GET /account", s.account)
	mux.Handle("POST /account/email", s.changeEmailHandler())
	mux.Handle("/mfa/", http.StripPrefix("/mfa", s.mfa))
	mux.HandleFunc("GET /static/{file}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.ServeFileFS(w, r, static, r.PathValue("file"))
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, faviconURL, http.StatusMovedPermanently)
	})
	// Every form and fetch that changes state must come from this site.
	s.handler = http.NewCrossOriginProtection().Handler(mux)
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// hasDevice reports whether the user has a verified device: an
// authenticator app or a passkey.
func (s *server) hasDevice(ctx context.Context, userID string) (mfa.Device, bool, error) {
	devices, err := s.m.GetUserDevices(ctx, userID)
	if err != nil {
		return mfa.Device{}, false, err
	}
	// The authenticator app first: the account page sizes the code input
	// for its codes.
	var found mfa.Device
	for _, d := range devices {
		if d.Verified && (found.ID == "" || found.Type == mfa.DevicePasskey && d.Type == mfa.DeviceTOTP) {
			found = d
		}
	}
	return found, found.ID != "", nil
}

func (s *server) render(w http.ResponseWriter, status int, page string, data any) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pagePolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := s.pages[page].ExecuteTemplate(w, "layout", data); err != nil {
		s.log.Error("render", "page", page, "error", err)
	}
}

func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "error", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}

type formPage struct {
	Title string
	Email string
	// Error is about the whole form and shows above it; EmailError and
	// PasswordError are about one field and show under it.
	Error, EmailError, PasswordError string
	SignedIn                         bool // the site header offers to log out
}

// sentence makes an error message a sentence for a page.
func sentence(err error) string {
	m := err.Error()
	if m == "" {
		return ""
	}
	return strings.ToUpper(m[:1]) + m[1:] + "."
}

func (s *server) home(w http.ResponseWriter, r *http.Request) {
	if sess, ok := s.app.session(r); ok {
		if sess.needsMFA {
			http.Redirect(w, r, "/mfa/", http.StatusSeeOther)
			return
		}
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	s.loginPage(w, r)
}

func (s *server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "login.html", formPage{Title: "Log in"})
}

func (s *server) signupPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "signup.html", formPage{Title: "Create an account"})
}

// afterPassword starts the session once the password is right: a user
// with an authenticator app (or, with RequireMFA, any user) still needs a
// code, on the MFA UI.
func (s *server) afterPassword(w http.ResponseWriter, r *http.Request, u *user) {
	_, enrolled, err := s.hasDevice(r.Context(), u.id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	needsMFA := enrolled || s.require
	s.app.startSession(w, r, u.id, needsMFA)
	if needsMFA {
		http.Redirect(w, r, "/mfa/", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

func (s *server) signup(w http.ResponseWriter, r *http.Request) {
	email, password := r.PostFormValue("email"), r.PostFormValue("password")
	u, err := s.app.signUp(email, password)
	// Each field's problem shows under it.
	page := formPage{Title: "Create an account", Email: email}
	for _, e := range []error{errBadEmail, errEmailTaken} {
		if errors.Is(err, e) {
			page.EmailError = sentence(e)
		}
	}
	for _, e := range []error{errShortPassword, errLongPassword} {
		if errors.Is(err, e) {
			page.PasswordError = sentence(e)
		}
	}
	switch {
	case page.EmailError != "" || page.PasswordError != "":
		s.render(w, http.StatusBadRequest, "signup.html", page)
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	s.afterPassword(w, r, u)
}

func (s *server) login(w http.ResponseWriter, r *http.Request) {
	email := r.PostFormValue("email")
	u, err := s.app.logIn(email, r.PostFormValue("password"))
	if err != nil {
		s.render(w, http.StatusUnauthorized, "login.html", formPage{Title: "Log in", Email: email, Error: sentence(err)})
		return
	}
	s.afterPassword(w, r, u)
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	s.app.endSession(w, r)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

type accountPage struct {
	Title    string
	SignedIn bool
	Email    string
	Enrolled bool      // the user has a verified device: an authenticator app or a passkey
	Since    time.Time // when it was verified
	Digits   int       // the length of a code from the app
	Passkeys bool      // passkeys are on
}

// account is the protected page: it needs a login with its second factor
// done, like mfahttp's RequireMFA, but redirects a browser instead of
// answering 401.
func (s *server) account(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.app.session(r)
	switch {
	case !ok:
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	case sess.needsMFA:
		http.Redirect(w, r, "/mfa/", http.StatusSeeOther)
		return
	}
	u, ok := s.app.user(sess.userID)
	if !ok {
		s.app.endSession(w, r)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	d, enrolled, err := s.hasDevice(r.Context(), u.id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The change-email form asks for a code of the user's device, whose
	// length is the device's own.
	digits := d.Digits
	if digits == 0 {
		digits = s.m.TOTPDigits()
	}
	page := accountPage{Title: "Your account", SignedIn: true, Email: u.email, Enrolled: enrolled, Digits: digits, Passkeys: s.passkeys}
	if d.VerifiedAt != nil {
		page.Since = *d.VerifiedAt
	}
	s.render(w, http.StatusOK, "account.html", page)
}

type emailRequest struct {
	Email string `json:"email"`
}

type newEmailKey struct{}

// changeEmailHandler is the sensitive action. It reads and checks the new
// address first, so that a typo does not use up the MFA token, then lets
// mfahttp check the token (single use, scope "change-email") from the
// X-Mfa-Auth-Token header.
func (s *server) changeEmailHandler() http.Handler {
	change := s.mfa.RequireMFAToken("change-email")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, _ := mfahttp.SessionFrom(r.Context())
		email, err := s.app.changeEmail(sess.UserID, r.Context().Value(newEmailKey{}).(string))
		if err != nil {
			writeJSONError(w, http.StatusConflict, "email_taken", err.Error())
			return
		}
		s.log.InfoContext(r.Context(), "email changed", "user", sess.UserID)
		writeJSON(w, http.StatusOK, emailRequest{Email: email})
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
			writeJSONError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send the request as application/json")
			return
		}
		var req emailRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
		if err := dec.Decode(&req); err != nil {
			writeJSONError(w, http.StatusBadRequest, "bad_request", "send {\"email\": \"...\"} as JSON")
			return
		}
		email, _, err := normalizeEmail(req.Email)
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, "bad_email", err.Error())
			return
		}
		change.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), newEmailKey{}, email)))
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	type errorJSON struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	writeJSON(w, status, struct {
		Error errorJSON `json:"error"`
	}{errorJSON{code, msg}})
}
