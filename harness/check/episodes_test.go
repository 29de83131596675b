package check

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

func (s *script) verify(dev, jti, outcome string) {
	st := 200
	if outcome != ledger.OutcomeOK {
		st = 401
	}
	s.add(ledger.Event{Source: ledger.SourceBackend, Kind: ledger.KindVerify, Subject: "o-" + dev, Token: jti, Outcome: outcome, Status: st, Route: "/auth/verify", Method: "GET"})
}

// loginFor is a login whose access token lives for life.
func (s *script) loginFor(dev, code, jti, fam string, life time.Duration) {
	s.login(dev, code, jti, fam)
	s.evs[len(s.evs)-1].Expires = s.t.Add(life)
}

func (s *script) refreshFor(dev, presented, newJTI, fam string, life time.Duration) {
	s.refresh(dev, presented, newJTI, fam, ledger.OutcomeOK)
	s.evs[len(s.evs)-1].Expires = s.t.Add(life)
}

func (s *script) undelivered(dev, jti string) {
	s.add(ledger.Event{Source: ledger.SourceBackend, Kind: ledger.KindUndelivered, Subject: "o-" + dev, Token: jti})
}

func (s *script) get(dev, rid, jti string) {
	s.issue(dev, rid, "GET", "")
	s.api(dev, rid, "GET", "", jti, ledger.OutcomeOK)
	s.settle(dev, rid, 200, ledger.OutcomeOK)
}

// A verify-first client: it asks the verify route, and logs in again once
// when verify answers expired. That verify answer opens the episode.
func TestVerifyFirstClientHasOneLoginPerEpisode(t *testing.T) {
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	s.verify("d1", "A1", ledger.OutcomeOK)
	s.get("d1", "r1", "A1")
	s.verify("d1", "A1", ledger.OutcomeExpired)
	s.login("d1", "c2", "A2", "F2")
	s.get("d1", "r2", "A2")
	sum := s.check(t)
	assert.Equal(t, summary.Pass, sum.Invariants[summary.SingleRefresh].Verdict, "%+v", sum.Invariants[summary.SingleRefresh].Examples)
	assert.Equal(t, 1, sum.Refresh.ExpiryEpisodes)
	assert.Equal(t, 1, sum.Refresh.FirstLogins)
	assert.Equal(t, 1.0, sum.Refresh.Amplification)

	// Broken the same way a verify-before-every-call wrapper is: two
	// concurrent callers each log in after the one expired verify.
	s.verify("d1", "A2", ledger.OutcomeExpired)
	s.login("d1", "c3", "A3", "F3")
	s.login("d1", "c4", "A4", "F4")
	sum = s.check(t)
	assert.Equal(t, summary.Fail, sum.Invariants[summary.SingleRefresh].Verdict)
	assert.Equal(t, 1.5, sum.Refresh.Amplification) // 3 logins in 2 episodes
}

// The backend rotated, but the client had timed out: it never got the new
// pair, so its retry with the old refresh token (refused: strict reuse) and
// its fallback login are bounded retries, not a storm.
func TestRetryAfterAnUndeliveredRotationIsNotAStorm(t *testing.T) {
	build := func(gone bool) *summary.Summary {
		s := newScript()
		s.login("d1", "c1", "A1", "F1")
		s.issue("d1", "r1", "GET", "")
		s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeExpired)
		s.refresh("d1", "R1", "A2", "F1", ledger.OutcomeOK)
		if gone {
			s.undelivered("d1", "A2")
		}
		s.refresh("d1", "R1", "", "F1", ledger.OutcomeReused)
		s.login("d1", "c2", "A3", "F2")
		s.api("d1", "r1", "GET", "", "A3", ledger.OutcomeOK)
		s.settle("d1", "r1", 200, ledger.OutcomeOK)
		return s.check(t)
	}
	sum := build(true)
	assert.Equal(t, summary.Pass, sum.Invariants[summary.SingleRefresh].Verdict, "%+v", sum.Invariants[summary.SingleRefresh].Examples)
	assert.Equal(t, 2, sum.Refresh.Retries)
	assert.Equal(t, 1, sum.Refresh.ExpiryEpisodes)
	assert.Equal(t, 1.0, sum.Refresh.Amplification)

	// The same calls after a rotation the client did get: a storm.
	sum = build(false)
	inv := sum.Invariants[summary.SingleRefresh]
	require.Equal(t, summary.Fail, inv.Verdict)
	assert.Contains(t, inv.Examples[0].Explanation, "already had a fresh token")
}

