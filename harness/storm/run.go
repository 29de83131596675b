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
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/tokenstorm/tokenstorm/harness/check"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/device"
	"github.com/tokenstorm/tokenstorm/harness/latency"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/stack"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/summary"
	"github.com/tokenstorm/tokenstorm/harness/tap"
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
	// AdminToken guards the admin APIs of the servers the storm starts.
	AdminToken string
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
	// It counts the whole fleet's: a shard sends its share.
	MaxRequests uint64
	// AccessTTL is the access-token lifetime of a backend under test whose
	// login answer carries no expires_in (--access-ttl): without an admin
	// API, expire_all then happens by time (docs/ci.md).
	AccessTTL time.Duration
	// Shard runs devices I, I+N, … of the scenario only, at their share of
	// the rate (SPEC §11); the zero value runs every device.
	Shard Shard
	// WechatURL is a shared mock WeChat (a `tokenstorm serve`) to use instead
	// of starting one, with BackendURL (required); WechatAddr is then ignored.
	WechatURL string
	// AfterWarmUp, when set, is called once the warm-up has logged every
	// device in, before the attack: the fleet is idle then (benchmarks
	// measure memory per device there).
	AfterWarmUp func()
	// ShardFile also writes, with OutDir, what `tokenstorm merge` needs
	// (shard.json), under a pending name that CommitShardFile publishes: the
	// caller commits once it has written the reports, so a merge waiting for
	// shard.json finds a finished directory. (`tokenstorm run` writes none:
	// its summary is not one storm's.)
	ShardFile bool
}

// Run runs the scenario and returns its summary: invariants from the
// streaming checker, the scenario's thresholds, and the storm's own figures.
// When ctx ends (Ctrl-C) the attack stops, requests in flight get
// Options.Grace to settle, and everything measured so far is still written
// and summarised (with a note); the error is nil then — check ctx.Err().
// Errors are for runs that could not start.
//
// A run goes through named phases — plan, stack, warm-up, attack, drain,
// judge, write — so that a shard and a merge reuse them rather than copy
// them (see shard.go, merge.go).
func Run(ctx context.Context, sc *Scenario, opts Options) (*summary.Summary, error) {
	r, err := plan(ctx, sc, opts)
	if err != nil {
		return nil, err
	}
	defer tuneGCForLoad()()
	defer r.cleanup()
	if err := r.startStack(ctx); err != nil {
		return nil, err
	}
	r.warmUp(ctx)
	r.attack(ctx)
	r.drain()
	s := r.judge()
	r.write(s)
	return s, nil
}

// runner is one storm run, carried from phase to phase.
type runner struct {
	sc    *Scenario
	opts  Options
	start time.Time

	// plan
	shard  Shard
	names  []string // this run's devices, by local index (fleet names)
	mix    []Request
	sty    *style.Style
	bt     *byTime // non-nil: the backend under test has no admin expire
	rate   Rate    // the scenario's, or this shard's share of it
	prefix string  // of request ids
	// capped: the attack ends after maxRequests hits (this shard's share of
	// Options.MaxRequests)
	capped      bool
	maxRequests uint64

	// stack
	clock     *clock.Shifted
	led       *ledger.Ledger
	local     *check.Checker
	c         *counters
	feed      *feed
	st        *stack.Stack
	tap       *tap.Server // in front of a backend under test: the client's backend
	env       client.Env
	devClocks *deviceClocks
	cl        client.Client
	results   *resultsWriter
	driver    *device.Driver
	tl        *timeline
	closers   []func() // run in reverse order by cleanup

	// drain: the tap's measure of the backend under test
	tapLogin, tapRefresh *summary.CallLatency

	// attack
	sched       *schedule
	hits        int
	attackDur   time.Duration
	interrupted atomic.Bool
}

