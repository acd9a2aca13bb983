package main

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/examples/internal/storeflag"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
	"golang.org/x/crypto/bcrypt"
)

// client is a browser without JavaScript: a cookie jar, no redirects
// followed.
type client struct {
	t    *testing.T
	base string
	http *http.Client
}

// newClient starts the example on plain HTTP at 127.0.0.1, as
// `go run ./examples/webapp` does, and returns a client for it. With the
// default Secure session cookie that works because net/http/cookiejar,
// like browsers, sends Secure cookies over plain HTTP to localhost and
// loopback addresses (since go.mod's Go 1.26 at least); TestBrowser checks
// the browsers' side. newTLSClient checks the same over HTTPS, as
// deployed.
func newClient(t *testing.T, cfg config) (*client, *mfatest.Clock) {
	t.Helper()
	return startClient(t, cfg, false)
}

// newTLSClient starts the example behind HTTPS.
func newTLSClient(t *testing.T, cfg config) (*client, *mfatest.Clock) {
	t.Helper()
	return startClient(t, cfg, true)
}

func startClient(t *testing.T, cfg config, tls bool) (*client, *mfatest.Clock) {
	t.Helper()
	clock := mfatest.NewClock(time.Date(2026, 9, 1, 10, 0, 0, 0, time.UTC))
	cfg.Store, cfg.Keys, cfg.Now = memstore.New(), mfatest.Keyring(t), clock.Now
	cfg.PasswordCost = bcrypt.MinCost
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	h, err := newServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := srv.Client() // it trusts the TLS server's certificate
	hc.Jar = jar
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &client{t: t, base: srv.URL, http: hc}, clock
}

type response struct {
	status   int
	location string
	body     string
	header   http.Header
}

func (c *client) do(method, path, contentType, body string, hdr ...string) response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return response{status: res.StatusCode, location: res.Header.Get("Location"), body: string(b), header: res.Header}
}

func (c *client) form(path string, values url.Values) response {
	c.t.Helper()
	return c.do("POST", path, "application/x-www-form-urlencoded", values.Encode())
}

func (c *client) json(method, path string, body any, hdr ...string) response {
	c.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do(method, path, "application/json", string(b), hdr...)
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("decoding %q: %v", r.body, err)
	}
	return v
}

func want(t *testing.T, what string, r response, status int, location string) {
	t.Helper()
	if r.status != status || r.location != location {
		t.Fatalf("%s: %d %q, want %d %q; body:\n%s", what, r.status, r.location, status, location, r.body)
	}
}

func credentials(email string) url.Values {
	return url.Values{"email": {email}, "password": {"correct horse battery"}}
}

// TestAccountAndActionMFA goes through the example with the default
// Secure __Host-session cookie over plain HTTP on 127.0.0.1 and over
// HTTPS, and with -insecure-cookies' "session" cookie over plain HTTP.
func TestAccountAndActionMFA(t *testing.T) {
	t.Run("plain HTTP", func(t *testing.T) { testAccountAndActionMFA(newClient(t, config{})) })
	t.Run("HTTPS", func(t *testing.T) { testAccountAndActionMFA(newTLSClient(t, config{})) })
	t.Run("insecure cookies", func(t *testing.T) { testAccountAndActionMFA(newClient(t, config{InsecureCookies: true})) })
}

