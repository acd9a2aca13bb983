package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/sqlstore"
)

// A service on SQLite: open the file with the recommended settings, let New
// create the schema, and hand the store to mfa.New. The application
// registers the driver, here with import _ "modernc.org/sqlite"; without a
// driver in this module, the example is compiled but not run, and it
// prints "1 device, verified: false".
func ExampleNew() {
	dir, err := os.MkdirTemp("", "mfa-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// The application owns db and closes it after the last use of the store.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "mfa.db")+
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	ctx := context.Background()
	store, err := sqlstore.New(ctx, db, sqlstore.SQLite)
	if err != nil {
		log.Fatal(err)
	}
	key, err := mfa.GenerateKey("2026-03")
	if err != nil {
		log.Fatal(err)
	}
	keys, err := mfa.NewKeyring(key)
	if err != nil {
		log.Fatal(err)
	}
	m, err := mfa.New(mfa.Config{Store: store, Issuer: "Example", Keys: keys})
	if err != nil {
		log.Fatal(err)
	}

	if _, err := m.AddDevice(ctx, "user-1"); err != nil {
		log.Fatal(err)
	}
	devices, err := m.GetUserDevices(ctx, "user-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d device, verified: %t\n", len(devices), devices[0].Verified)
}
