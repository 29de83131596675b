package storm

// Performance of the storm runner (issue 5). The short benchmarks run in
// `make bench`; the long measurements run only with TOKENSTORM_LONG=1, one at
// a time, because peak RSS (VmHWM) is per process:
//
//	TOKENSTORM_LONG=1 go test -run TestLong10kDevicesStorm -v ./harness/storm/
//	TOKENSTORM_LONG=1 go test -run TestLong100kDevicesStorm -v ./harness/storm/
//	TOKENSTORM_LONG=1 go test -run TestLongMillionRequests -v ./harness/storm/
//	TOKENSTORM_LONG=1 go test -run TestLongOverhead -v ./harness/storm/
//	TOKENSTORM_LONG=1 go test -run TestLongUnthrottledMemory -v ./harness/storm/
//	go test -run '^$' -bench . ./harness/storm/

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/tokenstorm/tokenstorm/harness/check"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/stack"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

func long(t *testing.T) {
	t.Helper()
	if os.Getenv("TOKENSTORM_LONG") != "1" {
		t.Skip("long measurement: set TOKENSTORM_LONG=1 to run it")
	}
}

// steadyMax is the steady scenario with a single GET and no rate limit: the
// client and the stack go as fast as devices × in_flight slots allow.
func steadyMax(devices, inFlight int, d time.Duration) *Scenario {
	return &Scenario{
		Name: "steady-max", Description: "unthrottled steady GETs", Devices: devices, InFlight: inFlight,
		Warmup: true, Duration: d, Deadline: 10 * time.Second,
		Mix:     []Request{{Method: "GET", Path: "/api/orders", Weight: 1}},
		Rate:    Rate{Pacer: "constant", Freq: 0, Per: time.Second},
		Backend: Backend{Reuse: "strict"},
	}
}

// BenchmarkStormSteady sends b.N logical requests through the whole storm
// path (vegeta → transport → device driver → reference client → backend →
// ledger → checker) and reports requests per second.
func BenchmarkStormSteady(b *testing.B) {
	sc := steadyMax(100, 4, time.Hour)
	began, cpu := time.Now(), cpuTime()
	s, err := Run(context.Background(), sc, Options{NewClient: refFactory, MaxRequests: uint64(b.N), OutDir: b.TempDir()})
	require.NoError(b, err)
	b.ReportMetric(s.Storm.ThroughputRPS, "req/s")
	b.ReportMetric(float64(time.Since(began).Nanoseconds())/float64(b.N), "wall-ns/req")
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/req")
	if s.Requests.Lost > 0 || s.Verdict != summary.Pass {
		b.Fatalf("steady run failed: %+v %v", s.Requests, s.Scenarios)
	}
}

// BenchmarkOverhead compares, in one run, the storm with the reference client
// as vegeta's transport against plain vegeta hitting the same endpoint of an
// identically configured stack with a fixed valid token, both unthrottled
// over 400 connections (100 devices × 4 in flight). It ignores b.N: each
// side runs a fixed time.
func BenchmarkOverhead(b *testing.B) {
	r := overhead(b, 100, 4, 6, time.Second)
	b.ReportMetric(r.ratio, "ratio")
	b.ReportMetric(r.storm, "storm-req/s")
	b.ReportMetric(r.plain, "plain-req/s")
	b.ReportMetric(r.cpuRatio, "cpu-ratio")
	b.ReportMetric(r.stormCPU, "storm-cpu-µs/req")
	b.ReportMetric(r.plainCPU, "plain-cpu-µs/req")
}

func TestLongOverhead(t *testing.T) {
	long(t)
	var ratios []float64
	for i := 0; i < 3; i++ {
		r := overhead(t, 100, 4, 10, 2*time.Second)
		t.Logf("round %d: storm with ref client %.0f req/s, plain vegeta %.0f req/s, ratio %.3f (pairs %v); CPU per request %.1fµs vs %.1fµs, ratio %.3f",
			i+1, r.storm, r.plain, r.ratio, r.pairs, r.stormCPU, r.plainCPU, r.cpuRatio)
		ratios = append(ratios, r.ratio)
	}
	t.Logf("ratios %v", ratios)
}

