package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
	"golang.org/x/crypto/bcrypt"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// needChromium skips the test without Chromium, or fails it when CI is
// set.
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("no Chromium at %s, so no browser test: apt-get install -y chromium to run it", chromiumPath)
		}
		t.Fatalf("CI is set but there is no Chromium at %s: apt-get install -y chromium", chromiumPath)
	}
}

// TestBrowser drives headless Chromium through the example: sign-up (a
// too-short password first), enrolment in the MFA UI (QR code, device
// list, code, recovery codes), logins with a TOTP code and with recovery
// codes, logging out from the code prompt, the change-email action with
// and without an MFA token, replacing the recovery codes, and deleting the
// device. On the way it checks the site header on the MFA UI's pages, one
// primary action per view, dates that read the same on the account page
// and in the MFA UI, and that no page asks for anything missing (such as
// a favicon). It uses the real clock, as a user's authenticator app does.
//
// The server has the default session cookie, Secure with the __Host-
// prefix, and speaks plain HTTP, as `go run ./examples/webapp` does; the
// browser opens it as http://localhost:PORT, the URL the example's startup
// message gives. Chromium takes Secure cookies over plain HTTP from
// localhost, a secure context; TestBrowserCookieHosts checks 127.0.0.1 and
// another host too.
//
// With MFA_SCREENSHOTS=1 it writes screenshots of the four views at phone
// and desktop sizes to docs/screenshots.
func TestBrowser(t *testing.T) {
	needChromium(t)
	start := time.Now()

	h, err := newServer(config{
		Store:        memstore.New(),
		Keys:         mfatest.Keyring(t),
		Logger:       slog.New(slog.NewTextHandler(t.Output(), nil)),
		PasswordCost: bcrypt.MinCost,
	})
	if err != nil {
		t.Fatal(err)
	}
	missing := &notFoundLog{}
	srv := httptest.NewServer(missing.wrap(h))
	defer srv.Close()

	b := newBrowser(t, localhostURL(t, srv))
	const (
		email    = "ann@example.com"
		password = "correct horse battery"
	)

	// Sign up with a too-short password: the page says so under the
	// field, and so does the server when the browser does not check.
	b.goTo("/signup")
	b.do(
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), "short\r"),
	)
	b.waitFor("the page's message under the password", shown("password-error")+` && document.getElementById("password-error").textContent === "This password is too short: use at least 8 characters."`)
	b.expectTrue("still on the sign-up page, the password marked invalid", `location.pathname === "/signup" && document.getElementById("password").getAttribute("aria-invalid") === "true"`)
	b.expectFocus("password")
	b.do(chromedp.SendKeys(chromedp.ID("password"), "-and-long-enough"))
	b.expectTrue("no message once the password is long enough", `!`+shown("password-error")+` && !document.getElementById("password").hasAttribute("aria-invalid")`)
	b.clear("password")
	b.do(chromedp.SendKeys(chromedp.ID("password"), "short"))
	evaluate[chromedp.Void](b, `(() => { const f = document.querySelector("form"); f.noValidate = true; f.requestSubmit(); })()`)
	// The server's page has the password field take the focus.
	b.waitFor("the server's message under the password", `location.pathname === "/signup" && document.getElementById("password").autofocus && `+shown("password-error")+` && document.getElementById("password-error").textContent === "This password is too short: use at least 8 characters."`)
	b.expectTrue("the address kept, the password marked invalid", `document.getElementById("email").value === `+fmt.Sprintf("%q", email)+` && document.getElementById("password").getAttribute("aria-invalid") === "true"`)
	b.waitFor("the focus on the password", `document.activeElement && document.activeElement.id === "password"`)

	// Sign up: no device yet, so the account page offers enrolment.
	b.do(chromedp.SendKeys(chromedp.ID("password"), password+"\r"))
	b.waitFor("the account page with the enrolment button", `location.pathname === "/account" && !!document.getElementById("enrol")`)
	b.expectSiteHeader("the account page", true)
	// The browser keeps the session cookie as the server set it, out of
	// reach of scripts.
	c := b.sessionCookie()
	if c == nil || c.Name != "__Host-session" || !c.Secure || !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Path != "/" || c.Domain != "localhost" {
		t.Errorf("session cookie in the browser %+v: want __Host-session, Secure, HttpOnly, SameSite=Lax, Path=/, host-only on localhost", c)
	}
	b.expectTrue("no cookie for scripts", `document.cookie === ""`)
	b.do(chromedp.Click(chromedp.ID("enrol")))

	// "Set up two-factor authentication" lands on a new device's QR code,
	// with the site header, and a URL that shows the same QR code again
	// when reloaded.
	b.waitFor("the QR code view", `location.pathname === "/mfa/" && `+shown("view-qr-code")+` && `+shown("cancel-add")+` && document.getElementById("secret").textContent !== ""`)
	b.expectFocus("qr-title")
	b.expectTrue("no #add-device left in the URL", `location.hash === ""`)
	b.expectOnePrimary("the QR code view", "continue")
	b.expectSiteHeader("the QR code view", true)
	b.expectTrue("the site header's link back to the account", shown("site-back")+` && document.getElementById("site-back").getAttribute("href") === "/account"`)
	cancelled := evaluate[string](b, `document.getElementById("secret").textContent`)
	b.do(chromedp.Reload())
	b.waitFor("the same QR code after a reload", shown("view-qr-code")+fmt.Sprintf(` && document.getElementById("secret").textContent === %q`, cancelled))

	// QR view: Cancel goes back to the device list. The new device stays
	// pending, not listed, until it expires or Add device replaces it.
	b.do(chromedp.Click(chromedp.ID("cancel-add")))
	b.waitFor("the devices view", shown("view-devices")+` && document.querySelectorAll("#device-list li").length === 0`)
	b.expectFocus("devices-title")
	b.expectTrue("Add device after Cancel", shown("no-devices")+` && `+shown("add-device"))
	b.expectOnePrimary("the empty devices view", "add-device")
	b.expectTrue("the link back to the account, not primary", shown("return-link")+` && document.getElementById("return-link").classList.contains("secondary")`)
	if pending := evaluate[[]bool](b, `fetch("/mfa/api/devices").then(r => r.json()).then(b => b.devices.map(d => d.verified))`, chromedp.EvalAwaitPromise); !slices.Equal(pending, []bool{false}) {
		t.Errorf("after Cancel the user's devices are verified=%v, want one pending device", pending)
	}
	b.do(chromedp.Click(chromedp.ID("add-device")))
	b.waitFor("a new QR code", shown("view-qr-code")+fmt.Sprintf(` && document.getElementById("secret").textContent !== "" && document.getElementById("secret").textContent !== %q`, cancelled))

	// QR view: the image, its alt text, the setup key.
	b.waitFor("the QR code image", shown("view-qr-code")+` && document.getElementById("qr-image").complete && document.getElementById("qr-image").naturalWidth > 0`)
	b.expectFocus("qr-title")
	if alt := evaluate[string](b, `document.getElementById("qr-image").alt`); alt == "" {
		t.Error("the QR code image has no alt text")
	}
	grouped := evaluate[string](b, `document.getElementById("secret").textContent`)
	if !regexp.MustCompile(`^[A-Z2-7]{4}([ \n][A-Z2-7]{1,4})+$`).MatchString(grouped) {
		t.Fatalf("setup key %q: want base32 in groups of four", grouped)
	}
	app := &authenticator{secret: strings.Join(strings.Fields(grouped), ""), last: -1}
	b.expectOnePrimary("the QR code view", "continue")
	b.shoot("qr-code")
	// Keyboard only: Tab to Copy, Tab to Continue, Enter.
	b.do(chromedp.KeyEvent("\t"))
	b.expectFocus("copy-secret")
	b.do(chromedp.KeyEvent("\t"))
	b.expectFocus("continue")
	b.do(chromedp.KeyEvent("\r"))

	// OTP view: focus in the input; Enter submits.
	b.waitFor("the OTP view", shown("view-otp"))
	b.expectFocus("otp-code")
	b.expectTrue("no recovery code option while enrolling", `!`+shown("otp-form")+` || document.querySelector("#otp-form [data-toggle]").hidden`)
	b.expectOnePrimary("the OTP view while enrolling", "")
	b.do(chromedp.SendKeys(chromedp.ID("otp-code"), app.next(t)+"\r"))

	// Backup codes view: ten codes, Download and Copy.
	b.waitFor("the backup codes view", shown("view-backup-codes"))
	b.expectFocus("codes-title")
	codes := evaluate[[]string](b, `Array.from(document.querySelectorAll("#codes li"), li => li.textContent)`)
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown, want 10: %q", len(codes), codes)
	}
	for _, c := range codes {
		if !recoveryCodeFormat.MatchString(c) {
			t.Errorf("recovery code %q: want xxxx-xxxx-xxxx-xxxx", c)
		}
	}
	family := evaluate[string](b, `getComputedStyle(document.getElementById("codes")).fontFamily`)
	if !strings.Contains(family, "monospace") {
		t.Errorf("recovery codes in font %q, want a monospace one", family)
	}
	b.expectOnePrimary("the backup codes view", "acknowledge")
	b.shoot("backup-codes")
	b.do(chromedp.Click(chromedp.ID("download-codes")))
	saved := b.downloaded("recovery-codes.txt")
	for _, c := range codes {
		if !strings.Contains(saved, c+"\n") {
			t.Errorf("recovery-codes.txt lacks %s:\n%s", c, saved)
		}
	}
	b.do(chromedp.Click(chromedp.ID("copy-codes")))
	b.waitFor("the copy announcement", `document.getElementById("status").textContent.includes("copied")`)
	// Keyboard only: Tab past Download to "I have saved them", Space.
	b.expectFocus("copy-codes")
	b.do(chromedp.KeyEvent("\t"), chromedp.KeyEvent("\t"))
	b.expectFocus("acknowledge")
	b.do(chromedp.KeyEvent(" "))

	// Devices view: one verified device, no secret on the page.
	b.waitFor("the devices view with one device", shown("view-devices")+` && document.querySelectorAll("#device-list li").length === 1`)
	b.expectFocus("devices-title")
	page := evaluate[string](b, `document.body.innerText`)
	if !strings.Contains(page, "Verified") || strings.Contains(page, app.secret) || strings.Contains(page, codes[0]) {
		t.Errorf("devices view: want a verified device and neither secret nor codes:\n%s", page)
	}
	b.expectTrue("no Add device button next to a verified device", `!`+shown("add-device"))
	b.expectOnePrimary("the devices view", "return-link")
	b.expectDates("the devices view")
	added := evaluate[string](b, `document.querySelector("#device-list time").textContent`)
	b.expectDateSeparators()
	b.shoot("devices")

	// The account page writes the date as the MFA UI does.
	b.do(chromedp.Click(chromedp.ID("return-link")))
	b.waitFor("the account page, its script run", `location.pathname === "/account" && document.readyState === "complete"`)
	b.expectDates("the account page")
	if since := evaluate[string](b, `document.getElementById("mfa-since").textContent`); since != added {
		t.Errorf("the account page says two-factor authentication is on since %q, the device list that the device was added %q: want the same date, written the same way", since, added)
	}

	// Log in again: the OTP view; a wrong code, then the right one.
	b.logOut()
	b.logIn(email, password)
	b.waitFor("the OTP view after login", `location.pathname === "/mfa/" && `+shown("view-otp"))
	b.expectFocus("otp-code")
	b.expectTrue("the recovery code option", shown("otp-form")+` && !document.querySelector("#otp-form [data-toggle]").hidden`)
	b.expectStatus("/account", 303, "before the second factor, /account redirects")
	b.expectOnePrimary("the OTP view", "")
	// The way out of the code prompt is the header's Log out; a link back
	// to the account would only lead here again.
	b.expectSiteHeader("the OTP view", true)
	b.expectTrue("no link back to the account before the second factor", `!`+shown("site-back"))
	b.shoot("otp")
	// A code pasted with a space keeps all its digits, though the input
	// takes only six characters.
	evaluate[chromedp.Void](b, `(() => {
		const dt = new DataTransfer();
		dt.setData("text/plain", "123 456");
		document.getElementById("otp-code").dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true}));
	})()`)
	if got := evaluate[string](b, `document.getElementById("otp-code").value`); got != "123456" {
		t.Errorf("pasted %q, want 123456", got)
	}
	b.clear("otp-code")
	b.do(chromedp.SendKeys(chromedp.ID("otp-code"), app.wrong(t)+"\r"))
	b.waitFor("the error of a wrong code", `document.querySelector("[role=alert]").textContent.includes("not correct")`)
	b.expectFocus("otp-code")
	b.expectTrue("the input marked invalid", `document.getElementById("otp-code").getAttribute("aria-invalid") === "true"`)
	b.shoot("otp-error")
	b.clear("otp-code")
	b.do(chromedp.SendKeys(chromedp.ID("otp-code"), app.next(t)+"\r"))
	b.waitFor("the account page after a code", `location.pathname === "/account"`)

	// In recovery-code mode the code prompt speaks of recovery codes, and
	// its example is one that could be a recovery code. Log out leaves it.
	b.logOut()
	b.logIn(email, password)
	b.waitFor("the OTP view", shown("view-otp"))
	b.do(chromedp.Click(chromedp.CSS("#otp-form [data-toggle]")))
	b.expectFocus("otp-recovery")
	if h := evaluate[string](b, `document.getElementById("otp-title").innerText`); h != "Enter a recovery code" {
		t.Errorf("recovery-code mode: heading %q, want \"Enter a recovery code\"", h)
	}
	help := evaluate[string](b, `document.getElementById("view-otp").innerText`)
	if !strings.Contains(help, "recovery codes you saved") || strings.Contains(help, "Open your authenticator app") {
		t.Errorf("recovery-code mode: the view says\n%s\nwant help about recovery codes, not the authenticator app", help)
	}
	example := evaluate[string](b, `document.querySelector("#recovery-help .mono").textContent`)
	if !recoveryCodeFormat.MatchString(example) {
		t.Errorf("recovery-code mode: example code %q is not one mfakit could make", example)
	}
	b.do(chromedp.Click(chromedp.CSS("#otp-form [data-toggle]")))
	if h := evaluate[string](b, `document.getElementById("otp-title").innerText`); h != "Enter your code" {
		t.Errorf("back to app codes: heading %q, want \"Enter your code\"", h)
	}
	b.do(chromedp.Click(chromedp.CSS("#site-logout button")))
	b.waitFor("the login page after logging out from the code prompt", `location.pathname === "/" && !!document.querySelector('form[action="/login"]')`)
	b.expectStatus("/account", 303, "after logging out from the code prompt, /account redirects")

	// A recovery code works once.
	b.logIn(email, password)
	b.waitFor("the OTP view", shown("view-otp"))
	b.useRecoveryCode(codes[0])
	b.waitFor("the account page after a recovery code", `location.pathname === "/account"`)
	b.logOut()
	b.logIn(email, password)
	b.waitFor("the OTP view", shown("view-otp"))
	b.useRecoveryCode(codes[0])
	b.waitFor("the error of a used recovery code", `document.querySelector("[role=alert]").textContent.includes("used already")`)
	b.expectFocus("otp-recovery")
	b.clear("otp-recovery")
	b.do(chromedp.SendKeys(chromedp.ID("otp-recovery"), codes[1]+"\r"))
	b.waitFor("the account page after another recovery code", `location.pathname === "/account"`)

	// The sensitive action: refused without a token, or with one of
	// another scope; a single-use token works once.
	got := evaluate[[]int](b, fmt.Sprintf(`(async () => {
		const post = (path, body, headers) => fetch(path, {
			method: "POST",
			headers: Object.assign({"Content-Type": "application/json"}, headers),
			body: JSON.stringify(body),
		});
		const token = async (code, scope) => {
			const r = await post("/mfa/api/recovery-codes/authenticate", {code, createMfaToken: {singleUse: true, scopes: [scope]}});
			return (await r.json()).mfaToken.value;
		};
		const change = (headers) => post("/account/email", {email: "ann@example.org"}, headers).then(r => r.status);
		const out = [await change({})];
		out.push(await change({"X-Mfa-Auth-Token": await token(%q, "credential:unlink")}));
		const t = await token(%q, "change-email");
		out.push(await change({"X-Mfa-Auth-Token": t}));
		out.push(await change({"X-Mfa-Auth-Token": t}));
		return out;
	})()`, codes[2], codes[3]), chromedp.EvalAwaitPromise)
	if want := []int{403, 403, 200, 403}; !slices.Equal(got, want) {
		t.Errorf("change-email statuses without a token, with another scope's token, with a token, with it again: %v, want %v", got, want)
	}

	// The same action through the page, with a recovery code.
	b.goTo("/account")
	b.do(
		chromedp.SendKeys(chromedp.ID("new-email"), "ann@example.net"),
		chromedp.Click(chromedp.CSS("#change-email [data-toggle]")),
	)
	b.expectFocus("change-recovery")
	b.do(chromedp.SendKeys(chromedp.ID("change-recovery"), codes[4]+"\r"))
	b.waitFor("the changed email", `document.getElementById("email").textContent === "ann@example.net"`)

	// Replace the recovery codes, confirmed with one of them; Cancel
	// first. The set-up link's #add-device changes nothing for a user with
	// an authenticator app.
	b.goTo("/mfa/#add-device")
	b.waitFor("the devices view", shown("view-devices")+` && document.querySelectorAll("#device-list li").length === 1`)
	b.expectTrue("no error", `document.getElementById("error").textContent === ""`)
	b.do(chromedp.Click(chromedp.ID("replace-codes")))
	b.expectFocus("replace-code")
	b.do(chromedp.Click(chromedp.ID("replace-cancel")))
	b.expectFocus("replace-codes")
	b.expectTrue("the replace form closed", `!`+shown("replace-form"))
	b.do(chromedp.Click(chromedp.ID("replace-codes")))
	b.expectFocus("replace-code")
	b.do(chromedp.SendKeys(chromedp.ID("replace-code"), "12\r"))
	b.waitFor("the error of a short code", `document.querySelector("[role=alert]").textContent.includes("all " + document.getElementById("replace-code").maxLength + " digits")`)
	b.do(chromedp.Click(chromedp.CSS("#replace-form [data-toggle]")))
	b.expectFocus("replace-recovery")
	b.expectOnePrimary("the devices view with the replace form", "")
	b.shoot("devices-replace-codes")
	b.do(chromedp.SendKeys(chromedp.ID("replace-recovery"), codes[5]+"\r"))
	b.waitFor("the backup codes view with new codes", shown("view-backup-codes")+` && document.querySelectorAll("#codes li").length === 10`)
	b.expectFocus("codes-title")
	fresh := evaluate[[]string](b, `Array.from(document.querySelectorAll("#codes li"), li => li.textContent)`)
	if slices.ContainsFunc(fresh, func(c string) bool { return slices.Contains(codes, c) }) {
		t.Errorf("new recovery codes %q share codes with the old ones %q", fresh, codes)
	}
	b.do(chromedp.Click(chromedp.ID("acknowledge")))

	// Delete the device, confirmed with a recovery code: an old one no
	// longer works, a new one does.
	b.waitFor("the devices view", shown("view-devices")+` && document.querySelectorAll("#device-list li").length === 1`)
	b.do(chromedp.Click(chromedp.CSS("#device-list button")))
	b.expectFocus("delete-code")
	b.do(chromedp.Click(chromedp.CSS("#delete-form [data-toggle]")))
	b.expectFocus("delete-recovery")
	b.shoot("devices-delete")
	b.do(chromedp.SendKeys(chromedp.ID("delete-recovery"), codes[6]+"\r"))
	b.waitFor("the error of an old recovery code", `document.querySelector("[role=alert]").textContent.includes("not valid")`)
	b.expectFocus("delete-recovery")
	b.clear("delete-recovery")
	b.do(chromedp.SendKeys(chromedp.ID("delete-recovery"), fresh[0]+"\r"))
	b.waitFor("the empty devices view", shown("view-devices")+` && `+shown("no-devices")+` && `+shown("add-device"))
	b.goTo("/account")
	b.waitFor("the account page without MFA", `!!document.getElementById("enrol")`)

	b.checkConsole()
	for _, p := range missing.paths() {
		t.Errorf("the browser asked for %s, which is not there", p)
	}
	t.Logf("browser test took %s", time.Since(start).Round(time.Millisecond))
}

