// Package check computes the invariants of SPEC §5 from a run's ledger. It
// streams: feed it events in ledger order with Observe, then Finish fills a
// summary. Memory grows with devices and with requests in flight, not with the
// length of the run.
package check

import (
	"fmt"
	"sort"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/latency"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/series"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// Options tune what counts as a violation.
type Options struct {
	// MaxAttemptsPerRequest bounds how often one logical request may reach the
	// backend (first send + replays + retries). Default 4.
	MaxAttemptsPerRequest int
	// MaxCallsPerEpisode bounds refresh+login calls in one expiry episode
	// (bounded retry after failure). Default 6.
	MaxCallsPerEpisode int
	// ProactiveWindow: a refresh with no expiry signal is justified, once per
	// token, when the current token expires within this window — never more
	// than half the token's life (episodes.go). Default 5m.
	ProactiveWindow time.Duration
	// AccessTTL is used to judge proactive refreshes when events carry no
	// expiry time. Default 0 (unknown).
	AccessTTL time.Duration
	// MaxExamples caps explained violations kept per invariant. Default 20.
	MaxExamples int
	// Scenario names the probe/scenario the violations belong to.
	Scenario string
	// ExternalBackend: the backend is a backend under test, whose answers
	// the ledger does not hold (genuine-answers judges only the status).
	// A ledger with no reference backend event at all is taken as such too,
	// unless BackendInLedger says the reference backend records to it.
	// Backend-side events of a backend under test — the storm's recording
	// tap writes them (harness/tap) — are judged like the reference
	// backend's: single-refresh, correct-replay, no-duplicate-effects.
	ExternalBackend bool
	// Wall is the clock of the run's time axis (series and timeline):
	// real time when the event is observed, which is when it happened since
	// the ledger delivers synchronously. Event times come from the stack's
	// clock, which a probe shifts by hours; they stay the basis of every
	// verdict but never of the charts. Default time.Now.
	Wall func() time.Time
	// Start is the origin of the time axis (the run's start); default the
	// wall time of the first event.
	Start time.Time
	// BackendInLedger: the reference backend records to this ledger, so a
	// request it never saw was never sent (a client that invents every
	// answer leaves no backend event at all).
	BackendInLedger bool
	// SettledWindow is how many settled requests are kept to catch attempts
	// that reach the backend after their caller was answered. Default 65536.
	SettledWindow int
}

func (o *Options) defaults() {
	if o.MaxAttemptsPerRequest <= 0 {
		o.MaxAttemptsPerRequest = 4
	}
	if o.MaxCallsPerEpisode <= 0 {
		o.MaxCallsPerEpisode = 6
	}
	if o.ProactiveWindow <= 0 {
		o.ProactiveWindow = 5 * time.Minute
	}
	if o.MaxExamples <= 0 {
		o.MaxExamples = 20
	}
	if o.SettledWindow <= 0 {
		o.SettledWindow = 65536
	}
	if o.Wall == nil {
		o.Wall = time.Now
	}
}

// Checker is not safe for concurrent use; feed it from one goroutine (or a
// ledger subscription, which is serialised).
type Checker struct {
	opts Options

	devices  map[string]*devState
	codeDev  map[string]string // wx.login code -> device
	codeUses map[string]int
	subjDev  map[string]string // openid -> device
	famDev   map[string]string // refresh family -> device
	settled  []*ridState       // ring of recently settled requests
	settledI int
	// active are the requests in flight: a few hundred, so the look-ups of
	// every request's attempts and settle stay in cache. settledByRID are
	// the settled ring's requests by id (tens of thousands), looked up only
	// for attempts that arrive after their request settled.
	active       map[string]*ridState
	settledByRID map[string]*ridState
	free         []*ridState // evaluated, out of the window: newRID reuses them
	// freeEvidence are evidence buffers for newRID to reuse. Evidence is
	// most of a request's state, and settled requests stay in the window by
	// the ten thousand: keeping it only for requests that may still need it
	// keeps the checker's memory, and the garbage collector's work, small.
	freeEvidence [][]packedEvent
	tab          strtab // what evidence and rings keep is packed with it

	inv      map[string]*summary.Invariant
	kept     map[exampleKey]int // examples kept per invariant and scenario
	requests summary.Requests
	protocol map[string]int // protocol errors of the client under test, by kind
	// stopped are the devices the client stopped at a limit, once each
	// (a relaunched runtime stopped again is the same device).
	stopped     []summary.StoppedDevice
	stoppedSeen map[string]bool
	lat         latency.Histogram
	routes      map[string]*latency.Histogram
	series      *series.Series // created with the first event (start known)
	start       time.Time      // wall time origin of series and marks
	now         time.Time      // wall time of the event being observed (see wall)
	nowRead     bool           // now is read for this event
	// evOrigin/wallOrigin are the first event's own and wall times: how
	// far the stack's clock has moved beyond wall time since is the drift
	// a mark notes (a probe jumping two hours).
	evOrigin, wallOrigin time.Time
	marks                []summary.Mark
	marksCut             int
	// lostOwed counts requests given up on while the client still waited
	// on busy servers: in requests.lost, not no-lost-requests violations.
	lostOwed int
	// sawBackend: the ledger holds the reference backend's events, so the
	// backend's answers can be compared with what callers got.
	sawBackend bool
	events     uint64
}

// New returns a Checker.
func New(opts Options) *Checker {
	opts.defaults()
	c := &Checker{
		opts:         opts,
		devices:      map[string]*devState{},
		codeDev:      map[string]string{},
		codeUses:     map[string]int{},
		subjDev:      map[string]string{},
		famDev:       map[string]string{},
		active:       map[string]*ridState{},
		settledByRID: map[string]*ridState{},
		settled:      make([]*ridState, opts.SettledWindow),
		inv:          map[string]*summary.Invariant{},
		routes:       map[string]*latency.Histogram{},
		kept:         map[exampleKey]int{},
		start:        opts.Start,
	}
	for _, n := range summary.InvariantNames {
		c.inv[n] = &summary.Invariant{}
	}
	return c
}

// Check streams a whole ledger through a new Checker and fills s.
func Check(l *ledger.Ledger, opts Options, s *summary.Summary) error {
	// After the fact, the events' own times are the only axis there is.
	var at time.Time
	opts.Wall = func() time.Time { return at }
	c := New(opts)
	if err := l.Scan(func(e ledger.Event) error { at = e.Time; c.Observe(e); return nil }); err != nil {
		return err
	}
	c.Finish(s)
	return nil
}

// seriesMaxBuckets bounds the series (see package series).
const seriesMaxBuckets = series.MaxBuckets

func (c *Checker) dev(name string) *devState {
	if name == "" {
		name = unknownDevice
	}
	d := c.devices[name]
	if d == nil {
		d = &devState{name: name, scenario: c.opts.Scenario}
		c.devices[name] = d
	}
	return d
}

func (c *Checker) violate(name string, v summary.Violation) {
	v.Scenario = c.opts.Scenario
	c.record(name, v)
}

// record counts a violation of invariant name, per scenario too, and keeps
// it as an example while its scenario has fewer than MaxExamples and the
// invariant fewer than 5×MaxExamples: a run of many scenarios shows
// examples from each failing one, not only from the first.
func (c *Checker) record(name string, v summary.Violation) {
	inv := c.inv[name]
	inv.Violations++
	if v.Scenario != "" {
		if inv.ByScenario == nil {
			inv.ByScenario = map[string]int{}
		}
		inv.ByScenario[v.Scenario]++
	}
	if c.keeps(name, v.Scenario) {
		v.Invariant = name
		inv.Examples = append(inv.Examples, v)
		c.kept[exampleKey{name, v.Scenario}]++
	}
}

type exampleKey struct{ invariant, scenario string }

// keeps says whether the next violation of name in scenario would be kept
// as an example.
func (c *Checker) keeps(name, scenario string) bool {
	return c.kept[exampleKey{name, scenario}] < c.opts.MaxExamples && len(c.inv[name].Examples) < 5*c.opts.MaxExamples
}

// bucketAt is the series bucket of the event being observed (wall time).
func (c *Checker) bucketAt() *series.Bucket {
	if c.series == nil {
		c.series = series.New(c.start)
	}
	return c.series.At(c.wall())
}

// wall is the wall time of the event being observed, read on first use:
// most events never need it, and reading the clock is not free.
func (c *Checker) wall() time.Time {
	if !c.nowRead {
		c.now, c.nowRead = c.opts.Wall(), true
	}
	return c.now
}

func (c *Checker) mark(e ledger.Event, kind, detail string) {
	if len(c.marks) >= 2000 {
		c.marksCut++
		return
	}
	m := summary.Mark{AtMS: ms(c.wall().Sub(c.start)), Kind: kind, Device: e.Device, Detail: detail, Scenario: c.opts.Scenario}
	// A probe's simulated clock (shifted by hours to expire tokens) is a
	// note on the event, never its place on the axis.
	if off := e.Time.Sub(c.evOrigin) - c.now.Sub(c.wallOrigin); off > time.Second || off < -time.Second {
		m.ClockOffsetMS = ms(off)
	}
	c.marks = append(c.marks, m)
}

// wxLoginFailed notes wx.login failing on the phone (its fail callback,
// WeChat -1): a failed re-login as the client saw it, though nothing reached
// the backend. A style without a refresh route has no other way back, so it
// excuses requests that settle with an error, as a refused refresh does.
func (c *Checker) wxLoginFailed(e ledger.Event) {
	if e.Device != "" {
		c.dev(e.Device).lastFailure = e.Time
	}
}

// Observe feeds one event. Events must arrive in ledger order.
func (c *Checker) Observe(e ledger.Event) {
	c.events++
	c.nowRead = false
	if c.start.IsZero() {
		c.start = c.wall()
	}
	if c.evOrigin.IsZero() {
		c.evOrigin, c.wallOrigin = e.Time, c.wall()
	}
	// One switch per field: the same cases as matching e.Source+"/"+e.Kind
	// against "source/kind" (no source or kind constant contains a '/'),
	// without building the string.
	switch e.Source {
	case ledger.SourceWechat:
		switch e.Kind {
		case ledger.KindWxLogin:
			if e.Code != "" && e.Device != "" {
				c.codeDev[e.Code] = e.Device
			}
			if e.Outcome != "" && e.Outcome != ledger.OutcomeOK {
				c.wxLoginFailed(e)
			}
		case ledger.KindJSCode2Sess:
			c.onJSCode2Session(e)
		case ledger.KindFault:
			c.mark(e, "fault", e.Route+" "+e.Detail)
			if e.Route == ledger.KindWxLogin { // mock WeChat names the device API by its event kind
				c.wxLoginFailed(e)
			}
		}
	case ledger.SourceBackend:
		c.sawBackend = true
		switch e.Kind {
		case ledger.KindBackendLogin:
			c.onTokenCall(e, true)
		case ledger.KindRefresh:
			c.onTokenCall(e, false)
		case ledger.KindAPI:
			c.onAPI(e)
		case ledger.KindVerify:
			c.onVerify(e)
		case ledger.KindUndelivered:
			c.onUndelivered(e)
		case ledger.KindEffect:
			if r := c.request(e.RID); r != nil {
				r.effects++
				r.keep(&c.tab, &e)
			}
		case ledger.KindExpire:
			c.mark(e, "expire", e.Detail)
		case ledger.KindRevoke:
			c.mark(e, "revoke", e.Detail)
		}
	case ledger.SourceHarness:
		switch e.Kind {
		case ledger.KindAPI:
			// The harness's own look at a backend under test (harness/backendcheck):
			// judged for expiry-signalled only, it is no client's request.
			c.judgeSignal(e, e.Device)
			if e.Device != "" {
				c.dev(e.Device).harness = true
			}
		case ledger.KindEpisodeMarker:
			c.mark(e, "marker", e.Detail)
		case ledger.KindDeviceClock:
			if off, err := time.ParseDuration(e.Detail); err == nil && e.Device != "" {
				c.dev(e.Device).clockOffset = off
			}
		}
	case ledger.SourceClient:
		switch e.Kind {
		case ledger.KindIssue:
			r := c.newRID()
			r.rid, r.device, r.method, r.route, r.body, r.issuedAt, r.scenario = e.RID, e.Device, e.Method, e.Route, e.BodyHash, e.Time, c.opts.Scenario
			r.keep(&c.tab, &e)
			c.active[e.RID] = r
			c.requests.Issued++
		case ledger.KindSettle:
			c.onSettle(e)
		case ledger.KindClientLog:
			if e.Outcome == ledger.OutcomeProtocol {
				if c.protocol == nil {
					c.protocol = map[string]int{}
				}
				c.protocol[e.Route]++
			}
			if e.Outcome == ledger.OutcomeStopped && !c.stoppedSeen[e.Device] {
				if c.stoppedSeen == nil {
					c.stoppedSeen = map[string]bool{}
				}
				c.stoppedSeen[e.Device] = true
				if len(c.stopped) < summary.MaxStoppedListed {
					c.stopped = append(c.stopped, summary.StoppedDevice{Device: e.Device, Reason: e.Detail})
				}
			}
		case ledger.KindUndelivered:
			c.onUndelivered(e)
		}
	}
}

// Finish evaluates what is left and writes the invariants and numbers into s.
// Invariants s already failed stay failed (a run can feed several checkers).
func (c *Checker) Finish(s *summary.Summary) {
	for _, r := range c.settled {
		if r != nil {
			c.evaluate(r)
		}
	}
	// Requests that never settled at all (the run ended around them).
	ids := make([]string, 0, len(c.active))
	for id := range c.active {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r := c.active[id]
		c.requests.Lost++
		c.evaluate(r)
	}
	c.active = map[string]*ridState{}

	var episodes, refreshes, logins, firstLogins, retries, storming int
	names := make([]string, 0, len(c.devices))
	for n := range c.devices {
		names = append(names, n)
	}
	sort.Strings(names)
	var per []summary.DeviceStat
	for _, n := range names {
		d := c.devices[n]
		if d.harness {
			continue // the harness's own look at a backend is no client's refreshing
		}
		episodes += d.episodes
		refreshes += d.refreshes
		logins += d.logins
		firstLogins += d.firstLogins
		retries += d.retries
		storming += d.singleRefreshViolations
		if d.episodes+d.refreshes+d.logins > 0 {
			per = append(per, summary.DeviceStat{Device: n, Scenario: d.scenario, Episodes: d.episodes, Refreshes: d.refreshes, Logins: d.logins, FirstLoginCalls: d.firstLoginCalls})
		}
	}
	sr := c.inv[summary.SingleRefresh]
	// The calls no episode justified were checked too: violations never
	// outnumber what was checked.
	sr.Checked = episodes + firstLogins + storming

	for _, n := range summary.InvariantNames {
		mine := c.inv[n]
		dst := s.Invariants[n]
		if dst == nil {
			dst = &summary.Invariant{Verdict: summary.Skip}
			s.Invariants[n] = dst
		}
		if dst.Verdict == summary.Skip {
			dst.Reason = ""
		}
		dst.Checked += mine.Checked
		dst.Violations += mine.Violations
		dst.Examples = append(dst.Examples, mine.Examples...)
		for sc, k := range mine.ByScenario {
			if dst.ByScenario == nil {
				dst.ByScenario = map[string]int{}
			}
			dst.ByScenario[sc] += k
		}
		switch {
		case dst.Violations > 0:
			dst.Verdict = summary.Fail
			dst.Reason = fmt.Sprintf("%d violation(s)", dst.Violations)
		case dst.Checked > 0:
			dst.Verdict = summary.Pass
		default:
			dst.Verdict = summary.Skip
			dst.Reason = "not exercised by this run"
		}
	}

	s.AddProtocolErrors(c.protocol)
	s.AddStopped(len(c.stoppedSeen), c.stopped)
	s.Requests.Issued += c.requests.Issued
	s.Requests.Succeeded += c.requests.Succeeded
	s.Requests.Failed += c.requests.Failed
	s.Requests.Lost += c.requests.Lost
	s.Requests.Late += c.requests.Late
	s.Refresh.ExpiryEpisodes += episodes
	s.Refresh.Refreshes += refreshes
	s.Refresh.Logins += logins
	s.Refresh.FirstLogins += firstLogins
	s.Refresh.Retries += retries
	s.Refresh.Amplification = Amplification(s.Refresh)
	if c.lat.Count() > 0 {
		s.Latency = summary.LatencyOf(&c.lat)
		s.LatencyHDR = c.lat.Clone()
		s.Histogram = c.histogram()
	}
	if len(c.routes) > 0 {
		if s.PerRoute == nil {
			s.PerRoute = map[string]summary.Latency{}
		}
		for route, h := range c.routes {
			s.PerRoute[route] = summary.LatencyOf(h)
		}
	}
	s.PerDevice = append(s.PerDevice, capDevices(per, 500)...)
	if c.series != nil {
		if pts := c.series.Points(c.start); len(pts) > 0 {
			// One checker's series per summary: the run's global one wins.
			s.Series, s.SeriesBucketMS = pts, ms(c.series.Width())
		}
	}
	for _, m := range c.marks {
		// The harness's own logins (backendcheck) are in no key number, so
		// not on the chart either: its legend counts what the numbers count.
		if d := c.devices[m.Device]; d != nil && d.harness && (m.Kind == "login" || m.Kind == "refresh") {
			continue
		}
		s.Timeline = append(s.Timeline, m)
	}
	if c.marksCut > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("timeline: %d further events not drawn", c.marksCut))
	}
	if c.lostOwed > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("%d lost request(s) were given up on while the client was still waiting on the servers for them, "+
			"which were still busy: the backend or this machine was too slow, so they count in requests.lost (and its thresholds) but not as no-lost-requests violations", c.lostOwed))
	}
}