type overheadResult struct {
	storm, plain float64 // requests per second, over all legs of a side
	// ratio is the median of the pairs' storm/plain throughput ratios.
	ratio float64
	pairs []float64
	// CPU time of the whole process per request (µs): less sensitive than
	// throughput to other processes on a shared machine.
	stormCPU, plainCPU, cpuRatio float64
}

// overhead runs pairs × (plain, storm) legs of d each, alternating which
// side goes first (plain storm, storm plain, …). On a shared machine the
// capacity left by others drifts over seconds; each pair's ratio compares two
// neighbouring legs, and the median of the pairs ignores the pair that a
// burst from elsewhere hit. CPU figures are totals over all legs.
func overhead(tb testing.TB, devices, inFlight, pairs int, d time.Duration) overheadResult {
	tb.Helper()
	var plainN, stormN int
	var plainT, stormT, plainCPU, stormCPU time.Duration
	runPlain := func() float64 {
		c0 := cpuTime()
		ok, took := plainVegeta(tb, devices*inFlight, d)
		plainCPU += cpuTime() - c0
		plainN += ok
		plainT += took
		return float64(ok) / took.Seconds()
	}
	runStorm := func() float64 {
		c0 := cpuTime()
		s, err := Run(context.Background(), steadyMax(devices, inFlight, d), Options{NewClient: refFactory})
		require.NoError(tb, err)
		stormCPU += cpuTime() - c0
		require.Equal(tb, 0, s.Requests.Lost)
		// Run's rate is over its attack only, not stack start-up and the
		// warm-up (one login per device), like plainVegeta's.
		hits := s.Requests.Issued - devices
		stormN += hits
		stormT += time.Duration(float64(hits) / s.Storm.ThroughputRPS * float64(time.Second))
		return s.Storm.ThroughputRPS
	}
	var r overheadResult
	for i := 0; i < pairs; i++ {
		var p, s float64
		if i%2 == 0 {
			p = runPlain()
			s = runStorm()
		} else {
			s = runStorm()
			p = runPlain()
		}
		r.pairs = append(r.pairs, float64(int(s/p*1000+0.5))/1000)
	}
	sorted := slices.Clone(r.pairs)
	slices.Sort(sorted)
	r.ratio = sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		r.ratio = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	}
	r.plain, r.storm = float64(plainN)/plainT.Seconds(), float64(stormN)/stormT.Seconds()
	r.plainCPU = float64(plainCPU.Microseconds()) / float64(plainN)
	r.stormCPU = float64(stormCPU.Microseconds()) / float64(stormN)
	r.cpuRatio = r.plainCPU / r.stormCPU
	return r
}

// cpuTime is the user+system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// plainVegeta starts a stack configured like a storm's (spilling ledger with
// a checker subscribed), logs one user in, and lets plain vegeta hit GET
// /api/orders with that token, unthrottled with the same number of workers
// as the storm has slots. It returns how many requests succeeded and how
// long the attack took.
func plainVegeta(tb testing.TB, workers int, d time.Duration) (succeeded int, took time.Duration) {
	tb.Helper()
	clk := clock.NewShifted()
	led := ledger.New(ledger.Options{Clock: clk})
	defer led.Close()
	chk := check.New(check.Options{})
	defer led.Subscribe(chk.Observe)()
	st, err := stack.Start(context.Background(), stack.Options{Clock: clk, Ledger: led})
	require.NoError(tb, err)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_ = st.Shutdown(ctx)
	}()
	token := login(tb, st, "plain-user")

	atk := vegeta.NewAttacker(vegeta.Workers(uint64(workers)), vegeta.MaxWorkers(uint64(workers)),
		vegeta.Connections(workers), vegeta.KeepAlive(true))
	tgt := vegeta.NewStaticTargeter(vegeta.Target{Method: "GET", URL: st.BackendURL + "/api/orders",
		Header: http.Header{"Authorization": []string{"Bearer " + token}}})
	f, err := os.Create(tb.TempDir() + "/plain.bin")
	require.NoError(tb, err)
	defer f.Close()
	enc := vegeta.NewEncoder(f)
	ok := 0
	began := time.Now()
	for res := range atk.Attack(tgt, vegeta.ConstantPacer{}, d, "plain") {
		if res.Code == 200 {
			ok++
		}
		res.Body, res.Headers = nil, nil
		_ = enc.Encode(res)
	}
	return ok, time.Since(began)
}

