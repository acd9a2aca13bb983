package memstore_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
)

// A memstore keeps MFA state in the process: for tests, examples and a
// single instance that may lose it on restart. Several MFAs, as several
// handlers of one process would have, share one.
func ExampleNew() {
	store := memstore.New()
	key, err := mfa.GenerateKey("example")
	if err != nil {
		log.Fatal(err)
	}
	keys, err := mfa.NewKeyring(key)
	if err != nil {
		log.Fatal(err)
	}
	a, err := mfa.New(mfa.Config{Store: store, Issuer: "Acme", Keys: keys})
	if err != nil {
		log.Fatal(err)
	}
	b, err := mfa.New(mfa.Config{Store: store, Issuer: "Acme", Keys: keys})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if _, err := a.AddDevice(ctx, "user-42"); err != nil {
		log.Fatal(err)
	}
	devices, err := b.GetUserDevices(ctx, "user-42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(devices), devices[0].Verified, devices[0].Digits)
	// Output: 1 false 6
}
