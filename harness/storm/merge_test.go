package storm

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/check"
	"github.com/tokenstorm/tokenstorm/harness/latency"
	"github.com/tokenstorm/tokenstorm/harness/series"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// writeShard writes a synthetic shard directory: shard i of n, with the
// given latencies and counts.
func writeShard(t *testing.T, dir string, i, n int, lats []time.Duration, violations int) {
	t.Helper()
	s := summary.New("ref", "embedded")
	h := latency.New()
	for _, d := range lats {
		h.Record(d)
	}
	s.LatencyHDR = h
	s.Latency = summary.LatencyOf(h)
	s.Requests = summary.Requests{Issued: len(lats), Succeeded: len(lats) - violations, Failed: violations}
	s.Refresh = summary.Refresh{ExpiryEpisodes: 10, Refreshes: 5 + violations, Logins: 5}
	inv := s.Invariants[summary.SingleRefresh]
	inv.Checked, inv.Violations, inv.Verdict = 10, violations, summary.Pass
	if violations > 0 {
		inv.Verdict = summary.Fail
	}
	s.Thresholds = []summary.Threshold{{Expr: "refresh.amplification <= 1"}, {Expr: "latency.p99 < 250ms"}}
	require.NoError(t, s.WriteFile(dir))
	require.NoError(t, writeShardInfo(dir, &shardInfo{Version: shardVersion, Scenario: "x", Shard: Shard{Index: i, Count: n},
		Devices: 10, Fleet: 10 * n, FleetRate: "constant 100/1s", Duration: "5s", SendLag: latency.New(), Corrected: latency.New()}, false))
}

func TestMergeSumsAndRejudges(t *testing.T) {
	root := t.TempDir()
	all := latency.New()
	var dirs []string
	for i := range 3 {
		var lats []time.Duration
		for k := range 100 {
			d := time.Duration(1+k*(i+1)) * time.Millisecond // shard 2 is slow
			lats = append(lats, d)
			all.Record(d)
		}
		dir := filepath.Join(root, "s", string(rune('a'+i)))
		violations := 0
		if i == 1 {
			violations = 2 // one shard's devices storm
		}
		writeShard(t, dir, i, 3, lats, violations)
		dirs = append(dirs, dir)
	}
	s, err := Merge(context.Background(), dirs, "")
	require.NoError(t, err)
	assert.Equal(t, 300, s.Requests.Issued)
	assert.Equal(t, 2, s.Requests.Failed)
	assert.Equal(t, 30, s.Refresh.ExpiryEpisodes)
	assert.Equal(t, 1.07, s.Refresh.Amplification) // (17+15)/30, not an average of the shards'
	inv := s.Invariants[summary.SingleRefresh]
	assert.Equal(t, summary.Fail, inv.Verdict)
	assert.Equal(t, 2, inv.Violations)
	assert.Equal(t, 30, inv.Checked)
	// Latency from the merged histogram, the same as one histogram of everything.
	assert.Equal(t, summary.LatencyOf(all), s.Latency)
	assert.Equal(t, 30, s.Storm.Devices)
	// Thresholds judged on the whole: p99 is shard 2's slow tail.
	require.Len(t, s.Thresholds, 2)
	assert.Equal(t, summary.Fail, s.Thresholds[0].Verdict)
	assert.Equal(t, summary.Fail, s.Thresholds[1].Verdict, "p99 %v", s.Latency.P99)
	assert.Equal(t, summary.Fail, s.Verdict)
}

func TestMergeOfOneShardIsThatRun(t *testing.T) {
	dir := t.TempDir()
	writeShard(t, dir, 0, 1, []time.Duration{time.Millisecond, 3 * time.Millisecond}, 0)
	one, err := summary.ReadFile(dir)
	require.NoError(t, err)
	s, err := Merge(context.Background(), []string{dir}, "")
	require.NoError(t, err)
	assert.Equal(t, one.Requests, s.Requests)
	assert.Equal(t, one.Latency, s.Latency)
	assert.Equal(t, 1.0, s.Refresh.Amplification)
	assert.Equal(t, summary.Pass, s.Verdict)
}

