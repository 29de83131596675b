package refclient_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/refclient"
	"github.com/tokenstorm/tokenstorm/harness/refclient/refclienttest"
)

func TestLogsInOnFirstUseAndAttachesBearer(t *testing.T) {
	st := refclienttest.New(t, refclienttest.Options{})
	c := newRef(t, st, refclient.Options{})

	res := do(t, c, call("d1", "GET", "/api/orders", "r1", ""))
	require.NoError(t, res.Err)
	assert.Equal(t, 200, res.Status)
	assert.JSONEq(t, `{"rid":"r1","path":"/api/orders","user":"d1"}`, string(res.Body))

	s := st.Stats()
	assert.Equal(t, 1, s.WxLogins)
	assert.Equal(t, 1, s.Logins)
	assert.Equal(t, 0, s.Refreshes)
	tok, ok := c.Tokens("d1")
	require.True(t, ok)
	att := st.Attempts("r1")
	require.Len(t, att, 1)
	assert.Equal(t, tok.Access, att[0].Token)
}

func TestExpiryOneRefreshReplayWithNewTokenAndSameBody(t *testing.T) {
	st := refclienttest.New(t, refclienttest.Options{})
	c := newRef(t, st, refclient.Options{})
	warmUp(t, c, "d1")
	old, _ := c.Tokens("d1")
	st.ExpireAll()

	body := `{"item":"tea","qty":2}`
	res := do(t, c, call("d1", "POST", "/api/orders", "p1", body))
	require.NoError(t, res.Err)
	assert.Equal(t, 200, res.Status)

	cur, _ := c.Tokens("d1")
	assert.NotEqual(t, old.Access, cur.Access)
	assert.Equal(t, 1, st.Stats().Refreshes)
	assert.Equal(t, 1, st.Stats().Logins)
	att := st.Attempts("p1")
	require.Len(t, att, 2, "sent once, replayed once")
	assert.Equal(t, refclienttest.Attempt{Method: "POST", Path: "/api/orders", Token: old.Access, Body: body, Status: 401}, att[0])
	assert.Equal(t, refclienttest.Attempt{Method: "POST", Path: "/api/orders", Token: cur.Access, Body: body, Status: 200}, att[1])
	assert.Equal(t, 1, st.Effects("p1"), "executed exactly once")
}

func TestFiftyConcurrentExpiredRequestsShareOneRefresh(t *testing.T) {
	const n = 50
	st := refclienttest.New(t, refclienttest.Options{})
	c := newRef(t, st, refclient.Options{})
	warmUp(t, c, "d1")
	old, _ := c.Tokens("d1")
	st.ExpireAll()
	st.HoldExpired(n) // all n are in flight with the old token before any learns it expired

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	results := concurrently(ctx, c, n, func(i int) client.Call {
		if i%2 == 0 {
			return call("d1", "GET", "/api/orders", rid("g", i), "")
		}
		return call("d1", "POST", "/api/orders", rid("g", i), `{"n":`+rid("", i)+`}`)
	})

	cur, _ := c.Tokens("d1")
	for i, res := range results {
		require.NoError(t, res.Err, "request %d", i)
		assert.Equal(t, 200, res.Status, "request %d", i)
		att := st.Attempts(rid("g", i))
		require.Len(t, att, 2, "request %d: sent once, replayed once", i)
		assert.Equal(t, old.Access, att[0].Token)
		assert.Equal(t, 401, att[0].Status)
		assert.Equal(t, cur.Access, att[1].Token)
		assert.Equal(t, att[0].Body, att[1].Body)
		assert.Equal(t, 200, att[1].Status)
	}
	s := st.Stats()
	assert.Equal(t, 1, s.Refreshes, "single-refresh")
	assert.Equal(t, 1, s.Logins)
	assert.Equal(t, n, s.ExpiredAnswer)
}

func TestLate401ReplaysWithCurrentTokenWithoutSecondRefresh(t *testing.T) {
	st := refclienttest.New(t, refclienttest.Options{})
	c := newRef(t, st, refclient.Options{})
	warmUp(t, c, "d1")
	old, _ := c.Tokens("d1")
	st.ExpireAll()

	// A is sent with the old token; its 401 is held back.
	release := st.GateRID("late")
	lateDone := make(chan client.Result, 1)
	go func() { lateDone <- do(t, c, call("d1", "GET", "/api/slow", "late", "")) }()
	require.Eventually(t, func() bool { return len(st.Attempts("late")) == 1 }, 5*time.Second, time.Millisecond)

	// B meets the expiry, refreshes and is replayed.
	res := do(t, c, call("d1", "GET", "/api/fast", "fast", ""))
	require.NoError(t, res.Err)
	require.Equal(t, 200, res.Status)
	require.Equal(t, 1, st.Stats().Refreshes)
	cur, _ := c.Tokens("d1")

	// Now A's 401 arrives: it carried a replaced token.
	release()
	late := <-lateDone
	require.NoError(t, late.Err)
	assert.Equal(t, 200, late.Status)
	assert.Equal(t, 1, st.Stats().Refreshes, "a late 401 must not start a second refresh")
	att := st.Attempts("late")
	require.Len(t, att, 2)
	assert.Equal(t, old.Access, att[0].Token)
	assert.Equal(t, cur.Access, att[1].Token)
}