// TestBrowserCookieHosts signs up in Chromium over plain HTTP on
// localhost, 127.0.0.1 and mfa.test (which the browser resolves to
// 127.0.0.1 too), with the default Secure __Host-session cookie and with
// -insecure-cookies' plain "session" cookie. Chromium takes the Secure
// cookie over plain HTTP from localhost and 127.0.0.1, secure contexts,
// but drops it from mfa.test, so that sign-up ends on the login page: the
// case -insecure-cookies is for.
func TestBrowserCookieHosts(t *testing.T) {
	needChromium(t)
	b := newBrowser(t, "", chromedp.Flag("host-resolver-rules", "MAP mfa.test 127.0.0.1"))
	for _, insecure := range []bool{false, true} {
		h, err := newServer(config{
			Store:           memstore.New(),
			Keys:            mfatest.Keyring(t),
			Logger:          slog.New(slog.NewTextHandler(t.Output(), nil)),
			PasswordCost:    bcrypt.MinCost,
			InsecureCookies: insecure,
		})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		defer srv.Close()
		port := srv.Listener.Addr().(*net.TCPAddr).Port
		// Cookies are per host, not per port: start afresh for each
		// server.
		if _, err := chromedp.Call(b.ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
			t.Fatal(err)
		}
		for i, host := range []string{"localhost", "127.0.0.1", "mfa.test"} {
			b.base = fmt.Sprintf("http://%s:%d", host, port)
			b.goTo("/signup")
			b.do(
				chromedp.SendKeys(chromedp.ID("email"), fmt.Sprintf("user%d@example.com", i)),
				chromedp.SendKeys(chromedp.ID("password"), "correct horse battery\r"),
			)
			b.waitFor("the account or login page", `location.pathname === "/account" || location.pathname === "/login"`)
			got := evaluate[string](b, `location.pathname`)
			t.Logf("insecure cookies %v: sign-up on %s ends on %s", insecure, b.base, got)
			want, name := "/account", "__Host-session"
			if !insecure && host == "mfa.test" {
				want = "/login"
			}
			if insecure {
				name = "session"
			}
			if got != want {
				t.Errorf("insecure cookies %v: sign-up on %s ends on %s, want %s", insecure, b.base, got, want)
			}
			c := b.sessionCookie()
			switch {
			case want == "/login" && c != nil:
				t.Errorf("insecure cookies %v: Chromium kept the session cookie %+v from %s", insecure, c, b.base)
			case want == "/account" && (c == nil || c.Name != name || c.Secure == insecure || c.Domain != host):
				t.Errorf("insecure cookies %v: session cookie on %s %+v: want %s, Secure %v", insecure, b.base, c, name, !insecure)
			}
		}
	}
	b.checkConsole()
}

