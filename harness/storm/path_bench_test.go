package storm

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/tokenstorm/tokenstorm/harness/check"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/device"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/pending"
	"github.com/tokenstorm/tokenstorm/harness/refclient"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// backendStub answers every request 200 in memory and records the api event
// the real backend would, so the checker does its whole per-request work.
type backendStub struct {
	led *ledger.Ledger
	pen *pending.Register // marked as the stack's servers mark it
}

func (s backendStub) RoundTrip(req *http.Request) (*http.Response, error) {
	rid := req.URL.Query().Get("rid")
	if w := s.pen.Serving(rid); w != nil {
		defer w.Add(-1)
	}
	// The backend echoes the request id in every answer (genuine-answers).
	stubBody := append(append([]byte(`{"items":[],"rid":"`), rid...), `"}`...)
	s.led.Append(ledger.Event{Source: ledger.SourceBackend, Kind: ledger.KindAPI, RID: rid,
		Token: "jti-1", Method: req.Method, Route: req.URL.Path, Outcome: ledger.OutcomeOK, Status: 200})
	return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, ContentLength: int64(len(stubBody)),
		Body: io.NopCloser(bytes.NewReader(stubBody)), Request: req}, nil
}

// BenchmarkHarnessPath is what a storm adds to every request beyond the HTTP
// exchange with the backend, measured without any network or server: vegeta's
// http.Client into the storm transport, the device driver with its issue and
// settle events, the reference client with a valid token, the checker
// judging issue, attempt and settle. The backend is an in-memory stub that
// records the attempt as the real one does (plain vegeta pays for that too).
// Its ns/op, next to the CPU per request of a plain vegeta hit on loopback
// (BenchmarkOverhead's plain-cpu-µs/req), predicts the overhead ratio on any
// machine: plain / (plain + path).
func BenchmarkHarnessPath(b *testing.B) {
	led := ledger.New(ledger.Options{})
	defer led.Close()
	chk := check.New(check.Options{SettledWindow: envInt("SW", 0)})
	var cnt counters
	defer newFeed(led, chk.Observe, cnt.observe).stop()

	const devices, inFlight = 100, 4
	pen := pending.New()
	env := client.Env{BackendURL: "http://backend.test", HTTP: &http.Client{Transport: backendStub{led, pen}}}
	ref := refclient.New(env, refclient.Options{})
	defer ref.Close()
	names := make([]string, devices)
	for i := range names {
		names[i] = "d" + strconv.Itoa(i)
		ref.Seed(names[i], refclient.Tokens{Access: "access", Refresh: "refresh", AccessExpiry: time.Now().Add(time.Hour)})
	}
	sl := newSlots(devices, inFlight)
	ctxs := make([]context.Context, devices)
	for i := range ctxs {
		ctxs[i] = context.Background()
	}
	// Busy and Pending as a storm's driver has them (stack.Stack): past the
	// deadline the driver waits on busy servers, up to the limit; every
	// call is registered for the servers to mark.
	busy := func() bool { return false }
	rt := &transport{ctxs: ctxs, driver: &device.Driver{Client: ref, Ledger: led, Deadline: 10 * time.Second, Busy: busy, Pending: pen},
		names: names, slots: sl, counters: &cnt}
	hc := &http.Client{Transport: rt}
	tg := newTargeter(sl, []Request{{Method: "GET", Path: "/api/orders", Weight: 1}}, env.BackendURL, devices)

	var failed atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(2) // ×GOMAXPROCS goroutines, like workers sharing the CPUs
	b.ResetTimer()
	cpu := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !hit(hc, tg) {
				failed.Add(1)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	s := summary.New("ref", "stub")
	chk.Finish(s)
	s.Finalize()
	require.Zero(b, failed.Load())
	for n, r := range s.Invariants {
		if r.Verdict == summary.Fail {
			b.Logf("%s: %+v", n, *r)
		}
	}
	require.Equal(b, summary.Pass, s.Verdict)
	require.EqualValues(b, b.N, s.Requests.Succeeded)
}

// hit is one vegeta hit: the target, its request, the client's answer read
// whole — what vegeta's attacker does per hit, minus its result encoding.
func hit(hc *http.Client, tg *targeter) bool {
	var tgt vegeta.Target
	if err := tg.target(&tgt); err != nil {
		return false
	}
	req, err := tgt.Request()
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode == 200
}