func TestProactiveRefreshBeforeExpiry(t *testing.T) {
	mc := clock.NewManual(time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC))
	st := refclienttest.New(t, refclienttest.Options{Clock: mc, AccessTTL: time.Hour})
	c := newRef(t, st, refclient.Options{ProactiveSkew: 30 * time.Second})
	warmUp(t, c, "d1")
	first, _ := c.Tokens("d1")

	mc.Advance(time.Hour - 31*time.Second) // outside the window: no refresh
	res := do(t, c, call("d1", "GET", "/api/a", "a", ""))
	require.NoError(t, res.Err)
	assert.Equal(t, 0, st.Stats().Refreshes)

	mc.Advance(2 * time.Second) // 29s before expiry: inside the window
	res = do(t, c, call("d1", "GET", "/api/b", "b", ""))
	require.NoError(t, res.Err)
	assert.Equal(t, 200, res.Status)
	assert.Equal(t, 1, st.Stats().Refreshes)
	cur, _ := c.Tokens("d1")
	assert.NotEqual(t, first.Access, cur.Access)
	att := st.Attempts("b")
	require.Len(t, att, 1, "refreshed before sending: no 401 round trip")
	assert.Equal(t, cur.Access, att[0].Token)
	assert.Equal(t, mc.Now().Add(time.Hour), cur.AccessExpiry)
}

func TestProactiveRefreshIgnoresDeviceClockSkew(t *testing.T) {
	mc := clock.NewManual(time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC))
	st := refclienttest.New(t, refclienttest.Options{Clock: mc, AccessTTL: time.Hour})
	// The phone runs 50 minutes ahead; expiry is computed from expires_in on
	// the phone's own clock, so the skew cancels out.
	c := newRef(t, st, refclient.Options{DeviceClock: func(string) clock.Clock { return clock.Offset(mc, 50*time.Minute) }})
	warmUp(t, c, "d1")
	mc.Advance(30 * time.Minute)
	res := do(t, c, call("d1", "GET", "/api/a", "a", ""))
	require.NoError(t, res.Err)
	assert.Equal(t, 0, st.Stats().Refreshes)
}

func TestShortTTLDoesNotRefreshEveryRequest(t *testing.T) {
	mc := clock.NewManual(time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC))
	st := refclienttest.New(t, refclienttest.Options{Clock: mc, AccessTTL: 10 * time.Second})
	c := newRef(t, st, refclient.Options{}) // skew 30s > TTL: the window shrinks to TTL/2
	warmUp(t, c, "d1")
	for i := range 3 {
		res := do(t, c, call("d1", "GET", "/api/a", rid("s", i), ""))
		require.NoError(t, res.Err)
	}
	assert.Equal(t, 0, st.Stats().Refreshes)
	mc.Advance(6 * time.Second)
	require.NoError(t, do(t, c, call("d1", "GET", "/api/a", "late", "")).Err)
	assert.Equal(t, 1, st.Stats().Refreshes)
}

func TestDeadRefreshTokenFallsBackToLogin(t *testing.T) {
	st := refclienttest.New(t, refclienttest.Options{})
	c := newRef(t, st, refclient.Options{})
	warmUp(t, c, "d1")
	st.RevokeAll()
	st.ExpireAll()

	res := do(t, c, call("d1", "GET", "/api/orders", "r1", ""))
	require.NoError(t, res.Err)
	assert.Equal(t, 200, res.Status)
	s := st.Stats()
	assert.Equal(t, 1, s.Refreshes, "the refresh was tried once")
	assert.Equal(t, 2, s.Logins, "then wx.login + /auth/login")
	assert.Equal(t, 2, s.WxLogins)
	assert.Len(t, st.Attempts("r1"), 2)
}

