package series

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// obs is one observation: when, and how long it took.
type obs struct {
	at  time.Time
	lat time.Duration
}

func record(s *Series, o obs) {
	b := s.At(o.at)
	b.Requests++
	b.Latency.Record(o.lat)
}

// Two runs that started 370 ms apart, one fast and one slow, merge into
// exactly the series one run of all their observations has: buckets are on
// wall-clock time, so the shards' buckets line up although their starts do
// not.
func TestMergeOfShiftedRunsEqualsOneRun(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 10, 0, 0, 430e6, time.UTC)
	t1 := t0.Add(370 * time.Millisecond)
	var a, b []obs
	for i := range 200 { // 20 s of a fast shard
		a = append(a, obs{t0.Add(time.Duration(i) * 100 * time.Millisecond), 5 * time.Millisecond})
	}
	for i := range 600 { // 30 s of a slow one, later
		b = append(b, obs{t1.Add(time.Duration(i) * 50 * time.Millisecond), 200 * time.Millisecond})
	}
	whole, sa, sb := New(t0), New(t0), New(t1)
	for _, o := range a {
		record(whole, o)
		record(sa, o)
	}
	for _, o := range b {
		record(whole, o)
		record(sb, o)
	}
	require.Equal(t, 100*time.Millisecond, sa.Width())
	require.Equal(t, 200*time.Millisecond, sb.Width(), "30 s in at most 240 buckets")
	// Through JSON, as shard.json carries them.
	merged := roundTrip(t, sb)
	merged.Merge(roundTrip(t, sa))
	assert.Equal(t, whole.Width(), merged.Width())
	assert.Equal(t, t0, merged.Start())
	assert.Equal(t, whole.Points(t0), merged.Points(t0))

	// Every observation counted once, in a bucket that holds its time.
	n := 0
	for _, p := range merged.Points(t0) {
		n += p.Requests
	}
	assert.Equal(t, 800, n)
	// Where only the slow shard ran, its latency is the bucket's.
	pts := merged.Points(t0)
	last := pts[len(pts)-1]
	assert.InDelta(t, 200, last.P50MS, 2)
}

// A series that would span more than MaxBuckets doubles its width; the
// counts are kept.
func TestSeriesStaysBounded(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	s := New(t0)
	for i := range 3600 {
		record(s, obs{t0.Add(time.Duration(i) * time.Second), time.Millisecond})
	}
	pts := s.Points(t0)
	assert.LessOrEqual(t, len(pts), MaxBuckets)
	assert.Equal(t, 25600*time.Millisecond, s.Width())
	n := 0
	for i, p := range pts {
		n += p.Requests
		if i > 0 {
			assert.InDelta(t, float64(s.Width().Milliseconds()), p.AtMS-pts[i-1].AtMS, 0.001)
		}
	}
	assert.Equal(t, 3600, n)
	// An observation before the start counts in the first bucket.
	first := pts[0].Requests
	record(s, obs{t0.Add(-time.Hour), time.Millisecond})
	assert.Equal(t, first+1, s.Points(t0)[0].Requests)
}

func TestUnmarshalRefusesWhatMarshalCannotWrite(t *testing.T) {
	for _, bad := range []string{
		`{"start":"2026-06-01T00:00:00Z","width_ms":150,"buckets":[]}`,
		`{"start":"2026-06-01T00:00:00Z","width_ms":0,"buckets":[]}`,
		`{"width_ms":100,"buckets":[]}`,
		`{"start":"2026-06-01T00:00:00Z","width_ms":200,"buckets":[{"at_unix_ms":100}]}`,
		`{"start":"2026-06-01T00:00:00Z","width_ms":100,"buckets":[{"at_unix_ms":100,"requests":-1}]}`,
		`{"start":"2026-06-01T00:00:00Z","width_ms":100,"buckets":[{"at_unix_ms":100},{"at_unix_ms":100}]}`,
		`[]`,
	} {
		var s Series
		assert.Error(t, json.Unmarshal([]byte(bad), &s), bad)
	}
}

func roundTrip(t *testing.T, s *Series) *Series {
	t.Helper()
	b, err := json.Marshal(s)
	require.NoError(t, err)
	var out Series
	require.NoError(t, json.Unmarshal(b, &out))
	return &out
}