// recoveryCodeFormat is how mfakit shows a recovery code: 16 characters
// of Crockford's base32 in lower case, in groups of four.
var recoveryCodeFormat = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$`)

// notFoundLog records the paths that a handler answers 404, such as a
// favicon that a page asks for and the server lacks.
type notFoundLog struct {
	mu      sync.Mutex
	missing []string
}

func (l *notFoundLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		if sw.status == http.StatusNotFound {
			l.mu.Lock()
			l.missing = append(l.missing, r.Method+" "+r.URL.Path)
			l.mu.Unlock()
		}
	})
}

func (l *notFoundLog) paths() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.missing)
}

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// localhostURL returns the URL of the test server with localhost for the
// host, where httptest gives 127.0.0.1.
func localhostURL(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	a, ok := srv.Listener.Addr().(*net.TCPAddr)
	if !ok || !a.IP.IsLoopback() {
		t.Fatalf("test server on %v, want a loopback address", srv.Listener.Addr())
	}
	return fmt.Sprintf("http://localhost:%d", a.Port)
}

// shown returns JavaScript that is true when the element with the id is
// rendered.
func shown(id string) string {
	return fmt.Sprintf(`(() => { const e = document.getElementById(%q); return !!e && e.getClientRects().length > 0; })()`, id)
}

// authenticator computes the codes of the user's app. A device accepts each
// time step once, and steps up to one either side of the current one, so
// it gives the current step's code or, if that one is spent, the next
// step's.
type authenticator struct {
	secret string
	last   int64 // the step of the last code given
}

func (a *authenticator) next(t *testing.T) string {
	step := max(time.Now().Unix()/30, a.last+1)
	if step > time.Now().Unix()/30+1 {
		t.Fatal("authenticator: no fresh code within the skew window")
	}
	a.last = step
	return mfatest.Code(t, a.secret, time.Unix(step*30, 0))
}

// wrong returns a code that no step in the window has.
func (a *authenticator) wrong(t *testing.T) string {
	now := time.Now()
	for _, c := range []string{"000000", "111111", "222222"} {
		if c != mfatest.Code(t, a.secret, now.Add(-30*time.Second)) && c != mfatest.Code(t, a.secret, now) && c != mfatest.Code(t, a.secret, now.Add(30*time.Second)) {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

// browserTest is a headless Chromium tab on the example's server.
type browserTest struct {
	t        *testing.T
	ctx      context.Context
	base     string
	download string // the download directory
	shots    string // the screenshot directory; "" for none
	header   string // how the site header looked where first checked

	mu       sync.Mutex
	problems []string // console errors, exceptions, CSP violations
}

func newBrowser(t *testing.T, base string, opts ...chromedp.ExecAllocatorOption) *browserTest {
	t.Helper()
	// The whole browser session has a minute.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}, opts...)...)
	t.Cleanup(cancelAlloc)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)

	b := &browserTest{t: t, ctx: tabCtx, base: base, download: t.TempDir()}
	if os.Getenv("MFA_SCREENSHOTS") == "1" {
		b.shots = filepath.Join("..", "..", "docs", "screenshots")
		if err := os.MkdirAll(b.shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b.do(chromedp.EmulateViewport(1280, 800))
	console := chromedp.Console(tabCtx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			switch {
			case m.IsException(),
				strings.Contains(m.Text, "Content Security Policy"),
				strings.Contains(m.Text, "Trusted Type"),
				strings.Contains(m.Text, "integrity"):
				b.mu.Lock()
				b.problems = append(b.problems, m.String())
				b.mu.Unlock()
			}
		}
	}()
	if _, err := chromedp.CallBrowser(tabCtx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior:     browser.SetDownloadBehaviorBehaviorAllow,
		DownloadPath: b.download,
	}); err != nil {
		t.Fatal(err)
	}
	return b
}

// do runs actions. Right after the page navigates by itself (a form
// post, a redirect, location.assign), chromedp may still hold nodes of the
// old document; an action that finds such a stale node has done nothing
// yet, and is tried again.
func (b *browserTest) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	for _, a := range actions {
		for try := 1; ; try++ {
			err := chromedp.Do(b.ctx, a)
			if err == nil {
				break
			}
			if try == 20 || !strings.Contains(err.Error(), "node with given id") {
				b.t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func evaluate[T any](b *browserTest, js string, opts ...chromedp.EvaluateOption) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js, opts...))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

func (b *browserTest) goTo(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
}

// waitFor polls js until it is true. Unlike chromedp.Poll it goes on
// across page loads.
func (b *browserTest) waitFor(what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) || b.ctx.Err() != nil {
			text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.pathname + "\n" + document.body.innerText`))
			b.t.Fatalf("waiting for %s: %s (err %v); page:\n%s", what, js, err, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *browserTest) expectTrue(what, js string) {
	b.t.Helper()
	if !evaluate[bool](b, js) {
		b.t.Errorf("want %s: %s", what, js)
	}
}

