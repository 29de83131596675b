package storm

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/tokenstorm/tokenstorm/harness/latency"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

func TestScheduleRecordsDueTimes(t *testing.T) {
	s := newSchedule(vegeta.ConstantPacer{Freq: 100, Per: time.Second})
	// On time: vegeta asks at each previous send.
	for n := uint64(0); n < 5; n++ {
		w, stop := s.Pace(time.Duration(n)*10*time.Millisecond, n)
		require.False(t, stop)
		assert.Equal(t, 10*time.Millisecond, w)
		assert.Equal(t, time.Duration(n+1)*10*time.Millisecond, s.due(n))
	}
	// Far behind (the generator stalled for a second): vegeta is told to send
	// at once, but the due times stay where the schedule put them.
	w, _ := s.Pace(time.Second, 5)
	assert.LessOrEqual(t, w, time.Duration(0))
	assert.Equal(t, 60*time.Millisecond, s.due(5))
	s.Pace(time.Second, 6)
	assert.Equal(t, 70*time.Millisecond, s.due(6))
}

func TestScheduleLinearAndSine(t *testing.T) {
	for _, r := range []Rate{
		{Pacer: "linear", Start: 100, Slope: 100, Per: time.Second},
		{Pacer: "sine", Mean: 100, Amp: 50, Period: time.Second, Phase: "mean_up", Per: time.Second},
	} {
		s := newSchedule(r.VegetaPacer())
		var prev time.Duration
		for n := uint64(0); n < 300; n++ {
			s.Pace(prev, n)
			d := s.due(n)
			assert.GreaterOrEqual(t, d, prev, "%s: due times never go back", r)
			prev = d
		}
		// 300 hits take about as long as the pacer's own count says.
		assert.InDelta(t, 300, countHits(r.VegetaPacer(), prev), 3, r.String())
	}
}

// countHits integrates the pacer's rate numerically up to d.
func countHits(p vegeta.Pacer, d time.Duration) float64 {
	const step = time.Millisecond
	var hits float64
	for t := time.Duration(0); t < d; t += step {
		hits += p.Rate(t) * step.Seconds()
	}
	return hits
}

func TestRateStringAndPacer(t *testing.T) {
	assert.Equal(t, "constant 800/1s", Rate{Pacer: "constant", Freq: 800, Per: time.Second}.String())
	assert.Equal(t, "constant max", Rate{Pacer: "constant"}.String())
	assert.True(t, Rate{Pacer: "constant"}.Unthrottled())
	assert.Equal(t, "linear 200/1s +600/s²", Rate{Pacer: "linear", Start: 200, Slope: 600, Per: time.Second}.String())
	assert.IsType(t, vegeta.LinearPacer{}, Rate{Pacer: "linear", Start: 1, Per: time.Second}.VegetaPacer())
	sp, ok := Rate{Pacer: "sine", Mean: 10, Amp: 5, Period: time.Second, Phase: "peak"}.VegetaPacer().(vegeta.SinePacer)
	require.True(t, ok)
	assert.Equal(t, vegeta.Peak, sp.StartAt)
}

func TestMixTableIsWeightedAndInterleaved(t *testing.T) {
	tab := mixTable([]Request{{Weight: 3}, {Weight: 1}, {Weight: 1}})
	assert.Len(t, tab, 5)
	count := map[int]int{}
	for _, i := range tab {
		count[i]++
	}
	assert.Equal(t, map[int]int{0: 3, 1: 1, 2: 1}, count)
	assert.NotEqual(t, []int{0, 0, 0, 1, 2}, tab, "spread out, not in blocks")
}

func TestSlotsBoundInFlightPerDevice(t *testing.T) {
	s := newSlots(3, 2)
	var got []int
	for range 6 {
		d, ok := s.acquire()
		require.True(t, ok)
		got = append(got, d)
	}
	assert.Equal(t, []int{0, 0, 1, 1, 2, 2}, got, "grouped per device, round-robin over devices")
	// Every slot is taken: the next acquire waits until one is released.
	var wg sync.WaitGroup
	wg.Add(1)
	var next int
	go func() { defer wg.Done(); next, _ = s.acquire() }()
	time.Sleep(20 * time.Millisecond)
	s.release(1)
	wg.Wait()
	assert.Equal(t, 1, next)
	// Stopping releases waiters.
	close(s.stop)
	_, ok := s.acquire()
	assert.False(t, ok)
}

func TestProgressPlainLines(t *testing.T) {
	var buf bytes.Buffer
	c := &counters{}
	c.sent.Store(10)
	c.settled.Store(9)
	c.refreshes.Store(2)
	c.latency.Record(5 * time.Millisecond)
	p := startProgress(&buf, "demo", 3*time.Second, c, false, time.Now())
	p.end()
	out := buf.String()
	assert.Contains(t, out, "storm demo")
	assert.Contains(t, out, "sent 10  settled 9")
	assert.Contains(t, out, "refreshes 2")
	assert.NotContains(t, out, "\r", "not a terminal: plain lines")
	assert.NotContains(t, out, "lag", "unthrottled: no schedule, no send lag")
}

// A generator behind its schedule says so on the progress line, while it
// runs and at the end, and not when it keeps up.
func TestProgressLabelsSendLag(t *testing.T) {
	c := &counters{}
	c.noteLag(3 * time.Millisecond)
	var buf bytes.Buffer
	p := startProgress(&buf, "demo", time.Second, c, true, time.Now())
	p.print(false)
	assert.Contains(t, buf.String(), "lag max 3ms")
	assert.NotContains(t, buf.String(), "BEHIND")

	buf.Reset()
	for range 100 {
		c.noteLag(400 * time.Millisecond)
	}
	p.print(false)
	assert.Contains(t, buf.String(), "lag max 400ms  BEHIND SCHEDULE")
	buf.Reset()
	p.print(false)
	assert.NotContains(t, buf.String(), "BEHIND", "the window starts again after each line")
	p.end()
	assert.Contains(t, buf.String(), "lag p99 400ms  BEHIND SCHEDULE", "the final line judges the whole run")
}

func TestOverloadedStormIsLabelled(t *testing.T) {
	var lag, corrected latency.Histogram
	for range 100 {
		lag.Record(300 * time.Millisecond)
		corrected.Record(320 * time.Millisecond)
	}
	s := summary.New("ref", "embedded")
	s.Storm = &summary.Storm{Scenario: "x"}
	labelLoad(s, &lag, &corrected, "")
	assert.True(t, s.Storm.Overloaded)
	assert.InDelta(t, 320, s.Storm.CorrectedP99MS, 5)
	require.NotEmpty(t, s.Notes)
	assert.Contains(t, s.Notes[0], "OVERLOADED")
	assert.Contains(t, scenarioVerdict(&Scenario{Name: "x"}, s, nil, time.Second).Detail, "OVERLOADED")

	var calm latency.Histogram
	calm.Record(time.Millisecond)
	s = summary.New("ref", "embedded")
	s.Storm = &summary.Storm{Scenario: "x"}
	labelLoad(s, &calm, &calm, "")
	assert.False(t, s.Storm.Overloaded)
	assert.NotContains(t, scenarioVerdict(&Scenario{Name: "x"}, s, nil, time.Second).Detail, "OVERLOADED")
}
