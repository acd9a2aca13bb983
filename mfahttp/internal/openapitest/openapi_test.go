package openapitest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mfakit/mfa"
	"github.com/mfakit/mfa/mfahttp"
)

// repoRoot is the directory of the module github.com/mfakit/mfa, from
// this package's directory.
const repoRoot = "../../.."

// TestDocument: the document loads and validates as OpenAPI 3.1, names
// the token header as mfahttp does, and lists every error code of mfa
// but those that mfahttp answers as 500 internal_error.
// mfa_invalid_config is one of those but for passkeys that are off, which
// the passkey endpoints answer 404 mfa_invalid_config: it is listed.
func TestDocument(t *testing.T) {
	c, err := loadChecker(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	p := c.doc.Components.Parameters["MfaAuthToken"]
	if p == nil || p.Value.In != "header" || p.Value.Name != mfahttp.TokenHeader {
		t.Fatalf("the document's MfaAuthToken parameter is not the header %s", mfahttp.TokenHeader)
	}
	serverSide := []string{"mfa_key_error", "mfa_store_error"}
	documented := c.doc.Components.Schemas["ErrorCode"].Value.Enum
	for _, code := range mfa.ErrorCodes() {
		inDoc, server := slices.Contains(documented, any(code)), slices.Contains(serverSide, code)
		switch {
		case inDoc && server:
			t.Errorf("error code %s is in the document's ErrorCode, but mfahttp answers it as 500 internal_error", code)
		case !inDoc && !server:
			t.Errorf("error code %s of mfa is missing from the document's ErrorCode", code)
		}
	}
	for _, tmpl := range c.templates {
		for method, op := range tmpl.item.Operations() {
			if op.OperationID == "" || op.Summary == "" {
				t.Errorf("%s %s has no operationId or summary", method, tmpl.path)
			}
		}
	}
}

// TestExchanges runs the tests of mfahttp, recording every request they
// send to the handler and its answer, and checks each exchange against
// the document (checker.check says how). It also fails for an operation
// of the document that no exchange called, and for a response (operation
// and status) that none produced, so that every part of the document is
// checked against the code at least once.
func TestExchanges(t *testing.T) {
	c, err := loadChecker(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	exchanges := recordExchanges(t)

	calls := map[string]int{}     // operation → exchanges
	responses := map[string]int{} // "operation status" → exchanges
	counts := map[outcome]int{}
	tests := map[string]bool{}
	var failures []string
	for _, x := range exchanges {
		res, err := c.check(t.Context(), x)
		if err != nil {
			failures = append(failures, fmt.Sprintf("%v\n%s", err, x))
			continue
		}
		counts[res.outcome]++
		tests[x.Test] = true
		if res.op != "" {
			calls[res.op]++
			responses[fmt.Sprintf("%s %d", res.op, res.status)]++
		}
	}
	const shown = 20
	for i, f := range failures {
		if i == shown {
			t.Errorf("... and %d more", len(failures)-shown)
			break
		}
		t.Errorf("exchange %s", f)
	}

	var missing []string
	for _, op := range c.operations() {
		if calls[op] == 0 {
			missing = append(missing, op)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d operations of the document are never called by the tests of mfahttp, so nothing checks them against the code; add a test that calls each:\n  %s",
			len(missing), strings.Join(missing, "\n  "))
	}

	var unseen []string
	documented := c.responses()
	for _, r := range documented {
		if responses[r] == 0 {
			unseen = append(unseen, r)
		}
	}
	checked := counts[asDocumented] + counts[refusedByBoth] + counts[unlisted]
	t.Logf("%d exchanges recorded by %d tests; %d under /api/ checked: %d requests as documented, %d that the document and the server both refuse, %d to paths or methods the document does not list; %d outside /api/ (the UI) left out",
		len(exchanges), len(tests), checked, counts[asDocumented], counts[refusedByBoth], counts[unlisted], counts[notAPI])
	t.Logf("%d of %d operations called; %d of %d documented responses (operation and status) seen", len(calls), len(c.operations()), len(documented)-len(unseen), len(documented))
	if len(unseen) > 0 {
		t.Errorf("%d responses of the document (operation and status) are never produced by the tests of mfahttp, so nothing checks them against the code; add a test that produces each, or drop it from the document if the handler cannot answer so:\n  %s",
			len(unseen), strings.Join(unseen, "\n  "))
	}
	if checked == 0 {
		t.Fatal("no exchange under /api/ was recorded")
	}
}

// recordExchanges runs the tests of mfahttp with MFA_HTTP_RECORD set and
// returns the exchanges they recorded. They need the go command; CI,
// which sets CI, must have it, elsewhere the test is skipped without it.
func recordExchanges(t *testing.T) []exchange {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the go command is not on PATH (%v): the check runs the tests of mfahttp with it", err)
		}
		t.Skipf("the go command is not on PATH (%v): it runs the tests of mfahttp", err)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "exchanges.jsonl")
	cmd := exec.CommandContext(t.Context(), goCmd, "test", "-count=1", "-run", ".", "./mfahttp")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "MFA_HTTP_RECORD="+file)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s (in %s) with MFA_HTTP_RECORD set: %v\n%s", strings.Join(cmd.Args, " "), root, err, out)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("the tests of mfahttp recorded nothing: %v", err)
	}
	var exchanges []exchange
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		var x exchange
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&x); err != nil {
			t.Fatalf("%s, line %d: %v", file, line, err)
		}
		exchanges = append(exchanges, x)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return exchanges
}

