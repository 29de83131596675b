package check

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// script builds a ledger by hand: each helper appends what the real parts
// would write, so every invariant can be shown to pass and to fail.
type script struct {
	t   time.Time
	evs []ledger.Event
}

func newScript() *script { return &script{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (s *script) add(e ledger.Event) {
	s.t = s.t.Add(time.Millisecond)
	e.Time = s.t
	e.Seq = uint64(len(s.evs) + 1)
	s.evs = append(s.evs, e)
}

func (s *script) login(dev, code, jti, fam string) {
	s.add(ledger.Event{Source: ledger.SourceWechat, Kind: ledger.KindWxLogin, Device: dev, Code: code})
	s.add(ledger.Event{Source: ledger.SourceWechat, Kind: ledger.KindJSCode2Sess, Device: dev, Code: code, Subject: "o-" + dev, Outcome: ledger.OutcomeOK})
	s.add(ledger.Event{Source: ledger.SourceBackend, Kind: ledger.KindBackendLogin, Code: code, Subject: "o-" + dev, Token: jti, Family: fam, Outcome: ledger.OutcomeOK, Status: 200})
}

func (s *script) refresh(dev, presented, newJTI, fam, outcome string) {
	st := 200
	if outcome != ledger.OutcomeOK {
		st = 401
	}
	s.add(ledger.Event{Source: ledger.SourceBackend, Kind: ledger.KindRefresh, Subject: "o-" + dev, Token: presented, Family: fam, Outcome: outcome, Status: st, Detail: newJTI})
}

func (s *script) issue(dev, rid, method, body string) {
	s.add(ledger.Event{Source: ledger.SourceClient, Kind: ledger.KindIssue, Device: dev, RID: rid, Method: method, Route: "/api/orders", BodyHash: body})
}

func (s *script) api(dev, rid, method, body, jti, outcome string) {
	st := 200
	if outcome != ledger.OutcomeOK {
		st = 401
	}
	s.add(ledger.Event{Source: ledger.SourceBackend, Kind: ledger.KindAPI, Subject: "o-" + dev, RID: rid, Method: method, Route: "/api/orders", BodyHash: body, Token: jti, Outcome: outcome, Status: st})
	if outcome == ledger.OutcomeOK && method == "POST" {
		s.add(ledger.Event{Source: ledger.SourceBackend, Kind: ledger.KindEffect, RID: rid, Method: method, Route: "/api/orders", Token: jti})
	}
}

func (s *script) settle(dev, rid string, status int, outcome string) {
	s.add(ledger.Event{Source: ledger.SourceClient, Kind: ledger.KindSettle, Device: dev, RID: rid, Status: status, Outcome: outcome, LatencyNS: int64(5 * time.Millisecond)})
}

func (s *script) check(t *testing.T) *summary.Summary {
	t.Helper()
	l := ledger.New(ledger.Options{Memory: true})
	for _, e := range s.evs {
		l.Append(e)
	}
	sum := summary.New("test", "test")
	require.NoError(t, Check(l, Options{}, sum))
	sum.Finalize()
	return sum
}

// goodEpisode: three requests meet expiry, one refresh, each replayed once.
func goodEpisode(s *script) {
	s.login("d1", "c1", "A1", "F1")
	for _, rid := range []string{"r1", "r2", "r3"} {
		s.issue("d1", rid, "POST", "h"+rid)
		s.api("d1", rid, "POST", "h"+rid, "A1", ledger.OutcomeExpired)
	}
	s.refresh("d1", "R1", "A2", "F1", ledger.OutcomeOK)
	for _, rid := range []string{"r1", "r2", "r3"} {
		s.api("d1", rid, "POST", "h"+rid, "A2", ledger.OutcomeOK)
		s.settle("d1", rid, 200, ledger.OutcomeOK)
	}
}

func TestGoodEpisodeHoldsEveryInvariant(t *testing.T) {
	s := newScript()
	goodEpisode(s)
	sum := s.check(t)
	assert.Equal(t, summary.Pass, sum.Verdict, "%+v", sum.FailedInvariants())
	assert.Equal(t, 1, sum.Refresh.ExpiryEpisodes) // the first login is no episode
	assert.Equal(t, 1, sum.Refresh.FirstLogins)
	assert.Equal(t, 1.0, sum.Refresh.Amplification)
	assert.Equal(t, summary.Pass, sum.Invariants[summary.CorrectReplay].Verdict)
	assert.Equal(t, 3, sum.Invariants[summary.CorrectReplay].Checked)
	assert.Equal(t, 3, sum.Requests.Succeeded)
	assert.Equal(t, 5.0, sum.Latency.Max)
}

func TestStormViolatesSingleRefresh(t *testing.T) {
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	for _, rid := range []string{"r1", "r2"} {
		s.issue("d1", rid, "GET", "")
		s.api("d1", rid, "GET", "", "A1", ledger.OutcomeExpired)
	}
	s.refresh("d1", "R1", "A2", "F1", ledger.OutcomeOK)
	s.refresh("d1", "R1", "", "F1", ledger.OutcomeReused) // the second one of the storm
	sum := s.check(t)
	inv := sum.Invariants[summary.SingleRefresh]
	assert.Equal(t, summary.Fail, inv.Verdict)
	assert.Equal(t, 1, inv.Violations)
	require.NotEmpty(t, inv.Examples)
	assert.Equal(t, "d1", inv.Examples[0].Device)
	assert.Contains(t, inv.Examples[0].Explanation, "already had a fresh token")
	assert.NotEmpty(t, inv.Examples[0].Evidence)
	assert.Equal(t, 2.0, sum.Refresh.Amplification) // two refreshes, one episode
	// The storming call was checked too: a report never shows more
	// violations than checked (the first login, the episode, that call).
	assert.Equal(t, 3, inv.Checked)
}

func TestRetryAfterFailedRefreshIsNotAStorm(t *testing.T) {
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	s.issue("d1", "r1", "GET", "")
	s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeExpired)
	s.refresh("d1", "R1", "", "F1", ledger.OutcomeError)
	s.refresh("d1", "R1", "A2", "F1", ledger.OutcomeOK)
	s.api("d1", "r1", "GET", "", "A2", ledger.OutcomeOK)
	s.settle("d1", "r1", 200, ledger.OutcomeOK)
	sum := s.check(t)
	assert.Equal(t, summary.Pass, sum.Invariants[summary.SingleRefresh].Verdict)
	assert.Equal(t, summary.Pass, sum.Verdict)
}

func TestLate401AfterRefreshIsNotAnEpisodeButASecondRefreshIsAViolation(t *testing.T) {
	s := newScript()
	goodEpisode(s)
	// A late 401 about A1 arrives after the refresh: replayed with A2, fine.
	s.issue("d1", "r9", "GET", "")
	s.api("d1", "r9", "GET", "", "A1", ledger.OutcomeExpired)
	s.api("d1", "r9", "GET", "", "A2", ledger.OutcomeOK)
	s.settle("d1", "r9", 200, ledger.OutcomeOK)
	sum := s.check(t)
	assert.Equal(t, summary.Pass, sum.Verdict)

	// ...but refreshing again because of it is a violation.
	s.refresh("d1", "R2", "A3", "F1", ledger.OutcomeOK)
	sum = s.check(t)
	assert.Equal(t, summary.Fail, sum.Invariants[summary.SingleRefresh].Verdict)
}

func TestReplayDefects(t *testing.T) {
	cases := map[string]struct {
		replay  func(s *script)
		settle  int
		outcome string
		want    string
		inv     string
	}{
		"stale token":  {func(s *script) { s.api("d1", "r1", "POST", "hb", "A1", ledger.OutcomeExpired) }, 401, ledger.OutcomeOK, "already been refused", summary.CorrectReplay},
		"dropped body": {func(s *script) { s.api("d1", "r1", "POST", "", "A2", ledger.OutcomeOK) }, 200, ledger.OutcomeOK, "different body", summary.CorrectReplay},
		"no replay":    {func(s *script) {}, 401, ledger.OutcomeOK, "not replayed", summary.CorrectReplay},
		"double replay": {func(s *script) {
			s.api("d1", "r1", "POST", "hb", "A2", ledger.OutcomeOK)
			s.api("d1", "r1", "POST", "hb", "A2", ledger.OutcomeOK)
		}, 200, ledger.OutcomeOK, "executed 2 times", summary.NoDuplicateEffects},
		"lost": {func(s *script) { s.api("d1", "r1", "POST", "hb", "A2", ledger.OutcomeOK) }, 0, ledger.OutcomeLost, "lost", summary.NoLostRequests},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := newScript()
			s.login("d1", "c1", "A1", "F1")
			s.issue("d1", "r1", "POST", "hb")
			s.api("d1", "r1", "POST", "hb", "A1", ledger.OutcomeExpired)
			s.refresh("d1", "R1", "A2", "F1", ledger.OutcomeOK)
			tc.replay(s)
			s.settle("d1", "r1", tc.settle, tc.outcome)
			sum := s.check(t)
			inv := sum.Invariants[tc.inv]
			require.Equal(t, summary.Fail, inv.Verdict, "invariants: %v", sum.FailedInvariants())
			assert.Contains(t, inv.Examples[0].Explanation, tc.want)
			assert.Equal(t, []string{"r1"}, inv.Examples[0].RIDs)
		})
	}
}