func TestRetryAfterAFailedFirstLoginIsCounted(t *testing.T) {
	s := newScript()
	s.add(ledger.Event{Source: ledger.SourceBackend, Kind: ledger.KindBackendLogin, Device: "d1", Code: "c0", Outcome: ledger.OutcomeWechat, Errcode: -1, Status: 503})
	s.login("d1", "c1", "A1", "F1")
	s.get("d1", "r1", "A1")
	sum := s.check(t)
	assert.Equal(t, summary.Pass, sum.Verdict, "%v", sum.FailedInvariants())
	assert.Equal(t, 1, sum.Refresh.FirstLogins)
	assert.Equal(t, 1, sum.Refresh.Retries)
	assert.Equal(t, 0, sum.Refresh.ExpiryEpisodes)
	assert.Equal(t, 0.0, sum.Refresh.Amplification)
	assert.Equal(t, 1, sum.Invariants[summary.SingleRefresh].Checked)
}

// A proactive refresh is justified once per token, in a window no longer than
// half the token's life.
func TestProactiveRefreshWindowScalesWithTheTokenLife(t *testing.T) {
	t.Run("correct: 2h token refreshed 4 minutes early, once", func(t *testing.T) {
		s := newScript()
		s.loginFor("d1", "c1", "A1", "F1", 2*time.Hour)
		s.t = s.t.Add(2*time.Hour - 4*time.Minute)
		s.refreshFor("d1", "R1", "A2", "F1", 2*time.Hour)
		s.get("d1", "r1", "A2")
		sum := s.check(t)
		assert.Equal(t, summary.Pass, sum.Invariants[summary.SingleRefresh].Verdict, "%+v", sum.Invariants[summary.SingleRefresh].Examples)
		assert.Equal(t, 1, sum.Refresh.ExpiryEpisodes)
		assert.Equal(t, 1.0, sum.Refresh.Amplification)
	})
	t.Run("broken: 2-minute tokens, a 5-minute margin refreshes before every request", func(t *testing.T) {
		s := newScript()
		s.loginFor("d1", "c1", "A1", "F1", 2*time.Minute)
		prev := "A1"
		for i, next := range []string{"A2", "A3", "A4"} {
			s.t = s.t.Add(time.Second)
			s.refreshFor("d1", "R"+prev, next, "F1", 2*time.Minute)
			s.get("d1", "r"+string(rune('1'+i)), next)
			prev = next
		}
		sum := s.check(t)
		inv := sum.Invariants[summary.SingleRefresh]
		require.Equal(t, summary.Fail, inv.Verdict)
		assert.Equal(t, 3, inv.Violations)
		assert.Greater(t, sum.Refresh.Amplification, 1.0)
	})
	t.Run("broken: two proactive refreshes of one token", func(t *testing.T) {
		s := newScript()
		s.loginFor("d1", "c1", "A1", "F1", 2*time.Hour)
		s.t = s.t.Add(2*time.Hour - time.Minute)
		s.refreshFor("d1", "R1", "A2", "F1", 2*time.Hour)
		s.refreshFor("d1", "R2", "A3", "F1", 2*time.Hour) // A2 is brand new
		sum := s.check(t)
		assert.Equal(t, summary.Fail, sum.Invariants[summary.SingleRefresh].Verdict)
	})
}

// An expiry the device could not act on (wx.login failed on the phone, so no
// call reached the backend) has nothing to amplify: it is not counted, and a
// correct client's amplification stays 1.00.
func TestAnEpisodeCountsOnceTheDeviceActsOnIt(t *testing.T) {
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	s.issue("d1", "r1", "GET", "")
	s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeExpired)
	s.settle("d1", "r1", 0, ledger.OutcomeRejected) // wx.login:fail — nothing reached the backend
	sum := s.check(t)
	assert.Equal(t, 0, sum.Refresh.ExpiryEpisodes)

	s.issue("d1", "r2", "GET", "")
	s.api("d1", "r2", "GET", "", "A1", ledger.OutcomeExpired)
	s.login("d1", "c2", "A2", "F2")
	s.api("d1", "r2", "GET", "", "A2", ledger.OutcomeOK)
	s.settle("d1", "r2", 200, ledger.OutcomeOK)
	sum = s.check(t)
	assert.Equal(t, 1, sum.Refresh.ExpiryEpisodes)
	assert.Equal(t, 1.0, sum.Refresh.Amplification)
	assert.Equal(t, summary.Pass, sum.Invariants[summary.SingleRefresh].Verdict)
}

