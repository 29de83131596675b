package tap

import "time"

// ShortenServerLimits sets the limits of the tap's server for a test and
// returns how to put them back.
func ShortenServerLimits(readHeader, idle time.Duration) (restore func()) {
	old := serverLimits
	serverLimits.readHeader, serverLimits.idle = readHeader, idle
	return func() { serverLimits = old }
}

// Decoded is decoded, for the tests to see its bound.
var Decoded = decoded

// MaxAnswer is how much of an answer the tap reads.
const MaxAnswer = maxAnswer

// ShortenMemory makes the taps started from now on remember at most 2×gen
// refresh tokens, and returns how to put the bound back.
func ShortenMemory(gen int) (restore func()) {
	old := familyGeneration
	familyGeneration = gen
	return func() { familyGeneration = old }
}