// expectFocus checks that the element with the id has the keyboard focus.
func (b *browserTest) expectFocus(id string) {
	b.t.Helper()
	if got := evaluate[string](b, `document.activeElement ? document.activeElement.id : ""`); got != id {
		b.t.Errorf("focus on %q, want %q", got, id)
	}
}

// expectStatus fetches path from the page without following redirects.
func (b *browserTest) expectStatus(path string, want int, what string) {
	b.t.Helper()
	got := evaluate[int](b, fmt.Sprintf(`fetch(%q, {redirect: "manual"}).then(r => r.type === "opaqueredirect" ? 303 : r.status)`, path), chromedp.EvalAwaitPromise)
	if got != want {
		b.t.Errorf("%s: GET %s = %d, want %d", what, path, got, want)
	}
}

// clear empties the input with the id.
func (b *browserTest) clear(id string) {
	b.t.Helper()
	evaluate[chromedp.Void](b, fmt.Sprintf(`document.getElementById(%q).value = ""`, id))
}

func (b *browserTest) logIn(email, password string) {
	b.t.Helper()
	b.goTo("/login")
	b.do(
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password+"\r"),
	)
}

func (b *browserTest) logOut() {
	b.t.Helper()
	b.goTo("/account")
	b.do(chromedp.Click(chromedp.CSS("form.logout button")))
	b.waitFor("the login page", `location.pathname === "/" && !!document.querySelector('form[action="/login"]')`)
}

