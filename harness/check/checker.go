// Package check computes the invariants of SPEC §5 from a run's ledger. It
// streams: feed it events in ledger order with Observe, then Finish fills a
// summary. Memory grows with devices and with requests in flight, not with the
// length of the run.
package check

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/latency"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/style"
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
	// ProactiveWindow: a refresh with no expiry signal is justified when the
	// current token expires within this window. Default 5m.
	ProactiveWindow time.Duration
	// AccessTTL is used to judge proactive refreshes when events carry no
	// expiry time. Default 0 (unknown).
	AccessTTL time.Duration
	// MaxExamples caps explained violations kept per invariant. Default 20.
	MaxExamples int
	// Scenario names the probe/scenario the violations belong to.
	Scenario string
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
}

const recentPerDevice = 24

// Checker is not safe for concurrent use; feed it from one goroutine (or a
// ledger subscription, which is serialised).
type Checker struct {
	opts Options

	devices  map[string]*devState
	codeDev  map[string]string // wx.login code -> device
	codeUses map[string]int
	subjDev  map[string]string // openid -> device
	famDev   map[string]string // refresh family -> device
	active   map[string]*ridState
	settled  []*ridState // ring of recently settled requests
	settledI int
	byRID    map[string]*ridState // active + settled ring
	free     []*ridState          // evaluated, out of the window: newRID reuses them
	// freeEvidence are evidence buffers for newRID to reuse. Evidence is
	// most of a request's state, and settled requests stay in the window by
	// the ten thousand: keeping it only for requests that may still need it
	// keeps the checker's memory, and the garbage collector's work, small.
	freeEvidence [][]ledger.Event

	inv      map[string]*summary.Invariant
	requests summary.Requests
	lat      latency.Histogram
	routes   map[string]*latency.Histogram
	series   map[int64]*bucket
	start    time.Time
	marks    []summary.Mark
	marksCut int
	events   uint64
}

type devState struct {
	name       string
	hasToken   bool
	current    string // access token id the device should be using
	currentExp time.Time
	// clockOffset is how far the device's clock is from the stack's (a
	// storm's clock_skew with devices); expOffset what it was when the
	// device got its current token. The device judges expiry by its clock.
	clockOffset, expOffset  time.Duration
	lastSuccess             time.Time
	lastFailure             time.Time
	episodeOpen             bool
	episodeCalls            int
	episodeRetryFlagged     bool
	episodes, refreshes     int
	logins                  int
	recent                  [recentPerDevice]ledger.Event
	recentN                 int
	singleRefreshViolations int
}

func (d *devState) remember(e ledger.Event) {
	d.recent[d.recentN%recentPerDevice] = e
	d.recentN++
}

func (d *devState) history() []ledger.Event {
	n := d.recentN
	if n > recentPerDevice {
		n = recentPerDevice
	}
	out := make([]ledger.Event, 0, n)
	for i := d.recentN - n; i < d.recentN; i++ {
		out = append(out, d.recent[i%recentPerDevice])
	}
	return out
}

type ridState struct {
	rid, device, method, route, body string
	scenario                         string
	issuedAt                         time.Time
	episodeBase                      time.Time // the device's last token success when this request met expiry
	attempts                         int
	expired                          int // attempts answered expired/invalid
	expiredTokens                    []string
	resends                          int // attempts after the first expired one
	resendsOK                        int
	replayProblem                    string
	lastOutcome                      string
	lastStatus                       int
	nonToken401                      int
	effects                          int
	settled                          bool
	settleOutcome                    string
	settleStatus                     int
	settleDetail                     string
	// evidence is the request's own events (issue, attempts, effects,
	// settle), from the checker's pool; a request that settled cleanly gives
	// it back at once (see onSettle).
	evidence  []ledger.Event
	evaluated bool
}

// keep adds e to the request's evidence (up to 16 events).
func (r *ridState) keep(e *ledger.Event) {
	if len(r.evidence) < 16 {
		r.evidence = append(r.evidence, *e)
	}
}

// newRID returns a zeroed ridState, reusing one that left the settled window.
func (c *Checker) newRID() *ridState {
	var r *ridState
	if n := len(c.free); n > 0 {
		r = c.free[n-1]
		c.free[n-1] = nil
		c.free = c.free[:n-1]
		*r = ridState{}
	} else {
		r = new(ridState)
	}
	if n := len(c.freeEvidence); n > 0 {
		r.evidence = c.freeEvidence[n-1]
		c.freeEvidence = c.freeEvidence[:n-1]
	} else {
		r.evidence = make([]ledger.Event, 0, 4)
	}
	return r
}

