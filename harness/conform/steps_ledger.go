package conform

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/check"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/summary"
	"github.com/tokenstorm/tokenstorm/mockwechat"
)

// ledgerView attributes a scenario's ledger events to its devices, the way the
// invariant checker does: wx.login events name the user and the code, backend
// login events carry the code and the openid, refresh events the family.
type ledgerView struct {
	w       *world
	events  []ledger.Event
	codeDev map[string]string
	subjDev map[string]string
	famDev  map[string]string
}

func (w *world) view() *ledgerView {
	v := &ledgerView{w: w, events: w.led.Events(), codeDev: map[string]string{}, subjDev: map[string]string{}, famDev: map[string]string{}}
	w.mu.Lock()
	devs := sortedKeys(w.known)
	w.mu.Unlock()
	for _, d := range devs {
		v.subjDev[w.openid(d)] = d
	}
	for _, e := range v.events {
		switch {
		case e.Source == ledger.SourceWechat && e.Kind == ledger.KindWxLogin && e.Code != "":
			if d, ok := w.deviceOfUser(e.Device); ok {
				v.codeDev[e.Code] = d
			}
		case e.Source == ledger.SourceBackend && (e.Kind == ledger.KindBackendLogin || e.Kind == ledger.KindRefresh) && e.Family != "":
			if d := v.deviceOf(e); d != "" {
				v.famDev[e.Family] = d
			}
		}
	}
	return v
}

func (v *ledgerView) deviceOf(e ledger.Event) string {
	if d, ok := v.w.deviceOfUser(e.Device); ok {
		return d
	}
	if d, ok := v.subjDev[e.Subject]; ok && e.Subject != "" {
		return d
	}
	if d, ok := v.codeDev[e.Code]; ok && e.Code != "" {
		return d
	}
	if d, ok := v.famDev[e.Family]; ok && e.Family != "" {
		return d
	}
	return ""
}

func (w *world) eventsOfRIDs(rids ...string) []ledger.Event {
	var out []ledger.Event
	for _, e := range w.led.Events() {
		if e.RID != "" && slices.Contains(rids, e.RID) {
			out = append(out, e)
		}
	}
	return out
}

func (w *world) eventsOfKind(kinds ...string) []ledger.Event {
	var out []ledger.Event
	for _, e := range w.led.Events() {
		if slices.Contains(kinds, e.Kind) {
			out = append(out, e)
		}
	}
	return out
}

func (w *world) recentEvents(n int) []ledger.Event {
	ev := w.led.Events()
	if len(ev) > n {
		ev = ev[len(ev)-n:]
	}
	return ev
}

// settle waits for requests in flight before an assertion reads the ledger.
func (w *world) settle() { w.waitBG(w.deadline + 2*time.Second) }

// --- request outcomes ---

func succeeded(r reqRec) bool {
	return r.done && !r.out.Lost && r.out.Err == nil && r.out.Status >= 200 && r.out.Status < 300
}

func failedClearly(r reqRec) bool {
	return r.done && !r.out.Lost && (r.out.Err != nil || r.out.Status >= 400)
}

func (w *world) needRequests() ([]reqRec, error) {
	w.settle()
	rs := w.requests()
	if len(rs) == 0 {
		return nil, fmt.Errorf("no request was sent through the client in this scenario")
	}
	return rs, nil
}

func (w *world) reqFailure(what string, bad []reqRec, total int, why func(reqRec) string) error {
	var lines []string
	var rids []string
	for i, r := range bad {
		if i == 10 {
			lines = append(lines, fmt.Sprintf("  … and %d more", len(bad)-10))
			break
		}
		lines = append(lines, fmt.Sprintf("  request %s (device %s, %s %s): %s", r.name, r.dev, r.method, r.path, why(r)))
		rids = append(rids, r.out.RID)
	}
	msg := fmt.Sprintf("%s: %d of %d requests did not\n%s", what, len(bad), total, strings.Join(lines, "\n"))
	return w.fail(what, msg, w.eventsOfRIDs(rids...))
}