// sessionCookie returns the browser's session cookie for the current base
// URL, or nil.
func (b *browserTest) sessionCookie() *network.Cookie {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base + "/"}})
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == "__Host-session" || c.Name == "session" {
			return c
		}
	}
	return nil
}

// expectOnePrimary checks that the page shows one primary button, with
// the id unless it is "".
func (b *browserTest) expectOnePrimary(what, id string) {
	b.t.Helper()
	ids := evaluate[[]string](b, `Array.from(document.querySelectorAll("main .primary")).filter(e => e.getClientRects().length > 0).map(e => e.id || e.textContent)`)
	if len(ids) != 1 || (id != "" && ids[0] != id) {
		b.t.Errorf("%s: primary buttons %q, want one (%s)", what, ids, cmp.Or(id, "any"))
	}
}

// expectSiteHeader checks the site header: the example's name linking
// home, a Log out button while signedIn, the site's icon, and that it
// looks as on the first page it was checked on.
func (b *browserTest) expectSiteHeader(what string, signedIn bool) {
	b.t.Helper()
	b.expectTrue(what+": the site header", `(() => {
		const brand = document.querySelector("header.site a.brand");
		return !!brand && brand.textContent === "`+siteName+`" && brand.getAttribute("href") === "/" &&
			document.querySelector('link[rel="icon"]').getAttribute("href") === "`+faviconURL+`";
	})()`)
	logout := evaluate[bool](b, `(() => {
		const button = document.querySelector('header.site form[method="post"][action="/logout"] button');
		return !!button && button.getClientRects().length > 0 && button.textContent === "Log out";
	})()`)
	if logout != signedIn {
		b.t.Errorf("%s: a Log out button in the site header: %v, want %v", what, logout, signedIn)
	}
	// Its size and type, for comparing the example's pages and the MFA
	// UI's; the header's width would count a scroll bar.
	look := evaluate[string](b, `(() => {
		const h = document.querySelector("header.site"), brand = h.querySelector("a.brand"), s = getComputedStyle(brand);
		return [h.getBoundingClientRect().height, brand.getBoundingClientRect().height, s.fontFamily, s.fontSize, s.fontWeight, s.color].join(" | ");
	})()`)
	switch {
	case b.header == "":
		b.header = look
	case look != b.header:
		b.t.Errorf("%s: the site header looks like %q, on the first page %q", what, look, b.header)
	}
}