// dropEvidence gives r's evidence back to the pool.
func (c *Checker) dropEvidence(r *ridState) {
	if r.evidence != nil {
		clear(r.evidence) // let go of the events' strings
		c.freeEvidence = append(c.freeEvidence, r.evidence[:0])
		r.evidence = nil
	}
}

type bucket struct {
	h                *latency.Histogram // coarse: a run has many buckets
	requests, errors int
	refreshes        int
}

// New returns a Checker.
func New(opts Options) *Checker {
	opts.defaults()
	c := &Checker{
		opts:     opts,
		devices:  map[string]*devState{},
		codeDev:  map[string]string{},
		codeUses: map[string]int{},
		subjDev:  map[string]string{},
		famDev:   map[string]string{},
		active:   map[string]*ridState{},
		byRID:    map[string]*ridState{},
		settled:  make([]*ridState, opts.SettledWindow),
		inv:      map[string]*summary.Invariant{},
		routes:   map[string]*latency.Histogram{},
		series:   map[int64]*bucket{},
	}
	for _, n := range summary.InvariantNames {
		c.inv[n] = &summary.Invariant{}
	}
	return c
}

// Check streams a whole ledger through a new Checker and fills s.
func Check(l *ledger.Ledger, opts Options, s *summary.Summary) error {
	c := New(opts)
	if err := l.Scan(func(e ledger.Event) error { c.Observe(e); return nil }); err != nil {
		return err
	}
	c.Finish(s)
	return nil
}

func (c *Checker) dev(name string) *devState {
	if name == "" {
		name = "(unknown)"
	}
	d := c.devices[name]
	if d == nil {
		d = &devState{name: name}
		c.devices[name] = d
	}
	return d
}

func (c *Checker) violate(name string, v summary.Violation) {
	inv := c.inv[name]
	inv.Violations++
	if len(inv.Examples) < c.opts.MaxExamples {
		v.Invariant = name
		v.Scenario = c.opts.Scenario
		inv.Examples = append(inv.Examples, v)
	}
}

func (c *Checker) bucketAt(t time.Time) *bucket {
	if c.start.IsZero() {
		c.start = t
	}
	k := int64(t.Sub(c.start) / time.Second)
	if k < 0 {
		k = 0
	}
	b := c.series[k]
	if b == nil {
		b = &bucket{h: latency.NewCoarse()}
		c.series[k] = b
	}
	return b
}

func (c *Checker) mark(e ledger.Event, kind, detail string) {
	if c.start.IsZero() {
		c.start = e.Time
	}
	if len(c.marks) >= 2000 {
		c.marksCut++
		return
	}
	c.marks = append(c.marks, summary.Mark{AtMS: ms(e.Time.Sub(c.start)), Kind: kind, Device: e.Device, Detail: detail})
}

// Observe feeds one event. Events must arrive in ledger order.
func (c *Checker) Observe(e ledger.Event) {
	c.events++
	if c.start.IsZero() {
		c.start = e.Time
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
		case ledger.KindJSCode2Sess:
			c.onJSCode2Session(e)
		case ledger.KindFault:
			c.mark(e, "fault", e.Route+" "+e.Detail)
		}
	case ledger.SourceBackend:
		switch e.Kind {
		case ledger.KindBackendLogin:
			c.onTokenCall(e, true)
		case ledger.KindRefresh:
			c.onTokenCall(e, false)
		case ledger.KindAPI:
			c.onAPI(e)
		case ledger.KindEffect:
			if r := c.byRID[e.RID]; r != nil {
				r.effects++
				r.keep(&e)
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
			r.keep(&e)
			c.active[e.RID] = r
			c.byRID[e.RID] = r
			c.requests.Issued++
		case ledger.KindSettle:
			c.onSettle(e)
		}
	}
}

func (c *Checker) onJSCode2Session(e ledger.Event) {
	dev := e.Device
	if dev == "" {
		dev = c.codeDev[e.Code]
	}
	if e.Subject != "" && dev != "" {
		c.subjDev[e.Subject] = dev
	}
	inv := c.inv[summary.CodeSingleUse]
	inv.Checked++
	// An injected fault (reset, hang, errcode) answers before WeChat looks at
	// the code, so the code is not used up and a retry with it is legitimate.
	if e.Code != "" && e.Outcome != ledger.OutcomeFault {
		c.codeUses[e.Code]++
	}
	if e.Errcode == 40163 || (e.Code != "" && c.codeUses[e.Code] > 1) {
		d := c.dev(dev)
		d.remember(e)
		c.violate(summary.CodeSingleUse, summary.Violation{
			Device: dev, At: e.Time,
			Explanation: fmt.Sprintf("wx.login code %s was sent to jscode2session %d times (WeChat answered errcode %d): codes are single-use, each login needs a fresh wx.login()",
				short(e.Code), c.codeUses[e.Code], e.Errcode),
			Evidence: d.history(),
		})
	}
}

