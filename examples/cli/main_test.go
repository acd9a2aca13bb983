package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mfakit/mfa/mfatest"
)

// session drives run through pipes, as a user at a terminal would. A
// goroutine reads the output as it comes, so that the program never waits
// for the test to read its prompts.
type session struct {
	t     *testing.T
	in    *io.PipeWriter
	lines chan string
}

func start(t *testing.T, opt options) (*session, chan error) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(context.Background(), inR, outW, opt)
		outW.CloseWithError(err)
		done <- err
	}()
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { inW.Close() })
	return &session{t: t, in: inW, lines: lines}, done
}

// next returns the next output line; false at the end of the output.
func (s *session) next() (string, bool) {
	s.t.Helper()
	select {
	case line, ok := <-s.lines:
		return line, ok
	case <-time.After(10 * time.Second):
		s.t.Fatal("no output for 10 s")
		return "", false
	}
}

// expect reads output lines until one contains want, and returns it.
func (s *session) expect(want string) string {
	s.t.Helper()
	for {
		line, ok := s.next()
		if !ok {
			s.t.Fatalf("output ended without %q", want)
		}
		if strings.Contains(line, want) {
			return line
		}
	}
}

func (s *session) send(line string) {
	s.t.Helper()
	if _, err := fmt.Fprintln(s.in, line); err != nil {
		s.t.Fatalf("writing %q: %v", line, err)
	}
}

var codeLine = regexp.MustCompile(`^  ([0-9a-z]{4}(-[0-9a-z]{4}){3})$`)

func TestEnrolAndLogIn(t *testing.T) {
	clock := mfatest.NewClock(time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC))
	s, done := start(t, options{User: "ann@example.com", Now: clock.Now})

	secret := strings.TrimPrefix(s.expect("secret: "), "secret: ")
	if len(secret) != 32 {
		t.Fatalf("secret %q: want 32 base32 characters", secret)
	}

	wrong := "000000"
	if mfatest.Code(t, secret, clock.Now()) == wrong {
		wrong = "111111"
	}
	s.send(wrong)
	if line := s.expect("Code from the app: "); !strings.Contains(line, "did not work: invalid code") {
		t.Errorf("a wrong code: %q", line)
	}
	s.send(mfatest.Code(t, secret, clock.Now()))
	s.expect("Device verified.")

	s.expect("Recovery codes:")
	var codes []string
	for len(codes) < 10 {
		line, _ := s.next()
		m := codeLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("after %d recovery codes: %q, want 10 codes", len(codes), line)
		}
		codes = append(codes, m[1])
	}
	s.send("")
	s.expect("Recovery codes saved.")

	// The code of the enrolment's time step is used: wait for the next.
	clock.Advance(30 * time.Second)
	s.send(mfatest.Code(t, secret, clock.Now()))
	if line := s.expect("Logged in"); !strings.Contains(line, "code from the app") {
		t.Errorf("TOTP login: %q", line)
	}
	s.send(mfatest.Code(t, secret, clock.Now()))
	if line := s.expect("Login failed"); !strings.Contains(line, "already used") {
		t.Errorf("replayed TOTP code: %q", line)
	}
	s.send(strings.ToUpper(codes[3]))
	if line := s.expect("Logged in"); !strings.Contains(line, "recovery code; 9 left") {
		t.Errorf("recovery code login: %q", line)
	}
	s.send(codes[3])
	if line := s.expect("Login failed"); !strings.Contains(line, "invalid code") && !strings.Contains(line, "already used") {
		t.Errorf("reused recovery code: %q", line)
	}
	s.send("")
	s.expect("Bye.")
	s.in.Close()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestInputEndsDuringEnrolment(t *testing.T) {
	err := run(context.Background(), strings.NewReader("123\n"), io.Discard, options{})
	if err != errInputEnded {
		t.Fatalf("run = %v, want errInputEnded", err)
	}
}
