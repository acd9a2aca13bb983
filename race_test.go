//go:build race

package mfa_test

// The race detector makes every allocation bigger, so memory tests skip.
func init() { raceEnabled = true }
