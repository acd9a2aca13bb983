// Package openapitest holds the check that mfahttp's OpenAPI description,
// mfahttp/openapi.json, says what the handler does. Its test runs the
// tests of mfahttp with MFA_HTTP_RECORD set, which makes them record every
// request they send to the handler and its answer, then validates each
// exchange against the document with kin-openapi, and fails for an
// operation of the document that no test calls.
//
// It is a module of its own so that kin-openapi, which only this check
// needs, stays out of the graph of the module github.com/mfakit/mfa.
package openapitest
