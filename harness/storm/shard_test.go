package storm

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseShard(t *testing.T) {
	sh, err := ParseShard("2/5")
	require.NoError(t, err)
	assert.Equal(t, Shard{Index: 2, Count: 5}, sh)
	assert.Equal(t, "2/5", sh.String())
	assert.True(t, sh.Sharded())
	for _, bad := range []string{"", "3", "5/5", "-1/3", "0/0", "a/3", "1/b"} {
		_, err := ParseShard(bad)
		assert.Error(t, err, bad)
	}
	assert.False(t, Shard{}.Sharded())
	assert.Equal(t, "0/1", Shard{}.String())
}

// Every device of the fleet belongs to exactly one shard, and each shard's
// local and fleet indexes map to each other.
func TestShardsPartitionTheFleet(t *testing.T) {
	for _, fleet := range []int{1, 2, 7, 10, 100} {
		for n := 1; n <= 4; n++ {
			owner := make([]int, fleet)
			for i := range owner {
				owner[i] = -1
			}
			total := 0
			for i := range n {
				sh := Shard{Index: i, Count: n}
				total += sh.Devices(fleet)
				for l := range sh.Devices(fleet) {
					g := sh.Global(l)
					require.Less(t, g, fleet)
					assert.Equal(t, -1, owner[g], "device %d in two shards", g)
					owner[g] = i
					back, ok := sh.Local(g)
					assert.True(t, ok)
					assert.Equal(t, l, back)
				}
			}
			assert.Equal(t, fleet, total, "fleet %d, %d shards", fleet, n)
			assert.NotContains(t, owner, -1)
		}
	}
	_, ok := Shard{Index: 1, Count: 3}.Local(3)
	assert.False(t, ok)
}

// An event's `devices` fraction selects the same fleet devices whole or
// sharded.
func TestTimelineSliceIsTheSameSharded(t *testing.T) {
	const fleet = 23
	whole := &timeline{devices: fleetNames("s", Shard{}, fleet), fleet: fleet}
	for _, e := range []Event{{From: 0, To: 0.5}, {From: 0.25, To: 0.3}, {From: 0.9, To: 1}, {From: 0.5, To: 0.51}} {
		want := whole.slice(e)
		var got []string
		for i := range 3 {
			sh := Shard{Index: i, Count: 3}
			part := &timeline{devices: fleetNames("s", sh, sh.Devices(fleet)), shard: sh, fleet: fleet}
			got = append(got, part.slice(e)...)
		}
		assert.ElementsMatch(t, want, got, "%+v", e)
	}
}

func fleetNames(sc string, sh Shard, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = deviceName(sc, sh.Global(i))
	}
	return out
}

func TestShardRequestsSumToTheWhole(t *testing.T) {
	for _, fleet := range []int{1, 3, 10, 31} {
		for _, req := range []uint64{0, 1, 9, 10, 11, 100, 1001} {
			var sum uint64
			for i := range 3 {
				sum += Shard{Index: i, Count: 3}.requests(req, fleet)
			}
			if fleet >= 3 {
				assert.Equal(t, req, sum, "fleet %d, %d requests", fleet, req)
			}
		}
	}
	// 100 requests over 30 devices: 3 rounds (10 each), then devices 0..9.
	assert.Equal(t, uint64(34), Shard{Index: 0, Count: 3}.requests(100, 30))
	assert.Equal(t, uint64(33), Shard{Index: 2, Count: 3}.requests(100, 30))
}

// The shards' rates sum to the scenario's, for every pacer.
func TestRateShareSumsToTheWhole(t *testing.T) {
	for _, r := range []Rate{
		{Pacer: "constant", Freq: 800, Per: time.Second},
		{Pacer: "linear", Start: 100, Slope: 60, Per: time.Second},
		{Pacer: "sine", Mean: 500, Amp: 200, Period: 4 * time.Second, Per: time.Second},
	} {
		for _, at := range []time.Duration{0, 700 * time.Millisecond, 3 * time.Second} {
			want := r.VegetaPacer().Rate(at)
			sum := 0.0
			for i := range 3 {
				sh := Shard{Index: i, Count: 3}
				sum += r.share(sh.Devices(10), 10).VegetaPacer().Rate(at)
			}
			assert.InDelta(t, want, sum, want*1e-9, "%s at %s", r, at)
		}
	}
	assert.True(t, Rate{Pacer: "constant"}.share(1, 3).Unthrottled(), "as fast as the slots allow stays so")
}
