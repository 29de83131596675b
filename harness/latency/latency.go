// Package latency is the one latency histogram of the harness: an
// HdrHistogram (github.com/HdrHistogram/hdrhistogram-go) behind a mutex, so
// storm workers can record into it at once, mergeable so shard summaries
// combine into exact whole-run percentiles, and encodable into summary.json.
package latency

import (
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Values are recorded in microseconds from 1 µs to an hour; anything longer
// is recorded as an hour (a request's deadline is far shorter).
const (
	unit    = time.Microsecond
	highest = int64(time.Hour / unit)
	// fine: 3 significant digits (≤0.1% error) for run-wide figures;
	// coarse: 2 digits (≤1%), a tenth of the memory, for per-time-bucket
	// chart points, of which a run has hundreds.
	fineDigits   = 3
	coarseDigits = 2
)

// Histogram is a latency histogram safe for concurrent use. The zero value
// is ready to use, at full precision.
type Histogram struct {
	mu     sync.Mutex
	h      *hdr.Histogram
	max    time.Duration // exact: the histogram's own max is a bucket bound
	digits int
}

// New returns an empty full-precision histogram.
func New() *Histogram { return &Histogram{} }

// NewCoarse returns an empty histogram of lower precision and much smaller
// size, for the many per-time-bucket figures of a chart.
func NewCoarse() *Histogram { return &Histogram{digits: coarseDigits} }

// init allocates the counts; h.mu is held.
func (h *Histogram) init() {
	if h.h == nil {
		d := h.digits
		if d == 0 {
			d = fineDigits
		}
		h.h = hdr.New(1, highest, d)
	}
}

func toUnits(d time.Duration) int64 {
	v := int64(d / unit)
	if v < 0 {
		return 0
	}
	return min(v, highest)
}

// Record adds one observation; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	h.mu.Lock()
	h.init()
	_ = h.h.RecordValue(toUnits(d)) // in range by construction
	if d > h.max {
		h.max = d
	}
	h.mu.Unlock()
}

// Count is the number of observations.
func (h *Histogram) Count() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.h == nil {
		return 0
	}
	return h.h.TotalCount()
}

// Max is the largest observation, exactly.
func (h *Histogram) Max() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.max
}

// Quantile returns the value at q in [0,1]: the upper bound of the bucket
// holding that rank, capped at the largest observation (so Quantile(1) is
// the exact maximum). 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.h == nil || h.h.TotalCount() == 0 {
		return 0
	}
	v := time.Duration(h.h.ValueAtQuantile(q*100)) * unit
	return min(v, h.max)
}

// Merge adds every observation of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o == h {
		return
	}
	o.mu.Lock()
	src, omax := o.h, o.max
	if src != nil {
		src = src.Clone() // never hold both locks: merges may go either way
	}
	o.mu.Unlock()
	if src == nil {
		return
	}
	h.mu.Lock()
	h.init()
	h.h.Merge(src)
	h.max = max(h.max, omax)
	h.mu.Unlock()
}

// Clone returns an independent copy of h.
func (h *Histogram) Clone() *Histogram {
	c := &Histogram{digits: h.digits}
	c.Merge(h)
	return c
}

// Bar is one bar of a latency distribution: Count observations up to LE.
type Bar struct {
	LE    time.Duration
	Count int64
}

// Bars groups the observations into logarithmic bars, each about growth
// times wider than the one before (1.1: bars 10% wide), empty bars left out.
// The last bar's bound is capped at the exact maximum.
func (h *Histogram) Bars(growth float64) []Bar {
	if growth <= 1 {
		growth = 1.1
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.h == nil {
		return nil
	}
	lg := math.Log(growth)
	var out []Bar
	for _, b := range h.h.Distribution() {
		if b.Count == 0 {
			continue
		}
		// The bar's index on the log scale; values of 0 share the first bar.
		key := 0.0
		if b.To > 0 {
			key = math.Floor(math.Log(float64(b.To)) / lg)
		}
		le := time.Duration(math.Exp((key+1)*lg)) * unit
		if len(out) > 0 && out[len(out)-1].LE == le {
			out[len(out)-1].Count += b.Count
			continue
		}
		out = append(out, Bar{LE: le, Count: b.Count})
	}
	if n := len(out); n > 0 && out[n-1].LE > h.max {
		out[n-1].LE = h.max
	}
	return out
}

// wire is the JSON form: the standard HdrHistogram V2 compressed base64
// encoding (readable by every HdrHistogram implementation) and the exact
// maximum.
type wire struct {
	HDR   string `json:"hdr"`
	MaxNS int64  `json:"max_ns"`
}

// MarshalJSON encodes h so a summary can carry it to `merge`.
func (h *Histogram) MarshalJSON() ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	b, err := h.h.Encode(hdr.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, fmt.Errorf("encode latency histogram: %w", err)
	}
	return json.Marshal(wire{HDR: string(b), MaxNS: int64(h.max)})
}

// UnmarshalJSON decodes what MarshalJSON wrote.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("latency histogram: %w", err)
	}
	d, err := hdr.Decode([]byte(w.HDR))
	if err != nil {
		return fmt.Errorf("latency histogram: hdr: %w", err)
	}
	if w.MaxNS < 0 {
		return fmt.Errorf("latency histogram: max_ns %d is negative", w.MaxNS)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.h, h.max, h.digits = d, time.Duration(w.MaxNS), int(d.SignificantFigures())
	return nil
}
