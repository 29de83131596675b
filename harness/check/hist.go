package check

import (
	"math"
	"time"
)

// hist is a log-bucketed latency histogram: constant memory whatever the
// number of samples, about 2% relative error on percentiles.
type hist struct {
	counts [histBins]uint32
	n      uint64
	max    time.Duration
}

const (
	histBins   = 1200
	histMin    = float64(time.Microsecond)
	histGrowth = 1.02 // each bin is 2% wider than the previous
)

var logGrowth = math.Log(histGrowth)

func binOf(d time.Duration) int {
	if float64(d) <= histMin {
		return 0
	}
	b := int(math.Log(float64(d)/histMin)/logGrowth) + 1
	if b >= histBins {
		return histBins - 1
	}
	return b
}

// upper returns the upper bound of bin b.
func upper(b int) time.Duration {
	return time.Duration(histMin * math.Pow(histGrowth, float64(b)))
}

func (h *hist) add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[binOf(d)]++
	h.n++
	if d > h.max {
		h.max = d
	}
}

// quantile returns the q-quantile (0..1), capped by the true maximum.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for b, c := range h.counts {
		seen += uint64(c)
		if seen >= rank {
			if u := upper(b); u < h.max {
				return u
			}
			return h.max
		}
	}
	return h.max
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Millisecond)*1000) / 1000 }
