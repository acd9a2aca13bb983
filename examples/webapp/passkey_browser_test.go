package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
	"golang.org/x/crypto/bcrypt"
)

// passkeyServer starts the example with passkeys on, as run does: the
// listener first, for the port of the passkeys' origin.
func passkeyServer(t *testing.T) (*server, *httptest.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	v, err := passkeyVerifier(ln.Addr())
	if err != nil {
		t.Fatal(err)
	}
	h, err := newServer(config{
		Store:        memstore.New(),
		Keys:         mfatest.Keyring(t),
		Logger:       slog.New(slog.NewTextHandler(t.Output(), nil)),
		PasswordCost: bcrypt.MinCost,
		Passkeys:     v,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return h, srv
}

// virtualAuthenticator gives the tab a platform authenticator that makes
// discoverable passkeys and verifies the user at once.
func (b *browserTest) virtualAuthenticator() webauthn.AuthenticatorID {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		b.t.Fatal(err)
	}
	res, err := chromedp.Call(b.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol:                    webauthn.AuthenticatorProtocolCtap2,
		Ctap2version:                webauthn.Ctap2versionCtap21,
		Transport:                   webauthn.AuthenticatorTransportInternal,
		HasResidentKey:              true,
		HasUserVerification:         true,
		IsUserVerified:              true,
		AutomaticPresenceSimulation: true,
	}})
	if err != nil {
		b.t.Fatal(err)
	}
	return res.AuthenticatorID
}

// setSignCount puts the authenticator's only credential back with the
// signature counter n, as a cloned authenticator would have it.
func (b *browserTest) setSignCount(id webauthn.AuthenticatorID, n float64) {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		b.t.Fatal(err)
	}
	if len(res.Credentials) != 1 {
		b.t.Fatalf("the authenticator has %d credentials, want 1", len(res.Credentials))
	}
	old := res.Credentials[0]
	if _, err := chromedp.Call(b.ctx, webauthn.RemoveCredential, webauthn.RemoveCredentialParams{AuthenticatorID: id, CredentialID: old.CredentialID}); err != nil {
		b.t.Fatal(err)
	}
	// The same credential, without the members of the CMTG extension,
	// which this authenticator refuses even when false, as
	// webauthn.Credential always sends them.
	type credential struct {
		CredentialID         []byte  `json:"credentialId"`
		IsResidentCredential bool    `json:"isResidentCredential"`
		RpID                 string  `json:"rpId"`
		PrivateKey           []byte  `json:"privateKey"`
		UserHandle           []byte  `json:"userHandle,omitempty"`
		SignCount            float64 `json:"signCount"`
	}
	type params struct {
		AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
		Credential      credential               `json:"credential"`
	}
	addCredential := cdp.Command[params, cdp.Empty]{Method: webauthn.CommandAddCredential}
	if _, err := chromedp.Call(b.ctx, addCredential, params{AuthenticatorID: id, Credential: credential{
		CredentialID:         old.CredentialID,
		IsResidentCredential: old.IsResidentCredential,
		RpID:                 old.RpID,
		PrivateKey:           old.PrivateKey,
		UserHandle:           old.UserHandle,
		SignCount:            n,
	}}); err != nil {
		b.t.Fatal(err)
	}
}

// idle is true when the MFA UI is not busy with a request: it takes no
// click before.
const idle = `document.getElementById("mfa").getAttribute("aria-busy") === "false"`

// clickMakeDefault clicks the device list's "Make default" button.
const clickMakeDefault = `[...document.querySelectorAll('#device-list button')].find(x => x.textContent === "Make default").click()`