// expectDates checks that each date on the page reads as in the browser's
// locale with the options that the example's account.js and the MFA UI's
// ui.js share.
func (b *browserTest) expectDates(what string) {
	b.t.Helper()
	dates := evaluate[[]string](b, `(() => {
		const f = new Intl.DateTimeFormat(undefined, {year: "numeric", month: "short", day: "numeric"});
		return Array.from(document.querySelectorAll("time[datetime]"), t => t.textContent + " | " + f.format(new Date(t.dateTime)));
	})()`)
	if len(dates) == 0 {
		b.t.Errorf("%s: no dates", what)
	}
	for _, d := range dates {
		if got, want, _ := strings.Cut(d, " | "); got != want {
			b.t.Errorf("%s: date %q, want %q", what, got, want)
		}
	}
}

// expectDateSeparators checks the dots between a device's dates, which
// the style sheet draws: at phone and desktop widths, and on a card wide
// enough for the dates to share a line, no line of dates starts or ends
// with one.
func (b *browserTest) expectDateSeparators() {
	b.t.Helper()
	if text := evaluate[string](b, `document.querySelector("#device-list .device-meta").textContent`); strings.Contains(text, "·") {
		b.t.Errorf("device dates %q: want the dots drawn by the style sheet, not in the text", text)
	}
	var wrapped, shared bool
	for _, c := range []struct {
		name  string
		width int64
		card  string // the card's max-width, "" for the style sheet's
	}{
		{"phone", 375, ""},
		{"desktop", 1280, ""},
		{"wide card", 1280, "60rem"},
	} {
		b.do(chromedp.EmulateViewport(c.width, 800))
		evaluate[chromedp.Void](b, fmt.Sprintf(`document.getElementById("mfa").style.maxWidth = %q`, c.card))
		evaluate[chromedp.Void](b, `new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))`, chromedp.EvalAwaitPromise)
		// A date at the start of a line has its dot left of the box that
		// clips it; any other date has it inside, after the date before.
		lines := evaluate[[]string](b, `(() => {
			const box = document.querySelector("#device-list .device-meta").getBoundingClientRect();
			const out = [];
			let top = null;
			for (const d of document.querySelectorAll("#device-list .device-dates > *")) {
				const r = d.getBoundingClientRect();
				const starts = top === null || r.top > top + 1;
				const hidden = r.right - r.width < box.left - 1;
				out.push((starts ? "new line" : "same line") + ", dot " + (hidden ? "clipped" : "shown") + ": " + d.textContent);
				top = r.top;
			}
			return out;
		})()`)
		b.t.Logf("device dates, %s: %q", c.name, lines)
		for i, l := range lines {
			if !strings.HasPrefix(l, "new line, dot clipped") && !strings.HasPrefix(l, "same line, dot shown") {
				b.t.Errorf("device dates, %s: %s", c.name, l)
			}
			wrapped = wrapped || (i > 0 && strings.HasPrefix(l, "new line"))
			shared = shared || strings.HasPrefix(l, "same line")
		}
		if dot := evaluate[string](b, `getComputedStyle(document.querySelector("#device-list .device-dates > *"), "::before").content`); !strings.Contains(dot, "·") {
			b.t.Errorf("device dates, %s: the dot before a date is %s", c.name, dot)
		}
	}
	evaluate[chromedp.Void](b, `document.getElementById("mfa").style.maxWidth = ""`)
	if n := evaluate[int](b, `document.querySelectorAll("#device-list .device-dates > *").length`); n > 1 && (!wrapped || !shared) {
		b.t.Errorf("device dates: wrapped at some width %v, on one line at another %v: want both checked", wrapped, shared)
	}
}

