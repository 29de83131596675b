package check

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// fakeWall is an injected wall clock that moves 10 ms per event observed.
type fakeWall struct{ t time.Time }

func (w *fakeWall) now() time.Time { w.t = w.t.Add(10 * time.Millisecond); return w.t }

// A probe shifts the stack's clock by two hours to expire tokens: the
// series and marks stay on wall time, the shift is a note on the mark.
func TestTimeAxisIsWallTimeNotTheStackClock(t *testing.T) {
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	s.issue("d1", "r1", "GET", "")
	s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeOK)
	s.settle("d1", "r1", 200, ledger.OutcomeOK)
	s.t = s.t.Add(2 * time.Hour) // the probe moves the clock past expiry
	s.add(ledger.Event{Source: ledger.SourceBackend, Kind: ledger.KindExpire, Detail: "clock past expiry"})
	s.issue("d1", "r2", "GET", "")
	s.api("d1", "r2", "GET", "", "A1", ledger.OutcomeOK)
	s.settle("d1", "r2", 200, ledger.OutcomeOK)

	wall := &fakeWall{t: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
	start := wall.t
	c := New(Options{Wall: wall.now, Start: start})
	for _, e := range s.evs {
		c.Observe(e)
	}
	sum := summary.New("test", "test")
	c.Finish(sum)
	wallSpan := wall.t.Sub(start)
	require.NotEmpty(t, sum.Series)
	assert.Equal(t, 100.0, sum.SeriesBucketMS, "a short run gets fine buckets")
	last := sum.Series[len(sum.Series)-1]
	assert.LessOrEqual(t, last.AtMS, float64(wallSpan.Milliseconds()), "series end within the run's wall time")
	var expire *summary.Mark
	for i, m := range sum.Timeline {
		assert.LessOrEqual(t, m.AtMS, float64(wallSpan.Milliseconds()), "mark %s within wall time", m.Kind)
		if m.Kind == "expire" {
			expire = &sum.Timeline[i]
		}
	}
	require.NotNil(t, expire)
	assert.InDelta(t, 2*time.Hour.Milliseconds(), expire.ClockOffsetMS, 60000, "the simulated clock is noted")
	assert.Equal(t, 2, sum.Requests.Issued)
}

// Buckets double as the run grows, so a long run keeps a bounded series
// with every request counted.
func TestSeriesBucketsGrowWithTheRun(t *testing.T) {
	wall := &fakeWall{t: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
	c := New(Options{Wall: func() time.Time { wall.t = wall.t.Add(time.Second); return wall.t }})
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	for i := range 600 { // ten minutes, one request a second
		rid := "r" + string(rune('a'+i%26)) + time.Duration(i).String()
		s.issue("d1", rid, "GET", "")
		s.settle("d1", rid, 200, ledger.OutcomeOK)
	}
	for _, e := range s.evs {
		c.Observe(e)
	}
	sum := summary.New("test", "test")
	c.Finish(sum)
	assert.LessOrEqual(t, len(sum.Series), seriesMaxBuckets)
	assert.Greater(t, len(sum.Series), seriesMaxBuckets/4)
	assert.Greater(t, sum.SeriesBucketMS, 1000.0)
	n := 0
	for _, p := range sum.Series {
		n += p.Requests
	}
	assert.Equal(t, 600, n, "merging buckets loses no request")
}

// Violations are counted per scenario, and each scenario keeps examples of
// its own even after an earlier one used up many.
func TestViolationsCountedAndKeptPerScenario(t *testing.T) {
	c := New(Options{MaxExamples: 2})
	for _, sc := range []string{"first", "second"} {
		c.SetScenario(sc)
		for i := range 5 {
			c.violate(summary.SingleRefresh, summary.Violation{Device: sc, Explanation: time.Duration(i).String()})
		}
	}
	sum := summary.New("test", "test")
	c.Finish(sum)
	inv := sum.Invariants[summary.SingleRefresh]
	assert.Equal(t, 10, inv.Violations)
	assert.Equal(t, map[string]int{"first": 5, "second": 5}, inv.ByScenario)
	per := map[string]int{}
	for _, v := range inv.Examples {
		per[v.Scenario]++
	}
	assert.Equal(t, map[string]int{"first": 2, "second": 2}, per)
}