// TestBrowserPasskey drives headless Chromium, with a virtual
// authenticator, through passkeys in the example: adding one from the
// device list, logging in with it, confirming the change-email action
// with it, a login refused for a signature counter that went back (a
// cloned authenticator), "Make default" beside an authenticator app,
// deleting the passkey, confirmed with it, adding one confirmed with the
// app's code, and the messages for a cancelled passkey dialog and a
// browser without WebAuthn.
//
// With MFA_SCREENSHOTS=1 it writes screenshots of the device list with a
// passkey, the passkey prompt at login, the delete form confirmed with a
// passkey and the form confirming a new passkey to docs/screenshots.
func TestBrowserPasskey(t *testing.T) {
	needChromium(t)
	h, srv := passkeyServer(t)
	b := newBrowser(t, localhostURL(t, srv))
	authenticator := b.virtualAuthenticator()
	const email, password = "pat@example.com", "correct horse battery"

	b.goTo("/signup")
	b.do(
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password+"\r"),
	)
	b.waitFor("the account page", `location.pathname === "/account"`)

	// The device list offers a passkey beside the authenticator app; with
	// no factor yet, the passkey needs no confirmation.
	b.goTo("/mfa/")
	b.waitFor("the empty device list with Add a passkey", shown("view-devices")+` && `+shown("add-device")+` && `+shown("add-passkey"))
	b.expectOnePrimary("the empty devices view", "add-device")
	b.do(chromedp.Click(chromedp.ID("add-passkey")))
	b.waitFor("recovery codes to save, or the device list with the passkey",
		shown("view-backup-codes")+` || (`+shown("view-devices")+` && !!document.querySelector('#device-list li[data-type="passkey"]'))`)
	if evaluate[bool](b, shown("view-backup-codes")) {
		b.do(chromedp.Click(chromedp.ID("acknowledge")))
	}
	b.waitFor("the device list with the passkey", shown("view-devices")+
		` && document.querySelectorAll('#device-list li').length === 1 && document.querySelector('#device-list li[data-type="passkey"] .device-name').textContent === "Passkey"`)
	b.expectTrue("Add device still offered for the authenticator app", shown("add-device")+` && `+shown("add-passkey"))

	// With an authenticator app too (imported, to save scanning), each
	// device but the default one can be made the default.
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	h.app.mu.Lock()
	userID := h.app.byEmail[email].id
	h.app.mu.Unlock()
	if _, err := h.m.ImportTOTPDevice(t.Context(), userID, mfa.TOTPImport{Secret: secret}); err != nil {
		t.Fatal(err)
	}
	b.goTo("/mfa/")
	b.waitFor("two devices, one with Make default", idle+` && `+shown("view-devices")+
		` && document.querySelectorAll('#device-list li').length === 2 && [...document.querySelectorAll('#device-list button')].filter(x => x.textContent === "Make default").length === 1`)
	b.expectTrue("no Add device beside the authenticator app", `!`+shown("add-device")+` && `+shown("add-passkey"))
	evaluate[chromedp.Void](b, clickMakeDefault)
	b.waitFor("the other device the default now", idle+` && `+`[...document.querySelectorAll('#device-list li')].every(li => [...li.querySelectorAll('button')].some(x => x.textContent === "Make default") !== [...li.querySelectorAll('.badge')].some(x => x.textContent === "Default"))`)
	evaluate[chromedp.Void](b, clickMakeDefault)
	b.waitFor("the passkey the default", `[...document.querySelectorAll('#device-list li[data-type="passkey"] .badge')].some(x => x.textContent === "Default")`)
	b.shoot("devices-passkey")

	// Login: the prompt offers the passkey first, and a code instead.
	b.logOut()
	b.logIn(email, password)
	b.waitFor("the passkey prompt", idle+` && `+`location.pathname === "/mfa/" && `+shown("view-otp")+` && `+shown("use-passkey")+` && `+shown("use-code")+` && !`+shown("otp-form"))
	b.waitFor("the focus on Use a passkey", `document.activeElement && document.activeElement.id === "use-passkey"`)
	b.shoot("passkey-login")
	b.do(chromedp.Click(chromedp.ID("use-code")))
	b.waitFor("the code form", idle+` && `+shown("otp-form")+` && `+shown("otp-use-passkey")+` && !`+shown("passkey-login"))
	b.do(chromedp.Click(chromedp.ID("otp-use-passkey")))
	b.waitFor("the passkey prompt again", idle+` && `+shown("use-passkey")+` && !`+shown("otp-form"))
	b.do(chromedp.Click(chromedp.ID("use-passkey")))
	b.waitFor("the account page after the passkey", `location.pathname === "/account"`)

	// Step-up: the change-email action confirmed with the passkey.
	const newEmail = "pat.new@example.com"
	b.waitFor("Use a passkey in the change-email form", shown("change-passkey"))
	b.do(
		chromedp.SendKeys(chromedp.ID("new-email"), newEmail),
		chromedp.Click(chromedp.ID("change-passkey")),
	)
	b.waitFor("the email changed", fmt.Sprintf(`document.getElementById("email").textContent === %q && document.getElementById("change-status").textContent.includes(%q)`, newEmail, newEmail))

	// A counter that went back is refused, with a message; the passkey
	// works again once its counter is ahead.
	b.logOut()
	b.setSignCount(authenticator, 0)
	b.logIn(newEmail, password)
	b.waitFor("the passkey prompt", idle+` && `+shown("view-otp")+` && `+shown("use-passkey"))
	b.do(chromedp.Click(chromedp.ID("use-passkey")))
	b.waitFor("the refusal", idle+` && `+`document.getElementById("error").textContent === "This passkey was not accepted. Try again, or use another way to confirm it’s you."`)
	b.expectTrue("still on the prompt", `location.pathname === "/mfa/" && `+shown("view-otp"))
	b.setSignCount(authenticator, 1000)
	b.do(chromedp.Click(chromedp.ID("use-passkey")))
	b.waitFor("the account page after the passkey", `location.pathname === "/account"`)

	// Delete the passkey, confirmed with it.
	b.goTo("/mfa/")
	b.waitFor("the device list", shown("view-devices")+` && !!document.querySelector('#device-list li[data-type="passkey"]')`)
	b.do(chromedp.Click(chromedp.CSS(`#device-list li[data-type="passkey"] button.danger-outline`)))
	b.waitFor("the delete form with Use a passkey", shown("delete-form")+` && `+`!!document.querySelector('#delete-form [data-passkey]:not([hidden])')`)
	b.shoot("devices-delete-passkey")
	b.expectTrue("the recovery codes said to stay with the app", `document.getElementById("delete-help").textContent.endsWith("Your recovery codes keep working with your other devices.")`)
	b.do(chromedp.Click(chromedp.CSS(`#delete-form [data-passkey]`)))
	b.waitFor("the authenticator app left alone", shown("view-devices")+` && document.querySelectorAll("#device-list li").length === 1 && !document.querySelector('#device-list li[data-type="passkey"]')`)
	b.expectTrue("Add a passkey offered again", shown("add-passkey"))

	// Adding a passkey with the authenticator app there needs a code
	// first (an MFA token of scope credential:link).
	if _, err := chromedp.Call(b.ctx, webauthn.ClearCredentials, webauthn.ClearCredentialsParams{AuthenticatorID: authenticator}); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Click(chromedp.ID("add-passkey")))
	b.waitFor("the form confirming the new passkey", shown("passkey-form")+` && `+shown("passkey-code")+` && !document.querySelector('#passkey-form [data-passkey]:not([hidden])')`)
	b.expectFocus("passkey-code")
	b.shoot("devices-add-passkey")
	b.do(chromedp.SendKeys(chromedp.ID("passkey-code"), mfatest.Code(t, secret, time.Now())+"\r"))
	b.waitFor("the new passkey listed", idle+` && `+`!`+shown("passkey-form")+` && document.querySelectorAll('#device-list li[data-type="passkey"]').length === 1 && document.querySelectorAll('#device-list li').length === 2`)

	// The user cancels the browser's passkey dialog: the page says so.
	evaluate[chromedp.Void](b, `navigator.credentials.get = () => Promise.reject(new DOMException("The operation either timed out or was not allowed.", "NotAllowedError"))`)
	b.do(chromedp.Click(chromedp.ID("replace-codes")))
	b.waitFor("the replace form with Use a passkey", shown("replace-form")+` && !!document.querySelector('#replace-form [data-passkey]:not([hidden])')`)
	b.do(chromedp.Click(chromedp.CSS(`#replace-form [data-passkey]`)))
	b.waitFor("the cancellation message", idle+` && `+`document.getElementById("error").textContent === "The passkey request was cancelled or timed out. Try again when you are ready."`)
	b.do(chromedp.Click(chromedp.ID("replace-cancel")))

	// A browser without WebAuthn: the page says so instead of failing.
	evaluate[chromedp.Void](b, `window.PublicKeyCredential = undefined`)
	b.do(chromedp.Click(chromedp.ID("add-passkey")))
	b.waitFor("the no-WebAuthn message", `document.getElementById("error").textContent === "This browser cannot use passkeys. Use a code instead, or another browser."`)
	b.checkConsole()
}