func TestMergeRefusesAnIncompleteOrMixedSet(t *testing.T) {
	root := t.TempDir()
	d := func(name string) string { return filepath.Join(root, name) }
	writeShard(t, d("a0"), 0, 3, []time.Duration{time.Millisecond}, 0)
	writeShard(t, d("a1"), 1, 3, []time.Duration{time.Millisecond}, 0)
	writeShard(t, d("b1"), 1, 3, []time.Duration{time.Millisecond}, 0)
	writeShard(t, d("c2"), 2, 4, []time.Duration{time.Millisecond}, 0)

	_, err := Merge(context.Background(), []string{d("a0"), d("a1")}, "")
	assert.ErrorContains(t, err, "shard(s) 2/3 missing")
	_, err = Merge(context.Background(), []string{d("a0"), d("a1"), d("b1")}, "")
	assert.ErrorContains(t, err, "are both shard 1/3")
	_, err = Merge(context.Background(), []string{d("a0"), d("c2")}, "")
	assert.ErrorContains(t, err, "share N")
	_, err = Merge(context.Background(), []string{root}, "")
	assert.ErrorContains(t, err, "no shard.json")
	_, err = Merge(context.Background(), nil, "")
	assert.Error(t, err)
}

// Protocol errors of the shards' clients are summed like every other count.
func TestAddCountsSumsProtocolErrors(t *testing.T) {
	whole := summary.New("exec:x", "embedded")
	for _, n := range []int{2, 3} {
		sh := summary.New("exec:x", "embedded")
		sh.AddProtocolErrors(map[string]int{"garbage_lines": n})
		addCounts(whole, sh)
	}
	require.NotNil(t, whole.ProtocolErrors)
	assert.Equal(t, 5, whole.ProtocolErrors.Total)
	assert.Equal(t, 5, whole.ProtocolErrors.ByKind["garbage_lines"])
}

// Devices stopped at a limit in any shard are the whole run's: counted in
// full, listed up to the cap.
func TestAddCountsKeepsStoppedDevices(t *testing.T) {
	whole := summary.New("js:x", "embedded")
	for i, n := range []int{1, summary.MaxStoppedListed} {
		sh := summary.New("js:x", "embedded")
		var ds []summary.StoppedDevice
		for j := range n {
			ds = append(ds, summary.StoppedDevice{Device: fmt.Sprintf("s%d-d%d", i, j), Reason: "memory"})
		}
		sh.AddStopped(n, ds)
		addCounts(whole, sh)
	}
	require.NotNil(t, whole.StoppedDevices)
	assert.Equal(t, 1+summary.MaxStoppedListed, whole.StoppedDevices.Total)
	require.Len(t, whole.StoppedDevices.Devices, summary.MaxStoppedListed)
	assert.Equal(t, "s0-d0", whole.StoppedDevices.Devices[0].Device)
	assert.Contains(t, whole.StoppedDevices.String(1), "s0-d0: memory; 20 more")
}