// plan validates the options and works out what this run sends: its
// devices, the mix as the style routes it, and its rate.
func plan(ctx context.Context, sc *Scenario, opts Options) (*runner, error) {
	if opts.NewClient == nil {
		return nil, errors.New("storm: Options.NewClient is required")
	}
	if opts.ClientName == "" {
		opts.ClientName = "ref"
	}
	if opts.Grace <= 0 {
		opts.Grace = time.Second
	}
	if opts.WechatURL != "" && opts.BackendURL == "" {
		// The embedded backend's logins would be in the run's ledger and the
		// shared mock's half of them (which device a code is from) not: the
		// checker could not tell whose login is whose.
		return nil, fmt.Errorf("storm %s: --wechat-url (a shared mock WeChat) goes with --backend (one backend under test); without --backend every shard runs its own embedded stack, mock WeChat included", sc.Name)
	}
	r := &runner{sc: sc, opts: opts, start: time.Now(), rate: sc.Rate, shard: opts.Shard, prefix: sc.Name + "-",
		capped: opts.MaxRequests > 0, maxRequests: opts.MaxRequests}
	n := r.shard.Devices(sc.Devices)
	if n == 0 {
		return nil, fmt.Errorf("storm %s: shard %s has no devices: the scenario has %d", sc.Name, r.shard, sc.Devices)
	}
	if r.shard.Sharded() {
		r.rate = sc.Rate.share(n, sc.Devices)
		r.maxRequests = r.shard.requests(opts.MaxRequests, sc.Devices) // may be 0: then none
		// Request ids stay unique over the shards: each numbers its own.
		r.prefix = fmt.Sprintf("%s-s%d-", sc.Name, r.shard.Index)
	}
	// Scenarios write resources under /api/; a style may keep them elsewhere
	// (body-code: /v1/), so map every path of the mix through the style.
	sty, err := style.LoadContext(ctx, opts.Style)
	if err != nil {
		return nil, fmt.Errorf("storm %s: style: %w", sc.Name, err)
	}
	r.sty = sty
	r.mix = make([]Request, len(sc.Mix))
	for i, m := range sc.Mix {
		m.Path = sty.ResourcePath(m.Path)
		r.mix[i] = m
	}
	r.names = make([]string, n)
	for i := range r.names {
		r.names[i] = deviceName(sc.Name, r.shard.Global(i))
	}
	return r, nil
}

// cleanup undoes what the phases started, last first.
func (r *runner) cleanup() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
}

func (r *runner) onCleanup(f func()) { r.closers = append(r.closers, f) }

