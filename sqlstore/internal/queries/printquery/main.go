// Command printquery prints a statement of sqlstore by its name in package
// queries, so that scripts/bench-postgres-statements.sh sends the text the
// store sends.
//
// Usage: go run ./sqlstore/internal/queries/printquery NAME
package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/mfakit/mfa/sqlstore/internal/queries"
)

var statements = map[string]string{
	"LoadUserPostgreSQL":              queries.LoadUserPostgreSQL,
	"AcceptStepZeroLockoutPostgreSQL": queries.AcceptStepZeroLockoutPostgreSQL,
}

func main() {
	if len(os.Args) != 2 || statements[os.Args[1]] == "" {
		names := slices.Sorted(maps.Keys(statements))
		fmt.Fprintf(os.Stderr, "usage: printquery NAME, one of %s\n", strings.Join(names, ", "))
		os.Exit(2)
	}
	fmt.Println(statements[os.Args[1]])
}