// deviceOf attributes a backend token event to a device.
func (c *Checker) deviceOf(e ledger.Event) string {
	if e.Device != "" {
		return e.Device
	}
	if d, ok := c.codeDev[e.Code]; ok && e.Code != "" {
		return d
	}
	if d, ok := c.famDev[e.Family]; ok && e.Family != "" {
		return d
	}
	if d, ok := c.subjDev[e.Subject]; ok && e.Subject != "" {
		return d
	}
	return ""
}

func (c *Checker) nearExpiry(d *devState, t time.Time) bool {
	// What the device's clock says now, measured from when it got the token.
	t = t.Add(d.clockOffset - d.expOffset)
	if !d.currentExp.IsZero() {
		return !t.Before(d.currentExp.Add(-c.opts.ProactiveWindow))
	}
	if c.opts.AccessTTL > 0 && !d.lastSuccess.IsZero() {
		return !t.Before(d.lastSuccess.Add(c.opts.AccessTTL - c.opts.ProactiveWindow))
	}
	return false
}

// onTokenCall judges a login or refresh that reached the backend.
func (c *Checker) onTokenCall(e ledger.Event, login bool) {
	name := c.deviceOf(e)
	d := c.dev(name)
	d.remember(e)
	if login {
		d.logins++
	} else {
		d.refreshes++
	}
	c.bucketAt(e.Time).refreshes++
	kind := "refresh"
	if login {
		kind = "login"
	}
	ok := e.Outcome == ledger.OutcomeOK
	if ok {
		c.mark(e, kind, "")
	}

	justified := !d.hasToken || d.episodeOpen || c.nearExpiry(d, e.Time)
	if justified {
		if !d.episodeOpen {
			d.episodeOpen = true
			d.episodeCalls = 0
			d.episodeRetryFlagged = false
			d.episodes++
		}
		d.episodeCalls++
		if d.episodeCalls > c.opts.MaxCallsPerEpisode && !d.episodeRetryFlagged {
			d.episodeRetryFlagged = true
			c.violate(summary.BoundedRetry, summary.Violation{
				Device: name, At: e.Time,
				Explanation: fmt.Sprintf("device %s made more than %d refresh/login calls in one expiry episode without getting a token: retries are not bounded", name, c.opts.MaxCallsPerEpisode),
				Evidence:    d.history(),
			})
		}
	} else {
		d.singleRefreshViolations++
		c.violate(summary.SingleRefresh, summary.Violation{
			Device: name, At: e.Time, Tokens: nonEmpty(e.Token, e.Family),
			Explanation: fmt.Sprintf("device %s sent a %s at %s although it already had a fresh token %s since %s and had met no expiry since: %s",
				name, kind, e.Time.Format("15:04:05.000"), short(d.current), d.lastSuccess.Format("15:04:05.000"), describeCall(e)),
			Evidence: d.history(),
		})
	}
	if ok {
		d.hasToken = true
		d.episodeOpen = false
		d.lastSuccess = e.Time
		d.currentExp = e.Expires
		d.expOffset = d.clockOffset
		if login {
			d.current = e.Token
		} else {
			d.current = e.Detail
		}
		if e.Family != "" && name != "" {
			c.famDev[e.Family] = name
		}
	} else {
		d.lastFailure = e.Time
	}
	if e.Subject != "" && name != "" {
		c.subjDev[e.Subject] = name
	}
}

func describeCall(e ledger.Event) string {
	s := e.Kind + " → " + e.Outcome
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Errcode != 0 {
		s += fmt.Sprintf(" errcode %d", e.Errcode)
	}
	return s
}

func tokenProblem(outcome string) bool {
	switch outcome {
	case ledger.OutcomeExpired, ledger.OutcomeInvalid, ledger.OutcomeRevoked, ledger.OutcomeMissing:
		return true
	}
	return false
}