// TestCheckerRefuses: the check is not vacuous. Each exchange below
// departs from the document in one way, and the check must refuse it;
// the first ones are as documented and must pass. This also pins down
// what kin-openapi enforces of the document's OpenAPI 3.1 schemas.
func TestCheckerRefuses(t *testing.T) {
	c, err := loadChecker(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	jsonHeader := func(kv ...string) map[string][]string {
		h := map[string][]string{"Content-Type": {"application/json; charset=utf-8"}}
		for i := 0; i+1 < len(kv); i += 2 {
			h[kv[i]] = append(h[kv[i]], kv[i+1])
		}
		return h
	}
	secret := func(kv ...string) map[string][]string {
		return jsonHeader(append([]string{"Cache-Control", "no-store", "Pragma", "no-cache"}, kv...)...)
	}
	body := map[string][]string{"Content-Type": {"application/json"}}
	const (
		device     = `{"id":"d1","type":"totp","verified":true,"default":true,"createdAt":"2026-07-01T12:00:05Z","digits":6}`
		pending    = `{"id":"d1","type":"totp","verified":true,"default":true,"digits":6}`
		token      = `{"value":"mfat_x","singleUse":true,"expiresAt":"2026-07-01T12:05:05Z"}`
		authResult = `{"method":"totp","device":` + device + `,"deviceVerified":false,"mfaToken":` + token + `,"recoveryCodesRemaining":10,"recoveryCodesPending":false}`
		reg        = `{"id":"d1","digits":6,"secret":"JBSWY3DPEHPK3PXP","uri":"otpauth://totp/Acme:alice?secret=JBSWY3DPEHPK3PXP","qrCode":"data:image/png;base64,AAAA"}`
	)
	for _, tc := range []struct {
		name             string
		method, path     string
		reqHeader        map[string][]string
		reqBody          string
		status           int
		resHeader        map[string][]string
		resBody          string
		valid            bool
		wantErrSubstring string
	}{
		{name: "full device list", method: "GET", path: "/api/devices", status: 200, resHeader: jsonHeader(), resBody: `{"devices":[` + device + `]}`, valid: true},
		{name: "pending device list", method: "GET", path: "/api/devices", status: 200, resHeader: jsonHeader(), resBody: `{"devices":[` + pending + `]}`, valid: true},
		{name: "authenticate", method: "POST", path: "/api/devices/totp/authenticate", reqHeader: body, reqBody: `{"code":"123456","createMfaToken":{"singleUse":true,"ttl":60}}`, status: 200, resHeader: secret(), resBody: authResult, valid: true},
		{name: "lockout", method: "POST", path: "/api/devices/totp/authenticate", reqHeader: body, reqBody: `{"code":"123456"}`, status: 429, resHeader: jsonHeader("Retry-After", "30"), resBody: `{"error":{"code":"mfa_rate_limited","message":"m","retryAfter":30}}`, valid: true},
		{name: "refused by both", method: "POST", path: "/api/devices/totp/authenticate", reqHeader: body, reqBody: `{"code":"1","extra":1}`, status: 400, resHeader: jsonHeader(), resBody: `{"error":{"code":"bad_request","message":"m"}}`, valid: true},
		{name: "unknown path", method: "GET", path: "/api/nope", status: 404, resHeader: jsonHeader(), resBody: `{"error":{"code":"not_found","message":"m"}}`, valid: true},
		{name: "method not allowed", method: "PUT", path: "/api/devices/x", status: 405, resHeader: jsonHeader("Allow", "DELETE"), resBody: `{"error":{"code":"method_not_allowed","message":"m"}}`, valid: true},

		{name: "device without createdAt in a full list", method: "GET", path: "/api/devices", status: 200, resHeader: jsonHeader(), resBody: `{"devices":[` + device + `,` + pending + `]}`},
		{name: "device with an unknown key", method: "GET", path: "/api/devices", status: 200, resHeader: jsonHeader(), resBody: `{"devices":[` + strings.Replace(device, `{`, `{"secret":"x",`, 1) + `]}`},
		{name: "digits not 6 or 8", method: "GET", path: "/api/devices", status: 200, resHeader: jsonHeader(), resBody: `{"devices":[` + strings.Replace(device, `"digits":6`, `"digits":7`, 1) + `]}`},
		{name: "date that is not a date-time", method: "POST", path: "/api/devices/totp/authenticate", reqHeader: body, reqBody: `{"code":"123456"}`, status: 200, resHeader: secret(), resBody: strings.Replace(authResult, `2026-07-01T12:05:05Z`, `in five minutes`, 1), wantErrSubstring: "date-time"},
		{name: "unknown key at the top", method: "GET", path: "/api/recovery-codes/pending", status: 200, resHeader: jsonHeader(), resBody: `{"pending":true,"extra":1}`},
		{name: "status not documented", method: "GET", path: "/api/recovery-codes/pending", status: 409, resHeader: jsonHeader(), resBody: `{"error":{"code":"mfa_invalid_step","message":"m"}}`, wantErrSubstring: "status"},
		{name: "error code of another status", method: "GET", path: "/api/devices", status: 401, resHeader: jsonHeader(), resBody: `{"error":{"code":"mfa_required","message":"m"}}`},
		{name: "error code unknown", method: "POST", path: "/api/devices/totp/authenticate", reqHeader: body, reqBody: `{"code":"1"}`, status: 401, resHeader: jsonHeader(), resBody: `{"error":{"code":"nope","message":"m"}}`},
		{name: "error without message", method: "GET", path: "/api/devices", status: 401, resHeader: jsonHeader(), resBody: `{"error":{"code":"unauthenticated"}}`},
		{name: "retryAfter without a lockout", method: "GET", path: "/api/devices", status: 401, resHeader: jsonHeader(), resBody: `{"error":{"code":"unauthenticated","message":"m","retryAfter":3}}`},
		{name: "lockout without retryAfter", method: "POST", path: "/api/devices/totp/authenticate", reqHeader: body, reqBody: `{"code":"123456"}`, status: 429, resHeader: jsonHeader("Retry-After", "30"), resBody: `{"error":{"code":"mfa_rate_limited","message":"m"}}`},
		{name: "lockout without Retry-After", method: "POST", path: "/api/devices/totp/authenticate", reqHeader: body, reqBody: `{"code":"123456"}`, status: 429, resHeader: jsonHeader(), resBody: `{"error":{"code":"mfa_rate_limited","message":"m","retryAfter":30}}`, wantErrSubstring: "Retry-After"},
		{name: "secret without no-store", method: "POST", path: "/api/devices/totp", status: 200, resHeader: jsonHeader(), resBody: reg, wantErrSubstring: "Cache-Control"},
		{name: "registration without a QR code", method: "POST", path: "/api/devices/totp", status: 200, resHeader: secret(), resBody: strings.Replace(reg, `"qrCode":"data:image/png;base64,AAAA"`, `"qrCode":"AAAA"`, 1)},
		{name: "token that is null", method: "POST", path: "/api/devices/totp/authenticate", reqHeader: body, reqBody: `{"code":"123456"}`, status: 200, resHeader: secret(), resBody: strings.Replace(authResult, `"mfaToken":`+token, `"mfaToken":null`, 1)},
		{name: "not JSON", method: "GET", path: "/api/recovery-codes/pending", status: 200, resHeader: map[string][]string{"Content-Type": {"text/plain"}}, resBody: `pending`},
		{name: "body with 204", method: "POST", path: "/api/recovery-codes/acknowledge", status: 204, resBody: `{}`, wantErrSubstring: "body"},
		{name: "flow view unknown", method: "POST", path: "/api/flow", status: 200, resHeader: secret(), resBody: `{"view":"home","complete":true}`},
		{name: "flow error that is no step's", method: "POST", path: "/api/flow/continue", status: 200, resHeader: secret(), resBody: `{"view":"otp","complete":false,"error":{"code":"mfa_token_invalid","message":"m"}}`},
		{name: "server accepts a body the document refuses", method: "POST", path: "/api/devices/totp/authenticate", reqHeader: body, reqBody: `{"code":"1","extra":1}`, status: 200, resHeader: secret(), resBody: authResult, wantErrSubstring: "accepted a request"},
		{name: "server accepts a key in another case", method: "POST", path: "/api/flow/otp", reqHeader: body, reqBody: `{"Code":"123456"}`, status: 200, resHeader: secret(), resBody: `{"view":"devices","complete":true}`, wantErrSubstring: "accepted a request"},
		{name: "server accepts a body where none is documented", method: "POST", path: "/api/flow/continue", reqHeader: body, reqBody: `{"code":"1"}`, status: 200, resHeader: secret(), resBody: `{"view":"otp","complete":false}`, wantErrSubstring: "accepted a request"},
		{name: "server accepts a negative TTL", method: "POST", path: "/api/recovery-codes/authenticate", reqHeader: body, reqBody: `{"code":"a","createMfaToken":{"ttl":-1}}`, status: 200, resHeader: secret(), resBody: strings.Replace(authResult, `"method":"totp","device":`+device+`,`, `"method":"recovery_code",`, 1), wantErrSubstring: "accepted a request"},
		{name: "server accepts a device ID too long", method: "DELETE", path: "/api/devices/" + strings.Repeat("d", 65), reqHeader: map[string][]string{"X-Mfa-Auth-Token": {"mfat_x"}}, status: 204, wantErrSubstring: "accepted a request"},
		{name: "unknown path answered otherwise", method: "GET", path: "/api/nope", status: 200, resHeader: jsonHeader(), resBody: `{}`, wantErrSubstring: "want status 404"},
		{name: "unknown path with another code", method: "GET", path: "/api/nope", status: 404, resHeader: jsonHeader(), resBody: `{"error":{"code":"mfa_no_device","message":"m"}}`},
		{name: "Allow that differs from the document", method: "PUT", path: "/api/devices/x", status: 405, resHeader: jsonHeader("Allow", "DELETE, POST"), resBody: `{"error":{"code":"method_not_allowed","message":"m"}}`, wantErrSubstring: "Allow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := exchange{Test: t.Name(), Method: tc.method, Path: tc.path, RequestHeader: tc.reqHeader, RequestBody: []byte(tc.reqBody), Status: tc.status, ResponseHeader: tc.resHeader, ResponseBody: []byte(tc.resBody)}
			_, err := c.check(t.Context(), x)
			switch {
			case tc.valid && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.valid && err == nil:
				t.Fatalf("accepted:\n%s", x)
			case err != nil && !strings.Contains(err.Error(), tc.wantErrSubstring):
				t.Fatalf("refused for another reason than %q: %v", tc.wantErrSubstring, err)
			}
			if err != nil {
				t.Logf("refused: %s", firstLine(err.Error()))
			}
		})
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
