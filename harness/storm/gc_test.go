package storm

import (
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeLiveHeap makes the tuning see a live heap of n bytes (a pointer: the
// test may change it).
func fakeLiveHeap(t *testing.T, n uint64) *atomic.Uint64 {
	var v atomic.Uint64
	v.Store(n)
	saved := liveHeap
	liveHeap = v.Load
	t.Cleanup(func() { liveHeap = saved })
	return &v
}

func TestGCPercentFor(t *testing.T) {
	const mb = 1 << 20
	for live, want := range map[uint64]int{
		0:        loadGCPercent, // nothing measured yet
		10 * mb:  loadGCPercent, // 3× a small heap is still small
		32 * mb:  loadGCPercent, // 64 MB headroom = 200%
		64 * mb:  100,           // 64 MB headroom
		128 * mb: 50,            // from here on half the live heap
		400 * mb: 50,
	} {
		assert.Equal(t, want, gcPercentFor(live), "live %d MB", live/mb)
	}
}

// TestGCTuningFollowsTheLiveHeap: after a collection that finds a big live
// heap, GOGC falls, so the heap does not grow to three times what is live;
// once the heap is small again it rises back, and the last storm's end
// restores the user's GOGC for good.
func TestGCTuningFollowsTheLiveHeap(t *testing.T) {
	t.Setenv("GOGC", "")
	live := fakeLiveHeap(t, 10<<20)
	before := debug.SetGCPercent(137)
	defer debug.SetGCPercent(before)
	gogc := func() int {
		gcLoad.Lock() // a sentinel may be retuning right now
		defer gcLoad.Unlock()
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p
	}
	settlesAt := func(want int) {
		t.Helper()
		require.Eventually(t, func() bool { runtime.GC(); return gogc() == want }, 5*time.Second, 10*time.Millisecond)
	}
	restore := tuneGCForLoad()
	assert.Equal(t, loadGCPercent, gogc())
	live.Store(512 << 20)
	settlesAt(bigHeapGCPercent)
	live.Store(1 << 20)
	settlesAt(loadGCPercent)
	restore()
	assert.Equal(t, 137, gogc())
	live.Store(512 << 20)
	runtime.GC()
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, 137, gogc(), "no sentinel retunes after the last storm")
}

// TestGCTuningIsUndoneByTheLastStorm: overlapping storms raise GOGC once and
// the last one to end puts back what was there before.
func TestGCTuningIsUndoneByTheLastStorm(t *testing.T) {
	t.Setenv("GOGC", "") // as unset: the tuning applies
	fakeLiveHeap(t, 10<<20)
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