func login(tb testing.TB, st *stack.Stack, user string) string {
	tb.Helper()
	post := func(url string, body any, out any) {
		b, _ := json.Marshal(body)
		resp, err := http.Post(url, "application/json", bytes.NewReader(b))
		require.NoError(tb, err)
		defer resp.Body.Close()
		require.Equal(tb, 200, resp.StatusCode, url)
		require.NoError(tb, json.NewDecoder(resp.Body).Decode(out))
	}
	var code struct{ Code string }
	post(st.WechatURL+"/__mock/wx/login", map[string]string{"appid": st.AppID, "user": user}, &code)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	post(st.BackendURL+"/auth/login", map[string]string{"code": code.Code}, &tok)
	require.NotEmpty(tb, tok.AccessToken)
	return tok.AccessToken
}

// TestLong10kDevicesStorm: synchronized expiry over 10,000 devices with 4
// requests in flight each.
func TestLong10kDevicesStorm(t *testing.T) {
	long(t)
	s := longExpiryStorm(t, 10_000, 4, 3000, 20, 0)
	require.Equal(t, 1.0, s.Refresh.Amplification)
	require.Equal(t, 0, s.Requests.Lost)
	require.Equal(t, 0, s.Invariants[summary.NoDuplicateEffects].Violations)
}

// TestLong100kDevicesStorm: 100,000 devices, one request in flight each,
// every token expiring at once, paced (TOKENSTORM_RATE, default 1500/s) so
// that this machine keeps up: exact (amplification 1.00, nothing lost) and
// under 3 GB.
func TestLong100kDevicesStorm(t *testing.T) {
	long(t)
	s := longExpiryStorm(t, 100_000, 1, 1500, 60, 10*time.Second)
	require.Equal(t, 1.0, s.Refresh.Amplification)
	require.Equal(t, 0, s.Requests.Lost)
	require.Less(t, PeakRSSMB(), 3072.0)
}

// longExpiryStorm runs the shipped synchronized-expiry scenario over devices
// × inFlight at TOKENSTORM_RATE (default rate) for TOKENSTORM_SECONDS
// (default seconds), every token expiring 5 s in, and logs its figures.
// deadline 0 keeps the scenario's.
func longExpiryStorm(t *testing.T, devices, inFlight, rate, seconds int, deadline time.Duration) *summary.Summary {
	t.Helper()
	sc, err := Builtin("synchronized-expiry")
	require.NoError(t, err)
	sc.Devices, sc.InFlight = devices, inFlight
	if deadline > 0 {
		sc.Deadline = deadline
	}
	sc.Rate = Rate{Pacer: "constant", Freq: envInt("TOKENSTORM_RATE", rate), Per: time.Second}
	sc.Duration = time.Duration(envInt("TOKENSTORM_SECONDS", seconds)) * time.Second
	sc.Timeline[0].At = 5 * time.Second
	sc.Thresholds = nil
	began := time.Now()
	s, err := Run(context.Background(), sc, Options{NewClient: refFactory, OutDir: t.TempDir(), Progress: os.Stderr})
	require.NoError(t, err)
	t.Logf("%d×%d synchronized-expiry: wall %s, peak RSS %.0f MB (%.1f KB per device), %d requests, amplification %.2f (%d episodes, %d refreshes, %d logins), lost %d, duplicate effects %d, throughput %.0f req/s, send lag p99 %.1f ms, overloaded %v, latency p99 %.1f ms",
		devices, inFlight, time.Since(began).Round(time.Millisecond), PeakRSSMB(), PeakRSSMB()*1024/float64(devices), s.Requests.Issued, s.Refresh.Amplification,
		s.Refresh.ExpiryEpisodes, s.Refresh.Refreshes, s.Refresh.Logins, s.Requests.Lost,
		s.Invariants[summary.NoDuplicateEffects].Violations, s.Storm.ThroughputRPS, s.Storm.SendLagP99MS, s.Storm.Overloaded, s.Latency.P99)
	t.Logf("verdict %s: %v", s.Verdict, s.Scenarios)
	return s
}

