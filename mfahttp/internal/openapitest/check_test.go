package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// docFile is mfahttp's OpenAPI document, from this package's directory.
const docFile = "../../openapi.json"

// exchange is one request to the handler and its answer, as
// mfahttp/record_test.go records them: Path is relative to where the
// handler is mounted, escaped, with the query if any.
type exchange struct {
	Test           string      `json:"test"`
	Method         string      `json:"method"`
	Path           string      `json:"path"`
	RequestHeader  http.Header `json:"requestHeader"`
	RequestBody    []byte      `json:"requestBody"`
	Status         int         `json:"status"`
	ResponseHeader http.Header `json:"responseHeader"`
	ResponseBody   []byte      `json:"responseBody"`
}

// String shows the exchange for a failure message.
func (x exchange) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s (from %s)\n", x.Method, x.Path, x.Test)
	for _, k := range slices.Sorted(maps.Keys(x.RequestHeader)) {
		fmt.Fprintf(&b, "  > %s: %s\n", k, strings.Join(x.RequestHeader[k], ", "))
	}
	if len(x.RequestBody) > 0 {
		fmt.Fprintf(&b, "  > %s\n", clip(x.RequestBody))
	}
	fmt.Fprintf(&b, "  < %d\n", x.Status)
	for _, k := range slices.Sorted(maps.Keys(x.ResponseHeader)) {
		fmt.Fprintf(&b, "  < %s: %s\n", k, strings.Join(x.ResponseHeader[k], ", "))
	}
	if len(x.ResponseBody) > 0 {
		fmt.Fprintf(&b, "  < %s\n", clip(x.ResponseBody))
	}
	return b.String()
}

// clip quotes a body, cut short if long.
func clip(body []byte) string {
	const max = 600
	if len(body) > max {
		return fmt.Sprintf("%q... (%d bytes)", body[:max], len(body))
	}
	return fmt.Sprintf("%q", body)
}

// outcome is what the check made of an exchange.
type outcome int

const (
	// notAPI: a request outside /api/, for the UI page or its assets,
	// which the document leaves out.
	notAPI outcome = iota
	// asDocumented: the request and the response are as the document
	// describes them.
	asDocumented
	// refusedByBoth: a request the document refuses, which the server
	// refused too, with a response as the document describes it.
	refusedByBoth
	// unlisted: a path or method the document does not list, answered as
	// its NotFound or MethodNotAllowed response (or CrossOrigin) says.
	unlisted
)

// result is the check's verdict on an exchange that passed it.
type result struct {
	outcome outcome
	op      string // the operation, e.g. "GET /api/devices"; "" unless listed
	status  int
}

// checker validates exchanges against the document.
type checker struct {
	doc       *openapi3.T
	router    routers.Router
	templates []pathTemplate
}

// pathTemplate is a path of the document as a regular expression over
// escaped request paths.
type pathTemplate struct {
	path  string
	re    *regexp.Regexp
	names []string // of the path's parameters, in order
	item  *openapi3.PathItem
}

var paramSegment = regexp.MustCompile(`^\{([^{}]+)\}$`)

// loadChecker loads the document with kin-openapi, validates it and makes
// a router for its paths.
func loadChecker(ctx context.Context) (*checker, error) {
	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromFile(docFile)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", docFile, err)
	}
	if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("%s declares OpenAPI %q, not 3.1.0", docFile, doc.OpenAPI)
	}
	if err := doc.Validate(ctx, openapi3.EnableMultiError(), openapi3.EnableSchemaFormatValidation()); err != nil {
		return nil, fmt.Errorf("%s is not a valid OpenAPI document: %w", docFile, err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("routing %s: %w", docFile, err)
	}
	c := &checker{doc: doc, router: router}
	for _, path := range doc.Paths.InMatchingOrder() {
		t := pathTemplate{path: path, item: doc.Paths.Value(path)}
		segments := strings.Split(path, "/")
		for i, s := range segments {
			if m := paramSegment.FindStringSubmatch(s); m != nil {
				t.names = append(t.names, m[1])
				segments[i] = "([^/]+)"
			} else {
				segments[i] = regexp.QuoteMeta(s)
			}
		}
		t.re = regexp.MustCompile("^" + strings.Join(segments, "/") + "$")
		c.templates = append(c.templates, t)
	}
	return c, nil
}

