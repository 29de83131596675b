// Episodes and refresh counting: single-refresh, and bounded-retry per episode.
//
// SPEC §5 "How the invariants count": an expiry episode starts when a device
// meets an expiry or invalid signal on any route it calls (a resource, the
// verify route, a rotation), or when a proactive refresh is justified; a
// device's first login is not an episode (refresh.first_logins). A retry
// after an attempt that failed as the client saw it (an error answer, a
// network error, a timeout, even if the backend did rotate) is a bounded
// retry (refresh.retries), not a storm. A proactive refresh is justified at
// most once per token, in a window that scales with the token's life.
// refresh.amplification = (refreshes + logins − first logins − retries) ÷
// episodes. docs/invariants.md#single-refresh explains it with examples.
package check

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

const recentPerDevice = 24

// unknownDevice names events no device can be attributed to.
const unknownDevice = "(unknown)"

type devState struct {
	name     string
	scenario string // where the device was first seen
	// harness: the harness itself acted as this device (backendcheck).
	harness bool
	// everToken: the device has held a token (its first login is behind it).
	everToken bool
	hasToken  bool
	current   string // access token id the device should be using
	// currentExp is when current expires; currentFrom when the device got
	// it (both by the stack's clock): the token's life scales the
	// proactive window.
	currentExp, currentFrom time.Time
	// currentUsed: the device has carried current to the backend.
	currentUsed bool
	// proactiveUsed: a proactive refresh of current was already justified;
	// a second one is a storm.
	proactiveUsed bool
	// clockOffset is how far the device's clock is from the stack's (a
	// storm's clock_skew with devices); expOffset what it was when the
	// device got its current token. The device judges expiry by its clock.
	clockOffset, expOffset time.Duration
	lastSuccess            time.Time
	lastFailure            time.Time
	// lastCallFailed: the device's last login/refresh failed as the client
	// saw it, so the next one is a retry.
	lastCallFailed bool
	// inFirstLogin: the device is getting its first token (calls so far
	// all failed); firstCalls counts them for bounded-retry.
	inFirstLogin        bool
	firstCalls          int
	firstLoginCalls     int // every call before the first token, for the reports
	episodeOpen         bool
	episodeCalls        int
	episodeRetryFlagged bool
	episodes, refreshes int
	logins              int
	firstLogins         int
	retries             int
	// before is the token state a successful call replaced, restored when
	// the backend reports that answer undelivered.
	before     tokenState
	beforeJTI  string // the access token whose delivery before describes
	beforeRole callRole
	// recent is a ring of the device's last recentPerDevice events, grown
	// as they come: most devices of a big fleet stay idle after a few, and
	// a full ring per device was most of a storm's memory per device.
	recent                  []packedEvent
	recentN                 int
	singleRefreshViolations int
	// expiredRIDs are the device's last requests answered expired/invalid,
	// with the token they carried: a refresh nothing justified names the
	// ones still waiting for their replay (a late 401 sets such a storm off).
	expiredRIDs []expiredRID
	// lastKind is "refresh" or "login": what gave the device current.
	lastKind string
	// notToken is the device's last request refused for a reason not about
	// the token (password_required, a 403), when and with which status.
	notToken       string
	notTokenAt     time.Time
	notTokenStatus int
}

type expiredRID struct{ rid, token string }

const expiredPerDevice = 8

// noteExpired remembers that request rid met an expiry with token.
func (d *devState) noteExpired(rid, token string) {
	if len(d.expiredRIDs) == expiredPerDevice {
		d.expiredRIDs = append(d.expiredRIDs[:0], d.expiredRIDs[1:]...)
	}
	d.expiredRIDs = append(d.expiredRIDs, expiredRID{rid, token})
}