func (c *Checker) onAPI(e ledger.Event) {
	r := c.byRID[e.RID]
	name := ""
	if r != nil {
		name = r.device
	}
	if name == "" {
		name = c.subjDev[e.Subject]
	}
	d := c.dev(name)
	d.remember(e)

	if tokenProblem(e.Outcome) {
		c.judgeSignal(e, name)
		// An expiry of the token the device is using starts an episode; one
		// about an already-replaced token (a late 401) does not.
		if e.Token == "" || e.Token == d.current || d.current == "" {
			if !d.episodeOpen && (d.hasToken || e.Outcome != ledger.OutcomeMissing) {
				d.episodeOpen = true
				d.episodeCalls = 0
				d.episodeRetryFlagged = false
				d.episodes++
			}
		}
	}
	// Rotating styles hand over the next access token with an answer
	// (Detail "next <jti>"): the device uses that one from now on.
	if next := nextToken(e.Detail); next != "" && (e.Token == d.current || d.current == "") {
		d.current = next
	}
	if r == nil {
		return
	}
	r.keep(&e)
	r.attempts++
	if r.expired > 0 {
		r.resends++
		if r.replayProblem == "" {
			switch {
			case e.Method != r.method:
				r.replayProblem = fmt.Sprintf("replayed with method %s instead of %s", e.Method, r.method)
			case e.Route != r.route:
				r.replayProblem = fmt.Sprintf("replayed to %s instead of %s", e.Route, r.route)
			case e.BodyHash != r.body:
				r.replayProblem = fmt.Sprintf("replayed with a different body (hash %q, original %q)", e.BodyHash, r.body)
			case e.Token != "" && contains(r.expiredTokens, e.Token):
				r.replayProblem = fmt.Sprintf("replayed with the token %s that had already been refused, not the new one", short(e.Token))
			}
		}
		if !tokenProblem(e.Outcome) {
			r.resendsOK++
		}
	}
	if tokenProblem(e.Outcome) {
		if r.expired == 0 {
			r.episodeBase = d.lastSuccess
		}
		r.expired++
		if len(r.expiredTokens) < 8 {
			r.expiredTokens = append(r.expiredTokens, e.Token)
		}
	} else if e.Status == 401 || e.Status == 403 || notTokenRefusal(e.Detail) {
		r.nonToken401++
	}
	r.lastOutcome = e.Outcome
	r.lastStatus = e.Status
}

// judgeSignal judges expiry-signalled on one answer to an expired, invalid,
// revoked or missing token: it must carry the style's expired or invalid
// signal. Whoever recorded the answer notes the signal it carried in Detail
// (style.SignalNote): the reference backend the one it sent, the harness the
// one it saw from a backend under test. That, not the status, is judged — in
// a body-code style HTTP 200 {"code":10006} is the expiry signal. An event
// without a note is judged by its status: a 2xx is taken for a success.
func (c *Checker) judgeSignal(e ledger.Event, device string) {
	if !tokenProblem(e.Outcome) {
		return
	}
	inv := c.inv[summary.ExpirySignalled]
	inv.Checked++
	var what string
	if noted, ok := style.NotedSignal(e.Detail); ok {
		if noted == style.SignalExpired || noted == style.SignalInvalid {
			return
		}
		what = fmt.Sprintf("HTTP %d carrying the style's %s signal", e.Status, noted)
		if noted == style.SignalNone {
			what = fmt.Sprintf("HTTP %d matching no signal of the style", e.Status)
		}
	} else {
		if e.Status < 200 || e.Status >= 300 {
			return
		}
		what = fmt.Sprintf("HTTP %d (a success)", e.Status)
	}
	c.violate(summary.ExpirySignalled, summary.Violation{
		Device: device, At: e.Time, RIDs: nonEmpty(e.RID), Tokens: nonEmpty(e.Token),
		Explanation: fmt.Sprintf("the backend answered a request with %s %s token with %s instead of the expiry/invalid signal: the client cannot know it must refresh", article(e.Outcome), e.Outcome, what),
		Evidence:    []ledger.Event{e},
	})
}

// article is "an" before a vowel ("an expired token"), "a" otherwise.
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// notTokenRefusal reports whether an api event's Detail says the backend
// answered with its style's not_token signal (a "not_token" part, as the
// reference backend records it): a refusal that is not about the token,
// whatever its status — HTTP 200 {"code":10010} in body-code.
func notTokenRefusal(detail string) bool {
	for detail != "" {
		var part string
		part, detail, _ = strings.Cut(detail, ";")
		if strings.TrimSpace(part) == style.SignalNotToken {
			return true
		}
	}
	return false
}

