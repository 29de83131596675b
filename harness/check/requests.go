// Requests, replays and answers: correct-replay, no-lost-requests,
// no-duplicate-effects, genuine-answers, and bounded-retry per request.
//
// SPEC §5 "How the invariants count": correct-replay compares a replay with
// the attempt that met the expiry (method, URL, body bytes), so a wrapper
// that reshapes every request the same way is judged fairly; a request is
// lost when the client had everything it needed (the backend had answered
// its last attempt, or the client never sent one) and still did not settle
// within the deadline, while one that settles late because the backend or
// the machine was slow is requests.late (the device driver tells them apart,
// harness/device); genuine-answers: every answer a caller receives is the
// backend's answer to one of that request's attempts, and a success reached
// the backend. docs/invariants.md explains each with examples.
package check

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/latency"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

type ridState struct {
	rid, device, method, route, body string
	scenario                         string
	issuedAt                         time.Time
	episodeBase                      time.Time // the device's last token success when this request met expiry
	// The attempt that met the (first) expiry: what a replay must equal.
	expMethod, expRoute, expBody string
	// statuses the backend answered this request's attempts with (the
	// first few), and how many attempts it answered as a success.
	statuses      [6]int
	nStatuses     int
	attempts      int
	expired       int // attempts answered expired/invalid
	expiredTokens []string
	resends       int // attempts after the first expired one
	resendsOK     int
	replayProblem string
	lastOutcome   string
	lastStatus    int
	nonToken401   int
	// nonTokenFirst is the token of its first refusal not about the token;
	// nonTokenRenewed: a later one carried another (the client renewed for it).
	nonTokenFirst   string
	nonTokenRenewed bool
	effects         int
	settled         bool
	settleOutcome   string
	settleStatus    int
	settleDetail    string
	settleNoRID     bool // the answer the caller got did not carry the request id
	settleOwed      bool // past its deadline the client still waited on the servers (ledger.NoteServersOwed)
	// renewed is what the device renewed its token with after this request
	// met the expiry and before its caller was answered ("" when nothing):
	// a request left out of that renewal is told from one never renewed for.
	renewed, renewedKind string
	renewedAt            time.Time
	// evidence is the request's own events (issue, attempts, effects,
	// settle), from the checker's pool; a request that settled cleanly gives
	// it back at once (see onSettle).
	evidence  []packedEvent
	evaluated bool
}

// keep adds e to the request's evidence (up to 16 events).
// maxEvidence is how many of its events a request keeps as evidence.
const maxEvidence = 16