// The client's own word that its refresh got no answer undoes the device's
// last success only while the device has not used that token: the backend
// answered in time for its own check, the answer was lost on the way.
func TestClientSideNoAnswerUndoesAnUnusedSuccess(t *testing.T) {
	build := func(usedFirst bool) *summary.Summary {
		s := newScript()
		s.login("d1", "c1", "A1", "F1")
		s.issue("d1", "r1", "GET", "")
		s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeExpired)
		s.refresh("d1", "R1", "A2", "F1", ledger.OutcomeOK)
		if usedFirst {
			s.get("d1", "r0", "A2")
		}
		s.add(ledger.Event{Source: ledger.SourceClient, Kind: ledger.KindUndelivered, Device: "d1", Route: "refresh", Detail: "timeout"})
		s.refresh("d1", "R1", "", "F1", ledger.OutcomeReused)
		s.login("d1", "c2", "A3", "F2")
		s.api("d1", "r1", "GET", "", "A3", ledger.OutcomeOK)
		s.settle("d1", "r1", 200, ledger.OutcomeOK)
		return s.check(t)
	}
	sum := build(false)
	assert.Equal(t, summary.Pass, sum.Invariants[summary.SingleRefresh].Verdict, "%+v", sum.Invariants[summary.SingleRefresh].Examples)
	assert.Equal(t, 2, sum.Refresh.Retries)
	assert.Equal(t, 1.0, sum.Refresh.Amplification)

	sum = build(true) // it did get A2: the later refresh is a storm
	assert.Equal(t, summary.Fail, sum.Invariants[summary.SingleRefresh].Verdict)
}

// The per-device figures the reports divide by episodes must leave the first
// login out: it belongs to no episode, so a correct device (first login, one
// expiry, one refresh) makes one call per episode, not two.
func TestPerDeviceCountsFirstLoginCallsApart(t *testing.T) {
	s := newScript()
	s.add(ledger.Event{Source: ledger.SourceBackend, Kind: ledger.KindBackendLogin, Code: "c1", Outcome: ledger.OutcomeError, Status: 502, Device: "d1"}) // a failed first try
	s.login("d1", "c2", "A1", "F1")
	s.get("d1", "r1", "A1")
	s.issue("d1", "r2", "GET", "")
	s.api("d1", "r2", "GET", "", "A1", ledger.OutcomeExpired)
	s.refresh("d1", "R1", "A2", "F1", ledger.OutcomeOK)
	s.api("d1", "r2", "GET", "", "A2", ledger.OutcomeOK)
	s.settle("d1", "r2", 200, ledger.OutcomeOK)
	sum := s.check(t)
	require.Len(t, sum.PerDevice, 1)
	d := sum.PerDevice[0]
	assert.Equal(t, summary.DeviceStat{Device: "d1", Episodes: 1, Refreshes: 1, Logins: 2, FirstLoginCalls: 2}, summary.DeviceStat{Device: d.Device, Episodes: d.Episodes, Refreshes: d.Refreshes, Logins: d.Logins, FirstLoginCalls: d.FirstLoginCalls})
	assert.Equal(t, 1, d.EpisodeCalls())
}

// A refresh that got no answer as the client saw it (its timeout, on slow
// servers) and never reached the backend is still a failed refresh: the
// request settled with its error is no correct-replay violation. Without the
// client's word, the same request is one.
func TestRefreshWithNoAnswerExcusesTheError(t *testing.T) {
	build := func(said bool) *summary.Summary {
		s := newScript()
		s.login("d1", "c1", "A1", "F1")
		s.issue("d1", "r1", "POST", "")
		s.api("d1", "r1", "POST", "", "A1", ledger.OutcomeExpired)
		if said {
			s.add(ledger.Event{Source: ledger.SourceClient, Kind: ledger.KindUndelivered, Device: "d1", Route: "refresh",
				Detail: "the client's refresh got no answer: context deadline exceeded"})
		}
		s.settle("d1", "r1", 0, ledger.OutcomeRejected)
		return s.check(t)
	}
	sum := build(true)
	assert.Equal(t, summary.Pass, sum.Invariants[summary.CorrectReplay].Verdict, "%+v", sum.Invariants[summary.CorrectReplay].Examples)
	sum = build(false)
	assert.Equal(t, summary.Fail, sum.Invariants[summary.CorrectReplay].Verdict)
}

