package mfa

import (
	"encoding/base64"
	"fmt"

	qrcode "github.com/skip2/go-qrcode"
)

// QR code sizes accepted by the QR methods, in pixels.
const (
	MinQRSize = 128
	MaxQRSize = 2048
)

func (r *Registration) qr() (*qrcode.QRCode, error) {
	if r.URI == "" {
		return nil, invalidInput("uri", "registration has no URI")
	}
	q, err := qrcode.New(r.URI, qrcode.Medium)
	if err != nil {
		return nil, invalidInput("uri", "cannot encode URI as a QR code: "+err.Error())
	}
	return q, nil
}

// QRCodePNG returns the URI as a QR code in a size×size PNG image, for
// authenticator apps to scan.
func (r *Registration) QRCodePNG(size int) ([]byte, error) {
	if size < MinQRSize || size > MaxQRSize {
		return nil, invalidInput("size", fmt.Sprintf("QR code size must be %d to %d pixels", MinQRSize, MaxQRSize))
	}
	q, err := r.qr()
	if err != nil {
		return nil, err
	}
	return q.PNG(size)
}

// QRCodeDataURI returns the PNG of [Registration.QRCodePNG] as a
// "data:image/png;base64,..." URI for an <img src>.
func (r *Registration) QRCodeDataURI(size int) (string, error) {
	png, err := r.QRCodePNG(size)
	if err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(png), nil
}

// QRCodeTerminal returns the QR code drawn with Unicode half blocks, two
// rows of modules a line, quiet zone included, for a terminal to print.
func (r *Registration) QRCodeTerminal() (string, error) {
	q, err := r.qr()
	if err != nil {
		return "", err
	}
	return q.ToSmallString(false), nil
}