func (r *ridState) keep(t *strtab, e *ledger.Event) {
	if len(r.evidence) < maxEvidence {
		// Grow by half, not double: a request that met the expiry keeps 5
		// or 6 events for the whole settled window, and doubling held room
		// for 8.
		r.evidence = appendPacked(r.evidence, t.pack(e), min(cap(r.evidence)+max(cap(r.evidence)/2, 2), maxEvidence))
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
		r.evidence = make([]packedEvent, 0, 4)
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

func tokenProblem(outcome string) bool {
	switch outcome {
	case ledger.OutcomeExpired, ledger.OutcomeInvalid, ledger.OutcomeRevoked, ledger.OutcomeMissing:
		return true
	}
	return false
}

// request is the request rid names: the one in flight, else a settled one
// still in the window.
func (c *Checker) request(rid string) *ridState {
	if r := c.active[rid]; r != nil {
		return r
	}
	return c.settledByRID[rid]
}

func (c *Checker) onAPI(e ledger.Event) {
	r := c.request(e.RID)
	name := ""
	if r != nil {
		name = r.device
	}
	if name == "" {
		name = c.subjDev[e.Subject]
	}
	d := c.dev(name)
	d.remember(&c.tab, &e)
	if e.Token != "" && e.Token == d.current {
		d.currentUsed = true
	}

	if tokenProblem(e.Outcome) {
		c.judgeSignal(e, name)
		c.metExpiry(d, e)
	}
	// Rotating styles hand over the next access token with an answer
	// (Detail "next <jti>"): the device uses that one from now on.
	if next := nextToken(e.Detail); next != "" && (e.Token == d.current || d.current == "") {
		d.current = next
	}
	if r == nil {
		return
	}
	r.keep(&c.tab, &e)
	r.attempts++
	if r.expired > 0 {
		r.resends++
		if r.replayProblem == "" {
			// Compared with the attempt that met the expiry, not with the
			// caller's request: a wrapper may reshape every request.
			switch {
			case e.Method != r.expMethod:
				r.replayProblem = fmt.Sprintf("replayed with method %s instead of %s (the attempt that met the expiry)", e.Method, r.expMethod)
			case e.Route != r.expRoute:
				r.replayProblem = fmt.Sprintf("replayed to %s instead of %s (the attempt that met the expiry)", e.Route, r.expRoute)
			case e.BodyHash != r.expBody:
				r.replayProblem = fmt.Sprintf("replayed with a different body than the attempt that met the expiry (hash %q, that attempt %q)", e.BodyHash, r.expBody)
			case e.Token != "" && contains(r.expiredTokens, e.Token):
				r.replayProblem = fmt.Sprintf("replayed with the token %s that had already been refused, not the new one", short(e.Token))
			}
		}
		if !tokenProblem(e.Outcome) {
			r.resendsOK++
		}
	}
	if tokenProblem(e.Outcome) {
		d.noteExpired(e.RID, e.Token)
		if r.expired == 0 {
			r.episodeBase = d.lastSuccess
			r.expMethod, r.expRoute, r.expBody = e.Method, e.Route, e.BodyHash
		}
		r.expired++
		if len(r.expiredTokens) < 8 {
			r.expiredTokens = append(r.expiredTokens, e.Token)
		}
	} else if e.Status == 401 || e.Status == 403 || notTokenRefusal(e.Detail) {
		r.nonToken401++
		d.notToken, d.notTokenAt, d.notTokenStatus = e.RID, e.Time, e.Status
		switch {
		case r.nonTokenFirst == "":
			r.nonTokenFirst = e.Token
		case e.Token != "" && e.Token != r.nonTokenFirst:
			r.nonTokenRenewed = true
		}
	}
	if r.nStatuses < len(r.statuses) && !slices.Contains(r.statuses[:r.nStatuses], e.Status) {
		r.statuses[r.nStatuses] = e.Status
		r.nStatuses++
	}
	r.lastOutcome = e.Outcome
	r.lastStatus = e.Status
}

func (c *Checker) onSettle(e ledger.Event) {
	r := c.active[e.RID]
	if r == nil {
		return
	}
	delete(c.active, e.RID)
	r.keep(&c.tab, &e)
	r.settled = true
	r.settleOutcome = e.Outcome
	r.settleStatus = e.Status
	r.settleDetail = e.Detail
	r.settleNoRID = ledger.HasNote(e.Detail, ledger.NoteNoRID)
	r.settleOwed = ledger.HasNote(e.Detail, ledger.NoteServersOwed)
	if d := c.dev(r.device); r.expired > 0 && d.hasToken && d.lastSuccess.After(r.episodeBase) {
		r.renewed, r.renewedKind, r.renewedAt = d.current, d.lastKind, d.lastSuccess
	}
	if ledger.HasNote(e.Detail, ledger.NoteLate) {
		c.requests.Late++
	}
	lat := time.Duration(e.LatencyNS)
	if lat == 0 {
		lat = e.Time.Sub(r.issuedAt)
	}
	b := c.bucketAt()
	switch e.Outcome {
	case ledger.OutcomeLost:
		c.requests.Lost++
		b.Errors++
	case ledger.OutcomeOK:
		if e.Status >= 200 && e.Status < 400 {
			c.requests.Succeeded++
		} else {
			c.requests.Failed++
			b.Errors++
		}
	default:
		c.requests.Failed++
		b.Errors++
	}
	if e.Outcome != ledger.OutcomeLost {
		c.lat.Record(lat)
		b.Latency.Record(lat)
		rh := c.routes[r.route]
		if rh == nil && len(c.routes) < 50 {
			rh = latency.New()
			c.routes[r.route] = rh
		}
		if rh != nil {
			rh.Record(lat)
		}
	}
	b.Requests++
	if r.expired == 0 && r.nonToken401 == 0 && r.attempts == 1 && r.effects <= 1 && e.Outcome == ledger.OutcomeOK &&
		r.statuses[0] == e.Status && !r.settleNoRID {
		// Settled cleanly: only attempts arriving from now on could make it a
		// violation, and those are evidence enough then.
		c.dropEvidence(r)
	}
	// Keep it a while: attempts may still reach the backend after the caller
	// got its answer (a detached replay), and those count too.
	if old := c.settled[c.settledI]; old != nil {
		c.evaluate(old)
		c.dropEvidence(old)
		if c.settledByRID[old.rid] == old { // not a later request that reused its id
			delete(c.settledByRID, old.rid)
		}
		// Nothing refers to old any more (a request settles once, and
		// evaluate copied what a violation keeps): reuse it.
		c.free = append(c.free, old)
	}
	c.settled[c.settledI] = r
	c.settledByRID[r.rid] = r
	c.settledI = (c.settledI + 1) % len(c.settled)
}

// renewedNote says, for a request never replayed, that its device did renew
// meanwhile: the wrapper left this request out of the renewal (it answered
// its caller at once instead of queueing it behind the refresh in flight).
func (r *ridState) renewedNote() string {
	if r.renewed == "" {
		return ""
	}
	return fmt.Sprintf(", although the device had a new token %s since %s (a %s after this request met the expiry): the client did not queue this request behind that renewal", short(r.renewed), r.renewedAt.Format("15:04:05.000"), r.renewedKind)
}

// whereItStopped says, for a lost request, what the backend last did with it.
func (r *ridState) whereItStopped() string {
	switch {
	case r.attempts == 0:
		return "; it never reached the backend"
	case tokenProblem(r.lastOutcome) && r.resends == 0:
		s := fmt.Sprintf("; its last attempt was answered HTTP %d (%s) and it was never re-sent", r.lastStatus, r.lastOutcome)
		if r.renewed != "" {
			s += fmt.Sprintf(", although the device had a new token %s since %s (a %s): the wrapper dropped it while renewing", short(r.renewed), r.renewedAt.Format("15:04:05.000"), r.renewedKind)
		}
		return s
	case r.lastStatus != 0:
		return fmt.Sprintf("; its last attempt (of %d) was answered HTTP %d (%s): the wrapper had that answer and did not deliver it", r.attempts, r.lastStatus, r.lastOutcome)
	}
	return ""
}

// evaluate judges one logical request once it is settled and out of the window.
func (c *Checker) evaluate(r *ridState) {
	if r.evaluated {
		return
	}
	r.evaluated = true
	d := c.dev(r.device)
	v := func(name, expl string) {
		if !c.keeps(name, r.scenario) {
			c.record(name, summary.Violation{Scenario: r.scenario}) // counted only: no copies
			return
		}
		c.record(name, summary.Violation{Scenario: r.scenario, Device: r.device,
			RIDs: []string{r.rid}, Tokens: slices.Clone(r.expiredTokens), At: r.issuedAt,
			Explanation: fmt.Sprintf("request %s (%s %s) %s", r.rid, r.method, r.route, expl),
			// Copies: r is reused once it leaves the settled window.
			Evidence: c.tab.unpackAll(r.evidence)})
	}

	nl := c.inv[summary.NoLostRequests]
	nl.Checked++
	if r.settled && r.settleOutcome == ledger.OutcomeLost && r.settleOwed {
		// Given up on while the client still waited on busy servers: the
		// machine or the backend was too slow (requests.lost counts it).
		c.lostOwed++
	} else if !r.settled || r.settleOutcome == ledger.OutcomeLost {
		detail := "never settled before the run ended"
		if r.settled {
			detail = "was lost: no answer before its deadline"
			if r.settleDetail != "" {
				detail = "was lost: " + r.settleDetail
			}
		}
		v(summary.NoLostRequests, detail+" (the caller's promise/callback never completed)"+r.whereItStopped())
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
		// A request replayed once whose replay, with the new token, was
		// refused again (that token expired on its way on slow servers, its
		// family revoked meanwhile) was replayed: its caller may get that
		// answer or an error. The cases below are for requests never replayed.
		case tokenProblem(r.lastOutcome) && r.resends == 0 && r.settleOutcome == ledger.OutcomeOK:
			v(summary.CorrectReplay, fmt.Sprintf("met expiry and was not replayed: its caller got the expiry answer (HTTP %d) instead of the real one%s", r.settleStatus, r.renewedNote()))
		case tokenProblem(r.lastOutcome) && r.resends == 0 && !failedRefresh && !r.settleOwed:
			// (With settleOwed the client was still waiting on the servers
			// at the deadline, and its renewal ran out of the time left: a
			// refresh that failed as the client saw it, a timeout.)
			v(summary.CorrectReplay, fmt.Sprintf("met expiry and was not replayed, although no refresh failed: the caller got an error (%s)%s", r.settleDetail, r.renewedNote()))
		case r.settleOutcome == ledger.OutcomeOK && r.lastStatus != 0 && r.settleStatus != r.lastStatus:
			v(summary.CorrectReplay, fmt.Sprintf("the backend's final answer was HTTP %d but the caller got HTTP %d", r.lastStatus, r.settleStatus))
		}
	}

	if r.settled && r.settleOutcome == ledger.OutcomeOK {
		c.judgeGenuine(r, v)
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
			renewed := ""
			if r.nonTokenRenewed {
				renewed = ", renewing its token in between: a refusal that is not about the token is no reason to refresh (a wrapper that refreshes on every 401 must tell them apart by the body)"
			}
			v(summary.BoundedRetry, fmt.Sprintf("got a refusal that was not about the token (the style's not_token answer, or a 401/403) %d times: the client retried it instead of returning it to the caller%s", r.nonToken401, renewed))
		}
	}
}

