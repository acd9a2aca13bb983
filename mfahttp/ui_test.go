package mfahttp_test

import (
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfahttp"
	"github.com/mfakit/mfa/mfatest"
)

// uiApp has no sessions; the UI page needs none. With a return URL it is
// a ReturnLinker.
type uiApp struct{ returnURL string }

func (uiApp) Session(*http.Request) (mfahttp.Session, error) {
	return mfahttp.Session{}, mfahttp.ErrNoSession
}

func (uiApp) CompleteMFA(http.ResponseWriter, *http.Request, string) error { return nil }

type linkingApp struct{ uiApp }

func (a linkingApp) ReturnLink(*http.Request) (string, string) {
	return a.returnURL, "Back to <Acme>"
}

// uiServer serves the handler under /mfa/, as an application mounts it.
func uiServer(t *testing.T, app mfahttp.App) *httptest.Server {
	t.Helper()
	return uiServerWith(t, app, mfa.TOTPConfig{})
}

// uiServerWith is uiServer over an MFA with totp as its TOTP settings.
func uiServerWith(t *testing.T, app mfahttp.App, totp mfa.TOTPConfig) *httptest.Server {
	t.Helper()
	m, err := mfa.New(mfa.Config{Store: memstore.New(), Issuer: "Acme", Keys: mfatest.Keyring(t), TOTP: totp})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/mfa/", http.StripPrefix("/mfa", mfahttp.New(m, app)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

var assetRef = regexp.MustCompile(`(?:src|href)="(assets/[^"?]+\?v=[0-9a-f]+)" integrity="([^"]+)"`)

func TestUIPage(t *testing.T) {
	srv := uiServer(t, uiApp{})
	res, body := get(t, srv.URL+"/mfa/")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /mfa/: %s", res.Status)
	}
	for name, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"X-Frame-Options":        "DENY",
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := res.Header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("Content-Security-Policy %q allows unsafe code", csp)
	}

	// The CSP forbids inline script and style: the page must have none.
	for _, bad := range []string{"<script>", "<style", " style=", " onclick=", " onsubmit=", "javascript:"} {
		if strings.Contains(body, bad) {
			t.Errorf("page has %q, which its CSP forbids", bad)
		}
	}
	if n := len(assetRef.FindAllString(body, -1)); n != 2 {
		t.Errorf("page refers to %d versioned assets with integrity, want 2 (script and style)", n)
	}
	// Nothing loads from elsewhere, and asset URLs are relative so that any
	// mount prefix works.
	for _, bad := range []string{`src="/`, `href="/`, `src="http`, `href="http`} {
		if strings.Contains(body, bad) {
			t.Errorf("page has %q: want relative URLs only", bad)
		}
	}

	// The guide's four views, and the code input of the OTP view.
	for _, id := range []string{"view-devices", "view-qr-code", "view-otp", "view-backup-codes"} {
		if !strings.Contains(body, `id="`+id+`"`) {
			t.Errorf("page lacks the view %s", id)
		}
	}
	otp := regexp.MustCompile(`<input id="otp-code"[^>]*>`).FindString(body)
	for _, want := range []string{`inputmode="numeric"`, `autocomplete="one-time-code"`, `pattern="[0-9]*"`, `maxlength="6"`} {
		if !strings.Contains(otp, want) {
			t.Errorf("OTP input %s lacks %s", otp, want)
		}
	}
	for _, want := range []string{`<label for="otp-code">`, `role="alert"`, `aria-live="polite"`, "Use a recovery code instead", `alt="QR code`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(body, "data-return-url=\"/") || strings.Contains(body, `id="return"`) {
		t.Error("page links back although the app is no ReturnLinker")
	}
	// Nor a site header or icon without a SiteProvider.
	for _, bad := range []string{"<header", `rel="icon"`, `id="site-`, "has-site"} {
		if strings.Contains(body, bad) {
			t.Errorf("page has %s although the app is no SiteProvider", bad)
		}
	}
}

