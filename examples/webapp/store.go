package main

import (
	"fmt"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
)

// openStore opens the MFA store that the -store flag names, and returns it
// with a function that releases it. Specs:
//
//	memory   the in-memory store (memstore): MFA state vanishes on restart
func openStore(spec string) (mfa.Store, func(), error) {
	switch spec {
	case "memory":
		return memstore.New(), func() {}, nil
	}
	return nil, nil, fmt.Errorf("unknown -store %q: want memory", spec)
}
