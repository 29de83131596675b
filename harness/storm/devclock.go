package storm

import (
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// deviceClocks are the phones' own clocks in a storm: real time plus an
// offset per device, which clock_skew with `devices` moves. The client under
// test gets them through client.Env.DeviceClock. A slice indexed by device
// number rather than a map, because a fleet can be a million devices and
// every clock read is on a request's hot path.
type deviceClocks struct {
	prefix string          // fleet device g is prefix+strconv.Itoa(g+1)
	shard  Shard           // clocks[i] is the clock of the shard's device i
	clocks []clock.Shifted // offsets are atomic: read by many devices, moved by the timeline
	asked  atomic.Bool     // the client took some device's clock
}

func newDeviceClocks(scenario string, sh Shard, n int) *deviceClocks {
	return &deviceClocks{prefix: scenario + "-d", shard: sh, clocks: make([]clock.Shifted, n)}
}

// deviceName is the name of device i (0-based): <scenario>-d<i+1>.
func deviceName(scenario string, i int) string { return scenario + "-d" + strconv.Itoa(i+1) }

// clock implements client.Env.DeviceClock. A name that is not one of the
// storm's devices (a client's own start-up probe) gets nil: Env.Clock.
func (dc *deviceClocks) clock(device string) clock.Clock {
	i, ok := dc.index(device)
	if !ok {
		return nil // never a typed nil: the caller falls back to Env.Clock
	}
	dc.asked.Store(true)
	return &dc.clocks[i]
}

func (dc *deviceClocks) index(device string) (int, bool) {
	num, ok := strings.CutPrefix(device, dc.prefix)
	if !ok || num == "" || num[0] == '0' {
		return 0, false
	}
	g, err := strconv.Atoi(num)
	if err != nil || g < 1 {
		return 0, false
	}
	i, ok := dc.shard.Local(g - 1)
	if !ok || i >= len(dc.clocks) {
		return 0, false
	}
	return i, true
}

// shift moves the clocks of the shard's devices [lo, hi) by d; shifts accumulate. Each
// device's new offset goes to the ledger (device.clock), so the checker
// judges a refresh by the clock the device judged its token by.
func (dc *deviceClocks) shift(lo, hi int, d time.Duration, led *ledger.Ledger) {
	for i := lo; i < hi; i++ {
		// Recorded first: a refresh the new time provokes comes after it.
		led.Append(ledger.Event{Source: ledger.SourceHarness, Kind: ledger.KindDeviceClock,
			Device: dc.prefix + strconv.Itoa(dc.shard.Global(i)+1), Detail: (dc.clocks[i].Offset() + d).String()})
		dc.clocks[i].Shift(d)
	}
}