// recoveryCode is how mfakit shows a recovery code: 16 characters of
// Crockford's base32 in lower case (no i, l, o or u), in groups of four.
var recoveryCode = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$`)

// TestUIRecoveryMode: the code prompt has a heading and help of its own
// for recovery codes, which ui.js shows in their place, and its example
// is a code mfakit could make.
func TestUIRecoveryMode(t *testing.T) {
	_, body := get(t, uiServer(t, uiApp{}).URL+"/mfa/")
	otp := body[strings.Index(body, `<section id="view-otp"`):]
	otp = otp[:strings.Index(otp, "</section>")]
	for _, want := range []string{
		`<h1 id="otp-title" tabindex="-1"><span data-for-mode="totp">Enter your code</span><span data-for-mode="recovery" hidden>Enter a recovery code</span><span data-for-mode="passkey" hidden>Use your passkey</span></h1>`,
		`<p id="otp-help" data-for-mode="totp">Open your authenticator app`,
		`<p id="otp-recovery-help" data-for-mode="recovery" hidden>`,
		`aria-describedby="otp-recovery-help recovery-help"`,
	} {
		if !strings.Contains(otp, want) {
			t.Errorf("the OTP view lacks %s", want)
		}
	}
	if help := regexp.MustCompile(`<p id="otp-recovery-help"[^>]*>([^<]*)</p>`).FindStringSubmatch(otp); help == nil ||
		!strings.Contains(help[1], "recovery codes") || strings.Contains(help[1], "Open your authenticator app") {
		t.Errorf("recovery-code help %q: want it about recovery codes", help)
	}
	examples := regexp.MustCompile(`<span class="mono">([^<]*)</span>`).FindAllStringSubmatch(otp, -1)
	if len(examples) == 0 {
		t.Fatal("the OTP view shows no example recovery code")
	}
	for _, ex := range examples {
		if !recoveryCode.MatchString(ex[1]) {
			t.Errorf("example recovery code %q is not one mfakit could make", ex[1])
		}
	}

	// The example has the form of real codes.
	m, err := mfa.New(mfa.Config{Store: memstore.New(), Issuer: "Acme", Keys: mfatest.Keyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := m.AddDevice(t.Context(), "u1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.AuthenticateDevice(t.Context(), "u1", mfa.AuthenticateRequest{Code: mfatest.Code(t, reg.Secret, time.Now())}); err != nil {
		t.Fatal(err)
	}
	codes, err := m.GetNewRecoveryCodes(t.Context(), "u1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range codes {
		if !recoveryCode.MatchString(c) {
			t.Fatalf("mfakit made the recovery code %q, which the test's pattern does not take", c)
		}
	}
}

// siteApp is a SiteProvider.
type siteApp struct {
	uiApp
	site mfahttp.Site
}

func (a siteApp) Site(*http.Request) mfahttp.Site { return a.site }

// TestUISite: a SiteProvider puts its header and icon on the page, as
// given and escaped; the links that depend on the session start hidden for
// ui.js to show.
func TestUISite(t *testing.T) {
	srv := uiServer(t, siteApp{site: mfahttp.Site{
		Name:      "Acme <Shop>",
		HomeURL:   "/home",
		IconURL:   "/static/icon.svg",
		BackURL:   "/account",
		BackLabel: "Your account",
		LogoutURL: "/logout",
	}})
	_, body := get(t, srv.URL+"/mfa/")
	for _, want := range []string{
		`<title>Two-factor authentication · Acme &lt;Shop&gt;</title>`,
		`<link rel="icon" href="/static/icon.svg">`,
		`<body class="has-site">`,
		`<a class="brand" href="/home">Acme &lt;Shop&gt;</a>`,
		`<a id="site-back" href="/account" hidden>Your account</a>`,
		`<form id="site-logout" method="post" action="/logout"><button type="submit" class="link">Log out</button></form>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Index(body, `<header class="site">`) > strings.Index(body, `<main id="mfa"`) {
		t.Error("the site header is not above the card")
	}

	// Defaults: home is /, the back link reads "Back"; no header without a
	// name or links, but the icon.
	_, body = get(t, uiServer(t, siteApp{site: mfahttp.Site{Name: "Acme", BackURL: "/account"}}).URL+"/mfa/")
	for _, want := range []string{`<a class="brand" href="/">Acme</a>`, `<a id="site-back" href="/account" hidden>Back</a>`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(body, "site-logout") {
		t.Error("a Log out button without a LogoutURL")
	}
	_, body = get(t, uiServer(t, siteApp{site: mfahttp.Site{IconURL: "/icon.svg"}}).URL+"/mfa/")
	if strings.Contains(body, "<header") || !strings.Contains(body, `<link rel="icon" href="/icon.svg">`) {
		t.Error("want the icon and no header for a Site with an icon only")
	}

	// html/template keeps dangerous URLs out of the page.
	_, body = get(t, uiServer(t, siteApp{site: mfahttp.Site{
		Name: "x", HomeURL: "javascript:alert(1)", IconURL: "javascript:alert(2)", BackURL: "javascript:alert(3)", LogoutURL: "javascript:alert(4)",
	}}).URL+"/mfa/")
	if strings.Contains(body, "javascript:") {
		t.Error("a javascript: URL reached the page")
	}
}

