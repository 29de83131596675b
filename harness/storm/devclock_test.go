package storm

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/clock"
)

func TestDeviceClocks(t *testing.T) {
	dc := newDeviceClocks("s", Shard{}, 4)
	for _, other := range []string{"s-d0", "s-d5", "s-d01", "s-dx", "s-d", "t-d1", "s-d1x"} {
		assert.Nil(t, dc.clock(other), "%s is not a device of the storm: Env.Clock (an untyped nil)", other)
	}
	assert.False(t, dc.asked.Load())

	// Two goroutines read while the timeline moves devices 2 and 3 (race
	// detector), twice: offsets accumulate.
	clocks := make([]clock.Clock, 4)
	for i := range clocks {
		clocks[i] = dc.clock(deviceName("s", i))
		require.NotNil(t, clocks[i])
	}
	assert.True(t, dc.asked.Load())
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				for _, c := range clocks {
					_ = c.Now()
				}
			}
		}()
	}
	dc.shift(1, 3, time.Hour, nil)
	dc.shift(1, 3, 30*time.Minute, nil)
	wg.Wait()
	now := time.Now()
	assert.WithinDuration(t, now, clocks[0].Now(), time.Minute)
	assert.WithinDuration(t, now.Add(90*time.Minute), clocks[1].Now(), time.Minute)
	assert.WithinDuration(t, now.Add(90*time.Minute), clocks[2].Now(), time.Minute)
	assert.WithinDuration(t, now, clocks[3].Now(), time.Minute)
}