// routeShard writes shard i of 2 that ran one route with the given
// latencies, one a second from start, as a storm writes it (version 2:
// histograms per route and per time bucket), or as an older tokenstorm did
// (version 1: only the summary's percentiles).
func routeShard(t *testing.T, dir string, i int, start time.Time, lats []time.Duration, version int) {
	t.Helper()
	s := summary.New("ref", "embedded")
	s.StartedAt = start
	h, ser := latency.New(), series.New(start)
	for k, d := range lats {
		h.Record(d)
		b := ser.At(start.Add(time.Duration(k) * 100 * time.Millisecond))
		b.Requests++
		b.Latency.Record(d)
	}
	s.LatencyHDR, s.Latency, s.Histogram = h, summary.LatencyOf(h), check.Bars(h)
	s.PerRoute = map[string]summary.Latency{"GET /api/orders": summary.LatencyOf(h)}
	s.Series, s.SeriesBucketMS = ser.Points(start), summary.MS(ser.Width())
	s.Requests = summary.Requests{Issued: len(lats), Succeeded: len(lats)}
	require.NoError(t, s.WriteFile(dir))
	info := &shardInfo{Version: version, Scenario: "x", Shard: Shard{Index: i, Count: 2},
		Devices: 10, Fleet: 20, FleetRate: "constant 100/1s", Duration: "5s", SendLag: latency.New(), Corrected: latency.New()}
	if version >= 2 {
		info.Routes = map[string]*latency.Histogram{"GET /api/orders": h}
		info.Series = ser
	}
	require.NoError(t, writeShardInfo(dir, info, false))
}

// Two shards with disjoint latencies, started 350 ms apart: many fast
// requests on one, a few slow ones on the other. The worst shard's p50
// would be the slow one's; the merge's is the whole's, per route and per
// time bucket.
func TestMergeIsExactPerRouteAndPerBucket(t *testing.T) {
	root := t.TempDir()
	t0 := time.Date(2026, 6, 1, 10, 0, 0, 120e6, time.UTC)
	t1 := t0.Add(350 * time.Millisecond)
	var fast, slow []time.Duration
	for k := range 90 {
		fast = append(fast, time.Duration(1+k%10)*time.Millisecond)
	}
	for k := range 10 {
		slow = append(slow, time.Duration(500+k)*time.Millisecond)
	}
	all := latency.New()
	whole := series.New(t0)
	for k, d := range fast {
		all.Record(d)
		b := whole.At(t0.Add(time.Duration(k) * 100 * time.Millisecond))
		b.Requests++
		b.Latency.Record(d)
	}
	for k, d := range slow {
		all.Record(d)
		b := whole.At(t1.Add(time.Duration(k) * 100 * time.Millisecond))
		b.Requests++
		b.Latency.Record(d)
	}
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	routeShard(t, a, 0, t0, fast, shardVersion)
	routeShard(t, b, 1, t1, slow, shardVersion)

	s, err := Merge(context.Background(), []string{a, b}, "")
	require.NoError(t, err)
	got := s.PerRoute["GET /api/orders"]
	assert.Equal(t, summary.LatencyOf(all), got)
	assert.Less(t, got.P50, 20.0, "the worst shard's p50 would be 500 ms")
	assert.Equal(t, whole.Points(t0), s.Series, "buckets aligned on wall-clock time")
	assert.Equal(t, 100.0, s.SeriesBucketMS)
	assert.Equal(t, check.Bars(all), s.Histogram, "the distribution's bars are the whole's (each shard's last bar ends at its own max)")
	assert.Contains(t, s.Notes[0], "per route and per time bucket from the merged histograms")

	// Shards of an older tokenstorm still merge, approximately, and say so.
	routeShard(t, b, 1, t1, slow, 1)
	s, err = Merge(context.Background(), []string{a, b}, "")
	require.NoError(t, err)
	assert.Greater(t, s.PerRoute["GET /api/orders"].P50, 500.0, "the worst shard's")
	assert.Contains(t, s.Notes[0], "per-route and per-time-bucket percentiles the worst shard's")
	assert.Contains(t, s.Notes[0], "1/2 (shard.json version 1)")
}

// A shard.json of a newer tokenstorm is refused with what to do, not misread.
func TestMergeRefusesANewerShardFile(t *testing.T) {
	dir := t.TempDir()
	routeShard(t, dir, 0, time.Now(), []time.Duration{time.Millisecond}, shardVersion+1)
	_, err := Merge(context.Background(), []string{dir}, "")
	assert.ErrorContains(t, err, "this tokenstorm reads versions 1 to 2 (a newer tokenstorm wrote it?)")
}
