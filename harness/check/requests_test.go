package check

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// A wrapper that reshapes every request (a different body than the caller's)
// replays the attempt that met the expiry: correct. Replaying anything else
// is not.
func TestReplayIsComparedWithTheAttemptThatMetTheExpiry(t *testing.T) {
	run := func(replayBody string) *summary.Summary {
		s := newScript()
		s.login("d1", "c1", "A1", "F1")
		s.issue("d1", "r1", "POST", "caller")
		s.api("d1", "r1", "POST", "wrapped", "A1", ledger.OutcomeExpired)
		s.refresh("d1", "R1", "A2", "F1", ledger.OutcomeOK)
		s.api("d1", "r1", "POST", replayBody, "A2", ledger.OutcomeOK)
		s.settle("d1", "r1", 200, ledger.OutcomeOK)
		return s.check(t)
	}
	sum := run("wrapped")
	assert.Equal(t, summary.Pass, sum.Invariants[summary.CorrectReplay].Verdict, "%+v", sum.Invariants[summary.CorrectReplay].Examples)
	sum = run("caller")
	inv := sum.Invariants[summary.CorrectReplay]
	require.Equal(t, summary.Fail, inv.Verdict)
	assert.Contains(t, inv.Examples[0].Explanation, "the attempt that met the expiry")
}

func TestGenuineAnswers(t *testing.T) {
	cases := map[string]struct {
		build func(s *script)
		want  string // "" = pass
	}{
		"backend's answer": {func(s *script) { s.get("d1", "r1", "A1") }, ""},
		"invented success": {func(s *script) {
			s.issue("d1", "r1", "GET", "")
			s.settle("d1", "r1", 200, ledger.OutcomeOK)
		}, "never reached the backend"},
		"expiry turned into an empty success": {func(s *script) {
			s.issue("d1", "r1", "GET", "")
			s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeExpired)
			s.settle("d1", "r1", 200, ledger.OutcomeOK)
		}, "made the answer up"},
		"no HTTP status": {func(s *script) {
			s.issue("d1", "r1", "GET", "")
			s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeOK)
			s.settle("d1", "r1", 0, ledger.OutcomeOK)
		}, "no HTTP status"},
		"status 700": {func(s *script) {
			s.issue("d1", "r1", "GET", "")
			s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeOK)
			s.settle("d1", "r1", 700, ledger.OutcomeOK)
		}, "no HTTP status"},
		"a body that is not the backend's": {func(s *script) {
			s.issue("d1", "r1", "GET", "")
			s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeOK)
			s.settle("d1", "r1", 200, ledger.OutcomeOK)
			s.evs[len(s.evs)-1].Detail = ledger.NoteNoRID
		}, "does not carry its request id"},
		"an error surfaced is no answer to judge": {func(s *script) {
			s.issue("d1", "r1", "GET", "")
			s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeOK)
			s.settle("d1", "r1", 0, ledger.OutcomeRejected)
		}, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := newScript()
			s.login("d1", "c1", "A1", "F1")
			tc.build(s)
			inv := s.check(t).Invariants[summary.GenuineAnswers]
			if tc.want == "" {
				assert.NotEqual(t, summary.Fail, inv.Verdict, "%+v", inv.Examples)
				return
			}
			require.Equal(t, summary.Fail, inv.Verdict)
			assert.Contains(t, inv.Examples[0].Explanation, tc.want)
		})
	}
}

func TestLateIsCountedNotLost(t *testing.T) {
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	s.issue("d1", "r1", "GET", "")
	s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeOK)
	s.settle("d1", "r1", 200, ledger.OutcomeOK)
	s.evs[len(s.evs)-1].Detail = ledger.NoteLate
	sum := s.check(t)
	assert.Equal(t, 1, sum.Requests.Late)
	assert.Equal(t, 0, sum.Requests.Lost)
	assert.Equal(t, summary.Pass, sum.Invariants[summary.NoLostRequests].Verdict)
}