func (w *world) everySettled(context.Context) error {
	rs, err := w.needRequests()
	if err != nil {
		return err
	}
	var bad []reqRec
	for _, r := range rs {
		if !r.done || r.out.Lost {
			bad = append(bad, r)
		}
	}
	if len(bad) > 0 {
		return w.reqFailure("every request settled", bad, len(rs), func(r reqRec) string {
			if !r.done {
				return "still running: the client never returned"
			}
			return outcomeText(r.out)
		})
	}
	return nil
}

func (w *world) everySucceeded(context.Context) error {
	rs, err := w.needRequests()
	if err != nil {
		return err
	}
	var bad []reqRec
	for _, r := range rs {
		if !succeeded(r) {
			bad = append(bad, r)
		}
	}
	if len(bad) > 0 {
		return w.reqFailure("every request succeeded", bad, len(rs), func(r reqRec) string { return outcomeText(r.out) })
	}
	return nil
}

func (w *world) everyFailed(context.Context) error {
	rs, err := w.needRequests()
	if err != nil {
		return err
	}
	w.mu.Lock()
	since := w.since
	w.mu.Unlock()
	rs = rs[min(since, len(rs)):]
	if len(rs) == 0 {
		return fmt.Errorf("no request was sent after the last expiry, revocation or fault step")
	}
	var bad []reqRec
	for _, r := range rs {
		if !failedClearly(r) {
			bad = append(bad, r)
		}
	}
	if len(bad) > 0 {
		return w.reqFailure("every request failed with a clear error", bad, len(rs), func(r reqRec) string {
			if succeeded(r) {
				return "succeeded: " + outcomeText(r.out)
			}
			return outcomeText(r.out)
		})
	}
	return nil
}

func (w *world) requestResult(_ context.Context, name, which string) error {
	w.settle()
	r, err := w.request(name)
	if err != nil {
		return err
	}
	ok := succeeded(r)
	if which == "failed" {
		ok = failedClearly(r)
	}
	if !ok {
		return w.fail("request "+name+" "+which, fmt.Sprintf("request %s should have %s, but its caller got %s", name, which, outcomeText(r.out)), w.eventsOfRIDs(r.out.RID))
	}
	return nil
}

func (w *world) requestStatus(_ context.Context, name, status string) error {
	want, err := count("status", status, 100, 599)
	if err != nil {
		return err
	}
	w.settle()
	r, err := w.request(name)
	if err != nil {
		return err
	}
	if r.out.Lost || r.out.Err != nil || r.out.Status != want {
		return w.fail("request "+name+" answered "+status, fmt.Sprintf("request %s: the caller should get HTTP %d, but got %s", name, want, outcomeText(r.out)), w.eventsOfRIDs(r.out.RID))
	}
	return nil
}

// requestNotToken: the caller got the style's not_token answer itself — 401
// password_required in bearer, 403 forbidden in status-403, 200 {"code":10010}
// in body-code — judged by the style, not by a status.
func (w *world) requestNotToken(_ context.Context, name string) error {
	w.settle()
	r, err := w.request(name)
	if err != nil {
		return err
	}
	what := "request " + name + " got the not-about-the-token answer"
	// One rule, one wording, with the non-token-401 probe (check.NotTokenRefusal).
	why := check.NotTokenRefusal(w.r.sty, check.Answer{Status: r.out.Status, Body: r.out.Body, Err: r.out.Err, Lost: r.out.Lost || !r.done})
	if why != "" {
		return w.fail(what, "request "+name+": "+why, w.eventsOfRIDs(r.out.RID))
	}
	return nil
}

// attempts returns the backend's api events of a request.
func (w *world) attempts(rid string) []ledger.Event {
	var out []ledger.Event
	for _, e := range w.led.Events() {
		if e.Source == ledger.SourceBackend && e.Kind == ledger.KindAPI && e.RID == rid {
			out = append(out, e)
		}
	}
	return out
}

// settledRequest waits for every request to settle and returns the named one,
// after checking the run can judge it from the reference backend's ledger.
func (w *world) settledRequest(name, purpose string) (reqRec, error) {
	if err := w.needReference(purpose); err != nil {
		return reqRec{}, err
	}
	w.settle()
	return w.request(name)
}