// startStack starts the ledger, the checkers that watch it, the stack, the
// client under test and the results file.
func (r *runner) startStack(ctx context.Context) error {
	sc, opts := r.sc, r.opts
	r.clock = clock.NewShifted()
	r.led = ledger.New(ledger.Options{Clock: r.clock})
	r.onCleanup(func() { _ = r.led.Close() })

	// The checkers and counters see events as they are appended, so memory
	// stays bounded by devices and requests in flight, not by run length.
	r.local = check.New(check.Options{Scenario: sc.Name, AccessTTL: sc.Backend.AccessTTL, ExternalBackend: r.opts.BackendURL != "", BackendInLedger: r.opts.BackendURL == "", Start: r.start})
	r.c = &counters{}
	observers := []func(ledger.Event){r.local.Observe, r.c.observe}
	if opts.Global != nil {
		opts.Global.SetScenario(sc.Name)
		observers = append(observers, opts.Global.Observe)
	}
	r.feed = newFeed(r.led, observers...)
	r.onCleanup(r.feed.stop)

	st, err := stack.Start(ctx, stack.Options{
		BackendURL: opts.BackendURL, Style: opts.Style, WechatAddr: opts.WechatAddr, WechatURL: opts.WechatURL, AdminToken: opts.AdminToken,
		AccessTTL: sc.Backend.AccessTTL, RefreshTTL: sc.Backend.RefreshTTL, Reuse: sc.Backend.Reuse,
		Clock: r.clock, Ledger: r.led,
	})
	if err != nil {
		return fmt.Errorf("storm %s: starting the stack: %w", sc.Name, err)
	}
	r.st = st
	r.onCleanup(r.closeStack)

	r.env = st.Env()
	if opts.BackendURL != "" && opts.WechatURL == "" {
		// The client reaches the backend under test through the recording
		// tap, which writes the backend-side events the backend itself
		// does not (docs/ci.md); the harness's own calls (timeline, by-time
		// planning) go straight to the backend and are no device's. With a
		// shared mock WeChat the ledger lacks which device each wx.login
		// code is from, so the tap's logins would be nobody's: no tap then.
		tp, err := tap.Start(ctx, tap.Config{Target: st.BackendURL, Style: r.sty, Ledger: r.led, Clock: r.clock,
			Pending: st.Pending, DeviceOfCode: st.Wechat.UserOfCode})
		if err != nil {
			return fmt.Errorf("storm %s: starting the tap in front of %s: %w", sc.Name, st.BackendURL, err)
		}
		r.tap = tp
		r.onCleanup(r.closeTap)
		r.env.BackendURL = tp.URL
	}
	// Devices keep real time, each plus its own offset: clock_skew moves the
	// stack's clock (the server runs ahead of, or behind, every device), or
	// with `devices` those devices' clocks only (some phones are wrong).
	r.devClocks = newDeviceClocks(sc.Name, r.shard, len(r.names))
	r.env.Clock = clock.Real()
	r.env.DeviceClock = r.devClocks.clock
	r.env.HTTP = loopbackClient(len(r.names) * sc.InFlight)
	cl, err := opts.NewClient(r.env)
	if err != nil {
		return fmt.Errorf("storm %s: client %s: %w", sc.Name, opts.ClientName, err)
	}
	r.cl = cl
	r.onCleanup(r.closeClient)

	if opts.OutDir != "" {
		if r.results, err = createResults(filepath.Join(opts.OutDir, ResultsFile)); err != nil {
			return err
		}
		r.onCleanup(func() { _ = r.results.close() })
	}
	r.driver = &device.Driver{Client: cl, Ledger: r.led, Deadline: sc.Deadline, Prefix: r.prefix, Busy: st.Busy, Answered: st.Answered, Pending: st.Pending}
	r.tl = &timeline{name: sc.Name, events: sc.Timeline, backendURL: st.BackendURL, wechatURL: st.WechatURL, adminToken: st.AdminToken,
		appID: st.AppID, devices: r.names, shard: r.shard, fleet: sc.Devices,
		sharedWechat: opts.WechatURL != "", sharedBackend: opts.BackendURL != "" && r.shard.Sharded(),
		clock: r.clock, devClocks: r.devClocks, led: r.led, http: &http.Client{Timeout: 10 * time.Second}}
	if opts.BackendURL != "" {
		r.bt = planByTime(ctx, sc, st.BackendURL, st.WechatURL, st.AppID, r.sty, opts.AccessTTL, &http.Client{Timeout: 10 * time.Second})
		r.tl.byTime = r.bt
	}
	return nil
}

// closeStack stops the servers (once).
func (r *runner) closeStack() {
	if r.st == nil {
		return
	}
	// Every logical request has settled by now; what is still open is
	// idle or abandoned (a connection dialled but never used keeps a
	// graceful shutdown waiting for seconds), so do not wait long.
	sctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_ = r.st.Shutdown(sctx) // the ledger is ours: nothing else to close
	r.st = nil
}

// closeTap stops the tap (once), after the client: nothing passes any more.
func (r *runner) closeTap() {
	if r.tap != nil {
		r.tap.Close()
		r.tap = nil
	}
}

// closeClient closes the client under test (once).
func (r *runner) closeClient() {
	if r.cl != nil {
		closeClient(r.cl)
		r.cl = nil
	}
}

func (r *runner) mark(what string) {
	r.led.Append(ledger.Event{Source: ledger.SourceHarness, Kind: ledger.KindEpisodeMarker, Detail: "storm " + r.sc.Name + ": " + what})
}