// TestUIScript checks what ui.js promises around the page: the set-up link
// (#add-device), the site header's links, dates in the browser's locale.
// TestBrowser in examples/webapp drives them.
func TestUIScript(t *testing.T) {
	srv := uiServer(t, uiApp{})
	_, js := get(t, srv.URL+"/mfa/assets/ui.js")
	for _, want := range []string{
		`window.location.hash !== '#add-device'`,
		`step('add-device')`,
		`history.replaceState(`,
		`$('site-back')`,
		`$('site-logout')`,
		`const dateOptions = { year: 'numeric', month: 'short', day: 'numeric' };`,
		`new Intl.DateTimeFormat(undefined, dateOptions)`,
	} {
		if !strings.Contains(js, want) {
			t.Errorf("ui.js lacks %s", want)
		}
	}
	if strings.Contains(js, "' · '") || strings.Contains(js, `" · "`) {
		t.Error("ui.js writes a dot between a device's dates; the style sheet draws them")
	}
}

// TestUICodeLength: the page describes and takes codes of the length and
// period the MFA is configured with.
func TestUICodeLength(t *testing.T) {
	for _, tc := range []struct {
		name string
		totp mfa.TOTPConfig
		want []string
	}{
		{"default", mfa.TOTPConfig{}, []string{`data-digits="6"`, "6‑digit code every 30 seconds", `<label for="otp-code">6-digit code</label>`}},
		{"8 digits every 60 s", mfa.TOTPConfig{Digits: 8, Period: time.Minute}, []string{`data-digits="8"`, "8‑digit code every 60 seconds", `<label for="otp-code">8-digit code</label>`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, body := get(t, uiServerWith(t, uiApp{}, tc.totp).URL+"/mfa/")
			for _, want := range tc.want {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %s", want)
				}
			}
			digits := tc.totp.Digits
			if digits == 0 {
				digits = 6
			}
			inputs := regexp.MustCompile(`<input [^>]*inputmode="numeric"[^>]*>`).FindAllString(body, -1)
			if len(inputs) != 3 {
				t.Errorf("%d numeric code inputs, want 3 (login, delete, new recovery codes)", len(inputs))
			}
			for _, in := range inputs {
				if !strings.Contains(in, fmt.Sprintf(`maxlength="%d"`, digits)) {
					t.Errorf("input %s: want maxlength=%q", in, fmt.Sprint(digits))
				}
			}
			for _, label := range regexp.MustCompile(`\d-digit code`).FindAllString(body, -1) {
				if label != fmt.Sprintf("%d-digit code", digits) {
					t.Errorf("page says %q with %d-digit codes", label, digits)
				}
			}
		})
	}
}