func TestDoubleReplayAlsoBreaksCorrectReplay(t *testing.T) {
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	s.issue("d1", "r1", "GET", "")
	s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeExpired)
	s.refresh("d1", "R1", "A2", "F1", ledger.OutcomeOK)
	s.api("d1", "r1", "GET", "", "A2", ledger.OutcomeOK)
	s.settle("d1", "r1", 200, ledger.OutcomeOK)
	s.api("d1", "r1", "GET", "", "A2", ledger.OutcomeOK) // detached second replay after the answer
	sum := s.check(t)
	assert.Equal(t, summary.Fail, sum.Invariants[summary.CorrectReplay].Verdict)
}

func TestNeverSettledIsLost(t *testing.T) {
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	s.issue("d1", "r1", "GET", "")
	sum := s.check(t)
	assert.Equal(t, 1, sum.Requests.Lost)
	assert.Equal(t, summary.Fail, sum.Invariants[summary.NoLostRequests].Verdict)
}

func TestCodeReuse(t *testing.T) {
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	s.add(ledger.Event{Source: ledger.SourceWechat, Kind: ledger.KindJSCode2Sess, Device: "d1", Code: "c1", Errcode: 40163, Outcome: ledger.OutcomeWechat})
	sum := s.check(t)
	inv := sum.Invariants[summary.CodeSingleUse]
	assert.Equal(t, summary.Fail, inv.Verdict)
	assert.Equal(t, 2, inv.Checked)
	assert.Contains(t, inv.Examples[0].Explanation, "single-use")
}

