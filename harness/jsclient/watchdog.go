package jsclient

import (
	"errors"
	"fmt"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// Defaults of the per-runtime limits (Options.MaxTurn, Options.MemoryLimit).
const (
	DefaultMaxTurn     = 5 * time.Second
	DefaultMemoryLimit = 256 << 20
	DefaultRetainLimit = 64 << 20
	watchEvery         = 25 * time.Millisecond
)

// LimitError is why a device's runtime was stopped: one turn of its
// JavaScript (the module's top level, the synchronous part of call(req), a
// callback) ran too long or allocated too much. The device's pending and
// later calls fail with it; the other devices and the run go on.
type LimitError struct {
	Device string
	What   string // "time" or "memory"
	Limit  string // e.g. "5s", "256 MiB"
	// Retained, for memory kept across turns (Options.RetainLimit): how
	// much the runtime held over what it held once loaded.
	Retained string
}

func (e *LimitError) Error() string {
	if e.Retained != "" {
		return fmt.Sprintf("js runtime of device %s stopped: its JavaScript keeps memory across calls: it retains %s more than once loaded, over the %s limit (answers kept in a global, a cache that never evicts?)", e.Device, e.Retained, e.Limit)
	}
	if e.What == "memory" {
		return fmt.Sprintf("js runtime of device %s stopped: one turn of its JavaScript allocated more than %s (runaway allocation?)", e.Device, e.Limit)
	}
	return fmt.Sprintf("js runtime of device %s stopped: one turn of its JavaScript ran longer than %s without yielding (busy loop?)", e.Device, e.Limit)
}

// turnState is what the watchdog knows about a device's current turn. The
// loop goroutine writes start; the watchdog reads it.
type turnState struct {
	start atomic.Int64 // unix nanos when the running turn began; 0 = idle
}

// begin and end bracket one turn on the loop goroutine.
func (t *turnState) begin() { t.start.Store(time.Now().UnixNano()) }
func (t *turnState) end()   { t.start.Store(0) }

// seen is the watchdog's own note of a long turn: when it saw it first and
// the heap at that moment.
type seen struct {
	start int64
	heap  uint64
	// live is the live heap the collector last marked, when the watchdog
	// first saw the turn: what a runaway's growth is judged against.
	live uint64
	// busy is how long the turn has run as the watchdog counts it: wall
	// time, but no more than the CPU the process got meanwhile.
	busy time.Duration
}

// processCPU reads the process's CPU clock; tests starve the process through it.
var processCPU = readProcessCPU

// starvedGap bounds the wall time one watchdog look may count for a turn:
// the look came late, so the process itself was starved of CPU.
const starvedGap = 4 * watchEvery

// heapBytes reads the live heap cheaply (no stop-the-world, unlike
// runtime.ReadMemStats).
func heapBytes(s []metrics.Sample) uint64 {
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		return s[0].Value.Uint64()
	}
	return 0
}

// watch is the client's watchdog goroutine: every watchEvery it looks at the
// turn each runtime is in, and stops a runtime whose turn has run past
// MaxTurn, or during which the heap grew by more than MemoryLimit. Memory
// cannot be attributed to a goja runtime exactly; growth during one long
// turn can, and a runaway allocation (a string doubled in a loop) is one.
func (c *Client) watch(stop <-chan struct{}) {
	tick := time.NewTicker(watchEvery)
	defer tick.Stop()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	liveSample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	long := map[*device]seen{}
	last := time.Now().UnixNano()
	lastCPU, haveCPU := processCPU()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		now := time.Now().UnixNano()
		// What this look may add to a turn's time: the wall time since the
		// last look, but on a machine so loaded that this process got
		// little CPU meanwhile (the look came late, or the CPU clock barely
		// moved), only what it got: a correct turn descheduled by the
		// operating system is no busy loop (SPEC §5: verdicts must not
		// depend on machine load). A busy loop uses a core, so its turn's
		// time still grows at the wall clock's pace.
		step := time.Duration(now - last)
		if cpu, ok := processCPU(); ok && haveCPU {
			step = min(step, max(cpu-lastCPU, 0), starvedGap)
			lastCPU = cpu
		} else {
			step = min(step, starvedGap)
		}
		last = now
		heap := heapBytes(sample)
		live := heapBytes(liveSample)
		for _, d := range c.watched() {
			st := d.turn.start.Load()
			if st == 0 {
				delete(long, d)
				continue
			}
			s, ok := long[d]
			if !ok || s.start != st {
				// A turn the last look did not see began at most one step ago.
				s = seen{start: st, heap: heap, live: live, busy: min(time.Duration(now-st), step)}
			} else {
				s.busy += step
			}
			long[d] = s
			switch {
			case s.busy > c.opts.MaxTurn:
				d.kill(&LimitError{Device: d.name, What: "time", Limit: c.opts.MaxTurn.String()})
				delete(long, d)
			case heap > s.heap && heap-s.heap > uint64(c.opts.MemoryLimit):
				// The heap grew by the limit during this turn, but the
				// heap counts every goroutine's garbage not yet collected:
				// other devices', the storm's. Only what the collector
				// found live is a runaway's: stop the turn once the live
				// heap has grown by the limit too (a runaway keeps what it
				// allocates, and its allocation sets collections off).
				// Forcing a collection here would stall the whole storm.
				if live > s.live && live-s.live > uint64(c.opts.MemoryLimit) {
					d.kill(&LimitError{Device: d.name, What: "memory", Limit: fmt.Sprintf("%d MiB", c.opts.MemoryLimit>>20)})
					delete(long, d)
				}
			}
		}
	}
}

// watched lists the runtimes the watchdog looks after: every device, and the
// start-up probe while it loads.
func (c *Client) watched() []*device {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*device, 0, len(c.devices)+1)
	for _, d := range c.devices {
		out = append(out, d)
	}
	if c.probing != nil {
		out = append(out, c.probing)
	}
	return out
}

// kill stops a device's runtime for good with err: JavaScript is interrupted
// wherever it is, the loop ends, pending and later calls get err. Any
// goroutine.
func (d *device) kill(err error) {
	if !d.dead.CompareAndSwap(nil, &err) {
		return
	}
	d.c.killed.Add(1)
	if !d.quiet {
		e := ledger.Event{Source: ledger.SourceClient, Kind: ledger.KindClientLog, Device: d.name, Detail: err.Error()}
		if IsLimit(err) {
			// The summary names the device (stopped_devices); an interrupt
			// (Ctrl-C) stops every runtime and is the run's note instead.
			e.Outcome = ledger.OutcomeStopped
		}
		d.c.env.Ledger.Append(e)
	}
	d.cancel()
	if vm := d.vmp.Load(); vm != nil {
		vm.Interrupt(err)
	}
	d.loop.stop()
}

// closedErr is what calls of a stopped device get: the limit it hit, or
// ErrClosed.
func (d *device) closedErr() error {
	if p := d.dead.Load(); p != nil {
		return *p
	}
	return ErrClosed
}

// IsLimit reports whether err is (or wraps) a *LimitError.
func IsLimit(err error) bool {
	var le *LimitError
	return errors.As(err, &le)
}