func TestUIReturnLink(t *testing.T) {
	srv := uiServer(t, linkingApp{uiApp{returnURL: "/account"}})
	_, body := get(t, srv.URL+"/mfa/")
	for _, want := range []string{`data-return-url="/account"`, `href="/account">Back to &lt;Acme&gt;</a>`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}

	// html/template keeps a dangerous URL out of the page.
	srv = uiServer(t, linkingApp{uiApp{returnURL: "javascript:alert(1)"}})
	_, body = get(t, srv.URL+"/mfa/")
	if strings.Contains(body, "javascript:") {
		t.Error("a javascript: return URL reached the page")
	}
}

func TestUIAssets(t *testing.T) {
	srv := uiServer(t, uiApp{})
	_, page := get(t, srv.URL+"/mfa/")
	refs := assetRef.FindAllStringSubmatch(page, -1)
	if len(refs) == 0 {
		t.Fatal("no assets on the page")
	}
	for _, ref := range refs {
		url := srv.URL + "/mfa/" + html.UnescapeString(ref[1])
		res, body := get(t, url)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", url, res.Status)
		}
		ct := res.Header.Get("Content-Type")
		if !strings.HasPrefix(ct, "text/javascript") && !strings.HasPrefix(ct, "text/css") {
			t.Errorf("%s: Content-Type %q", ref[1], ct)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no X-Content-Type-Options: nosniff", ref[1])
		}
		sum := sha512.Sum384([]byte(body))
		if want := "sha384-" + base64.StdEncoding.EncodeToString(sum[:]); html.UnescapeString(ref[2]) != want {
			t.Errorf("%s: integrity %s, want %s", ref[1], ref[2], want)
		}
		if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("%s with its version: Cache-Control %q, want immutable", ref[1], cc)
		}
		if strings.HasSuffix(ref[1], ".js") {
			for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "'/api", "`/api", `"/api`} {
				if strings.Contains(body, bad) {
					t.Errorf("ui.js uses %s", bad)
				}
			}
		}

		// Without the version the asset must be revalidated; its ETag
		// makes that cheap.
		plain := srv.URL + "/mfa/" + strings.SplitN(ref[1], "?", 2)[0]
		res, _ = get(t, plain)
		if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%s: Cache-Control %q, want no-cache", plain, cc)
		}
		res, _ = get(t, plain, "If-None-Match", res.Header.Get("ETag"))
		if res.StatusCode != http.StatusNotModified {
			t.Errorf("%s with its ETag: %s, want 304", plain, res.Status)
		}
	}

	for _, path := range []string{"/mfa/assets/nope.js", "/mfa/assets/", "/mfa/assets/../ui.go"} {
		if res, _ := get(t, srv.URL+path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, res.Status)
		}
	}
}

// TestUIPasskeys: the page offers passkeys (the data-passkeys flag ui.js
// reads, "Add a passkey" and the form that confirms it) only when
// mfa.Config.Passkeys is set; the login's passkey button is always there,
// for ui.js to show once GET api/methods says the user has a passkey.
func TestUIPasskeys(t *testing.T) {
	_, off := get(t, uiServer(t, uiApp{}).URL+"/mfa/")
	m, err := mfa.New(mfa.Config{Store: memstore.New(), Issuer: "Acme", Keys: mfatest.Keyring(t), Passkeys: mfatest.Passkeys{}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/mfa/", http.StripPrefix("/mfa", mfahttp.New(m, uiApp{})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	_, on := get(t, srv.URL+"/mfa/")
	for _, s := range []string{`data-passkeys="on"`, `id="add-passkey"`, `id="passkey-form"`, `Your devices`} {
		if strings.Contains(off, s) {
			t.Errorf("passkeys off: the page has %s", s)
		}
		if !strings.Contains(on, s) {
			t.Errorf("passkeys on: the page lacks %s", s)
		}
	}
	for _, s := range []string{`id="use-passkey"`, `id="use-code"`, `id="otp-use-passkey"`, `data-passkey hidden`} {
		if !strings.Contains(off, s) || !strings.Contains(on, s) {
			t.Errorf("the page lacks %s", s)
		}
	}
}
