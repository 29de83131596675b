package storm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/tokenstorm/tokenstorm/harness/backend"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/mutant"
	"github.com/tokenstorm/tokenstorm/harness/refclient"
	"github.com/tokenstorm/tokenstorm/harness/summary"
	"github.com/tokenstorm/tokenstorm/mockwechat"
)

func refFactory(env client.Env) (client.Client, error) {
	return refclient.New(env, refclient.Options{}), nil
}

func mutantFactory(name string) func(env client.Env) (client.Client, error) {
	return func(env client.Env) (client.Client, error) { return mutant.New(name, env) }
}

// shortStorm is the shipped synchronized-expiry, shrunk for a test. The
// latency threshold is dropped: under -race on two cores everything is
// several times slower, and latency is not what these tests are about.
func shortStorm(t *testing.T) *Scenario {
	t.Helper()
	sc, err := Builtin("synchronized-expiry")
	require.NoError(t, err)
	sc.Devices = 20
	sc.Rate = Rate{Pacer: "constant", Freq: 300, Per: time.Second}
	sc.Duration = 2 * time.Second
	sc.Timeline[0].At = time.Second
	var keep []Threshold
	for _, th := range sc.Thresholds {
		if th.Metric != "latency.p99" {
			keep = append(keep, th)
		}
	}
	sc.Thresholds = keep
	return sc
}

func decodeResults(t *testing.T, path string) []vegeta.Result {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	dec := vegeta.NewDecoder(f)
	var out []vegeta.Result
	for {
		var r vegeta.Result
		err := dec.Decode(&r)
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, r)
	}
}

func threshold(s *summary.Summary, expr string) summary.Threshold {
	for _, t := range s.Thresholds {
		if t.Expr == expr {
			return t
		}
	}
	return summary.Threshold{}
}

func TestSynchronizedExpiryPassesWithRef(t *testing.T) {
	out := t.TempDir()
	var progress bytes.Buffer
	s, err := Run(context.Background(), shortStorm(t), Options{NewClient: refFactory, OutDir: out, Progress: &progress})
	require.NoError(t, err)
	t.Logf("summary: %+v %+v %+v storm %+v notes %v", s.Requests, s.Refresh, s.Latency, *s.Storm, s.Notes)
	t.Logf("scenario: %+v", s.Scenarios)
	t.Logf("progress:\n%s", progress.String())
	assert.Equal(t, summary.Pass, s.Verdict, "scenario: %+v", s.Scenarios)
	assert.Equal(t, 1.0, s.Refresh.Amplification)
	assert.Equal(t, 0, s.Requests.Lost)
	assert.Greater(t, s.Refresh.Refreshes, 0, "the expiry made the devices refresh")
	assert.Equal(t, summary.Pass, threshold(s, "refresh.amplification <= 1").Verdict)
	require.Len(t, s.Scenarios, 1)
	assert.Equal(t, "storm", s.Scenarios[0].Kind)
	assert.Equal(t, summary.Pass, s.Scenarios[0].Verdict)
	require.NotNil(t, s.Storm)
	assert.Greater(t, s.Storm.ThroughputRPS, 100.0)
	assert.Contains(t, progress.String(), "settled")

	res := decodeResults(t, filepath.Join(out, ResultsFile))
	if s.Storm.Overloaded {
		// The generator fell behind (a loaded machine) and said so: it
		// delivers what it could, never more.
		assert.LessOrEqual(t, len(res), 600+60, "300/s for 2s")
		assert.Contains(t, s.Scenarios[0].Detail, "OVERLOADED")
	} else {
		assert.InDelta(t, 600, len(res), 60, "300/s for 2s")
	}
	ok := 0
	for _, r := range res {
		if r.Code == 200 {
			ok++
		}
	}
	assert.Equal(t, len(res), ok, "every hit answered 200")
}

func TestSynchronizedExpiryFailsWithMutantStorm(t *testing.T) {
	s, err := Run(context.Background(), shortStorm(t), Options{NewClient: mutantFactory("storm"), ClientName: "mutant:storm"})
	require.NoError(t, err)
	t.Logf("summary: %+v %+v scenario %+v", s.Requests, s.Refresh, s.Scenarios)
	assert.Equal(t, summary.Fail, s.Verdict)
	assert.Greater(t, s.Refresh.Amplification, 1.0)
	assert.Equal(t, summary.Fail, threshold(s, "refresh.amplification <= 1").Verdict)
	assert.Equal(t, summary.Fail, s.Invariants[summary.SingleRefresh].Verdict)
	assert.Contains(t, s.Scenarios[0].Failed, "threshold refresh.amplification <= 1")
}