func TestEmptySuccessForExpiredToken(t *testing.T) {
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	s.issue("d1", "r1", "GET", "")
	s.add(ledger.Event{Source: ledger.SourceBackend, Kind: ledger.KindAPI, RID: "r1", Method: "GET", Route: "/api/orders", Token: "A1", Outcome: ledger.OutcomeExpired, Status: 200})
	s.settle("d1", "r1", 200, ledger.OutcomeOK)
	sum := s.check(t)
	assert.Equal(t, summary.Fail, sum.Invariants[summary.ExpirySignalled].Verdict)
}

func TestUnboundedRetries(t *testing.T) {
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	s.issue("d1", "r1", "GET", "")
	s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeExpired)
	for i := 0; i < 10; i++ {
		s.refresh("d1", "R1", "", "F1", ledger.OutcomeError)
	}
	s.settle("d1", "r1", 0, ledger.OutcomeLost)
	sum := s.check(t)
	assert.Equal(t, summary.Fail, sum.Invariants[summary.BoundedRetry].Verdict)
	assert.Equal(t, summary.Pass, sum.Invariants[summary.SingleRefresh].Verdict)

	s2 := newScript()
	s2.login("d1", "c1", "A1", "F1")
	s2.issue("d1", "r1", "GET", "")
	for i := 0; i < 3; i++ {
		s2.add(ledger.Event{Source: ledger.SourceBackend, Kind: ledger.KindAPI, RID: "r1", Method: "GET", Route: "/api/reauth", Token: "A1", Outcome: ledger.OutcomeOK, Status: 401})
	}
	s2.settle("d1", "r1", 401, ledger.OutcomeOK)
	sum = s2.check(t)
	assert.Equal(t, summary.Fail, sum.Invariants[summary.BoundedRetry].Verdict)
}