// A second refresh set off by a late 401 (a request sent with the token the
// first refresh replaced, whose 401 reached the client after it) names that
// request and says what the client should have done, in both orders the
// backend can log it: answered before the first refresh (its answer was
// held up on the way) or after it.
func TestLateFourOhOneRefreshNamesTheRequest(t *testing.T) {
	for name, before := range map[string]bool{"answered before the refresh": true, "answered after it": false} {
		t.Run(name, func(t *testing.T) {
			s := newScript()
			s.login("d1", "c1", "A1", "F1")
			s.issue("d1", "r1", "GET", "")
			s.issue("d1", "r2", "GET", "")
			s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeExpired)
			if before {
				s.api("d1", "r2", "GET", "", "A1", ledger.OutcomeExpired)
			}
			s.refresh("d1", "R1", "A2", "F1", ledger.OutcomeOK)
			s.api("d1", "r1", "GET", "", "A2", ledger.OutcomeOK)
			s.settle("d1", "r1", 200, ledger.OutcomeOK)
			if !before {
				s.api("d1", "r2", "GET", "", "A1", ledger.OutcomeExpired)
			}
			s.refresh("d1", "R2", "A3", "F1", ledger.OutcomeOK)
			s.api("d1", "r2", "GET", "", "A3", ledger.OutcomeOK)
			s.settle("d1", "r2", 200, ledger.OutcomeOK)
			sum := s.check(t)
			sr := sum.Invariants[summary.SingleRefresh]
			require.Equal(t, summary.Fail, sr.Verdict)
			require.Len(t, sr.Examples, 1)
			assert.Contains(t, sr.Examples[0].Explanation, "request r2 had met the expiry of the replaced token A1 and was not replayed yet: a late 401")
			assert.NotContains(t, sr.Examples[0].Explanation, "r1", "r1 was replayed already")
			assert.Contains(t, sr.Examples[0].Explanation, "replay it with the token it has")
		})
	}

	// A refresh with no such request behind it says only what it did.
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	s.get("d1", "r1", "A1")
	s.refresh("d1", "R1", "A2", "F1", ledger.OutcomeOK)
	sr := s.check(t).Invariants[summary.SingleRefresh]
	require.Len(t, sr.Examples, 1)
	assert.NotContains(t, sr.Examples[0].Explanation, "late 401")

	// Many of them: three are named, and how many more.
	s = newScript()
	s.login("d1", "c1", "A1", "F1")
	for _, rid := range []string{"r1", "r2", "r3", "r4", "r5"} {
		s.issue("d1", rid, "GET", "")
		s.api("d1", rid, "GET", "", "A1", ledger.OutcomeExpired)
	}
	s.refresh("d1", "R1", "A2", "F1", ledger.OutcomeOK)
	s.api("d1", "r1", "GET", "", "A2", ledger.OutcomeOK)
	s.refresh("d1", "R2", "A3", "F1", ledger.OutcomeOK)
	sr = s.check(t).Invariants[summary.SingleRefresh]
	require.Len(t, sr.Examples, 1)
	assert.Contains(t, sr.Examples[0].Explanation, "requests r2, r3, r4 and 1 more had met the expiry of the replaced token A1 and were not replayed yet")

	// A refresh after a refusal that was not about the token says so.
	s = newScript()
	s.login("d1", "c1", "A1", "F1")
	s.issue("d1", "reauth", "GET", "")
	s.add(ledger.Event{Source: ledger.SourceBackend, Kind: ledger.KindAPI, Subject: "o-d1", RID: "reauth", Method: "GET", Route: "/api/reauth", Token: "A1", Outcome: ledger.OutcomeOK, Status: 401, Detail: "not_token"})
	s.refresh("d1", "R1", "A2", "F1", ledger.OutcomeOK)
	sr = s.check(t).Invariants[summary.SingleRefresh]
	require.Len(t, sr.Examples, 1)
	assert.Contains(t, sr.Examples[0].Explanation, "The only refusal it met since was request reauth's HTTP 401, which was not about the token")
}