func testAccountAndActionMFA(c *client, clock *mfatest.Clock) {
	t := c.t
	t.Helper()
	want(t, "sign-up", c.form("/signup", credentials("ann@example.com")), 303, "/account")
	r := c.do("GET", "/account", "", "")
	want(t, "account page", r, 200, "")
	// The set-up link opens the MFA UI on a new device's QR code (ui.js
	// takes the flow's add-device step for #add-device), not on the empty
	// device list.
	if !strings.Contains(r.body, `href="/mfa/#add-device">Set up two-factor authentication</a>`) {
		t.Error("the account page offers no enrolment that goes straight to the QR code")
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("account page CSP %q", csp)
	}

	// No device yet: the action needs one.
	r = c.json("POST", "/account/email", map[string]string{"email": "ann@example.org"})
	want(t, "change-email before enrolment", r, 403, "")

	// Enrol through the flow API, as the UI does.
	flow := decode[struct {
		View         string
		Registration struct{ Secret string }
	}](t, c.do("POST", "/mfa/api/flow/add-device", "", ""))
	if flow.View != "qr-code" || flow.Registration.Secret == "" {
		t.Fatalf("add-device: %+v", flow)
	}
	secret := flow.Registration.Secret
	want(t, "continue", c.do("POST", "/mfa/api/flow/continue", "", ""), 200, "")
	r = c.json("POST", "/mfa/api/flow/otp", map[string]string{"code": mfatest.Code(t, secret, clock.Now())})
	if v := decode[struct{ View string }](t, r).View; v != "backup-codes" {
		t.Fatalf("after the first code: view %q, want backup-codes: %s", v, r.body)
	}
	codes := decode[struct{ RecoveryCodes []string }](t, r).RecoveryCodes
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes", len(codes))
	}
	want(t, "acknowledge", c.do("POST", "/mfa/api/flow/acknowledge", "", ""), 200, "")

	// Log in again: the session needs MFA until a code.
	want(t, "log out", c.do("POST", "/logout", "", ""), 303, "/")
	want(t, "account after logout", c.do("GET", "/account", "", ""), 303, "/login")
	want(t, "log in", c.form("/login", credentials("ann@example.com")), 303, "/mfa/")
	want(t, "account before the code", c.do("GET", "/account", "", ""), 303, "/mfa/")
	want(t, "home before the code", c.do("GET", "/", "", ""), 303, "/mfa/")
	clock.Advance(30 * time.Second)
	r = c.json("POST", "/mfa/api/flow/otp", map[string]string{"code": mfatest.Code(t, secret, clock.Now())})
	if st := decode[struct {
		View     string
		Complete bool
	}](t, r); st.View != "devices" || !st.Complete {
		t.Fatalf("login code: %s", r.body)
	}
	want(t, "account after the code", c.do("GET", "/account", "", ""), 200, "")

	// The action: no token, a token, the same token again.
	token := func(code string) string {
		r := c.json("POST", "/mfa/api/recovery-codes/authenticate", map[string]any{
			"code": code, "createMfaToken": map[string]any{"singleUse": true, "scopes": []string{"change-email"}},
		})
		want(t, "token", r, 200, "")
		return decode[struct{ MFAToken struct{ Value string } }](t, r).MFAToken.Value
	}
	change := func(email, token string) response {
		return c.json("POST", "/account/email", map[string]string{"email": email}, "X-Mfa-Auth-Token", token)
	}
	r = change("ann@example.org", "")
	want(t, "change-email without a token", r, 403, "")
	if !strings.Contains(r.body, "mfa_token_required") {
		t.Errorf("change-email without a token: %s", r.body)
	}
	tok := token(codes[0])
	// A bad address is refused before the token is looked at, so the
	// token still works.
	want(t, "change-email to a bad address", change("not an address", tok), 400, "")
	want(t, "change-email with a token", change("ann@example.org", tok), 200, "")
	want(t, "change-email with a used token", change("ann@example.net", tok), 403, "")
	want(t, "form post to change-email", c.form("/account/email", url.Values{"email": {"x@example.com"}}), 415, "")
	r = c.do("GET", "/account", "", "")
	if !strings.Contains(r.body, "ann@example.org") {
		t.Error("the account page does not show the new address")
	}

	// The new address logs in; the old one does not.
	want(t, "log out", c.do("POST", "/logout", "", ""), 303, "/")
	want(t, "log in with the old address", c.form("/login", credentials("ann@example.com")), 401, "")
	want(t, "log in with the new address", c.form("/login", credentials("ANN@example.org")), 303, "/mfa/")
}