func TestInterruptStillWritesResults(t *testing.T) {
	sc, err := Builtin("steady")
	require.NoError(t, err)
	sc.Devices = 10
	sc.Rate = Rate{Pacer: "constant", Freq: 200, Per: time.Second}
	sc.Duration = 8 * time.Second
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Second, cancel) // Ctrl-C
	began := time.Now()
	s, err := Run(ctx, sc, Options{NewClient: refFactory, OutDir: out, Grace: 500 * time.Millisecond})
	require.NoError(t, err)
	assert.Less(t, time.Since(began), 4*time.Second, "stops soon after the interrupt")
	assert.Contains(t, strings.Join(s.Notes, "\n"), "interrupted")
	assert.Greater(t, s.Requests.Issued, 50)
	assert.Equal(t, 0, s.Requests.Lost)
	res := decodeResults(t, filepath.Join(out, ResultsFile))
	assert.Greater(t, len(res), 50)
	assert.Less(t, len(res), 400)
}

func TestTimelineDrivesTheStack(t *testing.T) {
	src := `
name: timeline
description: every action once
devices: 8
in_flight: 2
duration: 2500ms
rate: {pacer: constant, freq: 100}
mix:
  - {method: GET, path: /api/orders}
timeline:
  - {at: 300ms, action: expire_devices, devices: [0, 0.5]}
  - {at: 600ms, action: wechat_fault, errcode: -1, count: 1, for: 500ms}
  - {at: 700ms, action: revoke, devices: 0.25}
  - {at: 800ms, action: expire_devices, devices: 0.25}
  - {at: 1200ms, action: clear_faults}
  - {at: 1500ms, action: clock_skew, skew: 3h}
thresholds:
  - requests.lost == 0
  - "invariants: all"
`
	sc, err := Parse("timeline.yaml", []byte(src))
	require.NoError(t, err)
	s, err := Run(context.Background(), sc, Options{NewClient: refFactory})
	require.NoError(t, err)
	require.Len(t, s.Scenarios, 1)
	assert.Equal(t, summary.Pass, s.Scenarios[0].Verdict, s.Scenarios[0].Detail)
	var marks []string
	for _, m := range s.Timeline {
		marks = append(marks, m.Kind+" "+m.Detail)
	}
	all := strings.Join(marks, "\n")
	for _, want := range []string{"expire_devices at 300ms (4 devices)", "wechat_fault at 600ms", "revoke at 700ms (2 devices)",
		"clear_faults at 1.2s", "clock_skew at 1.5s (stack clock +3h0m0s)", "wechat_fault f"} {
		assert.Contains(t, all, want)
	}
	// The clock skew expired every token on the server's clock: the devices
	// refreshed again without being told.
	assert.GreaterOrEqual(t, s.Refresh.Refreshes, 8+4, "first expiry of half the devices, then all of them after the skew")
}

func TestBadBackendFailsTheTimeline(t *testing.T) {
	sc := shortStorm(t)
	sc.Devices = 2
	sc.Rate = Rate{Pacer: "constant", Freq: 20, Per: time.Second}
	sc.Duration = time.Second
	sc.Timeline[0].At = 200 * time.Millisecond
	sc.Thresholds = nil
	// A "backend" that answers every request 404, admin included.
	s, err := Run(context.Background(), sc, Options{NewClient: refFactory, BackendURL: "http://127.0.0.1:1"})
	require.NoError(t, err)
	assert.Equal(t, summary.Fail, s.Verdict)
	assert.Contains(t, s.Scenarios[0].Failed, "timeline")
	assert.Contains(t, s.Scenarios[0].Detail, "expire_all at 200ms")
}

// A backend under test: the storm's mock WeChat listens where the backend
// was told to send jscode2session, and the timeline uses its admin API.
func TestExternalBackend(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	be, err := backend.New(backend.Config{WechatURL: "http://" + addr, AppID: mockwechat.DefaultAppID, Secret: mockwechat.DefaultSecret})
	require.NoError(t, err)
	srv := httptest.NewServer(be)
	defer srv.Close()
	defer be.Close()

	sc := shortStorm(t)
	sc.Devices = 10
	sc.Rate = Rate{Pacer: "constant", Freq: 100, Per: time.Second}
	sc.Duration = 1500 * time.Millisecond
	sc.Timeline[0].At = 500 * time.Millisecond
	s, err := Run(context.Background(), sc, Options{NewClient: refFactory, BackendURL: srv.URL, WechatAddr: addr})
	require.NoError(t, err)
	assert.Equal(t, summary.Pass, s.Verdict, "%+v", s.Scenarios)
	assert.Equal(t, srv.URL, s.Backend)
	assert.Equal(t, 0, s.Requests.Lost)
	assert.Equal(t, s.Requests.Issued, s.Requests.Succeeded)
	st := be.Stats()
	t.Logf("backend stats: %+v", st)
}

