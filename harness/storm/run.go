package storm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/tokenstorm/tokenstorm/harness/check"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/device"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/stack"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// ResultsFile is the name of the vegeta results file in Options.OutDir.
const ResultsFile = "results.bin"

// Options say what a storm runs against and where its output goes.
type Options struct {
	// NewClient builds the client under test for the storm's stack
	// (clients.Parse gives one). Required.
	NewClient  func(env client.Env) (client.Client, error)
	ClientName string // for the summary; default "ref"
	// BackendURL is a backend under test; "" starts the embedded reference
	// backend configured by the scenario's backend section.
	BackendURL string
	Style      string // backend style name or file
	// WechatAddr is where mock WeChat listens (default a free loopback
	// port); a backend under test must be configured to call
	// jscode2session there.
	WechatAddr string
	// OutDir receives results.bin (vegeta's gob format, streamed as hits
	// complete). "" writes no results file.
	OutDir string
	// Progress receives the live progress line(s); nil is silent.
	Progress io.Writer
	// Global, when set, also sees every ledger event of the storm (the
	// aggregate checker of `tokenstorm run`).
	Global *check.Checker
	// Grace is how long requests in flight may still settle after ctx ends
	// (Ctrl-C) before they are cancelled. Default 1s.
	Grace time.Duration
	// MaxRequests ends the attack after this many hits even if the duration
	// has not passed (0 = no limit): benchmarks count requests, not seconds.
	MaxRequests uint64
}

