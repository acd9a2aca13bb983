package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/mfahttp"
	"golang.org/x/crypto/bcrypt"
)

// The example's first factor: users with an email address and a bcrypt
// password hash, and server-side sessions behind a random cookie. A real
// service keeps both in its database; here they live in memory.

const (
	// hostSessionCookie is the session cookie's name by default. Browsers
	// take a cookie with the __Host- prefix only if it is Secure, has
	// Path=/ and no Domain, so no other host (a sibling subdomain, say) and
	// no plain-HTTP page can set or overwrite it. Browsers also take Secure
	// cookies over plain HTTP from localhost and 127.0.0.1, which they
	// treat as secure contexts, so `go run ./examples/webapp` works with it
	// as it is.
	hostSessionCookie = "__Host-session"
	// plainSessionCookie is its name with -insecure-cookies: without
	// Secure the prefix is not allowed.
	plainSessionCookie = "session"

	// sessionTTL bounds a full session, pendingTTL one that still waits for
	// its second factor.
	sessionTTL = 12 * time.Hour
	pendingTTL = 15 * time.Minute

	minPassword = 8  // NIST SP 800-63B §5.1.1.2
	maxPassword = 72 // bcrypt reads no more
)

var (
	errEmailTaken    = errors.New("an account with this email address exists already")
	errBadLogin      = errors.New("wrong email address or password")
	errBadEmail      = errors.New("enter a valid email address, like ann@example.com")
	errShortPassword = fmt.Errorf("this password is too short: use at least %d characters", minPassword)
	errLongPassword  = fmt.Errorf("this password is too long: use at most %d characters", maxPassword)
)

type user struct {
	id           string // the user ID given to mfakit: random, so that the email can change
	email        string
	passwordHash []byte
}

type session struct {
	userID string
	// needsMFA: the password was right but the second factor is still
	// missing; the session then carries mfa.ScopeRequiresAdditionalAuth.
	needsMFA bool
	expires  time.Time
}

// app holds users and sessions. It implements mfahttp.App (and
// mfahttp.ReturnLinker and mfahttp.SiteProvider) for the MFA handler.
type app struct {
	mu       sync.Mutex
	users    map[string]*user    // by ID
	byEmail  map[string]*user    // by lower-case email
	sessions map[string]*session // by session ID

	// dummyHash is checked against when an email is unknown, so that a
	// login takes as long whether or not the account exists.
	dummyHash []byte
	cost      int // bcrypt's

	// cookie is the session cookie's name; secure whether it is Secure.
	cookie string
	secure bool
}

var (
	_ mfahttp.App          = (*app)(nil)
	_ mfahttp.ReturnLinker = (*app)(nil)
	_ mfahttp.SiteProvider = (*app)(nil)
)

// newApp returns an app that hashes passwords with bcrypt at cost (0:
// bcrypt.DefaultCost). Its session cookie is the Secure __Host-session,
// or with insecureCookies a plain "session" cookie that browsers also
// send over plain HTTP to hosts other than localhost.
func newApp(cost int, insecureCookies bool) (*app, error) {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
	if err != nil {
		return nil, err
	}
	a := &app{
		users:     make(map[string]*user),
		byEmail:   make(map[string]*user),
		sessions:  make(map[string]*session),
		dummyHash: dummy,
		cost:      cost,
		cookie:    hostSessionCookie,
		secure:    true,
	}
	if insecureCookies {
		a.cookie, a.secure = plainSessionCookie, false
	}
	return a, nil
}

// normalizeEmail checks an address typed by the user and returns it
// trimmed, with the key it is looked up by.
func normalizeEmail(s string) (email, key string, err error) {
	s = strings.TrimSpace(s)
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 254 || !strings.Contains(s[strings.LastIndexByte(s, '@'):], ".") {
		return "", "", errBadEmail
	}
	return s, strings.ToLower(s), nil
}

// signUp makes an account. A bad email address and a bad password are
// both reported, joined in one error.
func (a *app) signUp(email, password string) (*user, error) {
	email, key, err := normalizeEmail(email)
	switch {
	case len(password) < minPassword:
		err = errors.Join(err, errShortPassword)
	case len(password) > maxPassword:
		err = errors.Join(err, errLongPassword)
	}
	if err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), a.cost)
	if err != nil {
		return nil, err
	}
	u := &user{id: "u_" + randomHex(12), email: email, passwordHash: hash}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byEmail[key] != nil {
		return nil, errEmailTaken
	}
	a.users[u.id] = u
	a.byEmail[key] = u
	return u, nil
}