func TestLogin(t *testing.T) {
	c, _ := newClient(t, config{})
	r := c.form("/signup", credentials("ann@example.com"))
	want(t, "sign-up", r, 303, "/account")

	want(t, "sign-up again", c.form("/signup", credentials("Ann@Example.com")), 400, "")
	want(t, "short password", c.form("/signup", url.Values{"email": {"bob@example.com"}, "password": {"short"}}), 400, "")
	want(t, "bad address", c.form("/signup", url.Values{"email": {"bob"}, "password": {"long enough"}}), 400, "")

	wrong := c.form("/login", url.Values{"email": {"ann@example.com"}, "password": {"wrong password"}})
	unknown := c.form("/login", credentials("nobody@example.com"))
	want(t, "wrong password", wrong, 401, "")
	want(t, "unknown address", unknown, 401, "")
	if !strings.Contains(wrong.body, "Wrong email address or password.") || !strings.Contains(unknown.body, "Wrong email address or password.") {
		t.Error("wrong password and unknown address must read the same")
	}

	// State changes from another site are refused.
	want(t, "cross-site logout", c.do("POST", "/logout", "", "", "Sec-Fetch-Site", "cross-site"), 403, "")
	want(t, "account still logged in", c.do("GET", "/account", "", ""), 200, "")
}

// TestSignUpErrors: the server says what is wrong with a field under it,
// as the page does before sending (forms.js), so that a too-short password
// is not only the browser's bubble.
func TestSignUpErrors(t *testing.T) {
	c, _ := newClient(t, config{})
	want(t, "sign-up", c.form("/signup", credentials("ann@example.com")), 303, "/account")
	c.do("POST", "/logout", "", "")

	const (
		short = "This password is too short: use at least 8 characters."
		long  = "This password is too long: use at most 72 characters."
		email = "Enter a valid email address, like ann@example.com."
		taken = "An account with this email address exists already."
	)
	for _, tc := range []struct {
		name, email, password string
		emailErr, passwordErr string
	}{
		{"short password", "bob@example.com", "hunter2", "", short},
		{"empty password", "bob@example.com", "", "", short},
		{"long password", "bob@example.com", strings.Repeat("x", 73), "", long},
		{"bad address", "bob", "long enough", email, ""},
		{"address taken", "ANN@example.com", "long enough", taken, ""},
		{"bad address and short password", "bob@", "hunter2", email, short},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.form("/signup", url.Values{"email": {tc.email}, "password": {tc.password}})
			want(t, "sign-up", r, 400, "")
			for _, f := range []struct{ id, msg string }{{"email", tc.emailErr}, {"password", tc.passwordErr}} {
				input := regexp.MustCompile(`(?s)<input id="` + f.id + `"[^>]*>`).FindString(r.body)
				box := regexp.MustCompile(`<p id="` + f.id + `-error" class="field-error"( hidden)?>([^<]*)</p>`).FindStringSubmatch(r.body)
				switch {
				case input == "" || box == nil:
					t.Fatalf("no %s field with its error element:\n%s", f.id, r.body)
				case !strings.Contains(input, f.id+"-error"):
					t.Errorf("%s input %s: not described by its error", f.id, input)
				case f.msg == "" && (box[1] == "" || box[2] != "" || strings.Contains(input, "aria-invalid")):
					t.Errorf("%s: error %q, input %s: want none", f.id, box[0], input)
				case f.msg != "" && (box[1] != "" || html.UnescapeString(box[2]) != f.msg || !strings.Contains(input, `aria-invalid="true"`)):
					t.Errorf("%s: error %q, input %s: want %q shown and the input marked invalid", f.id, box[0], input, f.msg)
				}
			}
			if tc.email != "" && !strings.Contains(r.body, `value="`+html.EscapeString(tc.email)+`"`) {
				t.Errorf("the form lost the address %q", tc.email)
			}
			if strings.Contains(r.body, tc.password) && tc.password != "" {
				t.Error("the form shows the password again")
			}
		})
	}

	// The page's own messages (forms.js) match the server's.
	r := c.do("GET", "/signup", "", "")
	for _, attr := range []string{`data-too-short="` + short + `"`, `data-type-mismatch="` + email + `"`, `minlength="8"`, `maxlength="72"`, `src="/static/forms.js"`, "data-inline-errors"} {
		if !strings.Contains(r.body, attr) {
			t.Errorf("the sign-up page lacks %s", attr)
		}
	}
	if r := c.do("GET", "/static/forms.js", "", ""); r.status != 200 {
		t.Errorf("GET /static/forms.js: %d", r.status)
	}
}