// TestBrowserPasskeyInsteadOfApp: setting up a first factor, the QR code
// view offers a passkey instead, which replaces the pending app.
func TestBrowserPasskeyInsteadOfApp(t *testing.T) {
	needChromium(t)
	h, srv := passkeyServer(t)
	b := newBrowser(t, localhostURL(t, srv))
	b.virtualAuthenticator()
	const email, password = "sam@example.com", "correct horse battery"
	b.goTo("/signup")
	b.do(
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password+"\r"),
	)
	b.waitFor("the account page", `location.pathname === "/account"`)
	b.goTo("/mfa/#add-device")
	b.waitFor("the QR code with Use a passkey instead", shown("view-qr-code")+` && `+shown("qr-passkey"))
	b.do(chromedp.Click(chromedp.ID("qr-passkey")))
	b.waitFor("recovery codes to save", shown("view-backup-codes"))
	h.app.mu.Lock()
	userID := h.app.byEmail[email].id
	h.app.mu.Unlock()
	devices, err := h.m.GetUserDevices(t.Context(), userID)
	if err != nil {
		t.Fatal(err)
	}
	if len(devices) != 1 || devices[0].Type != mfa.DevicePasskey || !devices[0].Verified {
		t.Fatalf("devices %+v: want the passkey alone, the pending app gone", devices)
	}
	b.checkConsole()
}
