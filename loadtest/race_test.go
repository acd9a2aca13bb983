//go:build race

package loadtest

// The race detector makes every request several times slower, so the
// default run is smaller under it.
func init() { raceEnabled = true }