// In body-code a refusal that is not about the token is HTTP 200
// {"code":10010}; the reference backend records it with Detail "not_token"
// (plus "next <jti>" in a rotating style). A client retrying it is unbounded
// whatever the status; answering it once is fine.
func TestNotTokenRefusalRetriedInBodyCode(t *testing.T) {
	notToken := func(s *script, detail string) {
		s.add(ledger.Event{Source: ledger.SourceBackend, Kind: ledger.KindAPI, RID: "r1", Method: "GET", Route: "/v1/reauth", Token: "A1", Outcome: ledger.OutcomeOK, Status: 200, Detail: detail})
	}
	retried := newScript()
	retried.login("d1", "c1", "A1", "F1")
	retried.issue("d1", "r1", "GET", "")
	notToken(retried, "not_token")
	notToken(retried, "not_token; next A2")
	notToken(retried, "next A3; not_token")
	retried.settle("d1", "r1", 200, ledger.OutcomeOK)
	sum := retried.check(t)
	inv := sum.Invariants[summary.BoundedRetry]
	require.Equal(t, summary.Fail, inv.Verdict)
	require.Len(t, inv.Examples, 1)
	assert.Contains(t, inv.Examples[0].Explanation, "not about the token (the style's not_token answer, or a 401/403) 3 times")
	assert.NotContains(t, inv.Examples[0].Explanation, "renewing", "the same token each time")
	assert.Equal(t, []string{"r1"}, inv.Examples[0].RIDs)

	// Retried after a refresh (axios-auth-refresh refreshes on every 401):
	// the explanation says the client renewed for it.
	renewed := newScript()
	renewed.login("d1", "c1", "A1", "F1")
	renewed.issue("d1", "r1", "GET", "")
	notToken(renewed, "not_token")
	renewed.refresh("d1", "R1", "A2", "F1", ledger.OutcomeOK)
	renewed.add(ledger.Event{Source: ledger.SourceBackend, Kind: ledger.KindAPI, RID: "r1", Method: "GET", Route: "/v1/reauth", Token: "A2", Outcome: ledger.OutcomeOK, Status: 200, Detail: "not_token"})
	renewed.settle("d1", "r1", 200, ledger.OutcomeOK)
	inv = renewed.check(t).Invariants[summary.BoundedRetry]
	require.Len(t, inv.Examples, 1)
	assert.Contains(t, inv.Examples[0].Explanation, "2 times: the client retried it instead of returning it to the caller, renewing its token in between: a refusal that is not about the token is no reason to refresh")

	once := newScript()
	once.login("d1", "c1", "A1", "F1")
	once.issue("d1", "r1", "GET", "")
	notToken(once, "not_token")
	once.settle("d1", "r1", 200, ledger.OutcomeOK)
	sum = once.check(t)
	assert.Equal(t, summary.Pass, sum.Verdict, "%v", sum.FailedInvariants())
	assert.Equal(t, 1, sum.Invariants[summary.BoundedRetry].Checked, "the not_token answer is judged")

	// A success whose Detail merely mentions the word is not a refusal.
	plain := newScript()
	plain.login("d1", "c1", "A1", "F1")
	plain.issue("d1", "r1", "GET", "")
	notToken(plain, "next not_tokenish")
	notToken(plain, "")
	plain.settle("d1", "r1", 200, ledger.OutcomeOK)
	sum = plain.check(t)
	assert.Zero(t, sum.Invariants[summary.BoundedRetry].Checked)
}