// warmUp logs every device in before the attack, when the scenario asks.
func (r *runner) warmUp(ctx context.Context) {
	sc := r.sc
	if r.opts.Progress != nil {
		fmt.Fprintf(r.opts.Progress, "storm %s: %d devices × %d in flight, %s for %s, client %s, backend %s\n",
			sc.Name, len(r.names), sc.InFlight, r.rate, sc.Duration, r.opts.ClientName, r.st.BackendURL)
	}
	if (sc.Warmup || r.bt != nil) && ctx.Err() == nil {
		r.mark(fmt.Sprintf("warm-up: %d devices log in", len(r.names)))
		warmup(ctx, r.driver, r.names, warmupRequest(r.mix))
	}
	if d := r.bt.delay(); d > 0 && ctx.Err() == nil {
		// By time: the warm-up's tokens expire at the first expire_all.
		r.mark(fmt.Sprintf("waiting %s so that the devices' tokens expire at the first expire_all", d))
		_ = clock.Sleep(ctx, clock.Real(), d)
	}
	if r.opts.AfterWarmUp != nil {
		r.opts.AfterWarmUp()
	}
}

// attack lets vegeta pace the hits through the client under test while the
// timeline plays, streaming results to results.bin. When ctx ends the
// attack stops and requests in flight get Options.Grace to settle.
func (r *runner) attack(ctx context.Context) {
	sc, opts := r.sc, r.opts
	devices := len(r.names)
	// Requests in flight outlive ctx by the grace period, so Ctrl-C does not
	// turn every request in flight into a failure.
	reqCtx, cancelReq := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelReq()

	sl := newSlots(devices, sc.InFlight)
	pacer := r.rate.VegetaPacer()
	if !r.rate.Unthrottled() {
		r.sched = newSchedule(pacer)
		pacer = r.sched
	}
	if r.capped {
		pacer = limited{pacer, r.maxRequests}
	}
	devCtxs := make([]context.Context, devices)
	for i := range devCtxs {
		var cancel context.CancelFunc
		devCtxs[i], cancel = context.WithCancel(reqCtx)
		defer cancel()
	}
	rt := &transport{ctxs: devCtxs, driver: r.driver, names: r.names, slots: sl, sched: r.sched, counters: r.c}
	slotsN := uint64(devices * sc.InFlight)
	atk := vegeta.NewAttacker(
		vegeta.Client(&http.Client{Transport: rt}), // no timeout: the driver enforces deadlines
		vegeta.Workers(min(slotsN, 32)),
		vegeta.MaxWorkers(slotsN), // a worker holds at most one slot
		vegeta.Redirects(vegeta.NoFollow),
	)
	stopAttack := sync.OnceFunc(func() { atk.Stop(); close(sl.stop) })
	stopWatch := context.AfterFunc(ctx, func() {
		r.interrupted.Store(true)
		stopAttack()
		time.AfterFunc(opts.Grace, cancelReq)
	})
	defer stopWatch()
	if ctx.Err() != nil {
		return
	}

	tg := newTargeter(sl, r.mix, r.env.BackendURL, devices)
	r.mark(fmt.Sprintf("attack: %s for %s", r.rate, sc.Duration))
	began := time.Now()
	rt.began = began
	tlCtx, stopTimeline := context.WithCancel(ctx)
	tlDone := make(chan struct{})
	go func() { defer close(tlDone); r.tl.run(tlCtx, began) }()
	var prog *progress
	if opts.Progress != nil {
		prog = startProgress(opts.Progress, sc.Name, sc.Duration, r.c, r.sched != nil, began)
	}
	for res := range atk.Attack(tg.target, pacer, sc.Duration, sc.Name) {
		if res.Error == errStopped.Error() {
			continue // never sent: the attack stopped while it waited for a slot
		}
		r.hits++
		if r.results != nil {
			r.results.write(res)
		}
	}
	r.attackDur = time.Since(began)
	stopTimeline()
	<-tlDone
	if prog != nil {
		prog.end()
	}
	r.mark("attack ends")
}