// Run runs the scenario and returns its summary: invariants from the
// streaming checker, the scenario's thresholds, and the storm's own figures.
// When ctx ends (Ctrl-C) the attack stops, requests in flight get
// Options.Grace to settle, and everything measured so far is still written
// and summarised (with a note); the error is nil then — check ctx.Err().
// Errors are for runs that could not start.
func Run(ctx context.Context, sc *Scenario, opts Options) (*summary.Summary, error) {
	if opts.NewClient == nil {
		return nil, errors.New("storm: Options.NewClient is required")
	}
	if opts.ClientName == "" {
		opts.ClientName = "ref"
	}
	if opts.Grace <= 0 {
		opts.Grace = time.Second
	}
	defer tuneGCForLoad()()
	start := time.Now()
	stormClock := clock.NewShifted()
	led := ledger.New(ledger.Options{Clock: stormClock})
	defer led.Close()

	// The checkers and counters see events as they are appended, so memory
	// stays bounded by devices and requests in flight, not by run length.
	local := check.New(check.Options{Scenario: sc.Name, AccessTTL: sc.Backend.AccessTTL, ExternalBackend: opts.BackendURL != "", BackendInLedger: opts.BackendURL == ""})
	c := &counters{}
	observers := []func(ledger.Event){local.Observe, c.observe}
	if opts.Global != nil {
		opts.Global.SetScenario(sc.Name)
		observers = append(observers, opts.Global.Observe)
	}
	feed := newFeed(led, observers...)
	defer feed.stop()

	st, err := stack.Start(ctx, stack.Options{
		BackendURL: opts.BackendURL, Style: opts.Style, WechatAddr: opts.WechatAddr,
		AccessTTL: sc.Backend.AccessTTL, RefreshTTL: sc.Backend.RefreshTTL, Reuse: sc.Backend.Reuse,
		Clock: stormClock, Ledger: led,
	})
	if err != nil {
		return nil, fmt.Errorf("storm %s: starting the stack: %w", sc.Name, err)
	}
	closeStack := sync.OnceFunc(func() {
		// Every logical request has settled by now; what is still open is
		// idle or abandoned (a connection dialled but never used keeps a
		// graceful shutdown waiting for seconds), so do not wait long.
		sctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_ = st.Shutdown(sctx) // the ledger is ours: nothing else to close
	})
	defer closeStack()

	// Scenarios write resources under /api/; a style may keep them elsewhere
	// (body-code: /v1/), so map every path of the mix through the style.
	sty, err := style.Load(opts.Style)
	if err != nil {
		return nil, fmt.Errorf("storm %s: style: %w", sc.Name, err)
	}
	mix := make([]Request, len(sc.Mix))
	for i, m := range sc.Mix {
		m.Path = sty.ResourcePath(m.Path)
		mix[i] = m
	}

	names := make([]string, sc.Devices)
	for i := range names {
		names[i] = deviceName(sc.Name, i)
	}
	env := st.Env()
	// Devices keep real time, each plus its own offset: clock_skew moves the
	// stack's clock (the server runs ahead of, or behind, every device), or
	// with `devices` those devices' clocks only (some phones are wrong).
	devClocks := newDeviceClocks(sc.Name, sc.Devices)
	env.Clock = clock.Real()
	env.DeviceClock = devClocks.clock
	env.HTTP = loopbackClient(sc.Devices * sc.InFlight)
	cl, err := opts.NewClient(env)
	if err != nil {
		return nil, fmt.Errorf("storm %s: client %s: %w", sc.Name, opts.ClientName, err)
	}
	clientClosed := false
	defer func() {
		if !clientClosed {
			closeClient(cl)
		}
	}()

	var results *resultsWriter
	if opts.OutDir != "" {
		if results, err = createResults(filepath.Join(opts.OutDir, ResultsFile)); err != nil {
			return nil, err
		}
		defer results.close()
	}

	driver := &device.Driver{Client: cl, Ledger: led, Deadline: sc.Deadline, Prefix: sc.Name + "-", Busy: st.Busy}
	// Requests in flight outlive ctx by the grace period, so Ctrl-C does not
	// turn every request in flight into a failure.
	reqCtx, cancelReq := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelReq()

	sl := newSlots(sc.Devices, sc.InFlight)
	var sched *schedule
	pacer := sc.Rate.VegetaPacer()
	if !sc.Rate.Unthrottled() {
		sched = newSchedule(pacer)
		pacer = sched
	}
	if opts.MaxRequests > 0 {
		pacer = limited{pacer, opts.MaxRequests}
	}
	devCtxs := make([]context.Context, sc.Devices)
	for i := range devCtxs {
		var cancel context.CancelFunc
		devCtxs[i], cancel = context.WithCancel(reqCtx)
		defer cancel()
	}
	rt := &transport{ctxs: devCtxs, driver: driver, names: names, slots: sl, sched: sched, counters: c}
	slotsN := uint64(sc.Devices * sc.InFlight)
	atk := vegeta.NewAttacker(
		vegeta.Client(&http.Client{Transport: rt}), // no timeout: the driver enforces deadlines
		vegeta.Workers(min(slotsN, 32)),
		vegeta.MaxWorkers(slotsN), // a worker holds at most one slot
		vegeta.Redirects(vegeta.NoFollow),
	)
	stopAttack := sync.OnceFunc(func() { atk.Stop(); close(sl.stop) })
	interrupted := false
	var intMu sync.Mutex
	stopWatch := context.AfterFunc(ctx, func() {
		intMu.Lock()
		interrupted = true
		intMu.Unlock()
		stopAttack()
		time.AfterFunc(opts.Grace, cancelReq)
	})
	defer stopWatch()

	mark := func(what string) {
		led.Append(ledger.Event{Source: ledger.SourceHarness, Kind: ledger.KindEpisodeMarker, Detail: "storm " + sc.Name + ": " + what})
	}
	if opts.Progress != nil {
		fmt.Fprintf(opts.Progress, "storm %s: %d devices × %d in flight, %s for %s, client %s, backend %s\n",
			sc.Name, sc.Devices, sc.InFlight, sc.Rate, sc.Duration, opts.ClientName, st.BackendURL)
	}
	if sc.Warmup && ctx.Err() == nil {
		mark(fmt.Sprintf("warm-up: %d devices log in", sc.Devices))
		warmup(ctx, driver, names, warmupRequest(mix))
	}

	tg := newTargeter(sl, mix, st.BackendURL, sc.Devices)
	tl := &timeline{name: sc.Name, events: sc.Timeline, backendURL: st.BackendURL, wechatURL: st.WechatURL,
		appID: st.AppID, devices: names, clock: stormClock, devClocks: devClocks, led: led, http: &http.Client{Timeout: 10 * time.Second}}
	var attackDur time.Duration
	hits := 0
	if ctx.Err() == nil {
		mark(fmt.Sprintf("attack: %s for %s", sc.Rate, sc.Duration))
		began := time.Now()
		rt.began = began
		tlCtx, stopTimeline := context.WithCancel(ctx)
		tlDone := make(chan struct{})
		go func() { defer close(tlDone); tl.run(tlCtx, began) }()
		var prog *progress
		if opts.Progress != nil {
			prog = startProgress(opts.Progress, sc.Name, sc.Duration, c, began)
		}
		for res := range atk.Attack(tg.target, pacer, sc.Duration, sc.Name) {
			if res.Error == errStopped.Error() {
				continue // never sent: the attack stopped while it waited for a slot
			}
			hits++
			if results != nil {
				results.write(res)
			}
		}
		attackDur = time.Since(began)
		stopTimeline()
		<-tlDone
		if prog != nil {
			prog.end()
		}
		mark("attack ends")
	}

	// Close the client and the stack before judging, so that no event
	// arrives while the checker finishes.
	closeClient(cl)
	clientClosed = true
	// Idle loopback connections, some dialled but never used, would keep the
	// servers' graceful shutdown waiting for seconds.
	env.HTTP.CloseIdleConnections()
	tl.http.CloseIdleConnections()
	closeStack()
	feed.stop() // every event observed: the checkers may finish

	s := summary.New(opts.ClientName, backendName(opts.BackendURL))
	s.Style = opts.Style
	s.StartedAt = start
	local.Finish(s)
	settled := c.settled.Load()
	if lat := &c.latency; lat.Count() > 0 {
		// The load's latency: the attack's hits only. The warm-up's first
		// logins (all devices at once) are still checked, but they are not
		// what a latency threshold of a load scenario is about.
		s.Latency = summary.LatencyOf(lat)
		s.LatencyHDR = lat.Clone()
	}
	throughput := 0.0
	if attackDur > 0 {
		throughput = float64(settled) / attackDur.Seconds()
	}
	s.Storm = &summary.Storm{
		Scenario: sc.Name, Rate: sc.Rate.String(), Duration: sc.Duration.String(), Devices: sc.Devices,
		ThroughputRPS: float64(int64(throughput*100+0.5)) / 100,
		SendLagP99MS:  summary.MS(c.lag.Quantile(0.99)),
		SendLagMaxMS:  summary.MS(c.lag.Max()),
		PeakRSSMB:     PeakRSSMB(),
	}
	intMu.Lock()
	wasInterrupted := interrupted
	intMu.Unlock()
	if wasInterrupted {
		s.Notes = append(s.Notes, fmt.Sprintf("storm %s interrupted after %s: the figures cover what was measured until then", sc.Name, attackDur.Round(time.Millisecond)))
	}
	if sched != nil {
		s.Notes = append(s.Notes, fmt.Sprintf("storm %s: send lag p99 %s, max %s; latency p99 corrected for send lag (coordinated omission) %s",
			sc.Name, roundDur(c.lag.Quantile(0.99)), roundDur(c.lag.Max()), roundDur(c.corrected.Quantile(0.99))))
	}
	if results != nil {
		if err := results.close(); err != nil {
			s.Notes = append(s.Notes, fmt.Sprintf("storm %s: writing %s: %v", sc.Name, results.path, err))
		} else {
			s.Notes = append(s.Notes, fmt.Sprintf("storm %s: %d hits in %s (vegeta format: vegeta report %s)", sc.Name, hits, results.path, results.path))
		}
	}
	if skewed, _ := tl.skewedDevices(); skewed && !devClocks.asked.Load() {
		s.Notes = append(s.Notes, fmt.Sprintf("storm %s: clock_skew moved some devices' clocks, but client %s never took a device clock (exec: clients keep their own time, see docs/exec-protocol.md): the skew did not reach it", sc.Name, opts.ClientName))
	}
	if opts.BackendURL != "" && (sc.Backend != Backend{Reuse: "strict"}) {
		s.Notes = append(s.Notes, fmt.Sprintf("storm %s: the scenario's backend settings were not applied to the backend under test", sc.Name))
	}
	if err := led.Err(); err != nil {
		s.Notes = append(s.Notes, err.Error())
	}
	for _, t := range sc.Thresholds {
		s.Thresholds = append(s.Thresholds, t.Evaluate(s))
	}
	s.Scenarios = append(s.Scenarios, scenarioVerdict(sc, s, tl.failures(), time.Since(start)))
	s.DurationMS = float64(time.Since(start).Milliseconds())
	s.Finalize()
	return s, nil
}