func TestSettledWindowEvictionStillEvaluates(t *testing.T) {
	l := ledger.New(ledger.Options{Memory: true})
	c := New(Options{SettledWindow: 2})
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	for i, rid := range []string{"a", "b", "c", "d"} {
		s.issue("d1", rid, "GET", "")
		if i == 0 {
			continue // a is never answered by anyone but settles lost
		}
		s.api("d1", rid, "GET", "", "A1", ledger.OutcomeOK)
	}
	s.settle("d1", "a", 0, ledger.OutcomeLost)
	for _, rid := range []string{"b", "c", "d"} {
		s.settle("d1", rid, 200, ledger.OutcomeOK)
	}
	for _, e := range s.evs {
		c.Observe(l.Append(e))
	}
	assert.Len(t, c.settledByRID, 2, "memory stays bounded by the window")
	assert.Empty(t, c.active)
	sum := summary.New("x", "y")
	c.Finish(sum)
	assert.Equal(t, 1, sum.Invariants[summary.NoLostRequests].Violations)
	assert.Equal(t, 4, sum.Invariants[summary.NoLostRequests].Checked)
}

// A request that joins an episode whose re-login already failed may be
// settled with that failure's error: the client learnt of it late.
func TestErrorAfterFailedLoginInTheSameEpisodeIsAllowed(t *testing.T) {
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	s.refresh("d1", "R1", "", "F1", ledger.OutcomeRevoked)
	s.add(ledger.Event{Source: ledger.SourceBackend, Kind: ledger.KindBackendLogin, Code: "c2", Outcome: ledger.OutcomeWechat, Status: 503, Errcode: -1})
	s.add(ledger.Event{Source: ledger.SourceWechat, Kind: ledger.KindWxLogin, Device: "d1", Code: "c2"})
	s.issue("d1", "r1", "GET", "")
	s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeInvalid)
	s.settle("d1", "r1", 0, ledger.OutcomeRejected)
	sum := s.check(t)
	assert.Equal(t, summary.Pass, sum.Invariants[summary.CorrectReplay].Verdict, "%v", sum.Invariants[summary.CorrectReplay].Examples)
}

// In a body-code style the expiry signal is an HTTP 200: the checker judges
// the signal the backend noted, not the status.
func TestBodyCodeExpirySignalIsNotAViolation(t *testing.T) {
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	s.issue("d1", "r1", "GET", "")
	s.add(ledger.Event{Source: ledger.SourceBackend, Kind: ledger.KindAPI, RID: "r1", Method: "GET", Route: "/api/orders", Token: "A1",
		Outcome: ledger.OutcomeExpired, Status: 200, Detail: "exp passed; signal=expired"})
	s.login("d1", "c2", "A2", "F2")
	s.add(ledger.Event{Source: ledger.SourceBackend, Kind: ledger.KindAPI, RID: "r1", Method: "GET", Route: "/api/orders", Token: "A2", Outcome: ledger.OutcomeOK, Status: 200})
	s.settle("d1", "r1", 200, ledger.OutcomeOK)
	sum := s.check(t)
	inv := sum.Invariants[summary.ExpirySignalled]
	assert.Equal(t, summary.Pass, inv.Verdict, "%v", inv.Examples)
	assert.Equal(t, 1, inv.Checked)
	assert.Equal(t, summary.Pass, sum.Verdict, "%v", sum.FailedInvariants())
}