func TestStoredExpiredTokenIsRefreshed(t *testing.T) {
	st := refclienttest.New(t, refclienttest.Options{})
	first := newRef(t, st, refclient.Options{})
	warmUp(t, first, "d1")
	saved, _ := first.Tokens("d1")
	st.ExpireAll()

	t.Run("expiry unknown: the backend says", func(t *testing.T) {
		c := newRef(t, st, refclient.Options{})
		c.Seed("d1", refclient.Tokens{Access: saved.Access, Refresh: saved.Refresh})
		res := do(t, c, call("d1", "GET", "/api/orders", "seed1", ""))
		require.NoError(t, res.Err)
		assert.Equal(t, 200, res.Status)
		assert.Len(t, st.Attempts("seed1"), 2)
		assert.Equal(t, 1, st.Stats().Refreshes)
		assert.Equal(t, 1, st.Stats().Logins, "no new login")
	})
	t.Run("expiry known and past: refresh before sending", func(t *testing.T) {
		c := newRef(t, st, refclient.Options{})
		// The first subtest rotated the saved refresh token; log in on a
		// fresh client to get live ones, then seed them as already expired.
		donor := newRef(t, st, refclient.Options{})
		warmUp(t, donor, "d2")
		live, _ := donor.Tokens("d2")
		live.AccessExpiry = time.Now().Add(-time.Minute)
		c.Seed("d2", live)
		before := st.Stats().Refreshes
		res := do(t, c, call("d2", "GET", "/api/orders", "seed2", ""))
		require.NoError(t, res.Err)
		assert.Len(t, st.Attempts("seed2"), 1)
		assert.Equal(t, before+1, st.Stats().Refreshes)
	})
}

func TestInvalidCodeGetsOneNewCode(t *testing.T) {
	st := refclienttest.New(t, refclienttest.Options{})
	c := newRef(t, st, refclient.Options{})
	st.FailLogin(40029)
	res := do(t, c, call("d1", "GET", "/api/orders", "r1", ""))
	require.NoError(t, res.Err)
	assert.Equal(t, 200, res.Status)
	assert.Equal(t, 2, st.Stats().Logins)
	assert.Equal(t, 2, st.Stats().WxLogins)

	st.FailLogin(40029, 40029)
	res = do(t, c, call("d2", "GET", "/api/orders", "r2", ""))
	require.Error(t, res.Err)
	assert.ErrorIs(t, res.Err, refclient.ErrRefreshFailed)
	assert.EqualError(t, res.Err, "tokenstorm/refclient: login failed after 2 attempts: backend answered 400 invalid_code (wechat_errcode 40029)")
	assert.Empty(t, st.Attempts("r2"), "nothing sent without a token")
}

// A harness that gives each device its own clock (client.Env.DeviceClock, a
// storm's clock_skew with devices) reaches the reference client when
// Options.DeviceClock is nil; Options.DeviceClock still wins when set.
func TestEnvDeviceClockIsUsedWithoutTheOption(t *testing.T) {
	start := time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC)
	mc := clock.NewManual(start) // the stack's clock
	st := refclienttest.New(t, refclienttest.Options{Clock: mc, AccessTTL: time.Hour})
	phone := clock.NewManual(start) // the clock of device "skewed" only
	env := st.Env()
	env.DeviceClock = func(dev string) clock.Clock {
		if dev == "skewed" {
			return phone
		}
		return nil // Env.Clock
	}
	c := refclient.New(env, refclient.Options{BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })
	warmUp(t, c, "skewed")
	warmUp(t, c, "plain")

	// The phone's clock jumps past the token's expiry; the stack's does not.
	phone.Advance(2 * time.Hour)
	require.NoError(t, do(t, c, call("plain", "GET", "/api/a", "p1", "")).Err)
	assert.Equal(t, 0, st.Stats().Refreshes, "the other device keeps the stack's time")
	res := do(t, c, call("skewed", "GET", "/api/a", "s1", ""))
	require.NoError(t, res.Err)
	assert.Equal(t, 200, res.Status)
	assert.Equal(t, 1, st.Stats().Refreshes, "its token looks expired by its own clock: one proactive refresh")
	assert.Len(t, st.Attempts("s1"), 1, "refreshed before sending: no 401 round trip")
	tok, _ := c.Tokens("skewed")
	assert.Equal(t, phone.Now().Add(time.Hour), tok.AccessExpiry, "expiry on the device's clock")
	tok, _ = c.Tokens("plain")
	assert.Equal(t, start.Add(time.Hour), tok.AccessExpiry)

	// Options.DeviceClock takes precedence over the harness's.
	c2 := refclient.New(env, refclient.Options{DeviceClock: func(string) clock.Clock { return mc }})
	t.Cleanup(func() { _ = c2.Close() })
	warmUp(t, c2, "skewed")
	tok, _ = c2.Tokens("skewed")
	assert.Equal(t, mc.Now().Add(time.Hour), tok.AccessExpiry)
}