func (w *world) requestAttempts(_ context.Context, name, cmp, times string) error {
	want, err := parseTimes(times)
	if err != nil {
		return err
	}
	r, err := w.settledRequest(name, "counting a request's attempts")
	if err != nil {
		return err
	}
	if got := len(w.attempts(r.out.RID)); !compare(cmp, got, want) {
		return w.fail("request "+name+" reached the backend "+cmpText(cmp)+times, fmt.Sprintf("request %s reached the backend %d time(s), want %s%d", name, got, cmpText(cmp), want), w.eventsOfRIDs(r.out.RID))
	}
	return nil
}

// cmpText is a comparator as the step wrote it, with a trailing space ("" for exactly).
func cmpText(cmp string) string {
	if cmp == "" || cmp == "exactly" {
		return ""
	}
	return cmp + " "
}

func tokenProblem(o string) bool {
	switch o {
	case ledger.OutcomeExpired, ledger.OutcomeInvalid, ledger.OutcomeRevoked, ledger.OutcomeMissing:
		return true
	}
	return false
}

func (w *world) requestReplayed(_ context.Context, name string) error {
	return w.replayed(name, false)
}

// requestReplayedIfExpired is requestReplayed for a request that may not
// have met an expiry at all: a client that avoided it (verify-first,
// proactive refresh) is not at fault.
func (w *world) requestReplayedIfExpired(_ context.Context, name string) error {
	return w.replayed(name, true)
}

// replayed judges the replay of request name as correct-replay does: against
// the attempt that met the expiry (a wrapper may reshape every request).
func (w *world) replayed(name string, onlyIfExpired bool) error {
	r, err := w.settledRequest(name, "checking a replay")
	if err != nil {
		return err
	}
	what := "request " + name + " replayed once with the same body"
	ev := w.eventsOfRIDs(r.out.RID)
	at := w.attempts(r.out.RID)
	first := slices.IndexFunc(at, func(e ledger.Event) bool { return tokenProblem(e.Outcome) })
	problem := ""
	switch {
	case first < 0 && onlyIfExpired:
		return nil
	case first < 0:
		problem = fmt.Sprintf("it never met an expired token (%d attempt(s)), so there was nothing to replay", len(at))
	case len(at)-first-1 == 0:
		problem = "it met an expired token and was never re-sent"
	case len(at)-first-1 > 1:
		problem = fmt.Sprintf("it met an expired token and was re-sent %d times, want once", len(at)-first-1)
	default:
		re, met := at[first+1], at[first]
		switch {
		case re.Method != met.Method:
			problem = fmt.Sprintf("the replay used method %s, the attempt that met the expiry %s", re.Method, met.Method)
		case re.Route != met.Route:
			problem = fmt.Sprintf("the replay went to %s, the attempt that met the expiry to %s", re.Route, met.Route)
		case re.BodyHash != met.BodyHash:
			problem = fmt.Sprintf("the replay carried a different body than the attempt that met the expiry (hash %q, that attempt's %q)", re.BodyHash, met.BodyHash)
		case re.Token != "" && re.Token == at[first].Token:
			problem = fmt.Sprintf("the replay carried the refused token %s again", short(re.Token))
		case tokenProblem(re.Outcome):
			problem = fmt.Sprintf("the replay was refused too (%s)", re.Outcome)
		case !succeeded(r):
			problem = "the caller did not get the replay's answer: " + outcomeText(r.out)
		}
	}
	if problem != "" {
		return w.fail(what, fmt.Sprintf("request %s was not replayed correctly: %s", name, problem), ev)
	}
	return nil
}

func (w *world) requestEffects(_ context.Context, name, cmp, times string) error {
	want, err := parseTimes(times)
	if err != nil {
		return err
	}
	r, err := w.settledRequest(name, "counting side effects")
	if err != nil {
		return err
	}
	ev := w.eventsOfRIDs(r.out.RID)
	got := 0
	for _, e := range ev {
		if e.Source == ledger.SourceBackend && e.Kind == ledger.KindEffect {
			got++
		}
	}
	if !compare(cmp, got, want) {
		return w.fail("request "+name+" executed "+cmpText(cmp)+times, fmt.Sprintf("the backend executed request %s %d time(s), want %s%d", name, got, cmpText(cmp), want), ev)
	}
	return nil
}

// --- token calls per device ---

