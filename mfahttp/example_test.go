package mfahttp_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/memstore"
	"github.com/mfakit/mfa/mfahttp"
)

// exampleApp stands in for an application's sessions: the user is named
// by a header here, by a session cookie in a real application.
type exampleApp struct{}

func (exampleApp) Session(r *http.Request) (mfahttp.Session, error) {
	user := r.Header.Get("X-Example-User")
	if user == "" {
		return mfahttp.Session{}, mfahttp.ErrNoSession
	}
	return mfahttp.Session{UserID: user, AccountName: user + "@example.com"}, nil
}

func (exampleApp) CompleteMFA(http.ResponseWriter, *http.Request, string) error {
	return nil // drop mfa.ScopeRequiresAdditionalAuth from the session here
}

// Mount the handler under a prefix, and guard an action with an MFA token.
func ExampleNew() {
	key, err := mfa.GenerateKey("example")
	if err != nil {
		log.Fatal(err)
	}
	keys, err := mfa.NewKeyring(key)
	if err != nil {
		log.Fatal(err)
	}
	m, err := mfa.New(mfa.Config{Store: memstore.New(), Issuer: "Acme", Keys: keys,
		Actions: map[string]mfa.ActionPolicy{"change-email": {}}})
	if err != nil {
		log.Fatal(err)
	}
	h := mfahttp.New(m, exampleApp{})
	mux := http.NewServeMux()
	mux.Handle("/mfa/", http.StripPrefix("/mfa", h))
	mux.Handle("POST /email", h.RequireMFAToken("change-email")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "email changed")
	})))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	get := func(method, path, user string) {
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			log.Fatal(err)
		}
		if user != "" {
			req.Header.Set("X-Example-User", user)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		fmt.Println(res.StatusCode, strings.TrimSpace(string(body)))
	}
	get("GET", "/mfa/api/devices", "")
	get("GET", "/mfa/api/devices", "ann")
	get("POST", "/email", "ann")
	// Output:
	// 401 {"error":{"code":"unauthenticated","message":"not logged in"}}
	// 200 {"devices":[]}
	// 403 {"error":{"code":"mfa_token_required","message":"an MFA token is required"}}
}

// New refuses a nil MFA or App when the handler is built, not at its first
// request.
func ExampleNew_nil() {
	defer func() { fmt.Println(recover()) }()
	mfahttp.New(nil, exampleApp{})
	// Output: mfahttp: New needs an *mfa.MFA and an App; got a nil one
}