// lateExpiry explains a refresh no episode justified when the device still
// had a request whose 401 was about a token it had replaced and that was
// not re-sent yet: most likely that 401 reached the client after the
// refresh (a late 401), and the client refreshed again for it.
func (c *Checker) lateExpiry(d *devState) string {
	var rids []string
	token := ""
	for _, x := range d.expiredRIDs {
		r := c.request(x.rid)
		// Only requests still waiting: one already answered cannot have set
		// this refresh off.
		if x.token == "" || x.token == d.current || r == nil || r.device != d.name || r.settled || r.resends > 0 || slices.Contains(rids, x.rid) {
			continue
		}
		if token == "" {
			token = x.token
		}
		rids = append(rids, x.rid)
	}
	if len(rids) == 0 {
		if d.notToken != "" && !d.notTokenAt.Before(d.lastSuccess) {
			return fmt.Sprintf(". The only refusal it met since was request %s's HTTP %d, which was not about the token: such a refusal goes to the caller, it is no reason to refresh", d.notToken, d.notTokenStatus)
		}
		return ""
	}
	who, was := "request "+rids[0], "was"
	if len(rids) > 1 {
		names := rids
		if len(names) > 3 {
			names = names[:3]
		}
		who, was = "requests "+strings.Join(names, ", "), "were"
		if more := len(rids) - len(names); more > 0 {
			who += fmt.Sprintf(" and %d more", more)
		}
	}
	return fmt.Sprintf(". %s had met the expiry of the replaced token %s and %s not replayed yet: a late 401 (an answer to a request sent with the old token, reaching the client after its refresh); a client should replay it with the token it has, not refresh again", who, short(token), was)
}

// callRole is how a login/refresh was counted.
type callRole int

const (
	roleFirst     callRole = iota // part of the device's first login
	roleEpisode                   // in an expiry episode
	roleViolation                 // a storm: no episode justified it
)

// tokenState is what a successful login/refresh changes on a device.
type tokenState struct {
	everToken, hasToken, proactiveUsed bool
	current                            string
	currentExp, currentFrom            time.Time
	expOffset                          time.Duration
	lastSuccess                        time.Time
	episodeOpen, inFirstLogin          bool
	episodeCalls, firstCalls           int
}

func (d *devState) tokens() tokenState {
	return tokenState{d.everToken, d.hasToken, d.proactiveUsed, d.current, d.currentExp, d.currentFrom, d.expOffset, d.lastSuccess, d.episodeOpen, d.inFirstLogin, d.episodeCalls, d.firstCalls}
}

func (d *devState) restore(t tokenState) {
	d.everToken, d.hasToken, d.proactiveUsed, d.current, d.currentExp, d.currentFrom, d.expOffset, d.lastSuccess = t.everToken, t.hasToken, t.proactiveUsed, t.current, t.currentExp, t.currentFrom, t.expOffset, t.lastSuccess
	d.episodeOpen, d.inFirstLogin, d.episodeCalls, d.firstCalls = t.episodeOpen, t.inFirstLogin, t.episodeCalls, t.firstCalls
}

func (d *devState) remember(t *strtab, e *ledger.Event) {
	p := t.pack(e)
	if len(d.recent) < recentPerDevice {
		// Grow by doubling, but never past the ring's size: append would
		// take 24 events to a capacity of 32, a third of the ring's memory
		// (~2.4 KB a device) never used.
		d.recent = appendPacked(d.recent, p, min(max(2*cap(d.recent), 2), recentPerDevice))
	} else {
		d.recent[d.recentN%recentPerDevice] = p
	}
	d.recentN++
}

func (d *devState) history(t *strtab) []ledger.Event {
	n := d.recentN
	if n > recentPerDevice {
		n = recentPerDevice
	}
	out := make([]ledger.Event, 0, n)
	for i := d.recentN - n; i < d.recentN; i++ {
		out = append(out, t.unpack(&d.recent[i%recentPerDevice]))
	}
	return out
}

// openEpisode starts an expiry episode on d (no-op when one is open). It is
// counted in refresh.expiry_episodes once the device acts on it (callInEpisode):
// an expiry met but never acted on — wx.login failing on the phone, the run
// ending — has nothing to amplify.
func (d *devState) openEpisode() {
	if d.episodeOpen {
		return
	}
	d.episodeOpen = true
	d.episodeCalls = 0
	d.episodeRetryFlagged = false
	d.lastCallFailed = false
}