// nextToken is the access token an answer handed over ("next <jti>" part of
// the Detail of an api event in a rotating style), or "".
func nextToken(detail string) string {
	for detail != "" {
		var part string
		part, detail, _ = strings.Cut(detail, ";")
		if jti, ok := strings.CutPrefix(strings.TrimSpace(part), "next "); ok {
			return jti
		}
	}
	return ""
}

func (c *Checker) onSettle(e ledger.Event) {
	r := c.active[e.RID]
	if r == nil {
		return
	}
	delete(c.active, e.RID)
	r.keep(&e)
	r.settled = true
	r.settleOutcome = e.Outcome
	r.settleStatus = e.Status
	r.settleDetail = e.Detail
	lat := time.Duration(e.LatencyNS)
	if lat == 0 {
		lat = e.Time.Sub(r.issuedAt)
	}
	b := c.bucketAt(e.Time)
	switch e.Outcome {
	case ledger.OutcomeLost:
		c.requests.Lost++
		b.errors++
	case ledger.OutcomeOK:
		if e.Status >= 200 && e.Status < 400 {
			c.requests.Succeeded++
		} else {
			c.requests.Failed++
			b.errors++
		}
	default:
		c.requests.Failed++
		b.errors++
	}
	if e.Outcome != ledger.OutcomeLost {
		c.lat.Record(lat)
		b.h.Record(lat)
		rh := c.routes[r.route]
		if rh == nil && len(c.routes) < 50 {
			rh = latency.New()
			c.routes[r.route] = rh
		}
		if rh != nil {
			rh.Record(lat)
		}
	}
	b.requests++
	if r.expired == 0 && r.nonToken401 == 0 && r.attempts <= 1 && r.effects <= 1 && e.Outcome == ledger.OutcomeOK {
		// Settled cleanly: only attempts arriving from now on could make it a
		// violation, and those are evidence enough then.
		c.dropEvidence(r)
	}
	// Keep it a while: attempts may still reach the backend after the caller
	// got its answer (a detached replay), and those count too.
	if old := c.settled[c.settledI]; old != nil {
		c.evaluate(old)
		c.dropEvidence(old)
		delete(c.byRID, old.rid)
		// Nothing refers to old any more (a request settles once, and
		// evaluate copied what a violation keeps): reuse it.
		c.free = append(c.free, old)
	}
	c.settled[c.settledI] = r
	c.settledI = (c.settledI + 1) % len(c.settled)
}

// evaluate judges one logical request once it is settled and out of the window.
func (c *Checker) evaluate(r *ridState) {
	if r.evaluated {
		return
	}
	r.evaluated = true
	d := c.dev(r.device)
	v := func(name, expl string) {
		inv := c.inv[name]
		inv.Violations++
		if len(inv.Examples) < c.opts.MaxExamples {
			inv.Examples = append(inv.Examples, summary.Violation{Invariant: name, Scenario: r.scenario, Device: r.device,
				RIDs: []string{r.rid}, Tokens: slices.Clone(r.expiredTokens), At: r.issuedAt,
				Explanation: fmt.Sprintf("request %s (%s %s) %s", r.rid, r.method, r.route, expl),
				// Copies: r is reused once it leaves the settled window.
				Evidence: slices.Clone(r.evidence)})
		}
	}

	nl := c.inv[summary.NoLostRequests]
	nl.Checked++
	if !r.settled || r.settleOutcome == ledger.OutcomeLost {
		detail := "never settled before the run ended"
		if r.settled {
			detail = "was lost: no answer before its deadline"
			if r.settleDetail != "" {
				detail = "was lost: " + r.settleDetail
			}
		}
		v(summary.NoLostRequests, detail+" (the caller's promise/callback never completed)")
	}

	if r.expired > 0 && r.settled && r.settleOutcome != ledger.OutcomeLost {
		cr := c.inv[summary.CorrectReplay]
		cr.Checked++
		// A refresh that failed in the episode this request met — even one the
		// backend answered before the request was issued, when the client had
		// not yet learnt of it — excuses settling the request with an error.
		failedRefresh := !d.lastFailure.IsZero() && d.lastFailure.After(r.episodeBase)
		switch {
		case r.replayProblem != "":
			v(summary.CorrectReplay, r.replayProblem)
		case r.resends > r.expired || r.resendsOK > 1:
			v(summary.CorrectReplay, fmt.Sprintf("met expiry %d time(s) but was re-sent %d times (%d accepted): a replay must happen once", r.expired, r.resends, r.resendsOK))
		case tokenProblem(r.lastOutcome) && r.settleOutcome == ledger.OutcomeOK:
			v(summary.CorrectReplay, fmt.Sprintf("met expiry and was not replayed: its caller got the expiry answer (HTTP %d) instead of the real one", r.settleStatus))
		case tokenProblem(r.lastOutcome) && !failedRefresh:
			v(summary.CorrectReplay, fmt.Sprintf("met expiry and was not replayed, although no refresh failed: the caller got an error (%s)", r.settleDetail))
		case r.settleOutcome == ledger.OutcomeOK && r.lastStatus != 0 && r.settleStatus != r.lastStatus:
			v(summary.CorrectReplay, fmt.Sprintf("the backend's final answer was HTTP %d but the caller got HTTP %d", r.lastStatus, r.settleStatus))
		}
	}

	if isNonIdempotent(r.method) {
		de := c.inv[summary.NoDuplicateEffects]
		de.Checked++
		if r.effects > 1 {
			v(summary.NoDuplicateEffects, fmt.Sprintf("was executed %d times by the backend (a non-idempotent request must run at most once)", r.effects))
		}
	}

	if r.expired > 0 || r.nonToken401 > 0 {
		br := c.inv[summary.BoundedRetry]
		br.Checked++
		switch {
		case r.attempts > c.opts.MaxAttemptsPerRequest:
			v(summary.BoundedRetry, fmt.Sprintf("reached the backend %d times (bound %d): the client keeps retrying instead of surfacing the error", r.attempts, c.opts.MaxAttemptsPerRequest))
		case r.nonToken401 > 1:
			v(summary.BoundedRetry, fmt.Sprintf("got a refusal that was not about the token (the style's not_token answer, or a 401/403) %d times: the client retried it instead of returning it to the caller", r.nonToken401))
		}
	}
}

