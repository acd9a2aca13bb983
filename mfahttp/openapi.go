package mfahttp

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPIDocument is the OpenAPI 3.1 description of the JSON API, paths
// relative to where the handler is mounted. The module
// mfahttp/internal/openapitest checks every request and response of this
// package's tests against it.
//
//go:embed openapi.json
var openAPIDocument []byte

// serveOpenAPI answers GET /api/openapi.json with the document. It needs
// no session: the document describes the API, not any user, and tools
// (client generators, API explorers) read it without logging in.
func (h *Handler) serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(openAPIDocument)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDocument) // the status is sent; a write error means the client left
}
