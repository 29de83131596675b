package storm

import (
	"runtime/debug"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestGCTuningIsUndoneByTheLastStorm: overlapping storms raise GOGC once and
// the last one to end puts back what was there before.
func TestGCTuningIsUndoneByTheLastStorm(t *testing.T) {
	t.Setenv("GOGC", "") // as unset: the tuning applies
	before := debug.SetGCPercent(137)
	defer debug.SetGCPercent(before)

	var wg sync.WaitGroup
	restores := make([]func(), 8)
	for i := range restores {
		wg.Add(1)
		go func() { defer wg.Done(); restores[i] = tuneGCForLoad() }()
	}
	wg.Wait()
	assert.Equal(t, loadGCPercent, debug.SetGCPercent(loadGCPercent))
	for i, restore := range restores {
		restore()
		restore() // twice is once
		if i < len(restores)-1 {
			assert.Equal(t, loadGCPercent, debug.SetGCPercent(loadGCPercent), "a storm still runs")
		}
	}
	assert.Equal(t, 137, debug.SetGCPercent(137), "the last storm restored GOGC")

	t.Setenv("GOGC", "50")
	tuneGCForLoad()()
	assert.Equal(t, 137, debug.SetGCPercent(137), "GOGC from the environment is the user's choice")
}
