package storm

import (
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
)

// loadGCPercent is the garbage collector's GOGC while storms run and the
// live heap is small. A storm keeps tens of megabytes of checker state live
// (recently settled requests, per-device history) while it allocates at the
// rate of the load; at the default 100 the collector re-marks that state
// every few dozen megabytes allocated, about a tenth of the CPU a request
// costs. At 200 it marks half as often for about 1.5× the heap (measured:
// 100 devices × 4 unthrottled, ~87 → ~78 µs CPU per request, peak RSS ~120
// → ~160 MB).
const loadGCPercent = 200

// A big storm's live heap is mostly its requests in flight (tens of
// thousands when the stack falls behind at an expiry), and at GOGC 200 the
// heap would grow to three times that before a collection: hundreds of
// megabytes of garbage, the largest part of the peak RSS. So the headroom
// over the live heap is capped: at least minGCHeadroom, at most
// bigHeapGCPercent of the live heap once that is more.
const (
	minGCHeadroom    = 64 << 20
	bigHeapGCPercent = 50
)

// gcPercentFor is the GOGC that lets a heap of live bytes grow by
// loadGCPercent, or by the capped headroom when that is less.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return loadGCPercent
	}
	headroom := max(minGCHeadroom, live*bigHeapGCPercent/100)
	return int(min(max(headroom*100/live, bigHeapGCPercent), loadGCPercent))
}

var gcLoad struct {
	sync.Mutex
	runs    int // storms running
	saved   int // GOGC before the first of them
	percent int // GOGC set now
	gen     int // the tuning's generation: a stale sentinel stops
}

// liveHeap is the heap marked live by the last collection.
var liveHeap = func() uint64 {
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() != rtmetrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// tuneGCForLoad sets GOGC while at least one storm runs, after every
// collection, from the live heap (gcPercentFor), unless the user chose GOGC
// in the environment; the returned func undoes it when the last storm ends.
func tuneGCForLoad() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	gcLoad.Lock()
	defer gcLoad.Unlock()
	if gcLoad.runs == 0 {
		gcLoad.percent = gcPercentFor(liveHeap())
		gcLoad.saved = debug.SetGCPercent(gcLoad.percent)
		gcLoad.gen++
		armGCSentinel(gcLoad.gen)
	}
	gcLoad.runs++
	return sync.OnceFunc(func() {
		gcLoad.Lock()
		defer gcLoad.Unlock()
		gcLoad.runs--
		if gcLoad.runs == 0 {
			gcLoad.gen++ // the sentinel in flight stops at its next turn
			debug.SetGCPercent(gcLoad.saved)
		}
	})
}

// gcSentinel is garbage as soon as it is made: its finalizer runs once
// after the next collection, retunes GOGC from the heap that collection
// found live, and arms the next sentinel. No goroutine polls.
// (It holds a pointer: a pointer-free object this small would come from the
// tiny allocator, whose finalizers may never run.)
type gcSentinel struct {
	gen int
	_   *int
}

func armGCSentinel(gen int) {
	runtime.SetFinalizer(&gcSentinel{gen: gen}, func(s *gcSentinel) {
		gcLoad.Lock()
		defer gcLoad.Unlock()
		if s.gen != gcLoad.gen {
			return
		}
		if p := gcPercentFor(liveHeap()); p != gcLoad.percent {
			gcLoad.percent = p
			debug.SetGCPercent(p)
		}
		armGCSentinel(s.gen)
	})
}