// A style without a refresh route re-logs in through wx.login; when
// wx.login itself fails on the phone nothing reaches the backend, and a
// request that met the expiry rightly settles with an error. Without that
// failure the same unreplayed request is a correct-replay violation.
func TestFailedWxLoginExcusesAnUnreplayedRequest(t *testing.T) {
	run := func(wxLoginFails bool) *summary.Summary {
		s := newScript()
		s.login("d1", "c1", "A1", "F1")
		s.issue("d1", "r1", "GET", "")
		s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeExpired)
		if wxLoginFails {
			// As mock WeChat records an injected wx.login fault.
			s.add(ledger.Event{Source: ledger.SourceWechat, Kind: ledger.KindFault, Route: "wx.login", Device: "d1", Outcome: ledger.OutcomeFault, Detail: "f1 errcode=-1"})
		}
		s.settle("d1", "r1", 0, ledger.OutcomeRejected)
		return s.check(t)
	}
	assert.Equal(t, summary.Pass, run(true).Invariants[summary.CorrectReplay].Verdict)
	inv := run(false).Invariants[summary.CorrectReplay]
	require.Equal(t, summary.Fail, inv.Verdict)
	assert.Contains(t, inv.Examples[0].Explanation, "although no refresh failed")
}

// Under overload (SPEC §5: verdicts must not depend on machine load): a
// request that met expiry and whose renewal ran out of time while the client
// still waited on the servers settles late with an error, and one given up
// on while the client still waited on busy servers is lost; with the
// driver's note that the servers owed the client an answer neither is the
// client's fault. Without the note both are violations, as before.
func TestServersOwedExcusesUnderLoad(t *testing.T) {
	run := func(owed bool) *summary.Summary {
		note := func(detail string) string {
			detail = ledger.AddNote(detail, ledger.NoteLate)
			if owed {
				detail = ledger.AddNote(detail, ledger.NoteServersOwed)
			}
			return detail
		}
		s := newScript()
		s.login("d1", "c1", "A1", "F1")
		s.issue("d1", "r1", "GET", "")
		s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeExpired)
		s.settle("d1", "r1", 0, ledger.OutcomeRejected)
		s.evs[len(s.evs)-1].Detail = note("refresh failed: context deadline exceeded")
		s.issue("d1", "r2", "GET", "")
		s.settle("d1", "r2", 0, ledger.OutcomeLost)
		s.evs[len(s.evs)-1].Detail = "no answer within 15s: the servers were still busy at the 3s deadline, and the client did not settle by the 15s limit"
		if owed {
			s.evs[len(s.evs)-1].Detail = ledger.AddNote(s.evs[len(s.evs)-1].Detail, ledger.NoteServersOwed)
		}
		return s.check(t)
	}
	excused := run(true)
	assert.Equal(t, summary.Pass, excused.Invariants[summary.CorrectReplay].Verdict)
	assert.Equal(t, summary.Pass, excused.Invariants[summary.NoLostRequests].Verdict)
	assert.Equal(t, 1, excused.Requests.Lost, "the caller still got no answer")
	assert.Contains(t, strings.Join(excused.Notes, "\n"), "1 lost request(s) were given up on while the client was still waiting on the servers")

	blamed := run(false)
	assert.Equal(t, summary.Fail, blamed.Invariants[summary.CorrectReplay].Verdict)
	assert.Equal(t, summary.Fail, blamed.Invariants[summary.NoLostRequests].Verdict)
	assert.NotContains(t, strings.Join(blamed.Notes, "\n"), "given up on while")
}

// A request replayed once with the new token, whose replay was refused again
// (the token expired on its way: slow servers, a short lifetime), was
// replayed: its caller getting that refusal is no correct-replay violation.
// Passing the first refusal through, never replayed, still is one.
func TestReplayRefusedAgainIsAReplay(t *testing.T) {
	build := func(replay bool) *summary.Summary {
		s := newScript()
		s.login("d1", "c1", "A1", "F1")
		s.issue("d1", "r1", "GET", "")
		s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeExpired)
		if replay {
			s.refresh("d1", "R1", "A2", "F1", ledger.OutcomeOK)
			s.api("d1", "r1", "GET", "", "A2", ledger.OutcomeExpired)
		}
		s.settle("d1", "r1", 401, ledger.OutcomeOK)
		return s.check(t)
	}
	inv := build(true).Invariants[summary.CorrectReplay]
	assert.Equal(t, summary.Pass, inv.Verdict, "%+v", inv.Examples)
	inv = build(false).Invariants[summary.CorrectReplay]
	require.Equal(t, summary.Fail, inv.Verdict)
	assert.Contains(t, inv.Examples[0].Explanation, "was not replayed")
}