// drain closes the client and the stack before judging, so that no event
// arrives while the checker finishes.
func (r *runner) drain() {
	r.closeClient()
	// Idle loopback connections, some dialled but never used, would keep the
	// servers' graceful shutdown waiting for seconds.
	r.env.HTTP.CloseIdleConnections()
	r.tl.http.CloseIdleConnections()
	r.closeStack()
	if r.tap != nil {
		login, refresh := r.tap.Latency()
		r.tapLogin, r.tapRefresh = &login, &refresh
	}
	r.closeTap()
	r.feed.stop() // every event observed: the checkers may finish
}

// judge turns what the checker and the counters saw into the summary:
// invariants, figures, notes, thresholds and the verdict.
func (r *runner) judge() *summary.Summary {
	sc, opts, c := r.sc, r.opts, r.c
	s := summary.New(opts.ClientName, backendName(opts.BackendURL))
	s.Style = opts.Style
	s.StartedAt = r.start
	r.local.Finish(s)
	settled := c.settled.Load()
	if lat := &c.latency; lat.Count() > 0 {
		// The load's latency: the attack's hits only. The warm-up's first
		// logins (all devices at once) are still checked, but they are not
		// what a latency threshold of a load scenario is about.
		s.Latency = summary.LatencyOf(lat)
		s.LatencyHDR = lat.Clone()
	}
	throughput := 0.0
	if r.attackDur > 0 {
		throughput = float64(settled) / r.attackDur.Seconds()
	}
	s.Storm = &summary.Storm{
		Scenario: sc.Name, Rate: r.rate.String(), Duration: sc.Duration.String(), Devices: len(r.names),
		ThroughputRPS:  float64(int64(throughput*100+0.5)) / 100,
		SendLagP99MS:   summary.MS(c.lag.Quantile(0.99)),
		SendLagMaxMS:   summary.MS(c.lag.Max()),
		PeakRSSMB:      PeakRSSMB(),
		BackendLoginMS: r.tapLogin, BackendRefreshMS: r.tapRefresh,
	}
	if r.interrupted.Load() {
		s.MarkInterrupted(fmt.Sprintf("storm %s stopped after %s of its %s: the figures cover what was measured until then", sc.Name, r.attackDur.Round(time.Millisecond), sc.Duration))
	}
	if r.sched != nil {
		labelLoad(s, &c.lag, &c.corrected, "")
	}
	if skewed, _ := r.tl.skewedDevices(); skewed && !r.devClocks.asked.Load() {
		s.Notes = append(s.Notes, fmt.Sprintf("storm %s: clock_skew moved some devices' clocks, but client %s never took a device clock (an exec client answering hello with a protocol before 3 keeps its own time, see docs/exec-protocol.md): the skew did not reach it", sc.Name, opts.ClientName))
	}
	if opts.BackendURL != "" && (sc.Backend != Backend{Reuse: "strict"}) {
		s.Notes = append(s.Notes, fmt.Sprintf("storm %s: the scenario's backend settings were not applied to the backend under test", sc.Name))
	}
	if r.bt != nil {
		s.Notes = append(s.Notes, r.bt.note(sc.Name))
	}
	if err := r.led.Err(); err != nil {
		s.Notes = append(s.Notes, err.Error())
	}
	if opts.WechatURL != "" {
		s.Notes = append(s.Notes, fmt.Sprintf("storm %s: no tap in front of the backend under test: with a shared mock WeChat (--wechat-url) this run's ledger cannot tell whose login is whose, so single-refresh, correct-replay and no-duplicate-effects are judged from the client side only", sc.Name))
		if inv := s.Invariants[summary.CodeSingleUse]; inv != nil && inv.Verdict == summary.Skip {
			inv.Reason = "mock WeChat is shared (--wechat-url " + opts.WechatURL + "): its jscode2session calls are counted by that server (GET /__admin/stats), not in this run's ledger"
		}
	}
	if r.shard.Sharded() {
		s.Notes = append(s.Notes, fmt.Sprintf("storm %s: shard %s — %d of %d devices (%s, %s, …), %s; tokenstorm merge combines the shards' --out directories into the whole run",
			sc.Name, r.shard, len(r.names), sc.Devices, r.names[0], nameAt(r.names, 1), r.rate))
	}
	rejudge(sc, s, r.tl.failures(), time.Since(r.start))
	return s
}

