package mfa_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
	"github.com/pquerna/otp/totp"
)

// The examples run on a fixed clock so that their output is stable. A
// service leaves Config.Now unset (time.Now). The codes an authenticator
// app would show are computed with pquerna/otp's totp.GenerateCode, as
// mfatest.Code does in tests.
var exampleStart = time.Date(2025, 3, 14, 9, 26, 45, 0, time.UTC)

// Enrolment: add a TOTP device, show its QR code, verify it with the first
// code from the app, then show the recovery codes once and record that the
// user saved them.
func ExampleMFA_AddDevice() {
	ctx := context.Background()
	clock := mfatest.NewClock(exampleStart)
	key, err := mfa.GenerateKey("2025-03")
	if err != nil {
		log.Fatal(err)
	}
	keys, err := mfa.NewKeyring(key)
	if err != nil {
		log.Fatal(err)
	}
	m, err := mfa.New(mfa.Config{Store: memstore.New(), Issuer: "Acme", Keys: keys, Now: clock.Now})
	if err != nil {
		log.Fatal(err)
	}

	reg, err := m.AddDevice(ctx, "user-42", mfa.WithAccountName("ann@example.com"), mfa.WithAlias("Phone"))
	if err != nil {
		log.Fatal(err)
	}
	img, err := reg.QRCodeDataURI(256) // <img src="..."> for the app to scan
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("QR code is a PNG data URI:", strings.HasPrefix(img, "data:image/png;base64,"))

	// The user scans the QR code and types the code the app shows.
	code, err := totp.GenerateCode(reg.Secret, clock.Now())
	if err != nil {
		log.Fatal(err)
	}
	res, err := m.AuthenticateDevice(ctx, "user-42", mfa.AuthenticateRequest{Code: code})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("device verified:", res.DeviceVerified)
	fmt.Println("recovery codes pending:", res.RecoveryCodesPending)

	codes, err := m.GetRecoveryCodes(ctx, "user-42", false)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("recovery codes to show:", len(codes))

	// After the user confirms they saved the codes, only their hashes remain.
	if err := m.CompleteAcknowledgement(ctx, "user-42"); err != nil {
		log.Fatal(err)
	}
	pending, err := m.IsPendingRecoveryCodesAcknowledgment(ctx, "user-42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("recovery codes pending:", pending)
	_, err = m.GetRecoveryCodes(ctx, "user-42", false)
	fmt.Println("codes shown again:", mfa.ErrorCode(err))
	// Output:
	// QR code is a PNG data URI: true
	// device verified: true
	// recovery codes pending: true
	// recovery codes to show: 10
	// recovery codes pending: false
	// codes shown again: mfa_recovery_codes_acknowledged
}

// Recovery codes stand in for the device, each once. A new set invalidates
// every old code.
func ExampleMFA_AuthenticateRecoveryCode() {
	ctx := context.Background()
	clock := mfatest.NewClock(exampleStart)
	key, err := mfa.GenerateKey("2025-03")
	if err != nil {
		log.Fatal(err)
	}
	keys, err := mfa.NewKeyring(key)
	if err != nil {
		log.Fatal(err)
	}
	m, err := mfa.New(mfa.Config{Store: memstore.New(), Issuer: "Acme", Keys: keys, Now: clock.Now})
	if err != nil {
		log.Fatal(err)
	}

	// Enrol a device and save its recovery codes.
	reg, err := m.AddDevice(ctx, "user-42")
	if err != nil {
		log.Fatal(err)
	}
	code, err := totp.GenerateCode(reg.Secret, clock.Now())
	if err != nil {
		log.Fatal(err)
	}
	if _, err := m.AuthenticateDevice(ctx, "user-42", mfa.AuthenticateRequest{Code: code}); err != nil {
		log.Fatal(err)
	}
	codes, err := m.GetRecoveryCodes(ctx, "user-42", false)
	if err != nil {
		log.Fatal(err)
	}
	if err := m.CompleteAcknowledgement(ctx, "user-42"); err != nil {
		log.Fatal(err)
	}

	// The phone is lost: the user types a recovery code instead. Case,
	// spaces and dashes do not matter.
	res, err := m.AuthenticateRecoveryCode(ctx, "user-42", mfa.RecoveryRequest{Code: strings.ToUpper(codes[0])})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("method:", res.Method)
	fmt.Println("remaining:", res.RecoveryCodesRemaining)

	_, err = m.AuthenticateRecoveryCode(ctx, "user-42", mfa.RecoveryRequest{Code: codes[0]})
	fmt.Println("same code again:", mfa.ErrorCode(err), errors.Is(err, mfa.ErrInvalidCode))

	// A new set replaces the old one and waits for acknowledgement again.
	fresh, err := m.GetNewRecoveryCodes(ctx, "user-42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("new codes:", len(fresh))
	_, err = m.AuthenticateRecoveryCode(ctx, "user-42", mfa.RecoveryRequest{Code: codes[1]})
	fmt.Println("old unused code:", mfa.ErrorCode(err))
	res, err = m.AuthenticateRecoveryCode(ctx, "user-42", mfa.RecoveryRequest{Code: fresh[0]})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("new code: remaining", res.RecoveryCodesRemaining, "pending", res.RecoveryCodesPending)
	// Output:
	// method: recovery_code
	// remaining: 9
	// same code again: mfa_invalid_code true
	// new codes: 10
	// old unused code: mfa_invalid_code
	// new code: remaining 9 pending true
}

// Action-based MFA: a sensitive action asks for a fresh code and gets a
// token scoped to that action; the server's policy authorises the action
// with it once.
func ExampleMFA_AuthorizeAction() {
	ctx := context.Background()
	clock := mfatest.NewClock(exampleStart)
	key, err := mfa.GenerateKey("2025-03")
	if err != nil {
		log.Fatal(err)
	}
	keys, err := mfa.NewKeyring(key)
	if err != nil {
		log.Fatal(err)
	}
	m, err := mfa.New(mfa.Config{
		Store:   memstore.New(),
		Issuer:  "Acme",
		Keys:    keys,
		Now:     clock.Now,
		Actions: map[string]mfa.ActionPolicy{"change-email": {}},
	})
	if err != nil {
		log.Fatal(err)
	}

	// The user has a verified device.
	reg, err := m.AddDevice(ctx, "user-42")
	if err != nil {
		log.Fatal(err)
	}
	code, err := totp.GenerateCode(reg.Secret, clock.Now())
	if err != nil {
		log.Fatal(err)
	}
	if _, err := m.AuthenticateDevice(ctx, "user-42", mfa.AuthenticateRequest{Code: code}); err != nil {
		log.Fatal(err)
	}

	required, err := m.IsMFARequiredForAction(ctx, "user-42", "change-email")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("change-email needs MFA:", required)
	_, err = m.IsMFARequiredForAction(ctx, "user-42", "chnage-email")
	fmt.Println("misspelt action:", mfa.ErrorCode(err))
	scope, _ := m.ActionScope("change-email")

	// Later, the user types a new code and gets a token for the action.
	clock.Advance(time.Minute)
	code, err = totp.GenerateCode(reg.Secret, clock.Now())
	if err != nil {
		log.Fatal(err)
	}
	res, err := m.AuthenticateDevice(ctx, "user-42", mfa.AuthenticateRequest{
		Code:           code,
		CreateMFAToken: &mfa.TokenRequest{Scopes: []string{scope}},
	})
	if err != nil {
		log.Fatal(err)
	}
	tok := res.MFAToken
	fmt.Println("token:", tok.SingleUse, tok.Scopes, tok.ExpiresAt.Sub(clock.Now()))

	// The action handler authorises itself: the policy consumes the token,
	// though the client asked for a persistent one.
	_, err = m.AuthorizeAction(ctx, "user-42", mfa.ActionCredentialUnlink, tok.Value)
	fmt.Println("other action:", mfa.ErrorCode(err))
	if _, err := m.AuthorizeAction(ctx, "user-42", "change-email", tok.Value); err != nil {
		log.Fatal(err)
	}
	fmt.Println("change-email allowed")
	_, err = m.AuthorizeAction(ctx, "user-42", "change-email", tok.Value)
	fmt.Println("again:", mfa.ErrorCode(err), errors.Is(err, mfa.ErrTokenInvalid))
	// Output:
	// change-email needs MFA: true
	// misspelt action: mfa_invalid_input
	// token: false [change-email] 10m0s
	// other action: mfa_token_invalid
	// change-email allowed
	// again: mfa_token_invalid true
}

// Key rotation: keys live outside the database, encoded as "ID:secret". A
// new key becomes primary while the old one stays in the keyring to open
// what it sealed; ReencryptUser moves device secrets to the new key.
func ExampleNewKeyring() {
	ctx := context.Background()
	clock := mfatest.NewClock(exampleStart)
	store := memstore.New()

	// Once: generate a key and keep its encoded form in a secret manager.
	generated, err := mfa.GenerateKey("2024")
	if err != nil {
		log.Fatal(err)
	}
	encoded := generated.Encode()

	// At start-up: decode it and build the keyring.
	oldKey, err := mfa.DecodeKey(encoded)
	if err != nil {
		log.Fatal(err)
	}
	keys, err := mfa.NewKeyring(oldKey)
	if err != nil {
		log.Fatal(err)
	}
	m, err := mfa.New(mfa.Config{Store: store, Issuer: "Acme", Keys: keys, Now: clock.Now})
	if err != nil {
		log.Fatal(err)
	}
	reg, err := m.AddDevice(ctx, "user-42")
	if err != nil {
		log.Fatal(err)
	}
	code, err := totp.GenerateCode(reg.Secret, clock.Now())
	if err != nil {
		log.Fatal(err)
	}
	if _, err := m.AuthenticateDevice(ctx, "user-42", mfa.AuthenticateRequest{Code: code}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("sealed with:", keys.PrimaryID())

	// Rotation: a new primary key; the old one still opens old records.
	newKey, err := mfa.GenerateKey("2025")
	if err != nil {
		log.Fatal(err)
	}
	rotated, err := mfa.NewKeyring(newKey, oldKey)
	if err != nil {
		log.Fatal(err)
	}
	m, err = mfa.New(mfa.Config{Store: store, Issuer: "Acme", Keys: rotated, Now: clock.Now})
	if err != nil {
		log.Fatal(err)
	}
	// Run over every user, e.g. from a maintenance job.
	n, err := m.ReencryptUser(ctx, "user-42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("re-encrypted with", rotated.PrimaryID()+":", n)
	n, err = m.ReencryptUser(ctx, "user-42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("second run:", n)

	clock.Advance(30 * time.Second)
	code, err = totp.GenerateCode(reg.Secret, clock.Now())
	if err != nil {
		log.Fatal(err)
	}
	_, err = m.AuthenticateDevice(ctx, "user-42", mfa.AuthenticateRequest{Code: code})
	fmt.Println("login after rotation:", err == nil)
	// Output:
	// sealed with: 2024
	// re-encrypted with 2025: 1
	// second run: 0
	// login after rotation: true
}
