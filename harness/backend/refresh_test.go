package backend

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

func invalidGrant(desc string) string {
	return `{"error":"invalid_grant","error_description":"` + desc + `"}`
}

func TestParseReuse(t *testing.T) {
	for in, want := range map[string]Reuse{
		"":           {Mode: ReuseStrict},
		"strict":     {Mode: ReuseStrict},
		"grace:30s":  {Mode: ReuseGrace, Grace: 30 * time.Second},
		"grace:0s":   {Mode: ReuseGrace},
		"reuse:0":    {Mode: ReuseCount},
		"reuse:3":    {Mode: ReuseCount, Max: 3},
		" reuse:2 ":  {Mode: ReuseCount, Max: 2},
		"grace:1m5s": {Mode: ReuseGrace, Grace: 65 * time.Second},
	} {
		got, err := ParseReuse(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
		again, err := ParseReuse(got.String())
		require.NoError(t, err)
		assert.Equal(t, got, again, "String round-trips")
	}
	for _, bad := range []string{"strict:1", "grace", "grace:", "grace:-1s", "grace:soon", "reuse:", "reuse:-1", "reuse:x", "reuse:99999999999", "lenient", "STRICT"} {
		_, err := ParseReuse(bad)
		assert.Error(t, err, bad)
	}
}

func TestRefreshRotatesAndOldAccessStaysValid(t *testing.T) {
	e := newEnv(t, Config{})
	p1 := e.login("alice")
	p2 := decodePair(t, e.refresh(p1.Refresh))
	assert.NotEqual(t, p1.Refresh, p2.Refresh)
	assert.NotEqual(t, p1.Access, p2.Access)
	assert.Equal(t, claimsOf(t, p1.Access)["fam"], claimsOf(t, p2.Access)["fam"], "same family")
	// Rotation does not revoke the old access token: it expires on its own.
	assert.Equal(t, 200, e.do("GET", "/api/x", "", bearer(p1.Access)).Code)
	assert.Equal(t, 200, e.do("GET", "/api/x", "", bearer(p2.Access)).Code)
	ev := e.lastEvent(ledger.KindRefresh)
	assert.Equal(t, ledger.OutcomeOK, ev.Outcome)
	assert.Equal(t, claimsOf(t, p2.Access)["jti"], ev.Detail)
	assert.Equal(t, claimsOf(t, p2.Access)["fam"], ev.Family)
	assert.Equal(t, openid("alice"), ev.Subject)
	assert.Regexp(t, `^r-`, ev.Token)
	p3 := decodePair(t, e.refresh(p2.Refresh))
	assert.NotEmpty(t, p3.Access)
}

func TestStrictReuseRevokesFamily(t *testing.T) {
	e := newEnv(t, Config{})
	p1 := e.login("alice")
	other := e.login("alice") // another family of the same user survives
	p2 := decodePair(t, e.refresh(p1.Refresh))

	expectJSON(t, e.refresh(p1.Refresh), 401, invalidGrant("reuse of rotated refresh token"))
	// whole family dead: the successor refresh token and every access token
	expectJSON(t, e.refresh(p2.Refresh), 401, invalidGrant("refresh token family revoked"))
	expectJSON(t, e.do("GET", "/api/x", "", bearer(p1.Access)), 401, invalidBody)
	expectJSON(t, e.do("GET", "/api/x", "", bearer(p2.Access)), 401, invalidBody)
	assert.Equal(t, 200, e.do("GET", "/api/x", "", bearer(other.Access)).Code)
	assert.Equal(t, 200, e.refresh(other.Refresh).Code)

	refs := e.events(ledger.KindRefresh)
	require.Len(t, refs, 4)
	assert.Equal(t, []string{"ok", "reused", "revoked", "ok"}, []string{refs[0].Outcome, refs[1].Outcome, refs[2].Outcome, refs[3].Outcome})
	rev := e.lastEvent(ledger.KindRevoke)
	assert.Equal(t, "reuse of rotated refresh token", rev.Detail)
	assert.Equal(t, refs[1].Family, rev.Family)
	assert.Equal(t, refs[1].Token, rev.Token)
	assert.Equal(t, openid("alice"), rev.Subject)
	assert.Greater(t, rev.Seq, refs[1].Seq, "the revoke follows the reuse that caused it")
	st := e.s.Stats()
	assert.EqualValues(t, 1, st.FamiliesRevoked)
	assert.EqualValues(t, 1, st.Refreshes["reused"])
	assert.EqualValues(t, 1, st.Refreshes["revoked"])
}

func TestGraceReuse(t *testing.T) {
	e := newEnv(t, Config{Reuse: "grace:30s"})
	p1 := e.login("alice")
	p2 := decodePair(t, e.refresh(p1.Refresh))
	e.clk.Advance(29 * time.Second)
	p3 := decodePair(t, e.refresh(p1.Refresh)) // within grace: a fresh pair, same family
	assert.NotEqual(t, p2.Refresh, p3.Refresh)
	assert.Equal(t, claimsOf(t, p2.Access)["fam"], claimsOf(t, p3.Access)["fam"])
	ev := e.lastEvent(ledger.KindRefresh)
	assert.Equal(t, ledger.OutcomeOK, ev.Outcome)
	assert.Equal(t, 2, ev.Attempt, "second presentation")
	assert.Equal(t, 200, e.refresh(p2.Refresh).Code, "successors still work")

	e.clk.Advance(time.Second) // 30s after rotation: the window is closed
	expectJSON(t, e.refresh(p1.Refresh), 401, invalidGrant("reuse of rotated refresh token"))
	expectJSON(t, e.refresh(p3.Refresh), 401, invalidGrant("refresh token family revoked"))
	expectJSON(t, e.do("GET", "/api/x", "", bearer(p3.Access)), 401, invalidBody)
}

func TestReuseCount(t *testing.T) {
	e := newEnv(t, Config{Reuse: "reuse:2"})
	p1 := e.login("alice")
	for i := 0; i < 3; i++ { // first use + 2 reuses
		assert.Equal(t, 200, e.refresh(p1.Refresh).Code, "presentation %d", i+1)
	}
	expectJSON(t, e.refresh(p1.Refresh), 401, invalidGrant("reuse of rotated refresh token"))
	assert.EqualValues(t, 1, e.s.Stats().FamiliesRevoked)

	e2 := newEnv(t, Config{Reuse: "reuse:0"}) // reuse:0 behaves as strict
	q := e2.login("bob")
	assert.Equal(t, 200, e2.refresh(q.Refresh).Code)
	assert.Equal(t, 401, e2.refresh(q.Refresh).Code)
}

func TestRefreshExpiredAndUnknown(t *testing.T) {
	e := newEnv(t, Config{RefreshTTL: 24 * time.Hour})
	p := e.login("alice")
	e.clk.Advance(24 * time.Hour)
	expectJSON(t, e.refresh(p.Refresh), 401, invalidGrant("refresh token expired"))
	ev := e.lastEvent(ledger.KindRefresh)
	assert.Equal(t, ledger.OutcomeExpired, ev.Outcome)
	assert.Equal(t, 401, ev.Status)
	assert.EqualValues(t, 0, e.s.Stats().FamiliesRevoked, "expiry revokes nothing")

	expectJSON(t, e.refresh("not-a-token"), 401, invalidGrant("unknown refresh token"))
	ev = e.lastEvent(ledger.KindRefresh)
	assert.Equal(t, "unknown", ev.Token)
	assert.Equal(t, ledger.OutcomeInvalid, ev.Outcome)
}

// Five parallel refreshes with one token under strict: exactly one wins, the
// others are reuse, and reuse detection revokes the family, winner included.
func TestParallelRefreshStrict(t *testing.T) {
	for round := 0; round < 20; round++ {
		e := newEnv(t, Config{})
		p := e.login("alice")
		codes := make([]int, 5)
		bodies := make([]*httptest.ResponseRecorder, 5)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				bodies[i] = e.refresh(p.Refresh)
				codes[i] = bodies[i].Code
			}()
		}
		close(start)
		wg.Wait()
		wins := 0
		var winner pair
		for i, c := range codes {
			if c == 200 {
				wins++
				winner = decodePair(t, bodies[i])
			} else {
				require.Equal(t, 401, c)
			}
		}
		require.Equal(t, 1, wins, "exactly one 200: %v", codes)

		// The winner's new tokens died with the family.
		expectJSON(t, e.do("GET", "/api/x", "", bearer(winner.Access)), 401, invalidBody)
		expectJSON(t, e.refresh(winner.Refresh), 401, invalidGrant("refresh token family revoked"))

		var outcomes []string
		for _, ev := range e.led.Events() {
			switch ev.Kind {
			case ledger.KindRefresh:
				outcomes = append(outcomes, ev.Outcome)
			case ledger.KindRevoke:
				outcomes = append(outcomes, "REVOKE:"+ev.Detail)
			}
		}
		assert.Equal(t, []string{"ok", "reused", "REVOKE:reuse of rotated refresh token", "revoked", "revoked", "revoked", "revoked"}, outcomes)
	}
}

// A rotation answered after its client had gone is noted undelivered, so the
// checker counts the client's next call as a retry; one answered to a client
// still waiting is not.
func TestRefreshForAGoneClientIsNotedUndelivered(t *testing.T) {
	e := newEnv(t, Config{})
	p1 := e.login("alice")
	p2 := decodePair(t, e.refresh(p1.Refresh))
	assert.Empty(t, e.events(ledger.KindUndelivered), "the client was there")

	r := httptest.NewRequest("POST", "/auth/refresh", strings.NewReader(`{"refresh_token":"`+p2.Refresh+`"}`))
	ctx, cancel := context.WithCancel(r.Context())
	cancel() // the client timed out while the request waited
	w := httptest.NewRecorder()
	e.s.ServeHTTP(w, r.WithContext(ctx))
	require.Equal(t, 200, w.Code, w.Body.String())
	got := e.events(ledger.KindUndelivered)
	require.Len(t, got, 1)
	assert.Equal(t, e.lastEvent(ledger.KindRefresh).Detail, got[0].Token, "names the access token the client never got")
	assert.Equal(t, openid("alice"), got[0].Subject)
}
