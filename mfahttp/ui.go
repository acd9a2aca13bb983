package mfahttp

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"
)

// The UI is one page (ui/index.html, an html/template) and its script and
// style sheet (ui/assets), all embedded: it loads nothing from elsewhere
// and needs no build step.
//
//go:embed ui/index.html ui/assets
var uiFiles embed.FS

// uiPolicy is the page's Content-Security-Policy. Script and style come
// only from the handler's own files (no inline code, no eval), images also
// from data: URIs (the QR code), requests go to the page's origin only,
// the page cannot be framed, and Trusted Types guard the DOM's HTML sinks,
// which the script never uses.
const uiPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'"

// ReturnLinker is implemented by an [App] whose users come to the UI from
// the application and go back to it: the UI then links back from the
// device list, and takes the user back by itself as soon as a login's
// second factor succeeds with nothing else to do.
type ReturnLinker interface {
	// ReturnLink returns the URL to go back to, e.g. "/account", and the
	// link's text, e.g. "Continue to your account". An empty url means no
	// link. The URL goes into the page as it is: give a path of the
	// application, not one taken from the request.
	ReturnLink(r *http.Request) (url, label string)
}

// SiteProvider is implemented by an [App] whose pages share a site
// header: the UI page then shows the same header, so that it fits in with
// the application's own pages, and the application's icon.
type SiteProvider interface {
	// Site describes the application around the UI page.
	Site(r *http.Request) Site
}

// Site is the application around the UI page, as a [SiteProvider] gives
// it. The page shows a site header when Name, BackURL or LogoutURL is set,
// styled by the UI's own style sheet. URLs go into the page as they are:
// give paths of the application, not values taken from the request.
type Site struct {
	// Name is the application's name: the start of the header, as a link
	// to HomeURL, and the end of the page's title.
	Name string
	// HomeURL is where the name links to; "/" when empty.
	HomeURL string
	// IconURL is the application's icon (favicon), e.g.
	// "/static/favicon.svg". Without one, browsers ask for /favicon.ico.
	IconURL string
	// BackURL and BackLabel make a link in the header back into the
	// application, e.g. "/account" and "Your account" ("Back" when empty).
	// The page shows it only while the session needs no second factor:
	// during a login's, the application would send the user straight back
	// to the UI.
	BackURL, BackLabel string
	// LogoutURL is where the header's "Log out" button posts an empty form
	// to, e.g. "/logout". The page shows the button whenever the user is
	// signed in, on a login's code prompt too, so that a user without a
	// code has a way out.
	LogoutURL string
}

// uiAsset is one embedded asset with the headers it is served with.
type uiAsset struct {
	body        []byte
	contentType string
	etag        string
	version     string // the start of the body's SHA-256, for cache busting
	integrity   string // Subresource Integrity of the body
}

// assetRef is how the page refers to an asset.
type assetRef struct {
	URL       string
	Integrity string
}

type uiPageData struct {
	ReturnURL   string
	ReturnLabel string
	CSS, JS     assetRef
	// Site is the application's, from a SiteProvider; Header is whether
	// the page shows a site header.
	Site   Site
	Header bool
	// Digits is the length of a TOTP code, PeriodSeconds how often the app
	// shows a new one, as the MFA is configured.
	Digits        int
	PeriodSeconds int
	// Passkeys: mfa.Config.Passkeys is set, so the UI offers passkeys.
	Passkeys bool
}

// ui is the parsed page and its assets. It is built once from the embedded
// files and never changes.
type ui struct {
	page   *template.Template
	assets map[string]*uiAsset
}

var embeddedUI = mustLoadUI()

func mustLoadUI() *ui {
	u := &ui{
		page:   template.Must(template.ParseFS(uiFiles, "ui/index.html")),
		assets: make(map[string]*uiAsset),
	}
	err := fs.WalkDir(uiFiles, "ui/assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := uiFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		sri := sha512.Sum384(body)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		u.assets[path.Base(p)] = &uiAsset{
			body:        body,
			contentType: ct,
			etag:        `"` + hex.EncodeToString(sum[:16]) + `"`,
			version:     hex.EncodeToString(sum[:6]),
			integrity:   "sha384-" + base64.StdEncoding.EncodeToString(sri[:]),
		}
		return nil
	})
	if err != nil {
		panic("mfahttp: reading the embedded UI: " + err.Error())
	}
	return u
}

func (u *ui) ref(name string) assetRef {
	a := u.assets[name]
	return assetRef{URL: "assets/" + name + "?v=" + a.version, Integrity: a.integrity}
}

// uiRoutes adds the UI's routes: the page at the handler's root and its
// assets under assets/.
func (h *Handler) uiRoutes() {
	h.mux.HandleFunc("GET /{$}", h.serveUI)
	h.mux.HandleFunc("GET /assets/{name}", h.serveAsset)
}

// serveUI serves the UI page. It needs no session: the page asks the API,
// which answers 401 without one, and the page then says so.
//
// A link to the page with the fragment #add-device, e.g. from a "Set up
// two-factor authentication" button, opens it on the QR code of a new
// device (the flow's add-device step) when the user has no verified
// device, instead of on the empty device list; otherwise the fragment
// changes nothing. The page then drops the fragment from its URL, so that
// reloading it shows the same QR code.
func (h *Handler) serveUI(w http.ResponseWriter, r *http.Request) {
	data := uiPageData{
		CSS:           embeddedUI.ref("ui.css"),
		JS:            embeddedUI.ref("ui.js"),
		Digits:        h.m.TOTPDigits(),
		PeriodSeconds: int(h.m.TOTPPeriod() / time.Second),
		Passkeys:      h.m.PasskeysEnabled(),
	}
	if sp, ok := h.app.(SiteProvider); ok {
		s := sp.Site(r)
		if s.HomeURL == "" {
			s.HomeURL = "/"
		}
		if s.BackLabel == "" {
			s.BackLabel = "Back"
		}
		data.Site = s
		data.Header = s.Name != "" || s.BackURL != "" || s.LogoutURL != ""
	}
	if rl, ok := h.app.(ReturnLinker); ok {
		data.ReturnURL, data.ReturnLabel = rl.ReturnLink(r)
		if data.ReturnLabel == "" {
			data.ReturnLabel = "Continue"
		}
	}
	var buf bytes.Buffer
	if err := embeddedUI.page.Execute(&buf, data); err != nil {
		h.writeError(w, r, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", uiPolicy)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes()) // a write error means the client left
}

// serveAsset serves an embedded script or style sheet. The page asks for
// each with its content hash in the query, so a response for the current
// hash may be cached for good; anything else must be revalidated.
func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := embeddedUI.assets[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("ETag", a.etag)
	if r.URL.Query().Get("v") == a.version {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