// TestSite: every page, the MFA UI's too, has the site's icon and the same
// site header; the icon is there.
func TestSite(t *testing.T) {
	c, clock := newClient(t, config{})
	r := c.do("GET", faviconURL, "", "")
	if ct := r.header.Get("Content-Type"); r.status != 200 || ct != "image/svg+xml" || !strings.HasPrefix(r.body, "<svg ") {
		t.Errorf("GET %s: %d, Content-Type %q, body %.40q: want 200, an SVG image", faviconURL, r.status, ct, r.body)
	}
	want(t, "GET /favicon.ico", c.do("GET", "/favicon.ico", "", ""), 301, faviconURL)

	icon := `<link rel="icon" href="` + faviconURL + `">`
	brand := `<header class="site">` + "\n" + `  <a class="brand" href="/">mfakit demo</a>`
	logout := `<form class="logout" method="post" action="/logout"><button type="submit" class="link">Log out</button></form>`
	page := func(what, path string, signedIn bool) string {
		t.Helper()
		r := c.do("GET", path, "", "")
		want(t, what, r, 200, "")
		for _, w := range []string{icon, brand} {
			if !strings.Contains(r.body, w) {
				t.Errorf("%s lacks %s", what, w)
			}
		}
		if strings.Contains(r.body, "Log out") != signedIn {
			t.Errorf("%s: a Log out button %v, want %v", what, !signedIn, signedIn)
		}
		return r.body
	}
	page("the login page", "/login", false)
	page("the sign-up page", "/signup", false)
	want(t, "sign-up", c.form("/signup", credentials("ann@example.com")), 303, "/account")
	if body := page("the account page", "/account", true); !strings.Contains(body, logout) {
		t.Errorf("the account page's header lacks %s", logout)
	}

	// The MFA UI shows the same header from app.Site: Log out and the link
	// back to the account, which ui.js shows only when they fit.
	body := page("the MFA UI", "/mfa/", true)
	for _, w := range []string{
		`<title>Two-factor authentication · mfakit demo</title>`,
		`<a id="site-back" href="/account" hidden>Your account</a>`,
		`<form id="site-logout" method="post" action="/logout"><button type="submit" class="link">Log out</button></form>`,
	} {
		if !strings.Contains(body, w) {
			t.Errorf("the MFA UI lacks %s", w)
		}
	}

	// A login's code prompt has the header too, and Log out works from it.
	secret := decode[struct{ Registration struct{ Secret string } }](t, c.do("POST", "/mfa/api/flow/add-device", "", "")).Registration.Secret
	want(t, "continue", c.do("POST", "/mfa/api/flow/continue", "", ""), 200, "")
	want(t, "first code", c.json("POST", "/mfa/api/flow/otp", map[string]string{"code": mfatest.Code(t, secret, clock.Now())}), 200, "")
	want(t, "log out", c.do("POST", "/logout", "", ""), 303, "/")
	want(t, "log in", c.form("/login", credentials("ann@example.com")), 303, "/mfa/")
	page("the code prompt", "/mfa/", true)
	want(t, "log out from the code prompt", c.form("/logout", nil), 303, "/")
	want(t, "the account after that", c.do("GET", "/account", "", ""), 303, "/login")
}

// TestDates: the account page and the MFA UI write dates with the same
// Intl.DateTimeFormat options; the browser test checks the text.
func TestDates(t *testing.T) {
	c, _ := newClient(t, config{})
	options := regexp.MustCompile(`const dateOptions = (\{[^}]*\});`)
	var found []string
	for _, path := range []string{"/static/account.js", "/mfa/assets/ui.js"} {
		r := c.do("GET", path, "", "")
		m := options.FindStringSubmatch(r.body)
		if r.status != 200 || m == nil || !strings.Contains(r.body, "new Intl.DateTimeFormat(undefined, dateOptions)") {
			t.Fatalf("GET %s: %d, no dateOptions for Intl.DateTimeFormat", path, r.status)
		}
		found = append(found, m[1])
	}
	if found[0] != found[1] {
		t.Errorf("date options: account.js %s, ui.js %s: want the same", found[0], found[1])
	}
}

