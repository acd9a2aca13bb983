package memstore_test

import (
	"testing"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfatest"
)

func TestConformance(t *testing.T) {
	mfatest.TestStore(t, func(*testing.T) mfa.Store { return memstore.New() })
}