// The harness's observations of a backend under test are judged too.
func TestHarnessObservedSignals(t *testing.T) {
	for _, c := range []struct {
		status  int
		detail  string
		verdict string
		expl    string
	}{
		{401, "garbage token; signal=invalid", summary.Pass, ""},
		{200, "tampered token; signal=expired", summary.Pass, ""},
		{200, "expired token; signal=success", summary.Fail, "HTTP 200 carrying the style's success signal"},
		{200, "expired token; signal=none", summary.Fail, "HTTP 200 matching no signal of the style"},
		{500, "garbage token; signal=none", summary.Fail, "HTTP 500 matching no signal"},
		{200, "", summary.Fail, "HTTP 200 (a success)"},
	} {
		s := newScript()
		s.add(ledger.Event{Source: ledger.SourceHarness, Kind: ledger.KindAPI, Device: "backend-check", Route: "/v1/items/x",
			Outcome: ledger.OutcomeInvalid, Status: c.status, Detail: c.detail})
		sum := s.check(t)
		inv := sum.Invariants[summary.ExpirySignalled]
		assert.Equal(t, c.verdict, inv.Verdict, c.detail)
		assert.Equal(t, 1, inv.Checked)
		if c.expl != "" && assert.NotEmpty(t, inv.Examples, c.detail) {
			assert.Contains(t, inv.Examples[0].Explanation, c.expl)
			assert.Equal(t, "backend-check", inv.Examples[0].Device)
		}
		assert.Zero(t, sum.Refresh.ExpiryEpisodes, "a harness observation is no client's episode")
	}
}

// In a rotating style every answer hands over the next token; its expiry
// starts an episode like the login token's would.
func TestRotatedTokenExpiryStartsAnEpisode(t *testing.T) {
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	s.issue("d1", "r1", "GET", "")
	s.add(ledger.Event{Source: ledger.SourceBackend, Kind: ledger.KindAPI, Subject: "o-d1", RID: "r1", Method: "GET", Route: "/api/orders", Token: "A1", Outcome: ledger.OutcomeOK, Status: 200, Detail: "next N1"})
	s.settle("d1", "r1", 200, ledger.OutcomeOK)
	s.issue("d1", "r2", "GET", "")
	s.api("d1", "r2", "GET", "", "N1", ledger.OutcomeExpired)
	s.refresh("d1", "R1", "A2", "F1", ledger.OutcomeOK)
	s.api("d1", "r2", "GET", "", "A2", ledger.OutcomeOK)
	s.settle("d1", "r2", 200, ledger.OutcomeOK)
	sum := s.check(t)
	assert.Equal(t, summary.Pass, sum.Invariants[summary.SingleRefresh].Verdict, "%v", sum.Invariants[summary.SingleRefresh].Examples)
	assert.Equal(t, 1, sum.Refresh.ExpiryEpisodes)
	assert.Equal(t, summary.Pass, sum.Verdict)
}

// A request that settled cleanly gives its evidence back at once; an attempt
// that reaches the backend after that still makes it a violation, with the
// late events as evidence.
func TestLateDuplicateOfACleanRequestIsStillCaught(t *testing.T) {
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	s.issue("d1", "r1", "POST", "h1")
	s.api("d1", "r1", "POST", "h1", "A1", ledger.OutcomeOK)
	s.settle("d1", "r1", 200, ledger.OutcomeOK)
	s.api("d1", "r1", "POST", "h1", "A1", ledger.OutcomeOK) // executed again after the answer
	sum := s.check(t)
	inv := sum.Invariants[summary.NoDuplicateEffects]
	require.Equal(t, 1, inv.Violations)
	ev := inv.Examples[0].Evidence
	require.NotEmpty(t, ev)
	assert.Equal(t, ledger.KindEffect, ev[len(ev)-1].Kind, "the late effect is in the evidence")
}

// Clean requests recycle their evidence buffers: the checker keeps none for
// the settled window's requests.
func TestCleanRequestsKeepNoEvidence(t *testing.T) {
	c := New(Options{SettledWindow: 1000})
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	for i := range 500 {
		rid := "r" + string(rune('a'+i%26)) + time.Duration(i).String()
		s.issue("d1", rid, "GET", "")
		s.api("d1", rid, "GET", "", "A1", ledger.OutcomeOK)
		s.settle("d1", rid, 200, ledger.OutcomeOK)
	}
	for _, e := range s.evs {
		c.Observe(e)
	}
	assert.Len(t, c.settledByRID, 500)
	for _, r := range c.settledByRID {
		require.Nil(t, r.evidence, "request %s", r.rid)
	}
	assert.Len(t, c.freeEvidence, 1, "one buffer, reused by every request")
}