func (a *app) logIn(email, password string) (*user, error) {
	_, key, err := normalizeEmail(email)
	a.mu.Lock()
	u := a.byEmail[key]
	a.mu.Unlock()
	hash := a.dummyHash
	if u != nil {
		hash = u.passwordHash
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || u == nil || err != nil {
		return nil, errBadLogin
	}
	return u, nil
}

func (a *app) changeEmail(userID, email string) (string, error) {
	email, key, err := normalizeEmail(email)
	if err != nil {
		return "", err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.users[userID]
	if u == nil {
		return "", mfahttp.ErrNoSession
	}
	if other := a.byEmail[key]; other != nil && other != u {
		return "", errEmailTaken
	}
	delete(a.byEmail, strings.ToLower(u.email))
	u.email = email
	a.byEmail[key] = u
	return email, nil
}

func (a *app) user(id string) (user, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.users[id]
	if u == nil {
		return user{}, false
	}
	return *u, true
}

// startSession logs userID in with a new session ID, which also ends any
// session the browser had (no session fixation).
func (a *app) startSession(w http.ResponseWriter, r *http.Request, userID string, needsMFA bool) {
	ttl := sessionTTL
	if needsMFA {
		ttl = pendingTTL
	}
	id := randomToken()
	a.mu.Lock()
	if c, err := r.Cookie(a.cookie); err == nil {
		delete(a.sessions, c.Value)
	}
	a.sessions[id] = &session{userID: userID, needsMFA: needsMFA, expires: time.Now().Add(ttl)}
	a.mu.Unlock()
	a.setCookie(w, id, int(ttl/time.Second))
}

// setCookie sets the session cookie, or with maxAge < 0 clears it. It is
// Secure whether or not this request came over TLS: behind a proxy that
// ends TLS, r.TLS is nil although the browser uses HTTPS.
func (a *app) setCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     a.cookie,
		Value:    value,
		Path:     "/", // and no Domain, as __Host- requires
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   a.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

// session returns the request's live session.
func (a *app) session(r *http.Request) (session, bool) {
	c, err := r.Cookie(a.cookie)
	if err != nil {
		return session{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[c.Value]
	if s == nil {
		return session{}, false
	}
	if time.Now().After(s.expires) {
		delete(a.sessions, c.Value)
		return session{}, false
	}
	return *s, true
}

func (a *app) endSession(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(a.cookie); err == nil {
		a.mu.Lock()
		delete(a.sessions, c.Value)
		a.mu.Unlock()
	}
	a.setCookie(w, "", -1)
}

// Session implements mfahttp.App. The authenticator app labels the
// account with the user's email address, not the random user ID.
func (a *app) Session(r *http.Request) (mfahttp.Session, error) {
	s, ok := a.session(r)
	if !ok {
		return mfahttp.Session{}, mfahttp.ErrNoSession
	}
	u, ok := a.user(s.userID)
	if !ok {
		return mfahttp.Session{}, mfahttp.ErrNoSession
	}
	out := mfahttp.Session{UserID: u.id, AccountName: u.email}
	if s.needsMFA {
		out.Scopes = []string{mfa.ScopeRequiresAdditionalAuth}
	}
	return out, nil
}

// CompleteMFA implements mfahttp.App: the second factor is done, so the
// session is replaced by a full one with a new ID.
func (a *app) CompleteMFA(w http.ResponseWriter, r *http.Request, userID string) error {
	s, ok := a.session(r)
	if !ok || s.userID != userID {
		return mfahttp.ErrNoSession
	}
	a.startSession(w, r, userID, false)
	return nil
}

// ReturnLink implements mfahttp.ReturnLinker: the MFA UI leads back to the
// account page.
func (a *app) ReturnLink(*http.Request) (string, string) {
	return "/account", "Continue to your account"
}

// Site implements mfahttp.SiteProvider: the MFA UI's pages have the site
// header of the example's own pages (layout.html), with a link back to the
// account page and a log-out button, and the site's icon.
func (a *app) Site(*http.Request) mfahttp.Site {
	return mfahttp.Site{
		Name:      siteName,
		HomeURL:   "/",
		IconURL:   faviconURL,
		BackURL:   "/account",
		BackLabel: "Your account",
		LogoutURL: "/logout",
	}
}

// randomToken returns 256 random bits, base64url-encoded.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