// useRecoveryCode switches the OTP view to a recovery code and sends it.
func (b *browserTest) useRecoveryCode(code string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS("#otp-form [data-toggle]")))
	b.expectFocus("otp-recovery")
	b.do(chromedp.SendKeys(chromedp.ID("otp-recovery"), code+"\r"))
}

// downloaded waits for a downloaded file and returns its content.
func (b *browserTest) downloaded(name string) string {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(filepath.Join(b.download, name))
		if err == nil && len(data) > 0 {
			return string(data)
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no download %s: %v", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shoot writes screenshots of the page at phone and desktop sizes, when
// MFA_SCREENSHOTS=1.
func (b *browserTest) shoot(name string) {
	b.t.Helper()
	if b.shots == "" {
		return
	}
	for _, size := range []struct {
		name          string
		width, height int64
	}{
		{"phone", 375, 812},
		{"desktop", 1280, 800},
	} {
		b.do(chromedp.EmulateViewport(size.width, size.height))
		// Let the page lay itself out at the new size, and finish its
		// transitions (a button that just changed its colour).
		evaluate[chromedp.Void](b, `Promise.all(document.getAnimations().map(a => a.finished.catch(() => {})))
			.then(() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))))`, chromedp.EvalAwaitPromise)
		png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			b.t.Fatal(err)
		}
		path := filepath.Join(b.shots, name+"-"+size.name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

// checkConsole fails the test for exceptions, CSP violations and the like.
func (b *browserTest) checkConsole() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("browser console: %s", p)
	}
}

// TestBrowserDeviceDigits logs in, in Chromium, as a user whose device
// gives 8-digit codes on a server that enrols new devices with 6: the code
// prompt sizes its input from the device, and the device's code logs in.
func TestBrowserDeviceDigits(t *testing.T) {
	needChromium(t)
	h, err := newServer(config{
		Store:        memstore.New(),
		Keys:         mfatest.Keyring(t),
		Logger:       slog.New(slog.NewTextHandler(t.Output(), nil)),
		PasswordCost: bcrypt.MinCost,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	b := newBrowser(t, localhostURL(t, srv))
	const email, password = "eve@example.com", "correct horse battery"
	b.goTo("/signup")
	b.do(
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password+"\r"),
	)
	b.waitFor("the account page", `location.pathname === "/account"`)

	// An operator imports the user's 8-digit SHA256 device from another
	// system.
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	h.app.mu.Lock()
	userID := h.app.byEmail[email].id
	h.app.mu.Unlock()
	if _, err := h.m.ImportTOTPDevice(t.Context(), userID, mfa.TOTPImport{Secret: secret, Algorithm: mfa.SHA256, Digits: 8}); err != nil {
		t.Fatal(err)
	}

	b.logOut()
	b.logIn(email, password)
	b.waitFor("the code prompt sized for the device", shown("view-otp")+
		` && document.getElementById("otp-code").maxLength === 8 && document.querySelector('label[for="otp-code"]').textContent === "8-digit code"`)
	code := mfatest.TOTP{Algorithm: mfa.SHA256, Digits: 8}.Code(t, secret, time.Now())
	b.do(chromedp.SendKeys(chromedp.ID("otp-code"), code+"\r"))
	// The path changes before the page is parsed: wait for the form.
	b.waitFor("the account page's change-email form sized for the device", `location.pathname === "/account" && document.getElementById("change-code") !== null && document.getElementById("change-code").maxLength === 8 && document.querySelector('label[for="change-code"]').textContent === "8-digit code"`)
}
