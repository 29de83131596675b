package latency

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuantilesWithinPrecision(t *testing.T) {
	var h Histogram // zero value works
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	assert.Equal(t, int64(1000), h.Count())
	assert.InEpsilon(t, float64(500*time.Millisecond), float64(h.Quantile(0.5)), 0.002)
	assert.InEpsilon(t, float64(990*time.Millisecond), float64(h.Quantile(0.99)), 0.002)
	assert.Equal(t, time.Second, h.Quantile(1), "capped at the exact maximum")
	assert.Equal(t, time.Second, h.Max())
}

func TestEmptyAndNegative(t *testing.T) {
	h := New()
	assert.Zero(t, h.Quantile(0.99))
	assert.Zero(t, h.Count())
	assert.Nil(t, h.Bars(1.1))
	h.Record(-time.Second)
	assert.Equal(t, int64(1), h.Count())
	assert.Zero(t, h.Quantile(0.5))
	h.Record(3 * time.Hour) // beyond the range: counted, clamped in buckets
	assert.Equal(t, 3*time.Hour, h.Max())
	assert.Equal(t, int64(2), h.Count())
}

func TestCoarseWithinOnePercent(t *testing.T) {
	h := NewCoarse()
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]time.Duration, 0, 10000)
	for range 10000 {
		v := time.Duration(r.ExpFloat64() * float64(20*time.Millisecond))
		vals = append(vals, v)
		h.Record(v)
	}
	exact := exactQuantile(vals, 0.99)
	assert.InEpsilon(t, float64(exact), float64(h.Quantile(0.99)), 0.01)
}

func exactQuantile(vals []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), vals...)
	for i := 1; i < len(s); i++ { // insertion sort keeps the test free of helpers
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	rank := int(q*float64(len(s))+0.999999) - 1
	return s[max(rank, 0)]
}

// Merging shards gives the same percentiles as recording everything in one.
func TestMergeEqualsWhole(t *testing.T) {
	whole, a, b := New(), New(), New()
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 20000 {
		v := time.Duration(r.IntN(int(2 * time.Second)))
		whole.Record(v)
		if i%2 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	m := New()
	m.Merge(a)
	m.Merge(b)
	m.Merge(nil)
	m.Merge(m)
	assert.Equal(t, whole.Count(), m.Count())
	for _, q := range []float64{0.5, 0.9, 0.99, 1} {
		assert.Equal(t, whole.Quantile(q), m.Quantile(q), "q=%v", q)
	}
	assert.Equal(t, whole.Max(), m.Max())
}

func TestJSONRoundTrip(t *testing.T) {
	h := New()
	for i := 1; i <= 500; i++ {
		h.Record(time.Duration(i) * 1700 * time.Microsecond)
	}
	b, err := json.Marshal(h)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"hdr":"HIST`)
	var back Histogram
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, h.Count(), back.Count())
	assert.Equal(t, h.Max(), back.Max())
	assert.Equal(t, h.Quantile(0.99), back.Quantile(0.99))
	// A decoded histogram merges like any other.
	back.Merge(h)
	assert.Equal(t, 2*h.Count(), back.Count())
}

func TestUnmarshalRejectsGarbage(t *testing.T) {
	var h Histogram
	assert.ErrorContains(t, json.Unmarshal([]byte(`{"hdr":"not base64!","max_ns":1}`), &h), "latency histogram")
	assert.ErrorContains(t, json.Unmarshal([]byte(`{"hdr":1}`), &h), "latency histogram")
	good, err := json.Marshal(New())
	require.NoError(t, err)
	var w map[string]any
	require.NoError(t, json.Unmarshal(good, &w))
	w["max_ns"] = -5
	bad, _ := json.Marshal(w)
	assert.ErrorContains(t, json.Unmarshal(bad, &h), "negative")
}

func TestBarsCoverEveryObservation(t *testing.T) {
	h := New()
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	bars := h.Bars(1.1)
	require.NotEmpty(t, bars)
	var n int64
	for i, b := range bars {
		n += b.Count
		if i > 0 {
			assert.Greater(t, b.LE, bars[i-1].LE)
			if i < len(bars)-1 {
				// Bounds sit on one 10% grid (empty bars are left out).
				steps := math.Log(float64(b.LE)/float64(bars[i-1].LE)) / math.Log(1.1)
				assert.InDelta(t, math.Round(steps), steps, 0.01, "bar %d", i)
				assert.GreaterOrEqual(t, math.Round(steps), 1.0)
			}
		}
	}
	assert.Equal(t, h.Count(), n)
	assert.Equal(t, time.Second, bars[len(bars)-1].LE)
	assert.Less(t, bars[0].LE, 2*time.Millisecond)
}

func TestConcurrentRecordAndRead(t *testing.T) {
	h := New()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.Record(time.Duration(w*1000+i) * time.Microsecond)
				if i%100 == 0 {
					_ = h.Quantile(0.99)
					o := New()
					o.Record(time.Millisecond)
					h.Merge(o)
				}
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(8000+80), h.Count())
}

func BenchmarkRecordParallel(b *testing.B) {
	h := New()
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(1)
		for pb.Next() {
			h.Record(d * time.Millisecond)
			d = d%500 + 1
		}
	})
}

func BenchmarkRecord(b *testing.B) {
	h := New()
	for i := range b.N {
		h.Record(time.Duration(i%500+1) * time.Millisecond)
	}
}