func kindsOf(kind string) []string {
	switch {
	case strings.HasPrefix(kind, "refresh"):
		return []string{ledger.KindRefresh}
	case strings.HasPrefix(kind, "login"):
		return []string{ledger.KindBackendLogin}
	}
	return []string{ledger.KindRefresh, ledger.KindBackendLogin}
}

func compare(cmp string, got, want int) bool {
	switch cmp {
	case "at most":
		return got <= want
	case "at least":
		return got >= want
	}
	return got == want
}

// tokenCalls counts a device's token calls of a kind (refresh, login or
// both). In a style without a refresh route (body-code) a client renews an
// expired token by logging in again, so there a "refresh" is a login by a
// device that already held a token: features count refreshes the same way in
// every style.
func (w *world) tokenCalls(v *ledgerView, dev, kind string, from uint64) (int, []ledger.Event) {
	kinds := kindsOf(kind)
	relogin := w.r.sty.Routes.Refresh == "" && strings.HasPrefix(kind, "refresh")
	n := 0
	had := false // the device held a token from an earlier login or refresh
	var ev []ledger.Event
	for _, e := range v.events {
		d := v.deviceOf(e)
		if d != dev {
			continue
		}
		tokenCall := e.Source == ledger.SourceBackend && (e.Kind == ledger.KindBackendLogin || e.Kind == ledger.KindRefresh)
		switch {
		case e.Seq <= from:
			// before "counting starts"; it still tells whether the device held a token
		case relogin:
			if tokenCall && had {
				n++
			}
		case e.Source == ledger.SourceBackend && slices.Contains(kinds, e.Kind):
			n++
		}
		if tokenCall && e.Outcome == ledger.OutcomeOK {
			had = true
		}
		// Evidence: the device's token calls, revocations and refused code
		// exchanges — what explains a count.
		switch {
		case e.Source == ledger.SourceBackend && (e.Kind == ledger.KindRefresh || e.Kind == ledger.KindBackendLogin || e.Kind == ledger.KindRevoke):
			ev = append(ev, e)
		case e.Source == ledger.SourceWechat && e.Kind == ledger.KindJSCode2Sess && e.Outcome != ledger.OutcomeOK:
			ev = append(ev, e)
		}
	}
	return n, ev
}

func (w *world) tokenCallsFor(_ context.Context, cmp, n, kind, dev, since string) error {
	want, err := count("count", n, 0, 1000000)
	if err != nil {
		return err
	}
	if err := w.needReference("counting refreshes and logins"); err != nil {
		return err
	}
	from, err := w.countFrom(since)
	if err != nil {
		return err
	}
	w.settle()
	got, ev := w.tokenCalls(w.view(), dev, kind, from.seq)
	if !compare(cmp, got, want) {
		what := fmt.Sprintf("%s %d %s for device %s%s", cmp, want, kind, dev, since)
		return w.fail(what, fmt.Sprintf("%s: the backend saw %d %s", what, got, from.what()), ev)
	}
	return nil
}

func (w *world) tokenCallsEach(_ context.Context, cmp, n, kind, since string) error {
	want, err := count("count", n, 0, 1000000)
	if err != nil {
		return err
	}
	if err := w.needReference("counting refreshes and logins"); err != nil {
		return err
	}
	w.settle()
	from, err := w.countFrom(since)
	if err != nil {
		return err
	}
	devs := w.declaredDevices()
	if len(devs) == 0 {
		return fmt.Errorf("no devices declared in this scenario")
	}
	v := w.view()
	var bad []string
	var ev []ledger.Event
	for _, d := range devs {
		got, dev := w.tokenCalls(v, d, kind, from.seq)
		if !compare(cmp, got, want) {
			bad = append(bad, fmt.Sprintf("%s: %d", d, got))
			if len(bad) <= 3 {
				ev = append(ev, dev...)
			}
		}
	}
	if len(bad) > 0 {
		what := fmt.Sprintf("%s %d %s per device%s", cmp, want, kind, since)
		slices.SortFunc(ev, func(a, b ledger.Event) int { return int(a.Seq) - int(b.Seq) })
		return w.fail(what, fmt.Sprintf("%s: %d of %d devices differ (%s) %s", what, len(bad), len(devs), strings.Join(bad, ", "), from.what()), ev)
	}
	return nil
}

