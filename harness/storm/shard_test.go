package storm

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/stack"
	"github.com/tokenstorm/tokenstorm/harness/summary"
	"github.com/tokenstorm/tokenstorm/mockwechat"
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

// adminRecorder is a backend and mock WeChat admin API that records calls.
type adminRecorder struct {
	mu    sync.Mutex
	calls []string // "METHOD path body"
}

func (a *adminRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.calls = append(a.calls, r.Method+" "+r.URL.Path+" "+strings.TrimSpace(string(b)))
	a.mu.Unlock()
	_, _ = w.Write([]byte(`{"id":"f1"}`))
}

func (a *adminRecorder) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.calls
	a.calls = nil
	return out
}

// Against a backend and a mock WeChat that other shards share, a shard
// expires its own devices only, and fleet-wide WeChat faults are shard 0's.
func TestShardTimelineAgainstSharedServers(t *testing.T) {
	rec := &adminRecorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	led := ledger.New(ledger.Options{Memory: true})
	defer led.Close()
	shardTL := func(i int) *timeline {
		sh := Shard{Index: i, Count: 3}
		return &timeline{name: "s", backendURL: srv.URL, wechatURL: srv.URL, appID: "wxapp",
			devices: fleetNames("s", sh, sh.Devices(9)), shard: sh, fleet: 9,
			sharedWechat: true, sharedBackend: true, led: led, http: srv.Client()}
	}
	ctx := context.Background()

	require.NoError(t, shardTL(1).do(ctx, Event{Action: ActExpireAll}))
	calls := rec.take()
	require.Len(t, calls, 1)
	want, _ := json.Marshal(map[string]any{"users": []string{
		mockwechat.OpenID("wxapp", "s-d2"), mockwechat.OpenID("wxapp", "s-d5"), mockwechat.OpenID("wxapp", "s-d8")}})
	assert.Equal(t, "POST /__admin/expire "+string(want), calls[0])

	require.NoError(t, shardTL(1).do(ctx, Event{Action: ActWechatFault, Errcode: -1}))
	assert.Empty(t, rec.take(), "shard 1 leaves fleet-wide faults to shard 0")
	require.NoError(t, shardTL(0).do(ctx, Event{Action: ActWechatFault, Errcode: -1}))
	assert.Len(t, rec.take(), 1)
	require.NoError(t, shardTL(2).do(ctx, Event{Action: ActClearFaults}))
	assert.Empty(t, rec.take())

	// A slice of the fleet: fleet devices [0, 3) are d1 d2 d3; shard 2 has d3.
	require.NoError(t, shardTL(2).do(ctx, Event{Action: ActWechatFault, Errcode: -1, From: 0, To: 1.0 / 3}))
	calls = rec.take()
	require.Len(t, calls, 1)
	assert.Contains(t, calls[0], `"users":["s-d3"]`)
	// Fleet device 0 only (d1): none of shard 1's.
	require.NoError(t, shardTL(1).do(ctx, Event{Action: ActExpireDevices, From: 0, To: 0.1}))
	assert.Empty(t, rec.take())
}

// A shard whose share of --requests is none sends none (not "no limit").
func TestShardWithNoShareOfTheRequestsSendsNone(t *testing.T) {
	sc := steadyMax(3, 1, 500*time.Millisecond)
	sc.Warmup = false
	sc.Rate = Rate{Pacer: "constant", Freq: 100, Per: time.Second}
	s, err := Run(context.Background(), sc, Options{NewClient: refFactory, MaxRequests: 2, Shard: Shard{Index: 2, Count: 3}})
	require.NoError(t, err)
	assert.Equal(t, 0, s.Requests.Issued)
	s, err = Run(context.Background(), sc, Options{NewClient: refFactory, MaxRequests: 2, Shard: Shard{Index: 1, Count: 3}})
	require.NoError(t, err)
	assert.Equal(t, 1, s.Requests.Issued)
}

// Shards of one storm can drive one backend under test with one shared mock
// WeChat (--backend, --wechat-url: here a stack like `tokenstorm serve`'s):
// each logs its own devices in, and says why code-single-use cannot be
// judged from its own ledger.
func TestShardsShareABackendAndMockWechat(t *testing.T) {
	served, err := stack.Start(context.Background(), stack.Options{})
	require.NoError(t, err)
	defer served.Close()
	sc := steadyMax(6, 1, 300*time.Millisecond)
	sc.Rate = Rate{Pacer: "constant", Freq: 60, Per: time.Second}
	issued := 0
	for i := range 2 {
		s, err := Run(context.Background(), sc, Options{NewClient: refFactory, Shard: Shard{Index: i, Count: 2},
			BackendURL: served.BackendURL, WechatURL: served.WechatURL})
		require.NoError(t, err)
		assert.Equal(t, summary.Pass, s.Verdict, "%v %v", s.FailedInvariants(), s.Notes)
		inv := s.Invariants[summary.CodeSingleUse]
		assert.Equal(t, summary.Skip, inv.Verdict)
		assert.Contains(t, inv.Reason, "--wechat-url")
		issued += s.Requests.Issued
	}
	assert.Positive(t, issued)
	assert.EqualValues(t, 6, served.Wechat.Stats().Calls[mockwechat.APIJSCode2Session], "the shared mock saw every device's login, once")

	// The embedded backend writes its logins to the shard's ledger, which
	// then lacks the shared mock's half: refused rather than misjudged.
	_, err = Run(context.Background(), sc, Options{NewClient: refFactory, WechatURL: served.WechatURL})
	assert.ErrorContains(t, err, "--wechat-url")
}