// judgeGenuine judges genuine-answers on a request whose caller got an
// answer: it must be an HTTP status, one the backend answered one of the
// request's attempts with, carrying the request id the reference backend
// echoes in every answer. Without the reference backend's ledger (a backend
// under test) only the status range can be judged.
func (c *Checker) judgeGenuine(r *ridState, v func(name, expl string)) {
	ga := c.inv[summary.GenuineAnswers]
	ga.Checked++
	if r.settleStatus < 100 || r.settleStatus > 599 {
		v(summary.GenuineAnswers, fmt.Sprintf("was answered to its caller with status %d, which is no HTTP status (100–599): not an answer, let alone a success", r.settleStatus))
		return
	}
	if c.opts.ExternalBackend || (!c.sawBackend && !c.opts.BackendInLedger) {
		return // the backend's answers are not in the ledger
	}
	seen := r.statuses[:r.nStatuses]
	switch {
	case r.attempts == 0:
		v(summary.GenuineAnswers, fmt.Sprintf("was answered HTTP %d although it never reached the backend: the client invented the answer", r.settleStatus))
	case !slices.Contains(seen, r.settleStatus) && r.nStatuses < len(r.statuses):
		v(summary.GenuineAnswers, fmt.Sprintf("was answered HTTP %d to its caller, but the backend answered its %d attempt(s) with %s: the client made the answer up (an expiry turned into a success is the client-side swallowed expiry)",
			r.settleStatus, r.attempts, statusList(seen)))
	case r.settleNoRID && !strings.EqualFold(r.method, "HEAD"):
		v(summary.GenuineAnswers, fmt.Sprintf("was answered HTTP %d to its caller with a body that does not carry its request id, which the backend echoes in every answer: the caller did not get the backend's answer", r.settleStatus))
	}
}

func statusList(xs []int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("HTTP %d", x)
	}
	return strings.Join(parts, ", ")
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