// deviceSkewStorm is 8 devices whose first half's clocks jump skew ahead at
// 500ms; the stack's clock and the other half keep real time.
func deviceSkewStorm(t *testing.T, accessTTL string) *Scenario {
	t.Helper()
	src := `
name: devskew
devices: 8
in_flight: 2
duration: 1500ms
rate: {pacer: constant, freq: 100}
backend: {access_ttl: ` + accessTTL + `}
timeline:
  - {at: 500ms, action: clock_skew, skew: 3h, devices: 0.5}
thresholds:
  - requests.lost == 0
  - refresh.amplification <= 1
  - "invariants: all"
`
	sc, err := Parse("devskew.yaml", []byte(src))
	require.NoError(t, err)
	return sc
}

func refreshesByDevice(s *summary.Summary) map[string]int {
	out := map[string]int{}
	for _, d := range s.PerDevice {
		out[d.Device] = d.Refreshes
	}
	return out
}

func timelineText(s *summary.Summary) string {
	var marks []string
	for _, m := range s.Timeline {
		marks = append(marks, m.Detail)
	}
	return strings.Join(marks, "\n")
}

// clock_skew with devices moves those phones' clocks only. The reference
// client computes expiry on the device's own clock, so after a jump past the
// access TTL the skewed half find their tokens expired and refresh once
// before sending; the other half, and the stack, keep their time.
func TestClockSkewForSomeDevices(t *testing.T) {
	s, err := Run(context.Background(), deviceSkewStorm(t, "1m"), Options{NewClient: refFactory})
	require.NoError(t, err)
	t.Logf("summary: %+v %+v per device %+v notes %v", s.Requests, s.Refresh, s.PerDevice, s.Notes)
	require.Len(t, s.Scenarios, 1)
	assert.Equal(t, summary.Pass, s.Scenarios[0].Verdict, s.Scenarios[0].Detail)
	for name, inv := range s.Invariants {
		assert.NotEqual(t, summary.Fail, inv.Verdict, "%s: %+v", name, inv.Examples)
	}
	assert.Equal(t, summary.Pass, s.Invariants[summary.SingleRefresh].Verdict)
	refreshes := refreshesByDevice(s)
	for i := range 8 {
		want := 0
		if i < 4 {
			want = 1 // its token looked expired by its own clock: one proactive refresh
		}
		assert.Equal(t, want, refreshes[deviceName("devskew", i)], deviceName("devskew", i))
	}
	assert.Equal(t, 4, s.Refresh.Refreshes)
	assert.Equal(t, 8, s.Refresh.Logins, "the warm-up's only")
	assert.Equal(t, 1.0, s.Refresh.Amplification)
	assert.Equal(t, 0, s.Requests.Lost)
	assert.Equal(t, s.Requests.Issued, s.Requests.Succeeded)
	assert.Contains(t, timelineText(s),
		"clock_skew at 500ms (devices 0%–50% (4 devices, devskew-d1…devskew-d4): device clock +3h0m0s)")
	assert.NotContains(t, timelineText(s), "no device clock")
	assert.Empty(t, notesMatching(s, "device clock"))
}

// With an access TTL far past the checker's proactive window (5m) the
// skewed phones' one refresh each is still justified: the timeline records
// each device's new clock offset (device.clock) and the checker judges the
// refresh by the device's clock, as the device did.
func TestDeviceClockSkewWithALongTTL(t *testing.T) {
	s, err := Run(context.Background(), deviceSkewStorm(t, "2h"), Options{NewClient: refFactory})
	require.NoError(t, err)
	for name, inv := range s.Invariants {
		assert.NotEqual(t, summary.Fail, inv.Verdict, "%s: %+v", name, inv.Examples)
	}
	assert.Equal(t, summary.Pass, s.Invariants[summary.SingleRefresh].Verdict)
	assert.Equal(t, 4, s.Refresh.Refreshes)
	assert.Equal(t, 1.0, s.Refresh.Amplification)
}

// A client that keeps its own time (exec: before protocol 3) never takes a device clock: the
// marker and a note say the skew did not reach it.
func TestDeviceClockSkewUnseenByTheClient(t *testing.T) {
	sc := deviceSkewStorm(t, "1m")
	sc.Devices = 4
	sc.Duration = time.Second
	ownTime := func(env client.Env) (client.Client, error) {
		env.DeviceClock = nil // as an exec client, which has no notion of device time
		return refclient.New(env, refclient.Options{}), nil
	}
	s, err := Run(context.Background(), sc, Options{NewClient: ownTime, ClientName: "exec:own-time"})
	require.NoError(t, err)
	assert.Equal(t, 0, s.Refresh.Refreshes, "the skew did not reach the client")
	assert.Contains(t, timelineText(s), "device clock +3h0m0s; the client has taken no device clock so far")
	assert.Len(t, notesMatching(s, "client exec:own-time never took a device clock"), 1)
}

func notesMatching(s *summary.Summary, sub string) []string {
	var out []string
	for _, n := range s.Notes {
		if strings.Contains(n, sub) {
			out = append(out, n)
		}
	}
	return out
}