// operations returns every operation of the document, as "METHOD path".
func (c *checker) operations() []string {
	var ops []string
	for _, t := range c.templates {
		for method := range t.item.Operations() {
			ops = append(ops, method+" "+t.path)
		}
	}
	slices.Sort(ops)
	return ops
}

// responses returns every documented response, as "METHOD path status".
func (c *checker) responses() []string {
	var out []string
	for _, t := range c.templates {
		for method, op := range t.item.Operations() {
			for status := range op.Responses.Map() {
				out = append(out, method+" "+t.path+" "+status)
			}
		}
	}
	slices.Sort(out)
	return out
}

// match returns the templates that path (escaped) matches, and the
// methods they take, sorted.
func (c *checker) match(escapedPath string) (matches []pathTemplate, methods []string) {
	for _, t := range c.templates {
		if t.re.MatchString(escapedPath) {
			matches = append(matches, t)
			for m := range t.item.Operations() {
				if !slices.Contains(methods, m) {
					methods = append(methods, m)
				}
			}
		}
	}
	slices.Sort(methods)
	return matches, methods
}

// findRoute finds the operation of req. gorilla/mux stops at the first
// path that matches, so DELETE /api/devices/totp would be "method not
// allowed" on /api/devices/totp although /api/devices/{id} takes it, as
// the handler's mux does: the document's templates settle that case.
func (c *checker) findRoute(req *http.Request) (*routers.Route, map[string]string, error) {
	route, params, err := c.router.FindRoute(req)
	if !errors.Is(err, routers.ErrMethodNotAllowed) {
		return route, params, err
	}
	matches, _ := c.match(req.URL.EscapedPath())
	for _, t := range matches {
		op := t.item.GetOperation(req.Method)
		if op == nil {
			continue
		}
		params := map[string]string{}
		for i, v := range t.re.FindStringSubmatch(req.URL.EscapedPath())[1:] {
			params[t.names[i]] = v
		}
		return &routers.Route{Spec: c.doc, Path: t.path, PathItem: t.item, Method: req.Method, Operation: op}, params, nil
	}
	return nil, nil, err
}

// componentRoute is a route whose only response, for status, is the
// document's response component name: what the handler answers for a
// path or method that the document does not list.
func (c *checker) componentRoute(method string, status int, name string) (*routers.Route, error) {
	ref := c.doc.Components.Responses[name]
	if ref == nil {
		return nil, fmt.Errorf("the document has no response component %q", name)
	}
	op := openapi3.NewOperation()
	op.Responses = openapi3.NewResponses(openapi3.WithStatus(status, ref))
	return &routers.Route{Spec: c.doc, Path: "(not in the document)", Method: method, Operation: op}, nil
}

func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// check validates one exchange:
//
//   - a request to a listed operation must be as the document describes
//     it, unless the server refused it too (an error status, or a flow
//     state with an error): the document may not refuse what the server
//     accepts;
//   - its response must be one the operation lists for its status, with
//     the headers, media type and body schema listed, and no body where
//     none is listed;
//   - a request to a path the document does not list must be 404
//     not_found, one with a method the path does not take 405
//     method_not_allowed with an Allow header of the methods it does take,
//     both as the document's NotFound and MethodNotAllowed responses;
//     either may instead be 403 cross_origin for a method that may
//     change state, which the handler checks first, on any path.
func (c *checker) check(ctx context.Context, x exchange) (result, error) {
	u, err := url.Parse(x.Path)
	if err != nil {
		return result{}, fmt.Errorf("recorded path: %w", err)
	}
	if !strings.HasPrefix(u.Path, "/api/") {
		return result{outcome: notAPI}, nil
	}
	var body io.Reader
	if len(x.RequestBody) > 0 {
		body = bytes.NewReader(x.RequestBody)
	}
	req, err := http.NewRequestWithContext(ctx, x.Method, "http://mfa.test"+x.Path, body)
	if err != nil {
		return result{}, fmt.Errorf("rebuilding the request: %w", err)
	}
	req.Header = x.RequestHeader.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}

	route, params, err := c.findRoute(req)
	if err != nil {
		return c.checkUnlisted(ctx, x, req, err)
	}
	op := x.Method + " " + route.Path
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true, RejectWhenRequestBodyNotSpecified: true},
	}
	res := result{outcome: asDocumented, op: op, status: x.Status}
	if reqErr := openapi3filter.ValidateRequest(ctx, in); reqErr != nil {
		if !refusedByServer(route, x) {
			return result{}, fmt.Errorf("%s: the server accepted a request that the document refuses: %w", op, reqErr)
		}
		res.outcome = refusedByBoth
	}
	if err := c.checkResponse(ctx, in, route, x); err != nil {
		return result{}, fmt.Errorf("%s: %w", op, err)
	}
	return res, nil
}