func nameAt(names []string, i int) string {
	if i < len(names) {
		return names[i]
	}
	return "no more"
}

// OverloadLag is the send lag p99 from which a storm is labelled overloaded:
// its generator fell behind the schedule, so the load it claims was not
// delivered as paced, and latencies measured from the late sends understate
// what callers on schedule would have waited (coordinated omission).
const OverloadLag = 50 * time.Millisecond

// labelLoad records the send lag and the corrected latency of a paced storm
// in s and labels an overloaded one, in its figures and first in its notes.
func labelLoad(s *summary.Summary, lag, corrected *latency.Histogram, scope string) {
	st := s.Storm
	p99 := lag.Quantile(0.99)
	st.CorrectedP99MS = summary.MS(corrected.Quantile(0.99))
	st.Overloaded = p99 >= OverloadLag
	s.Notes = append(s.Notes, fmt.Sprintf("storm %s: send lag p99 %s, max %s%s; latency p99 corrected for send lag (coordinated omission) %s",
		st.Scenario, roundDur(p99), roundDur(lag.Max()), scope, roundDur(corrected.Quantile(0.99))))
	if st.Overloaded {
		s.Notes = append([]string{fmt.Sprintf("storm %s OVERLOADED: the generator fell behind its schedule (send lag p99 %s ≥ %s), so the load was not delivered as paced and latency p99 %.1f ms understates what callers on schedule waited (%.1f ms corrected); use fewer devices or a lower rate per machine, or shards (docs/scale.md)",
			st.Scenario, roundDur(p99), OverloadLag, s.Latency.P99, st.CorrectedP99MS)}, s.Notes...)
	}
}

// rejudge evaluates the scenario's thresholds on s and sets the storm's
// scenario line and the verdict: the last step of judge, and all a merge
// needs once it has summed the shards.
func rejudge(sc *Scenario, s *summary.Summary, timelineErrs []string, took time.Duration) {
	s.Thresholds = s.Thresholds[:0]
	for _, t := range sc.Thresholds {
		s.Thresholds = append(s.Thresholds, t.Evaluate(s))
	}
	line := scenarioVerdict(sc, s, timelineErrs, took)
	if s.Verdict == summary.Interrupted { // set by judge (MarkInterrupted), kept by a merge
		if line.Verdict != summary.Pass {
			line = summary.InterruptedScenario(line)
		} else {
			line.Detail = fmt.Sprintf("interrupted after %s of %s: %s", took.Round(time.Millisecond), sc.Duration, line.Detail)
		}
	}
	s.Scenarios = append(s.Scenarios, line)
	s.DurationMS = float64(took.Milliseconds())
	s.Finalize()
}

// write finishes the run's files: results.bin is closed and the summary says
// where it is, and shard.json gets what a merge needs. (The reports are
// rendered by the caller from the summary.)
func (r *runner) write(s *summary.Summary) {
	if r.opts.OutDir == "" {
		return
	}
	if r.results != nil {
		if err := r.results.close(); err != nil {
			s.Notes = append(s.Notes, fmt.Sprintf("storm %s: writing %s: %v", r.sc.Name, r.results.path, err))
		} else {
			s.Notes = append(s.Notes, fmt.Sprintf("storm %s: %d hits in %s (vegeta format: vegeta report %s)", r.sc.Name, r.hits, r.results.path, r.results.path))
		}
	}
	if !r.opts.ShardFile {
		return
	}
	if err := writeShardInfo(r.opts.OutDir, r.shardInfo(), true); err != nil {
		s.Notes = append(s.Notes, fmt.Sprintf("storm %s: writing %s: %v (tokenstorm merge needs it)", r.sc.Name, ShardFile, err))
	}
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
	if s.Storm.Overloaded {
		detail += fmt.Sprintf(", OVERLOADED: send lag p99 %.1f ms (latency p99 corrected %.1f ms)", s.Storm.SendLagP99MS, s.Storm.CorrectedP99MS)
	}
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
