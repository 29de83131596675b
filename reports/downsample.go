package reports

import (
	"math"
	"slices"
	"sort"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// Caps that keep report.html quick to open whatever the size of the run.
const (
	maxChartPoints  = 2000 // series points per chart line
	maxVerticalMark = 120  // expiry/fault/revoke lines per chart
	markSlots       = 800  // refresh glyphs: at most one per slot and kind
)

// downsampleSeries returns at most limit points, merging runs of
// consecutive buckets. Merging keeps what a reader looks for: request and
// error counts are summed (throughput stays exact), p99 and max take the
// worst bucket (a spike never disappears), p50 is the request-weighted mean.
func downsampleSeries(in []summary.Point, limit int) []summary.Point {
	pts := slices.Clone(in)
	if !sort.SliceIsSorted(pts, func(i, j int) bool { return pts[i].AtMS < pts[j].AtMS }) {
		sort.SliceStable(pts, func(i, j int) bool { return pts[i].AtMS < pts[j].AtMS })
	}
	pts = slices.DeleteFunc(pts, func(p summary.Point) bool { return !finite(p.AtMS) })
	if limit <= 0 || len(pts) <= limit {
		return pts
	}
	k := (len(pts) + limit - 1) / limit
	out := make([]summary.Point, 0, limit)
	for i := 0; i < len(pts); i += k {
		group := pts[i:min(i+k, len(pts))]
		m := summary.Point{AtMS: group[0].AtMS}
		var weighted, plain float64
		for _, p := range group {
			m.Requests += p.Requests
			m.Errors += p.Errors
			m.Refreshes += p.Refreshes
			m.P99MS = math.Max(m.P99MS, p.P99MS)
			m.MaxMS = math.Max(m.MaxMS, p.MaxMS)
			weighted += p.P50MS * float64(p.Requests)
			plain += p.P50MS
		}
		if m.Requests > 0 {
			m.P50MS = weighted / float64(m.Requests)
		} else {
			m.P50MS = plain / float64(len(group))
		}
		out = append(out, m)
	}
	return out
}

// bucketWidths returns each point's bucket width in ms (the distance to the
// next point; the last repeats the previous), or nil when it is unknown.
func bucketWidths(pts []summary.Point) []float64 {
	if len(pts) < 2 {
		return nil
	}
	w := make([]float64, len(pts))
	for i := 0; i < len(pts)-1; i++ {
		w[i] = pts[i+1].AtMS - pts[i].AtMS
	}
	w[len(w)-1] = w[len(w)-2]
	for _, x := range w {
		if x <= 0 {
			return nil // duplicate timestamps: rates would be meaningless
		}
	}
	return w
}

// thinMarks keeps at most one mark per kind per slot of the [lo, hi] range
// (marks closer than a pixel add nothing) and at most limit marks overall,
// evenly spread, so a run with a refresh per device stays drawable.
func thinMarks(marks []summary.Mark, lo, hi float64, slots, limit int) []summary.Mark {
	span := hi - lo
	if span <= 0 {
		span = 1
	}
	type key struct {
		kind string
		slot int
	}
	seen := map[key]bool{}
	var out []summary.Mark
	for _, m := range marks {
		if !finite(m.AtMS) {
			continue
		}
		k := key{m.Kind, int((m.AtMS - lo) / span * float64(slots))}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, m)
	}
	if limit > 0 && len(out) > limit {
		step := float64(len(out)) / float64(limit)
		thin := make([]summary.Mark, 0, limit)
		for i := 0; i < limit; i++ {
			thin = append(thin, out[int(float64(i)*step)])
		}
		out = thin
	}
	return out
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