// --- WeChat counts ---

func (w *world) wechatStats() (mockwechat.Stats, error) {
	if w.st == nil {
		return mockwechat.Stats{}, fmt.Errorf("the stack has not started in this scenario: nothing reached WeChat")
	}
	return w.st.Wechat.Stats(), nil
}

func wechatKind(api string) string {
	switch api {
	case "jscode2session":
		return ledger.KindJSCode2Sess
	case "cgi-bin/token":
		return ledger.KindAccessToken
	case "checksession":
		return ledger.KindCheckSession
	case "stable_token":
		return ledger.KindStableToken
	}
	return ledger.KindWxLogin
}

func (w *world) wechatAnswered(_ context.Context, api, errcode, cmp, n, since string) error {
	code, err := strconv.Atoi(errcode)
	if err != nil {
		return fmt.Errorf("errcode %q is not a number", errcode)
	}
	want, err := count("count", n, 0, 1000000)
	if err != nil {
		return err
	}
	from, err := w.countFrom(since)
	if err != nil {
		return err
	}
	w.settle()
	st, err := w.wechatStats()
	if err != nil {
		return err
	}
	got := int(st.Errcodes[api][code] - from.stats.Errcodes[api][code])
	if !compare(cmp, got, want) {
		what := fmt.Sprintf("%s answered %d %s%d times%s", api, code, cmpText(cmp), want, since)
		return w.fail(what, fmt.Sprintf("%s: mock WeChat answered errcode %d (%s) %d time(s) %s", what, code, mockwechat.Errmsg(code), got, from.what()),
			w.wechatEvents(api, "", from.seq))
	}
	return nil
}

// wechatEvents are mock WeChat's ledger events of an API (of one device's
// user when dev is set) after seq: the evidence of a WeChat count.
func (w *world) wechatEvents(api, dev string, after uint64) []ledger.Event {
	var ev []ledger.Event
	for _, e := range w.eventsOfKind(wechatKind(api)) {
		if e.Source == ledger.SourceWechat && e.Seq > after && (dev == "" || e.Device == w.user(dev)) {
			ev = append(ev, e)
		}
	}
	return ev
}

func (w *world) wechatCalls(_ context.Context, cmp, n, api, dev, since string) error {
	want, err := count("count", n, 0, 1000000)
	if err != nil {
		return err
	}
	from, err := w.countFrom(since)
	if err != nil {
		return err
	}
	w.settle()
	st, err := w.wechatStats()
	if err != nil {
		return err
	}
	got := int(st.Calls[api] - from.stats.Calls[api])
	of := ""
	if dev != "" {
		got = int(st.Users[w.user(dev)][api] - from.stats.Users[w.user(dev)][api])
		of = " for device " + dev
	}
	if !compare(cmp, got, want) {
		what := fmt.Sprintf("WeChat saw %s%d %s calls%s%s", cmpText(cmp), want, api, of, since)
		return w.fail(what, fmt.Sprintf("%s: it saw %d %s", what, got, from.what()), w.wechatEvents(api, dev, from.seq))
	}
	return nil
}

func (w *world) noExpiredAttempt(context.Context) error {
	if err := w.needReference("reading the backend's answers"); err != nil {
		return err
	}
	w.settle()
	vw := w.view()
	// A request a device sends before it ever held a token (a wrapper that
	// logs in when its first request is refused) carried no token: that is
	// the device's first login, not an expiry it met.
	ridDev := map[string]string{}
	hadToken := map[string]bool{}
	var ev []ledger.Event
	for _, e := range vw.events {
		switch {
		case e.Source == ledger.SourceClient && e.Kind == ledger.KindIssue:
			ridDev[e.RID] = vw.deviceOf(e)
		case e.Source == ledger.SourceBackend && (e.Kind == ledger.KindBackendLogin || e.Kind == ledger.KindRefresh) && e.Outcome == ledger.OutcomeOK:
			hadToken[vw.deviceOf(e)] = true
		case e.Source == ledger.SourceBackend && e.Kind == ledger.KindAPI && strings.HasPrefix(e.RID, w.id+"-") && tokenProblem(e.Outcome):
			if d, ok := ridDev[e.RID]; ok && d != "" && e.Outcome == ledger.OutcomeMissing && !hadToken[d] {
				continue
			}
			ev = append(ev, e)
		}
	}
	if len(ev) > 0 {
		return w.fail("no request met an expired token", fmt.Sprintf("%d request attempt(s) carried an expired or invalid token", len(ev)), ev)
	}
	return nil
}