// callInEpisode counts a login/refresh in the open episode.
func (d *devState) callInEpisode() {
	if d.episodeCalls == 0 {
		d.episodes++
	}
	d.episodeCalls++
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

// proactiveWindow is how long before its expiry a token may be refreshed
// without an expiry signal: Options.ProactiveWindow, but never more than
// half the token's life, so that with short tokens a client refreshing
// before every request is seen storming.
func (c *Checker) proactiveWindow(life time.Duration) time.Duration {
	w := c.opts.ProactiveWindow
	if life > 0 && life/2 < w {
		w = life / 2
	}
	return w
}

// nearExpiry reports whether, by d's clock at t, its current token is inside
// the proactive window (or already expired).
func (c *Checker) nearExpiry(d *devState, t time.Time) bool {
	// What the device's clock says now, measured from when it got the token.
	t = t.Add(d.clockOffset - d.expOffset)
	exp, life := d.currentExp, time.Duration(0)
	if exp.IsZero() && c.opts.AccessTTL > 0 && !d.lastSuccess.IsZero() {
		exp = d.lastSuccess.Add(c.opts.AccessTTL)
	}
	if exp.IsZero() {
		return false
	}
	if !d.currentFrom.IsZero() {
		life = exp.Sub(d.currentFrom)
	}
	return !t.Before(exp.Add(-c.proactiveWindow(life)))
}

// onTokenCall judges a login or refresh that reached the backend.
func (c *Checker) onTokenCall(e ledger.Event, login bool) {
	name := c.deviceOf(e)
	d := c.dev(name)
	d.remember(&c.tab, &e)
	if login {
		d.logins++
	} else {
		d.refreshes++
	}
	c.bucketAt().Refreshes++
	kind := "refresh"
	if login {
		kind = "login"
	}
	ok := e.Outcome == ledger.OutcomeOK
	// Every call is marked, failed ones too, so the chart's count is the
	// key numbers' count.
	me := e
	me.Device = name // the device as counted, so Finish can leave out the harness's own calls
	if ok {
		c.mark(me, kind, "")
	} else {
		c.mark(me, kind, "failed: "+e.Outcome)
	}
	prior := d.tokens()

	calls := 0 // calls so far in this episode or first login, this one included
	role := roleEpisode
	switch {
	case !d.everToken && !d.episodeOpen:
		// The device's first token. A call after a failed one is a retry; a
		// call while an earlier one is still unanswered cannot be told from
		// a retry (the ledger sees a call when the backend answers it).
		if !d.inFirstLogin {
			d.inFirstLogin = true
			d.firstLogins++
		} else {
			d.retries++
		}
		d.firstCalls++
		d.firstLoginCalls++
		calls = d.firstCalls
		role = roleFirst
	case d.episodeOpen:
		if d.episodeCalls > 0 {
			// An open episode means every earlier call in it failed.
			d.retries++
		}
		d.callInEpisode()
		calls = d.episodeCalls
	case !d.hasToken || (!d.proactiveUsed && c.nearExpiry(d, e.Time)):
		// A proactive refresh (or a device that lost its token): justified
		// once per token.
		d.openEpisode()
		d.proactiveUsed = true
		d.callInEpisode()
		calls = d.episodeCalls
	default:
		role = roleViolation
		d.singleRefreshViolations++
		why := "had met no expiry since"
		if d.proactiveUsed {
			why = "had already refreshed it once before its expiry"
		}
		c.violate(summary.SingleRefresh, summary.Violation{
			Device: name, At: e.Time, Tokens: nonEmpty(e.Token, e.Family),
			Explanation: fmt.Sprintf("device %s sent a %s at %s although it already had a fresh token %s since %s (expiring %s) and %s: %s%s",
				name, kind, e.Time.Format("15:04:05.000"), short(d.current), d.lastSuccess.Format("15:04:05.000"), fmtTime(d.currentExp), why, describeCall(e), c.lateExpiry(d)),
			Evidence: d.history(&c.tab),
		})
	}
	if calls > c.opts.MaxCallsPerEpisode && !d.episodeRetryFlagged {
		d.episodeRetryFlagged = true
		c.violate(summary.BoundedRetry, summary.Violation{
			Device: name, At: e.Time,
			Explanation: fmt.Sprintf("device %s made more than %d refresh/login calls in one expiry episode without getting a token: retries are not bounded", name, c.opts.MaxCallsPerEpisode),
			Evidence:    d.history(&c.tab),
		})
	}
	if ok {
		d.before, d.beforeRole = prior, role
		d.everToken = true
		d.hasToken = true
		d.inFirstLogin = false
		d.firstCalls = 0
		d.episodeOpen = false
		d.proactiveUsed = false
		d.currentUsed = false
		d.lastCallFailed = false
		d.lastSuccess = e.Time
		d.lastKind = kind
		d.currentFrom = e.Time
		d.currentExp = e.Expires
		d.expOffset = d.clockOffset
		if login {
			d.current = e.Token
		} else {
			d.current = e.Detail
		}
		d.beforeJTI = d.current
		if e.Family != "" && name != "" {
			c.famDev[e.Family] = name
		}
	} else {
		d.lastFailure = e.Time
		d.lastCallFailed = true
	}
	if e.Subject != "" && name != "" {
		c.subjDev[e.Subject] = name
	}
}

// onUndelivered handles the backend's note that the client had gone (its
// deadline passed, its connection closed) before a successful login or
// refresh was answered: the device never got those tokens, so as the client
// saw it the call failed, and the next one is a retry, not a storm.
func (c *Checker) onUndelivered(e ledger.Event) {
	name := c.deviceOf(e)
	d := c.dev(name)
	d.remember(&c.tab, &e)
	if e.Source == ledger.SourceClient {
		// The client's own word that a login or refresh got no answer (a
		// timeout on slow servers): a failed one as the client saw it, even
		// when nothing of it reached the backend, so it excuses requests
		// settled with its error, as a refused refresh does.
		d.lastFailure = e.Time
	}
	if e.Source == ledger.SourceClient && e.Token == "" {
		// The client's own word that a token call got no answer: it applies
		// to the device's last success if the device never used its token.
		if d.currentUsed {
			return
		}
		e.Token = d.current
	}
	if e.Token == "" || e.Token != d.current || d.beforeJTI != d.current {
		return
	}
	b := d.before
	d.restore(b)
	d.beforeJTI = ""
	d.lastFailure = e.Time
	d.lastCallFailed = true
	switch d.beforeRole {
	case roleFirst:
		d.inFirstLogin = true
		d.firstCalls = b.firstCalls + 1
	case roleEpisode:
		// The episode the call's success closed is open again (not counted
		// again): the next call is a retry in it.
		d.episodeOpen = true
		d.episodeCalls = b.episodeCalls + 1
		if !b.episodeOpen {
			d.proactiveUsed = true // the call was the proactive refresh
		}
	}
}

// onVerify: an expired/invalid answer of the verify route about the token
// the device uses opens an episode, as one on a resource does.
func (c *Checker) onVerify(e ledger.Event) {
	name := c.subjDev[e.Subject]
	if name == "" {
		name = e.Device
	}
	d := c.dev(name)
	d.remember(&c.tab, &e)
	if e.Token != "" && e.Token == d.current {
		d.currentUsed = true
	}
	if !tokenProblem(e.Outcome) {
		return
	}
	c.judgeSignal(e, name)
	c.metExpiry(d, e)
}

// metExpiry opens an episode when e (an answer to a token the device carried)
// is about the token the device is using; one about an already-replaced token
// (a late 401) does not.
func (c *Checker) metExpiry(d *devState, e ledger.Event) {
	if d.name == unknownDevice {
		return // no device's: a token nobody was given (the harness probing a backend)
	}
	if e.Token == "" || e.Token == d.current || d.current == "" {
		if d.hasToken || e.Outcome != ledger.OutcomeMissing {
			d.openEpisode()
		}
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	return t.Format("15:04:05.000")
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
