package mfa_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/mfakit/mfa"
)

// scriptedRand serves crypto/rand until armed, then the script's bytes,
// then crypto/rand again.
type scriptedRand struct {
	mu     sync.Mutex
	armed  bool
	script []byte
}

func (r *scriptedRand) arm() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.armed = true
}

func (r *scriptedRand) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.armed && len(r.script) > 0 {
		n := copy(p, r.script)
		r.script = r.script[n:]
		return n, nil
	}
	return rand.Read(p)
}

var _ io.Reader = (*scriptedRand)(nil)

// TestCodeMatchingTwoStepsIsAcceptedOnce: with the RFC's 20-byte seed,
// counters 61331809 and 61331811 share the code 768734 while 61331810 has
// another. A login at step 61331810 sees 768734 twice in its window; the
// code must still be accepted once (RFC 6238 §5.2), not once per step.
func TestCodeMatchingTwoStepsIsAcceptedOnce(t *testing.T) {
	const step = 61331810
	seed := []byte("12345678901234567890")
	// AddDevice reads 16 bytes for the device ID, then the secret.
	rnd := &scriptedRand{script: append(bytes.Repeat([]byte{7}, 16), seed...)}
	e := newEnv(t, func(c *mfa.Config) { c.Rand = rnd })
	rnd.arm()
	e.clock.Set(time.Unix(step*30-3000, 0))
	reg, err := e.m.AddDevice(e.ctx, "alice")
	mustOK(t, err)
	if reg.Secret != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" {
		t.Fatalf("secret %s is not the RFC seed; the test's Rand script is out of date", reg.Secret)
	}
	_, err = e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: e.code(t, reg.Secret, 0)})
	mustOK(t, err)

	e.clock.Set(time.Unix(step*30+10, 0))
	if e.code(t, reg.Secret, -1) != "768734" || e.code(t, reg.Secret, 1) != "768734" || e.code(t, reg.Secret, 0) == "768734" {
		t.Fatal("the collision this test relies on is not there")
	}
	_, err = e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: "768734"})
	mustOK(t, err)
	_, err = e.m.AuthenticateDevice(e.ctx, "alice", mfa.AuthenticateRequest{Code: "768734"})
	mustErr(t, err, mfa.ErrCodeReused)
}
