package mfa_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"

	"github.com/mfakit/mfa"
)

// TestEventTypesAndErrorCodes checks EventTypes and ErrorCodes against the
// declarations in event.go and errors.go, so that an adapter built on them
// knows every value.
func TestEventTypesAndErrorCodes(t *testing.T) {
	var types, codes []string
	for _, file := range []string{"event.go", "errors.go"} {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		mustOK(t, err)
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				if id, ok := n.Type.(*ast.Ident); ok && id.Name == "EventType" {
					for _, v := range n.Values {
						types = append(types, unquote(t, v))
					}
				}
			case *ast.CallExpr:
				if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "sentinel" && len(n.Args) == 2 {
					codes = append(codes, unquote(t, n.Args[0]))
				}
			}
			return true
		})
	}
	var got []string
	for _, typ := range mfa.EventTypes() {
		got = append(got, string(typ))
	}
	slices.Sort(types)
	slices.Sort(got)
	if len(types) < 20 || !slices.Equal(got, types) {
		t.Errorf("EventTypes() = %v, event.go declares %v", got, types)
	}
	gotCodes := mfa.ErrorCodes()
	slices.Sort(codes)
	slices.Sort(gotCodes)
	if len(codes) < 15 || !slices.Equal(gotCodes, codes) {
		t.Errorf("ErrorCodes() = %v, errors.go declares %v", gotCodes, codes)
	}
}

func unquote(t *testing.T, e ast.Expr) string {
	t.Helper()
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		t.Fatalf("not a string literal: %#v", e)
	}
	s, err := strconv.Unquote(lit.Value)
	mustOK(t, err)
	return s
}