func isNonIdempotent(m string) bool {
	switch strings.ToUpper(m) {
	case "POST", "PATCH":
		return true
	}
	return false
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

	var episodes, refreshes, logins int
	names := make([]string, 0, len(c.devices))
	for n := range c.devices {
		names = append(names, n)
	}
	sort.Strings(names)
	var per []summary.DeviceStat
	for _, n := range names {
		d := c.devices[n]
		episodes += d.episodes
		refreshes += d.refreshes
		logins += d.logins
		if d.episodes+d.refreshes+d.logins > 0 {
			per = append(per, summary.DeviceStat{Device: n, Episodes: d.episodes, Refreshes: d.refreshes, Logins: d.logins})
		}
	}
	sr := c.inv[summary.SingleRefresh]
	sr.Checked = episodes

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

	s.Requests.Issued += c.requests.Issued
	s.Requests.Succeeded += c.requests.Succeeded
	s.Requests.Failed += c.requests.Failed
	s.Requests.Lost += c.requests.Lost
	s.Refresh.ExpiryEpisodes += episodes
	s.Refresh.Refreshes += refreshes
	s.Refresh.Logins += logins
	if s.Refresh.ExpiryEpisodes > 0 {
		s.Refresh.Amplification = round2(float64(s.Refresh.Refreshes+s.Refresh.Logins) / float64(s.Refresh.ExpiryEpisodes))
	}
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
	s.Series = append(s.Series, c.seriesPoints()...)
	s.Timeline = append(s.Timeline, c.marks...)
	if c.marksCut > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("timeline: %d further events not drawn", c.marksCut))
	}
}

// Lost reports how many requests are lost so far (for live progress).
func (c *Checker) Lost() int { return c.requests.Lost }

func (c *Checker) histogram() []summary.Bucket {
	var out []summary.Bucket
	for _, b := range c.lat.Bars(1.1) { // ~10% wide buckets for the chart
		out = append(out, summary.Bucket{LEMS: ms(b.LE), Count: int(b.Count)})
	}
	return out
}

func ms(d time.Duration) float64 { return summary.MS(d) }

func (c *Checker) seriesPoints() []summary.Point {
	keys := make([]int64, 0, len(c.series))
	for k := range c.series {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	out := make([]summary.Point, 0, len(keys))
	for _, k := range keys {
		b := c.series[k]
		out = append(out, summary.Point{AtMS: float64(k * 1000), Requests: b.requests, Errors: b.errors,
			P50MS: ms(b.h.Quantile(0.5)), P99MS: ms(b.h.Quantile(0.99)), MaxMS: ms(b.h.Max()), Refreshes: b.refreshes})
	}
	return out
}

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