// A refresh without an expiry signal is judged by the device's clock: after
// device.clock says the phone runs 3h ahead, its token (2h TTL) looks expired
// to it and one refresh is justified; a phone 1m ahead has no such excuse.
func TestProactiveRefreshJudgedByTheDevicesClock(t *testing.T) {
	for _, tc := range []struct {
		offset string
		ok     bool
	}{{"3h0m0s", true}, {"1m0s", false}, {"", false}} {
		t.Run("offset "+tc.offset, func(t *testing.T) {
			s := newScript()
			s.login("d1", "c1", "A1", "F1")
			s.evs[len(s.evs)-1].Expires = s.t.Add(2 * time.Hour)
			s.issue("d1", "r1", "GET", "")
			s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeOK)
			s.settle("d1", "r1", 200, ledger.OutcomeOK)
			if tc.offset != "" {
				s.add(ledger.Event{Source: ledger.SourceHarness, Kind: ledger.KindDeviceClock, Device: "d1", Detail: tc.offset})
			}
			s.refresh("d1", "R1", "A2", "F1", ledger.OutcomeOK)
			sum := s.check(t)
			want := summary.Fail
			if tc.ok {
				want = summary.Pass
			}
			assert.Equal(t, want, sum.Invariants[summary.SingleRefresh].Verdict, "%+v", sum.Invariants[summary.SingleRefresh].Examples)
		})
	}
}

// The chart's login legend counts what the key numbers count: the harness's
// own logins (backendcheck looking at a backend) are in neither.
func TestTimelineLeavesOutTheHarnessOwnLogins(t *testing.T) {
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	s.login("checker", "c2", "B1", "F2")
	s.add(ledger.Event{Source: ledger.SourceHarness, Kind: ledger.KindAPI, Device: "checker", Route: "/api/orders", Token: "B1", Outcome: ledger.OutcomeOK, Status: 200})
	sum := s.check(t)
	logins := 0
	for _, m := range sum.Timeline {
		if m.Kind == "login" {
			logins++
			assert.Equal(t, "d1", m.Device)
		}
	}
	assert.Equal(t, 1, sum.Refresh.Logins)
	assert.Equal(t, sum.Refresh.Logins, logins, "legend and key numbers agree")
}

// A request id used again while its first request is still in the settled
// window: when the first one leaves the window, the second stays tracked,
// so its attempt is seen and its answer judged genuine.
func TestReusedRIDOutlivesTheFirstRequestsWindow(t *testing.T) {
	l := ledger.New(ledger.Options{Memory: true})
	c := New(Options{SettledWindow: 2})
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	s.issue("d1", "x", "GET", "")
	s.api("d1", "x", "GET", "", "A1", ledger.OutcomeOK)
	s.settle("d1", "x", 200, ledger.OutcomeOK)
	s.issue("d1", "x", "GET", "")            // the same id again, the first still in the window
	for _, rid := range []string{"y", "z"} { // push the first x out of the window
		s.issue("d1", rid, "GET", "")
		s.api("d1", rid, "GET", "", "A1", ledger.OutcomeOK)
		s.settle("d1", rid, 200, ledger.OutcomeOK)
	}
	s.api("d1", "x", "GET", "", "A1", ledger.OutcomeOK)
	s.settle("d1", "x", 200, ledger.OutcomeOK)
	for _, e := range s.evs {
		c.Observe(l.Append(e))
	}
	sum := summary.New("x", "y")
	c.Finish(sum)
	assert.Equal(t, 0, sum.Invariants[summary.GenuineAnswers].Violations, "%+v", sum.Invariants[summary.GenuineAnswers].Examples)
	assert.Equal(t, 4, sum.Invariants[summary.GenuineAnswers].Checked)
	assert.Equal(t, 0, sum.Invariants[summary.NoLostRequests].Violations)
}
