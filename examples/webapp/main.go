// Command webapp is the main mfakit example: a small web app with
// password login, account-based MFA (a TOTP code after the password) and
// action-based MFA (a single-use MFA token to change the email address),
// using mfahttp's JSON API and its embedded custom UI, the four views of
// the headless MFA guide.
//
//	go run ./examples/webapp [-addr 127.0.0.1:8080] [-key ID:base64url] [-store memory|sqlite:PATH|postgres:DSN] [-require-mfa] [-insecure-cookies] [-no-passkeys]
//
// It serves plain HTTP; open http://localhost:8080/. The session cookie is
// Secure, with the __Host- prefix, and browsers accept such a cookie over
// plain HTTP from localhost and 127.0.0.1 (secure contexts) but not from
// other hosts: to serve plain HTTP on another host, run with
// -insecure-cookies, which makes it a plain "session" cookie.
//
// Passkeys are on: their relying party ID is "localhost" and their origin
// http://localhost:PORT, with the port -addr listens on, so a browser
// creates and uses them on http://localhost:PORT/ (not on 127.0.0.1, which
// WebAuthn does not take as a relying party ID). -no-passkeys turns them
// off.
//
// Users and sessions live in memory. MFA state lives in the store chosen
// with -store, encrypted with the key from -key or $MFA_KEY; without one a
// fresh key is made at every start. Run with -new-key to print a key.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/examples/internal/storeflag"
	"github.com/mfakit/mfa/passkey"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	keyFlag := flag.String("key", "", "MFA encryption key as ID:base64url (see -new-key); default $MFA_KEY, else a new key that vanishes on exit")
	storeSpec := flag.String("store", "memory", storeflag.Usage)
	requireMFA := flag.Bool("require-mfa", false, "make users without an authenticator app set one up when they log in")
	insecureCookies := flag.Bool("insecure-cookies", false, "for plain-HTTP runs on hosts other than localhost: make the session cookie \"session\", not Secure, instead of the Secure __Host-session, which browsers take over plain HTTP only from localhost")
	noPasskeys := flag.Bool("no-passkeys", false, "turn passkeys off (they are on for http://localhost:PORT, PORT from -addr)")
	newKey := flag.Bool("new-key", false, "print a new encryption key for -key or MFA_KEY, and exit")
	flag.Parse()

	if *newKey {
		k, err := mfa.GenerateKey(time.Now().UTC().Format("2006-01-02"))
		if err != nil {
			fatal(err)
		}
		fmt.Println(k.Encode())
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *keyFlag, *storeSpec, *requireMFA, *insecureCookies, !*noPasskeys, os.Stderr); err != nil {
		fatal(err)
	}
}

// listening is the startup message: the URL the example listens on and
// what its session cookie means for the URL to open in a browser.
func listening(addr net.Addr, insecureCookies bool) string {
	u := "http://" + addr.String() + "/"
	if insecureCookies {
		return "listening on " + u + "\n" +
			"WARNING: -insecure-cookies: the session cookie \"session\" is not Secure, so browsers send it over plain HTTP too.\n"
	}
	if a, ok := addr.(*net.TCPAddr); ok && (a.IP.IsLoopback() || a.IP.IsUnspecified()) {
		u += fmt.Sprintf(" (open http://localhost:%d/)", a.Port)
	}
	return "listening on " + u + "\n" +
		"The session cookie is Secure (__Host-session): current browsers take it over plain HTTP on http://localhost;\n" +
		"for plain HTTP on any other host, run with -insecure-cookies.\n"
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "webapp:", err)
	os.Exit(1)
}

// loadKey reads the key from the flag or $MFA_KEY, or makes an ephemeral
// one.
func loadKey(flagValue string) (key mfa.Key, ephemeral bool, err error) {
	enc := flagValue
	if enc == "" {
		enc = os.Getenv("MFA_KEY")
	}
	if enc == "" {
		key, err = mfa.GenerateKey("ephemeral")
		return key, true, err
	}
	key, err = mfa.DecodeKey(enc)
	if err != nil {
		return mfa.Key{}, false, fmt.Errorf("-key or MFA_KEY: %w", err)
	}
	return key, false, nil
}

// passkeyVerifier returns the WebAuthn verifier of the example's passkeys:
// relying party ID "localhost", origin http://localhost:PORT with the port
// the example listens on.
func passkeyVerifier(addr net.Addr) (*passkey.Verifier, error) {
	a, ok := addr.(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("passkeys: listening on %v, not TCP", addr)
	}
	return passkey.New(passkey.Config{
		RPID:          "localhost",
		RPDisplayName: siteName,
		Origins:       []string{fmt.Sprintf("http://localhost:%d", a.Port)},
	})
}

func run(ctx context.Context, addr, keyFlag, storeSpec string, requireMFA, insecureCookies, passkeys bool, stderr io.Writer) error {
	key, ephemeral, err := loadKey(keyFlag)
	if err != nil {
		return err
	}
	keys, err := mfa.NewKeyring(key)
	if err != nil {
		return err
	}
	store, closeStore, err := storeflag.Open(storeSpec)
	if err != nil {
		return err
	}
	defer closeStore()
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	// Listen first: the passkeys' origin has the port, which -addr may
	// leave to the system (":0").
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	cfg := config{Store: store, Keys: keys, RequireMFA: requireMFA, InsecureCookies: insecureCookies, Logger: logger}
	if passkeys {
		v, err := passkeyVerifier(ln.Addr())
		if err != nil {
			return err
		}
		cfg.Passkeys = v
	}
	h, err := newServer(cfg)
	if err != nil {
		return err
	}

	fmt.Fprintln(stderr, "WARNING: this is a demo. Users and sessions live in memory and vanish when it stops.")
	if storeSpec == "memory" {
		fmt.Fprintln(stderr, "WARNING: -store memory: MFA devices, recovery codes and tokens vanish when it stops too.")
	}
	if ephemeral {
		fmt.Fprintln(stderr, "WARNING: the MFA encryption key is ephemeral: secrets encrypted with it cannot be read after a restart.")
		fmt.Fprintln(stderr, "         To keep one, run: go run ./examples/webapp -new-key")
		fmt.Fprintln(stderr, "         and pass what it prints with -key ID:base64url or in MFA_KEY (the mfa.Key.Encode form).")
	}

	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	fmt.Fprint(stderr, listening(ln.Addr(), insecureCookies))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
