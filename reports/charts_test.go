package reports

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

func TestDownsampleSeriesKeepsTotalsAndSpikes(t *testing.T) {
	var in []summary.Point
	reqs, errs := 0, 0
	for i := range 100_000 {
		p := summary.Point{AtMS: float64(i) * 10, Requests: 1 + i%5, Errors: i % 2, P50MS: 10, P99MS: 20, MaxMS: 30}
		if i == 54_321 {
			p.P99MS, p.MaxMS = 5000, 9000 // one spike must survive
		}
		reqs += p.Requests
		errs += p.Errors
		in = append(in, p)
	}
	out := downsampleSeries(in, maxChartPoints)
	require.LessOrEqual(t, len(out), maxChartPoints)
	require.Greater(t, len(out), maxChartPoints/2)
	gotReqs, gotErrs, peak, peakMax := 0, 0, 0.0, 0.0
	for i, p := range out {
		gotReqs += p.Requests
		gotErrs += p.Errors
		peak = max(peak, p.P99MS)
		peakMax = max(peakMax, p.MaxMS)
		assert.InDelta(t, 10, p.P50MS, 1e-9)
		if i > 0 {
			assert.Greater(t, p.AtMS, out[i-1].AtMS)
		}
	}
	assert.Equal(t, reqs, gotReqs)
	assert.Equal(t, errs, gotErrs)
	assert.Equal(t, 5000.0, peak)
	assert.Equal(t, 9000.0, peakMax)
	assert.Len(t, in, 100_000, "input untouched")

	small := in[:10]
	assert.Equal(t, small, downsampleSeries(small, maxChartPoints))
	assert.Empty(t, downsampleSeries(nil, maxChartPoints))
}

func TestThinMarks(t *testing.T) {
	var marks []summary.Mark
	for i := range 50_000 {
		marks = append(marks, summary.Mark{AtMS: float64(i % 1000), Kind: "refresh"})
	}
	marks = append(marks, summary.Mark{AtMS: 500, Kind: "expire"})
	out := thinMarks(marks, 0, 1000, 100, 0)
	assert.Len(t, out, 101, "one per slot and kind")
	assert.Len(t, thinMarks(marks, 0, 1000, 1000, 50), 50)
}

func TestBucketWidths(t *testing.T) {
	assert.Nil(t, bucketWidths([]summary.Point{{AtMS: 0}}))
	assert.Equal(t, []float64{250, 250, 250}, bucketWidths([]summary.Point{{AtMS: 0}, {AtMS: 250}, {AtMS: 500}}))
	assert.Nil(t, bucketWidths([]summary.Point{{AtMS: 0}, {AtMS: 0}}))
}

func TestNiceTicks(t *testing.T) {
	var labels []string
	for _, tk := range (niceTicks{target: 10}).Ticks(0, 59.75) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	assert.Equal(t, []string{"0", "10", "20", "30", "40", "50"}, labels)

	labels = nil
	for _, tk := range (niceTicks{target: 5}).Ticks(0, 0.6) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	assert.Equal(t, []string{"0.0", "0.2", "0.4", "0.6"}, labels)
	assert.Len(t, (niceTicks{target: 5}).Ticks(3, 3), 1, "degenerate range")
}

func TestNiceMax(t *testing.T) {
	assert.Equal(t, 1.0, niceMax(0))
	assert.Equal(t, 1200.0, niceMax(1150))
	assert.Equal(t, 250.0, niceMax(231))
	assert.Equal(t, 1.0, niceMax(-3))
}

func TestLogTicks125(t *testing.T) {
	var labels []string
	for _, tk := range (logTicks125{}).Ticks(1, 1000) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	assert.Equal(t, []string{"1", "2", "5", "10", "20", "50", "100", "200", "500", "1000"}, labels)
	assert.Nil(t, (logTicks125{}).Ticks(0, 10))
}

func TestBucketLowerBounds(t *testing.T) {
	b := func(les ...float64) []summary.Bucket {
		var out []summary.Bucket
		for _, le := range les {
			out = append(out, summary.Bucket{LEMS: le, Count: 1})
		}
		return out
	}
	nan := math.NaN()

	// 1-2-5 buckets are contiguous, whatever their ratio.
	assert.InDeltaSlice(t, []float64{0.5, 1, 2, 5}, bucketLowerBounds(b(1, 2, 5, 10), nan, true), 1e-9)
	// An explicit bound below the first bucket wins.
	assert.InDeltaSlice(t, []float64{0.8, 1, 2}, bucketLowerBounds(b(1, 2, 5), 0.8, true), 1e-9)

	// The checker's 10% bins with empty ones omitted: 10, 11, (12.1 missing), 13.31.
	got := bucketLowerBounds(b(10, 11, 13.31), nan, true)
	assert.InDeltaSlice(t, []float64{10 / 1.1, 10, 12.1}, got, 1e-6, "a gap is not part of the next bar")

	// Linear buckets with a gap.
	assert.InDeltaSlice(t, []float64{0, 10, 30}, bucketLowerBounds(b(10, 20, 40), nan, false), 1e-9)
	// A single bucket.
	assert.InDeltaSlice(t, []float64{0}, bucketLowerBounds(b(10), nan, false), 1e-9)
	assert.InDeltaSlice(t, []float64{5}, bucketLowerBounds(b(10), nan, true), 1e-9)
}