// Amplification is SPEC §5's refresh.amplification: (refreshes + logins,
// less first logins and retries) ÷ expiry episodes. Calls with no episode
// at all (a client that refreshes with nothing expiring) count as if they
// were one episode's, so they still show above 1.
func Amplification(r summary.Refresh) float64 {
	calls := r.Refreshes + r.Logins - r.FirstLogins - r.Retries
	if calls <= 0 {
		return 0
	}
	if r.ExpiryEpisodes == 0 {
		return float64(calls)
	}
	return round2(float64(calls) / float64(r.ExpiryEpisodes))
}

// Lost reports how many requests are lost so far (for live progress).
func (c *Checker) Lost() int { return c.requests.Lost }

func (c *Checker) histogram() []summary.Bucket { return Bars(&c.lat) }

// Bars are the latency distribution's chart buckets (summary.Histogram) of h:
// ~10% wide on a log scale, the last one ending at h's maximum. A merge
// draws them from the shards' merged histogram, so they are the whole run's.
func Bars(h *latency.Histogram) []summary.Bucket {
	var out []summary.Bucket
	for _, b := range h.Bars(1.1) {
		out = append(out, summary.Bucket{LEMS: ms(b.LE), Count: int(b.Count)})
	}
	return out
}

func ms(d time.Duration) float64 { return summary.MS(d) }