// TestLongMillionRequests: memory stays bounded by devices, not requests.
// The shipped steady scenario (1,000 devices × 4 in flight, its GET/POST
// mix) paced at TOKENSTORM_RATE (default 5000/s) until TOKENSTORM_REQUESTS
// (default 1,000,000) hits have been sent.
func TestLongMillionRequests(t *testing.T) {
	long(t)
	n := uint64(envInt("TOKENSTORM_REQUESTS", 1_000_000))
	sc, err := Builtin("steady")
	require.NoError(t, err)
	sc.Devices, sc.InFlight = 1000, 4
	sc.Rate = Rate{Pacer: "constant", Freq: envInt("TOKENSTORM_RATE", 5000), Per: time.Second}
	sc.Duration = time.Hour
	began := time.Now()
	out := t.TempDir()
	s, err := Run(context.Background(), sc, Options{NewClient: refFactory, MaxRequests: n, OutDir: out, Progress: os.Stderr})
	require.NoError(t, err)
	fi, _ := os.Stat(out + "/" + ResultsFile)
	t.Logf("%d-request steady run: wall %s, peak RSS %.0f MB, throughput %.0f req/s, send lag p99 %.1f ms, latency p99 %.1f ms, results.bin %d MB, lost %d, verdict %s",
		n, time.Since(began).Round(time.Millisecond), PeakRSSMB(), s.Storm.ThroughputRPS, s.Storm.SendLagP99MS, s.Latency.P99,
		fi.Size()>>20, s.Requests.Lost, s.Verdict)
	require.EqualValues(t, n, s.Requests.Issued-sc.Devices, "warm-up adds one per device")
	require.Equal(t, 0, s.Requests.Lost)
	require.Less(t, PeakRSSMB(), 500.0)
}

// TestLongUnthrottledMemory: with no rate limit every slot is always in
// flight, so memory follows devices × in_flight (goroutines, connections),
// still not the number of requests: compare two request counts.
func TestLongUnthrottledMemory(t *testing.T) {
	long(t)
	n := uint64(envInt("TOKENSTORM_REQUESTS", 1_000_000))
	began := time.Now()
	s, err := Run(context.Background(), steadyMax(1000, 4, time.Hour), Options{NewClient: refFactory, MaxRequests: n, OutDir: t.TempDir()})
	require.NoError(t, err)
	t.Logf("%d requests unthrottled over 1000×4 slots: wall %s, peak RSS %.0f MB, throughput %.0f req/s, lost %d",
		n, time.Since(began).Round(time.Millisecond), PeakRSSMB(), s.Storm.ThroughputRPS, s.Requests.Lost)
}

func envInt(name string, def int) int {
	var v int
	if _, err := fmt.Sscanf(os.Getenv(name), "%d", &v); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkLoopbackFloor is the CPU a request costs on this machine with
// nothing behind it: plain vegeta over the same number of connections
// against a bare handler that answers a fixed 200 body on loopback. It is
// the denominator the per-request CPU of the storm (BenchmarkStormSteady) and
// of plain vegeta on the stack (BenchmarkOverhead) are read against, since
// loopback syscalls alone cost several times more on a small VM than on a
// workstation. It ignores b.N: it runs a fixed time.
func BenchmarkLoopbackFloor(b *testing.B) {
	body := []byte(`{"items":[],"rid":""}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	const workers = 400
	atk := vegeta.NewAttacker(vegeta.Workers(workers), vegeta.MaxWorkers(workers),
		vegeta.Connections(workers), vegeta.KeepAlive(true))
	tgt := vegeta.NewStaticTargeter(vegeta.Target{Method: "GET", URL: srv.URL + "/api/orders"})
	enc := vegeta.NewEncoder(io.Discard)
	ok := 0
	c0, began := cpuTime(), time.Now()
	for res := range atk.Attack(tgt, vegeta.ConstantPacer{}, 3*time.Second, "floor") {
		if res.Code == 200 {
			ok++
		}
		res.Body, res.Headers = nil, nil
		_ = enc.Encode(res)
	}
	require.Positive(b, ok)
	b.ReportMetric(float64(ok)/time.Since(began).Seconds(), "req/s")
	b.ReportMetric(float64((cpuTime()-c0).Microseconds())/float64(ok), "cpu-µs/req")
}