// A request that met the expiry and whose caller got the 401 although the
// device renewed its token meanwhile (a wrapper that left it out of the
// refresh's queue) is told apart from one whose device never renewed.
func TestNotReplayedSaysTheDeviceHadANewToken(t *testing.T) {
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	s.issue("d1", "r1", "GET", "")
	s.issue("d1", "r2", "GET", "")
	s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeExpired)
	s.api("d1", "r2", "GET", "", "A1", ledger.OutcomeExpired)
	s.refresh("d1", "R1", "A2", "F1", ledger.OutcomeOK)
	s.api("d1", "r1", "GET", "", "A2", ledger.OutcomeOK)
	s.settle("d1", "r1", 200, ledger.OutcomeOK)
	s.settle("d1", "r2", 401, ledger.OutcomeOK)
	s.login("d2", "c2", "B1", "F2")
	s.issue("d2", "q1", "GET", "")
	s.api("d2", "q1", "GET", "", "B1", ledger.OutcomeExpired)
	s.settle("d2", "q1", 401, ledger.OutcomeOK)
	cr := s.check(t).Invariants[summary.CorrectReplay]
	require.Equal(t, 2, cr.Violations)
	byRID := map[string]string{}
	for _, v := range cr.Examples {
		byRID[v.RIDs[0]] = v.Explanation
	}
	assert.Contains(t, byRID["r2"], "met expiry and was not replayed: its caller got the expiry answer (HTTP 401) instead of the real one, although the device had a new token A2 since")
	assert.Contains(t, byRID["r2"], "(a refresh after this request met the expiry)")
	assert.NotContains(t, byRID["q1"], "new token")
}

// A lost request whose last attempt met the expiry, never re-sent although
// its device renewed (a wrapper that dropped a waiter of its refresh), says
// so: the user sees where the request stopped.
func TestLostRequestSaysWhereItStopped(t *testing.T) {
	s := newScript()
	s.login("d1", "c1", "A1", "F1")
	s.issue("d1", "r1", "GET", "")
	s.issue("d1", "r2", "GET", "")
	s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeExpired)
	s.api("d1", "r2", "GET", "", "A1", ledger.OutcomeExpired)
	s.refresh("d1", "R1", "A2", "F1", ledger.OutcomeOK)
	s.api("d1", "r1", "GET", "", "A2", ledger.OutcomeOK)
	s.settle("d1", "r1", 200, ledger.OutcomeOK)
	s.add(ledger.Event{Source: ledger.SourceClient, Kind: ledger.KindSettle, Device: "d1", RID: "r2", Outcome: ledger.OutcomeLost, Detail: "no answer within 3s"})
	s.issue("d1", "r3", "GET", "")
	s.add(ledger.Event{Source: ledger.SourceClient, Kind: ledger.KindSettle, Device: "d1", RID: "r3", Outcome: ledger.OutcomeLost, Detail: "no answer within 3s"})
	nl := s.check(t).Invariants[summary.NoLostRequests]
	require.Equal(t, 2, nl.Violations)
	byRID := map[string]string{}
	for _, v := range nl.Examples {
		byRID[v.RIDs[0]] = v.Explanation
	}
	assert.Contains(t, byRID["r2"], "was lost: no answer within 3s (the caller's promise/callback never completed); its last attempt was answered HTTP 401 (expired) and it was never re-sent, although the device had a new token A2 since")
	assert.Contains(t, byRID["r3"], "; it never reached the backend")

	// One whose answer came and went nowhere (a single-slot wrapper).
	s = newScript()
	s.login("d1", "c1", "A1", "F1")
	s.issue("d1", "r1", "GET", "")
	s.api("d1", "r1", "GET", "", "A1", ledger.OutcomeOK)
	s.add(ledger.Event{Source: ledger.SourceClient, Kind: ledger.KindSettle, Device: "d1", RID: "r1", Outcome: ledger.OutcomeLost, Detail: "no answer within 3s"})
	nl = s.check(t).Invariants[summary.NoLostRequests]
	require.Len(t, nl.Examples, 1)
	assert.Contains(t, nl.Examples[0].Explanation, "; its last attempt (of 1) was answered HTTP 200 (ok): the wrapper had that answer and did not deliver it")
}