func capDevices(per []summary.DeviceStat, n int) []summary.DeviceStat {
	if len(per) <= n {
		return per
	}
	// Keep the devices with the most calls: the ones a reader wants to see.
	sort.SliceStable(per, func(i, j int) bool {
		return per[i].Refreshes+per[i].Logins > per[j].Refreshes+per[j].Logins
	})
	return per[:n]
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

func short(tok string) string {
	if len(tok) > 12 {
		return tok[:12] + "…"
	}
	return tok
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func nonEmpty(xs ...string) []string {
	var out []string
	for _, x := range xs {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

// SetScenario names the scenario later violations belong to (a run feeds one
// checker from several probes).
func (c *Checker) SetScenario(name string) { c.opts.Scenario = name }

// Series is the run's time series (nil before the first event): what a
// storm shard hands `tokenstorm merge` so that per-bucket figures merge
// exactly. Read it once observing is over.
func (c *Checker) Series() *series.Series { return c.series }

// RouteLatency is a copy of each route's latency histogram (the figures of
// summary.json's per_route), for the same purpose.
func (c *Checker) RouteLatency() map[string]*latency.Histogram {
	out := make(map[string]*latency.Histogram, len(c.routes))
	for r, h := range c.routes {
		out[r] = h.Clone()
	}
	return out
}