// limited stops a pacer after n hits.
type limited struct {
	vegeta.Pacer
	n uint64
}

func (l limited) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if hits >= l.n {
		return 0, true
	}
	return l.Pacer.Pace(elapsed, hits)
}

// scenarioVerdict is the storm's line in the run's scenario table.
func scenarioVerdict(sc *Scenario, s *summary.Summary, timelineErrs []string, took time.Duration) summary.Scenario {
	v := summary.Scenario{Name: sc.Name, Kind: "storm", Verdict: summary.Pass, DurationMS: float64(took.Milliseconds()),
		Failed: s.FailedInvariants()}
	for _, t := range s.Thresholds {
		if t.Verdict == summary.Fail {
			v.Failed = append(v.Failed, "threshold "+t.Expr)
		}
	}
	if len(timelineErrs) > 0 {
		v.Failed = append(v.Failed, "timeline")
	}
	detail := fmt.Sprintf("%d requests, amplification %.2f, %d lost, p99 %.1f ms, %.0f req/s",
		s.Requests.Issued, s.Refresh.Amplification, s.Requests.Lost, s.Latency.P99, s.Storm.ThroughputRPS)
	if len(v.Failed) > 0 {
		v.Verdict = summary.Fail
		detail = "failed: " + strings.Join(v.Failed, ", ") + " — " + detail
	}
	if len(timelineErrs) > 0 {
		detail += "; timeline: " + strings.Join(timelineErrs, "; ")
	}
	v.Detail = detail
	return v
}

