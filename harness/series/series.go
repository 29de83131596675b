// Package series is a run's latency and throughput over time: buckets of
// wall-clock time, each a coarse latency histogram and counts. Bucket
// boundaries are multiples of the bucket width since the Unix epoch, not
// offsets from the run's start, so the series of runs that started at
// different instants (the shards of a storm) line up and merge exactly.
package series

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"sort"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/latency"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// Buckets start MinWidth wide and double (merging pairs, exact with
// mergeable histograms) whenever the run would span more than MaxBuckets:
// a 6 s run gets 60 points, an hour-long one about 140, and memory stays
// bounded whatever the duration. Every width is MinWidth·2ⁿ, so any two
// series' buckets nest.
const (
	MinWidth   = 100 * time.Millisecond
	MaxBuckets = 240
)

// Bucket is one time bucket.
type Bucket struct {
	Latency                     *latency.Histogram // coarse: a run has many buckets
	Requests, Errors, Refreshes int
}

func (b *Bucket) add(o *Bucket) {
	b.Latency.Merge(o.Latency)
	b.Requests += o.Requests
	b.Errors += o.Errors
	b.Refreshes += o.Refreshes
}

// Series is not safe for concurrent use.
type Series struct {
	start   time.Time // the run's start: observations before it count in its bucket
	width   time.Duration
	lo, hi  int64 // keys of the start's bucket and of the last one
	buckets map[int64]*Bucket
}

// New returns an empty series of a run that starts at start.
func New(start time.Time) *Series {
	s := &Series{start: start, width: MinWidth, buckets: map[int64]*Bucket{}}
	s.lo = s.key(start)
	s.hi = s.lo
	return s
}

