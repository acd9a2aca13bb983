module github.com/mfakit/mfa

go 1.26.0

require (
	github.com/pquerna/otp v1.5.0
	github.com/skip2/go-qrcode v0.0.0-20200617195104-da1b6568686e
)

require github.com/boombuler/barcode v1.0.1-0.20190219062509-6c824513bacc // indirect