// setCookies returns the cookies a response sets.
func setCookies(r response) []*http.Cookie {
	return (&http.Response{Header: r.header}).Cookies()
}

// TestSessionCookie checks the session cookie by default (Secure, with the
// __Host- prefix, also over plain HTTP) and with -insecure-cookies
// ("session", not Secure): as set at sign-up, login and the second factor,
// as cleared at logout, and that a cookie of the other name is no session.
func TestSessionCookie(t *testing.T) {
	for _, tc := range []struct {
		name, cookie, other string
		secure, tls         bool
		cfg                 config
	}{
		{"default over plain HTTP", "__Host-session", "session", true, false, config{}},
		{"default over HTTPS", "__Host-session", "session", true, true, config{}},
		{"insecure cookies", "session", "__Host-session", false, false, config{InsecureCookies: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, clock := startClient(t, tc.cfg, tc.tls)
			// check returns the session cookie r sets, after checking its
			// attributes; maxAge < 0 means cleared.
			check := func(what string, r response, maxAge int) *http.Cookie {
				t.Helper()
				var found *http.Cookie
				for _, ck := range setCookies(r) {
					switch ck.Name {
					case tc.cookie:
						found = ck
					case tc.other:
						t.Errorf("%s: sets %s, want only %s", what, ck.Name, tc.cookie)
					}
				}
				switch {
				case found == nil:
					t.Fatalf("%s: no %s cookie in %q", what, tc.cookie, r.header.Values("Set-Cookie"))
				case found.Secure != tc.secure || !found.HttpOnly || found.SameSite != http.SameSiteLaxMode ||
					found.Path != "/" || found.Domain != "" || found.MaxAge != maxAge:
					t.Errorf("%s: cookie %q: want Secure=%v, HttpOnly, SameSite=Lax, Path=/, no Domain, Max-Age %d",
						what, found.Raw, tc.secure, maxAge)
				case maxAge > 0 && len(found.Value) != 43:
					t.Errorf("%s: session ID %q, want 256 bits", what, found.Value)
				case maxAge < 0 && found.Value != "":
					t.Errorf("%s: cleared cookie with value %q", what, found.Value)
				}
				return found
			}
			// status sends a lone cookie to /account, past the jar.
			status := func(ck *http.Cookie) int {
				t.Helper()
				req, err := http.NewRequest("GET", c.base+"/account", nil)
				if err != nil {
					t.Fatal(err)
				}
				req.AddCookie(ck)
				res, err := (&http.Client{Transport: c.http.Transport, CheckRedirect: c.http.CheckRedirect}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				return res.StatusCode
			}

			r := c.form("/signup", credentials("ann@example.com"))
			want(t, "sign-up", r, 303, "/account")
			session := check("sign-up", r, int(sessionTTL/time.Second))
			if got := status(session); got != 200 {
				t.Errorf("/account with the %s cookie: %d, want 200", tc.cookie, got)
			}
			if got := status(&http.Cookie{Name: tc.other, Value: session.Value}); got != 303 {
				t.Errorf("/account with the session ID in a %s cookie: %d, want 303 to /login", tc.other, got)
			}
			want(t, "account", c.do("GET", "/account", "", ""), 200, "")

			// A device, so that a login is first a pending session, then
			// a full one.
			secret := decode[struct{ Registration struct{ Secret string } }](t, c.do("POST", "/mfa/api/flow/add-device", "", "")).Registration.Secret
			want(t, "continue", c.do("POST", "/mfa/api/flow/continue", "", ""), 200, "")
			want(t, "first code", c.json("POST", "/mfa/api/flow/otp", map[string]string{"code": mfatest.Code(t, secret, clock.Now())}), 200, "")
			want(t, "acknowledge", c.do("POST", "/mfa/api/flow/acknowledge", "", ""), 200, "")

			r = c.do("POST", "/logout", "", "")
			want(t, "log out", r, 303, "/")
			check("log out", r, -1)
			if got := status(session); got != 303 {
				t.Errorf("/account with the session after logout: %d, want 303 to /login", got)
			}
			want(t, "account after logout", c.do("GET", "/account", "", ""), 303, "/login")

			r = c.form("/login", credentials("ann@example.com"))
			want(t, "log in", r, 303, "/mfa/")
			check("log in", r, int(pendingTTL/time.Second))
			clock.Advance(30 * time.Second)
			r = c.json("POST", "/mfa/api/flow/otp", map[string]string{"code": mfatest.Code(t, secret, clock.Now())})
			want(t, "login code", r, 200, "")
			check("login code", r, int(sessionTTL/time.Second))
			want(t, "account after the code", c.do("GET", "/account", "", ""), 200, "")
		})
	}
}

func TestListening(t *testing.T) {
	for _, tc := range []struct {
		addr     string
		insecure bool
		want     []string
		not      []string
	}{
		{"127.0.0.1:8080", false, []string{
			"listening on http://127.0.0.1:8080/ (open http://localhost:8080/)\n",
			"Secure (__Host-session)", "http://localhost", "-insecure-cookies",
		}, []string{"WARNING"}},
		{"[::]:8080", false, []string{"listening on http://[::]:8080/ (open http://localhost:8080/)\n", "-insecure-cookies"}, nil},
		{"192.0.2.1:80", false, []string{"listening on http://192.0.2.1:80/\n", "-insecure-cookies"}, []string{"open"}},
		{"0.0.0.0:8080", true, []string{"listening on http://0.0.0.0:8080/\n", "WARNING: -insecure-cookies", `"session" is not Secure`}, []string{"__Host-"}},
	} {
		got := listening(net.TCPAddrFromAddrPort(netip.MustParseAddrPort(tc.addr)), tc.insecure)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("listening(%s, insecure %v) = %q, want %q in it", tc.addr, tc.insecure, got, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(got, n) {
				t.Errorf("listening(%s, insecure %v) = %q, want no %q in it", tc.addr, tc.insecure, got, n)
			}
		}
	}
}

func TestRequireMFA(t *testing.T) {
	c, _ := newClient(t, config{RequireMFA: true})
	want(t, "sign-up", c.form("/signup", credentials("ann@example.com")), 303, "/mfa/")
	want(t, "account before enrolment", c.do("GET", "/account", "", ""), 303, "/mfa/")
	want(t, "flow sync with GET", c.do("GET", "/mfa/api/flow", "", ""), 405, "")
	r := c.do("POST", "/mfa/api/flow", "", "")
	st := decode[struct {
		View         string
		Registration struct{ URI string }
	}](t, r)
	if st.View != "qr-code" {
		t.Errorf("flow: view %q, want qr-code", st.View)
	}
	// The authenticator app shows the email address, not the user ID.
	if uri := st.Registration.URI; !strings.HasPrefix(uri, "otpauth://totp/mfakit%20demo:ann%40example.com?") {
		t.Errorf("registration URI %q: want the email address as the account name", uri)
	}
}

func TestOpenStore(t *testing.T) {
	s, closeStore, err := storeflag.Open("memory")
	if err != nil || s == nil {
		t.Fatalf("storeflag.Open(memory) = %v, %v", s, err)
	}
	closeStore()
	for _, bad := range []string{"mongodb://", "sqlite:", "postgres:", ""} {
		if _, _, err := storeflag.Open(bad); err == nil {
			t.Errorf("storeflag.Open accepted %q", bad)
		}
	}
	// An SQLite file keeps MFA state across a restart of the example.
	path := filepath.Join(t.TempDir(), "mfa.db")
	ctx := context.Background()
	s, closeStore, err = storeflag.Open("sqlite:" + path)
	if err != nil {
		t.Fatalf("storeflag.Open(sqlite) = %v", err)
	}
	m, err := mfa.New(mfa.Config{Store: s, Issuer: "mfakit demo", Keys: mfatest.Keyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddDevice(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	closeStore()
	s, closeStore, err = storeflag.Open("sqlite:" + path)
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	defer closeStore()
	st, err := s.LoadUser(ctx, "u1", time.Now())
	if err != nil || len(st.Devices) != 1 {
		t.Fatalf("after reopening: %+v, %v", st, err)
	}
}
