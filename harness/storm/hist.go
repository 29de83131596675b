package storm

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// hist is a lock-free log-linear histogram of durations (about 3% relative
// resolution, fixed 16 KiB): transports of every worker add to it at once,
// and the progress line reads quantiles while they do. Memory does not grow
// with the number of requests.
type hist struct {
	counts [64 << subBits]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
}

const subBits = 5 // 32 sub-buckets per power of two

func bucketOf(ns int64) int {
	if ns < 1<<subBits {
		if ns < 0 {
			return 0
		}
		return int(ns)
	}
	b := bits.Len64(uint64(ns)) - 1 // index of the top bit, >= subBits
	sub := (ns >> (b - subBits)) & (1<<subBits - 1)
	return (b-subBits+1)<<subBits + int(sub)
}

// upperOf is the largest value that falls in bucket i.
func upperOf(i int) int64 {
	if i < 1<<subBits {
		return int64(i)
	}
	e := i >> subBits
	sub := int64(i & (1<<subBits - 1))
	b := e + subBits - 1
	if b >= 63 {
		return math.MaxInt64
	}
	lo := int64(1)<<b | sub<<(b-subBits)
	return lo + int64(1)<<(b-subBits) - 1
}

func (h *hist) add(d time.Duration) {
	ns := int64(d)
	if ns < 0 {
		ns = 0
	}
	h.counts[bucketOf(ns)].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if ns <= m || h.max.CompareAndSwap(m, ns) {
			return
		}
	}
}

func (h *hist) count() uint64 { return h.n.Load() }

// quantile returns the value at q in [0,1] (the bucket's upper bound, capped
// at the largest value seen).
func (h *hist) quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return time.Duration(min(upperOf(i), h.max.Load()))
		}
	}
	return time.Duration(h.max.Load())
}

func (h *hist) maxValue() time.Duration { return time.Duration(h.max.Load()) }

func msOf(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)*1000) / 1000
}