// checkUnlisted checks the answer to a path or method that the document
// does not list; routeErr is the router's reason.
func (c *checker) checkUnlisted(ctx context.Context, x exchange, req *http.Request, routeErr error) (result, error) {
	_, methods := c.match(req.URL.EscapedPath())
	var status int
	var component string
	switch {
	case x.Status == http.StatusForbidden && !safeMethod(x.Method):
		status, component = http.StatusForbidden, "CrossOrigin"
	case len(methods) == 0:
		status, component = http.StatusNotFound, "NotFound"
	default:
		status, component = http.StatusMethodNotAllowed, "MethodNotAllowed"
	}
	if x.Status != status {
		return result{}, fmt.Errorf("%s %s is not in the document (%v; the document's paths that match take %v): want status %d, got %d", x.Method, req.URL.Path, routeErr, methods, status, x.Status)
	}
	if status == http.StatusMethodNotAllowed {
		if allow := strings.Join(sortedFields(x.ResponseHeader.Get("Allow")), ", "); allow != strings.Join(methods, ", ") {
			return result{}, fmt.Errorf("%s %s: Allow %q, but the document's paths that match take %v", x.Method, req.URL.Path, x.ResponseHeader.Get("Allow"), methods)
		}
	}
	route, err := c.componentRoute(x.Method, status, component)
	if err != nil {
		return result{}, err
	}
	in := &openapi3filter.RequestValidationInput{Request: req, Route: route}
	if err := c.checkResponse(ctx, in, route, x); err != nil {
		return result{}, fmt.Errorf("%s %s, not in the document, answered as its %s response says: %w", x.Method, req.URL.Path, component, err)
	}
	return result{outcome: unlisted, status: x.Status}, nil
}

// sortedFields splits a header's list of methods.
func sortedFields(list string) []string {
	var out []string
	for f := range strings.SplitSeq(list, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

// checkResponse validates x's response for the request in.
func (c *checker) checkResponse(ctx context.Context, in *openapi3filter.RequestValidationInput, route *routers.Route, x exchange) error {
	ref := route.Operation.Responses.Status(x.Status)
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("status %d is not one the document lists", x.Status)
	}
	if len(ref.Value.Content) == 0 && len(x.ResponseBody) > 0 {
		return fmt.Errorf("status %d has a body, where the document lists none", x.Status)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 x.Status,
		Header:                 x.ResponseHeader,
		Options:                &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true},
	}
	out.SetBodyBytes(x.ResponseBody)
	return openapi3filter.ValidateResponse(ctx, out)
}

// refusedByServer reports whether the server refused x's request: an
// error status, or a flow step's state with an error, which comes with
// status 200.
func refusedByServer(route *routers.Route, x exchange) bool {
	if x.Status >= 400 {
		return true
	}
	if x.Status != http.StatusOK || !strings.HasPrefix(route.Path, "/api/flow") {
		return false
	}
	var st struct {
		Error json.RawMessage `json:"error"`
	}
	return json.Unmarshal(x.ResponseBody, &st) == nil && len(st.Error) > 0 && string(st.Error) != "null"
}