// warmup logs every device in with one request, a bounded number at a time,
// so the attack starts with a fleet that holds tokens.
func warmup(ctx context.Context, d *device.Driver, names []string, r device.Request) {
	sem := make(chan struct{}, 128)
	var wg sync.WaitGroup
	for _, n := range names {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func(n string) {
			defer func() { <-sem; wg.Done() }()
			d.Do(ctx, n, r)
		}(n)
	}
	wg.Wait()
}

// warmupRequest is the mix's first GET (the cheapest thing the backend under
// test is known to answer), else its first entry.
func warmupRequest(mix []Request) device.Request {
	for _, m := range mix {
		if m.Method == http.MethodGet {
			return device.Request{Method: m.Method, Path: m.Path}
		}
	}
	return device.Request{Method: mix[0].Method, Path: mix[0].Path, Body: mix[0].Body}
}

// loopbackClient is the HTTP client the client under test reaches the stack
// with. It keeps an idle connection for every connection it may open
// (http.DefaultTransport keeps two per host, which would open and close a
// connection per request under load), and caps connections per host at 1024:
// when the stack stalls, every slot of a big fleet goes in flight at once,
// and a connection each (buffers, goroutines on both sides, a loopback port)
// would make memory follow the slot count rather than stay flat. Requests
// over the cap wait for a connection, as a real client's pool makes them.
func loopbackClient(slots int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxConnsPerHost = min(max(slots, 64), maxLoopbackConns)
	tr.MaxIdleConns = tr.MaxConnsPerHost
	tr.MaxIdleConnsPerHost = tr.MaxConnsPerHost
	tr.DisableCompression = true
	return &http.Client{Transport: tr}
}

const maxLoopbackConns = 1024

// closeClient closes the client but never lets a stuck client hang the run.
func closeClient(cl client.Client) {
	done := make(chan struct{})
	go func() { _ = cl.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

func backendName(url string) string {
	if url == "" {
		return "embedded"
	}
	return url
}

// resultsWriter streams vegeta results to disk as they arrive: nothing per
// request stays in memory.
type resultsWriter struct {
	path   string
	f      *os.File
	w      *bufio.Writer
	enc    vegeta.Encoder
	err    error
	closed bool
}

func createResults(path string) (*resultsWriter, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriterSize(f, 256<<10)
	return &resultsWriter{path: path, f: f, w: w, enc: vegeta.NewEncoder(w)}, nil
}

func (r *resultsWriter) write(res *vegeta.Result) {
	if r.err != nil {
		return
	}
	// Bodies and headers would make the file grow with every answer and are
	// not what vegeta report/plot read; the byte counts stay.
	res.Body, res.Headers = nil, nil
	r.err = r.enc.Encode(res)
}

func (r *resultsWriter) close() error {
	if r.closed {
		return r.err
	}
	r.closed = true
	if err := r.w.Flush(); err != nil && r.err == nil {
		r.err = err
	}
	if err := r.f.Close(); err != nil && r.err == nil {
		r.err = err
	}
	return r.err
}