// --- invariants ---

// judge runs the invariant checker over the scenario's whole ledger. It is
// cheap (a scenario has hundreds of events) and stateless, so a scenario may
// assert invariants at any point.
func (w *world) judge() (*summary.Summary, error) {
	w.settle()
	s := summary.New(w.r.opts.ClientName, "")
	// The configured lifetime lets the checker judge proactive refreshes even
	// when the backend's ledger events carry no expiry time.
	if err := check.Check(w.led, check.Options{Scenario: w.name, AccessTTL: w.accessTTL(), ExternalBackend: w.external(), BackendInLedger: !w.external()}, s); err != nil {
		return nil, err
	}
	return s, nil
}

// clientOnly invariants need no backend events: they can be judged against
// an external backend too.
var clientOnly = []string{summary.NoLostRequests, summary.CodeSingleUse}

func (w *world) invariant(name string) (*summary.Invariant, error) {
	if !slices.Contains(summary.InvariantNames, name) {
		return nil, fmt.Errorf("unknown invariant %q (known: %s)", name, strings.Join(summary.InvariantNames, ", "))
	}
	if !slices.Contains(clientOnly, name) {
		if err := w.needReference("invariant " + name); err != nil {
			return nil, err
		}
	}
	s, err := w.judge()
	if err != nil {
		return nil, err
	}
	return s.Invariants[name], nil
}

func (w *world) invariantHolds(_ context.Context, name string) error {
	inv, err := w.invariant(name)
	if err != nil {
		return err
	}
	if inv.Violations > 0 {
		text, ev := w.formatViolations(name, inv)
		return w.failWithText(name, text, ev)
	}
	return nil
}

func (w *world) invariantViolated(_ context.Context, name string) error {
	inv, err := w.invariant(name)
	if err != nil {
		return err
	}
	if inv.Violations == 0 {
		return w.fail("invariant "+name+" violated", fmt.Sprintf("invariant %s holds (%d checked), but this scenario expects a violation", name, inv.Checked), w.recentEvents(20))
	}
	return nil
}

func (w *world) allInvariantsHold(context.Context) error {
	if err := w.needReference("judging every invariant"); err != nil {
		return err
	}
	s, err := w.judge()
	if err != nil {
		return err
	}
	var texts []string
	var ev []ledger.Event
	var names []string
	for _, n := range summary.InvariantNames {
		if inv := s.Invariants[n]; inv.Violations > 0 {
			t, e := w.formatViolations(n, inv)
			texts = append(texts, t)
			ev = append(ev, e...)
			names = append(names, n)
		}
	}
	if len(names) > 0 {
		w.failed = append(w.failed, names[:len(names)-1]...)
		return w.failWithText(names[len(names)-1], strings.Join(texts, "\n"), ev)
	}
	return nil
}

func (w *world) amplificationAtMost(_ context.Context, x string) error {
	limit, err := strconv.ParseFloat(x, 64)
	if err != nil {
		return fmt.Errorf("amplification %q is not a number", x)
	}
	if err := w.needReference("refresh amplification"); err != nil {
		return err
	}
	s, err := w.judge()
	if err != nil {
		return err
	}
	if a := s.Refresh.Amplification; a > limit {
		text := fmt.Sprintf("refresh amplification %.2f > %.2f: %d refreshes + %d logins for %d expiry episodes",
			a, limit, s.Refresh.Refreshes, s.Refresh.Logins, s.Refresh.ExpiryEpisodes)
		var ev []ledger.Event
		if inv := s.Invariants[summary.SingleRefresh]; inv.Violations > 0 {
			t, e := w.formatViolations(summary.SingleRefresh, inv)
			text += "\n" + t
			ev = e
		} else {
			ev = w.eventsOfKind(ledger.KindRefresh, ledger.KindBackendLogin)
		}
		return w.failWithText("refresh amplification", text, ev)
	}
	return nil
}