// key is the epoch-aligned bucket of t at the current width.
func (s *Series) key(t time.Time) int64 { return floorDiv(t.UnixNano(), int64(s.width)) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// At is the bucket of wall time t (created if new); a t before the start
// counts in the start's bucket.
func (s *Series) At(t time.Time) *Bucket {
	k := max(s.key(t), s.lo)
	for k-s.lo >= MaxBuckets {
		s.coarsen()
		k = max(s.key(t), s.lo)
	}
	b := s.buckets[k]
	if b == nil {
		b = &Bucket{Latency: latency.NewCoarse()}
		s.buckets[k] = b
		s.hi = max(s.hi, k)
	}
	return b
}

// coarsen doubles the bucket width, merging each pair of buckets: epoch
// alignment makes bucket k of width 2w exactly buckets 2k and 2k+1 of w.
func (s *Series) coarsen() {
	s.width *= 2
	old := s.buckets
	s.buckets = make(map[int64]*Bucket, len(old)/2+1)
	for k, b := range old {
		k = floorDiv(k, 2)
		if into := s.buckets[k]; into != nil {
			into.add(b)
		} else {
			s.buckets[k] = b
		}
	}
	s.lo, s.hi = floorDiv(s.lo, 2), floorDiv(s.hi, 2)
}

// Width is the current bucket width.
func (s *Series) Width() time.Duration { return s.width }

// Start is the run's start.
func (s *Series) Start() time.Time { return s.start }

// Len is the number of buckets that hold something.
func (s *Series) Len() int { return len(s.buckets) }

// Merge adds o's buckets to s: the earlier start is the merged run's, the
// wider width is kept (the finer series' buckets are merged into it), and
// the whole is coarsened again while it spans more than MaxBuckets.
func (s *Series) Merge(o *Series) {
	if o == nil {
		return
	}
	for s.width < o.width {
		s.coarsen()
	}
	if o.start.Before(s.start) {
		s.start = o.start
		s.lo = s.key(o.start)
	}
	ratio := int64(s.width / o.width) // a power of two: widths nest
	for k, b := range o.buckets {
		k = max(floorDiv(k, ratio), s.lo)
		into := s.buckets[k]
		if into == nil {
			into = &Bucket{Latency: latency.NewCoarse()}
			s.buckets[k] = into
		}
		into.add(b)
		s.hi = max(s.hi, k)
	}
	for s.hi-s.lo >= MaxBuckets {
		s.coarsen()
	}
}

// Points is the series as summary.json's series: every bucket from the
// start's to the last, empty ones too (a gap in the traffic is a fact the
// throughput chart must show), each at its start in ms from origin (the
// first bucket at the origin at the earliest: nothing before it is in it).
func (s *Series) Points(origin time.Time) []summary.Point {
	if len(s.buckets) == 0 {
		return nil
	}
	out := make([]summary.Point, 0, s.hi-s.lo+1)
	for k := s.lo; k <= s.hi; k++ {
		at := time.Unix(0, k*int64(s.width)).Sub(origin)
		p := summary.Point{AtMS: summary.MS(max(at, 0))}
		if b := s.buckets[k]; b != nil {
			p.Requests, p.Errors, p.Refreshes = b.Requests, b.Errors, b.Refreshes
			p.P50MS, p.P99MS, p.MaxMS = summary.MS(b.Latency.Quantile(0.5)), summary.MS(b.Latency.Quantile(0.99)), summary.MS(b.Latency.Max())
		}
		out = append(out, p)
	}
	return out
}

// wire is the JSON form (a storm's shard.json carries it to `merge`).
type wire struct {
	Start   time.Time    `json:"start"`
	WidthMS int64        `json:"width_ms"`
	Buckets []wireBucket `json:"buckets"`
}

type wireBucket struct {
	AtUnixMS  int64              `json:"at_unix_ms"` // the bucket's start
	Requests  int                `json:"requests,omitempty"`
	Errors    int                `json:"errors,omitempty"`
	Refreshes int                `json:"refreshes,omitempty"`
	Latency   *latency.Histogram `json:"latency,omitempty"`
}

// MarshalJSON writes the non-empty buckets, in time order.
func (s *Series) MarshalJSON() ([]byte, error) {
	w := wire{Start: s.start, WidthMS: s.width.Milliseconds(), Buckets: make([]wireBucket, 0, len(s.buckets))}
	for k, b := range s.buckets {
		wb := wireBucket{AtUnixMS: k * s.width.Milliseconds(), Requests: b.Requests, Errors: b.Errors, Refreshes: b.Refreshes}
		if b.Latency.Count() > 0 {
			wb.Latency = b.Latency
		}
		w.Buckets = append(w.Buckets, wb)
	}
	sort.Slice(w.Buckets, func(i, j int) bool { return w.Buckets[i].AtUnixMS < w.Buckets[j].AtUnixMS })
	return json.Marshal(w)
}

// UnmarshalJSON reads what MarshalJSON wrote, refusing what could not have
// been: a width that is not MinWidth·2ⁿ, a bucket off its grid, negative
// counts.
func (s *Series) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("series: %w", err)
	}
	unit := MinWidth.Milliseconds()
	if w.WidthMS < unit || w.WidthMS%unit != 0 || bits.OnesCount64(uint64(w.WidthMS/unit)) != 1 || w.WidthMS > unit<<30 {
		return fmt.Errorf("series: width_ms %d is not %d ms times a power of two", w.WidthMS, unit)
	}
	if w.Start.IsZero() {
		return fmt.Errorf("series: no start")
	}
	out := New(w.Start)
	for out.width < time.Duration(w.WidthMS)*time.Millisecond {
		out.coarsen()
	}
	for _, wb := range w.Buckets {
		switch {
		case wb.AtUnixMS%w.WidthMS != 0:
			return fmt.Errorf("series: bucket at_unix_ms %d is not on the %d ms grid", wb.AtUnixMS, w.WidthMS)
		case wb.Requests < 0 || wb.Errors < 0 || wb.Refreshes < 0:
			return fmt.Errorf("series: bucket at_unix_ms %d has a negative count", wb.AtUnixMS)
		}
		k := max(floorDiv(wb.AtUnixMS, w.WidthMS), out.lo)
		if out.buckets[k] != nil {
			return fmt.Errorf("series: two buckets at_unix_ms %d", wb.AtUnixMS)
		}
		nb := &Bucket{Latency: latency.NewCoarse(), Requests: wb.Requests, Errors: wb.Errors, Refreshes: wb.Refreshes}
		nb.Latency.Merge(wb.Latency)
		out.buckets[k] = nb
		out.hi = max(out.hi, k)
	}
	for out.hi-out.lo >= MaxBuckets {
		out.coarsen()
	}
	*s = *out
	return nil
}
