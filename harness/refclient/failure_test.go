package refclient_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/refclient"
	"github.com/tokenstorm/tokenstorm/harness/refclient/refclienttest"
)

const refresh503 = "tokenstorm/refclient: refresh failed after 3 attempts: backend answered 503 upstream_unavailable (wechat_errcode -1)"

func TestRefreshFailureSettlesEveryWaiterWithBoundedAttempts(t *testing.T) {
	const n = 10
	st := refclienttest.New(t, refclienttest.Options{})
	// Retry-After: 1 is capped by BackoffMax, which is also the cool-down.
	c := newRef(t, st, refclient.Options{BackoffBase: time.Millisecond, BackoffMax: 150 * time.Millisecond})
	warmUp(t, c, "d1")
	st.ExpireAll()
	st.FailRefresh(1000)
	st.HoldExpired(n)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	results := concurrently(ctx, c, n, func(i int) client.Call { return call("d1", "GET", "/api/orders", rid("f", i), "") })
	assert.Less(t, time.Since(start), 5*time.Second, "settled long before the deadline")

	for i, res := range results {
		require.Error(t, res.Err, "request %d", i)
		assert.ErrorIs(t, res.Err, refclient.ErrRefreshFailed)
		assert.EqualError(t, res.Err, refresh503)
		var re *refclient.RefreshError
		require.ErrorAs(t, res.Err, &re)
		assert.Equal(t, "d1", re.Device)
		assert.Equal(t, 503, re.Last.Status)
		assert.Len(t, st.Attempts(rid("f", i)), 1, "not replayed without a token")
	}
	assert.Equal(t, 3, st.Stats().Refreshes, "bounded-retry")

	// During the cool-down a request gets the same error at once, without
	// calling the backend.
	st.FailRefresh(0)
	res := do(t, c, call("d1", "GET", "/api/orders", "cool", ""))
	assert.EqualError(t, res.Err, refresh503)
	assert.Equal(t, 3, st.Stats().Refreshes)

	// After it, one probe; the backend has recovered.
	time.Sleep(200 * time.Millisecond) // cool-down = BackoffMax
	res = do(t, c, call("d1", "GET", "/api/orders", "after", ""))
	require.NoError(t, res.Err)
	assert.Equal(t, 200, res.Status)
	assert.Equal(t, 4, st.Stats().Refreshes)
}

func TestCoolDownAfterFailureProbesOnce(t *testing.T) {
	st := refclienttest.New(t, refclienttest.Options{})
	c := newRef(t, st, refclient.Options{BackoffBase: time.Millisecond, BackoffMax: 150 * time.Millisecond})
	warmUp(t, c, "d1")
	st.ExpireAll()
	st.FailRefresh(1000)

	require.Error(t, do(t, c, call("d1", "GET", "/api/a", "a", "")).Err)
	assert.Equal(t, 3, st.Stats().Refreshes)
	for i := range 5 { // a burst during the cool-down does not reach the backend
		require.ErrorIs(t, do(t, c, call("d1", "GET", "/api/b", rid("b", i), "")).Err, refclient.ErrRefreshFailed)
	}
	assert.Equal(t, 3, st.Stats().Refreshes)

	time.Sleep(200 * time.Millisecond)
	res := do(t, c, call("d1", "GET", "/api/c", "c", ""))
	assert.EqualError(t, res.Err, "tokenstorm/refclient: refresh failed after 1 attempt: backend answered 503 upstream_unavailable (wechat_errcode -1)")
	assert.Equal(t, 4, st.Stats().Refreshes, "a single probe")
}

func TestFailedProactiveRefreshKeepsTheValidToken(t *testing.T) {
	mc := clock.NewManual(time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC))
	st := refclienttest.New(t, refclienttest.Options{Clock: mc, AccessTTL: time.Hour})
	c := newRef(t, st, refclient.Options{BackoffBase: time.Millisecond, BackoffMax: 300 * time.Millisecond})
	warmUp(t, c, "d1")
	old, _ := c.Tokens("d1")
	mc.Advance(time.Hour - 10*time.Second) // inside the proactive window
	st.FailRefresh(1000)

	for i := range 3 {
		res := do(t, c, call("d1", "GET", "/api/a", rid("p", i), ""))
		require.NoError(t, res.Err)
		assert.Equal(t, 200, res.Status, "the still-valid token is used")
		att := st.Attempts(rid("p", i))
		require.Len(t, att, 1)
		assert.Equal(t, old.Access, att[0].Token)
	}
	assert.Equal(t, 3, st.Stats().Refreshes, "one failed proactive refresh, then the cool-down")
}

func TestNonTokenUnauthorizedIsReturnedAsIs(t *testing.T) {
	st := refclienttest.New(t, refclienttest.Options{})
	c := newRef(t, st, refclient.Options{})
	warmUp(t, c, "d1")

	res := do(t, c, call("d1", "GET", "/api/reauth", "r1", ""))
	require.NoError(t, res.Err)
	assert.Equal(t, 401, res.Status)
	assert.JSONEq(t, `{"error":"password_required"}`, string(res.Body))
	assert.Equal(t, 0, st.Stats().Refreshes)
	assert.Len(t, st.Attempts("r1"), 1)
}

func TestWaiterLeavesOnContextButRefreshCompletes(t *testing.T) {
	st := refclienttest.New(t, refclienttest.Options{})
	c := newRef(t, st, refclient.Options{})
	warmUp(t, c, "d1")
	st.ExpireAll()
	release := st.GateRefresh()

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := c.Do(ctx, call("d1", "GET", "/api/orders", "r1", ""))
	assert.ErrorIs(t, res.Err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)

	release() // the refresh finishes for whoever comes next
	require.Eventually(t, func() bool {
		tok, _ := c.Tokens("d1")
		return tokChanged(st, tok)
	}, 5*time.Second, time.Millisecond)
	res = do(t, c, call("d1", "GET", "/api/orders", "r2", ""))
	require.NoError(t, res.Err)
	assert.Equal(t, 200, res.Status)
	assert.Equal(t, 1, st.Stats().Refreshes, "the completed refresh was kept")
	assert.Len(t, st.Attempts("r2"), 1)
}

// tokChanged reports whether tok is no longer the warm-up token.
func tokChanged(st *refclienttest.Stack, tok refclient.Tokens) bool {
	att := st.Attempts("warm-d1")
	return len(att) == 1 && att[0].Token != tok.Access
}

func TestTransportErrorAfterPostIsNotRetried(t *testing.T) {
	st := refclienttest.New(t, refclienttest.Options{})
	var booms atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/boom" {
			booms.Add(1)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.(*net.TCPConn).SetLinger(0)
				conn.Close() // connection reset after the body was sent
			}
			return
		}
		st.Config.Handler.ServeHTTP(w, r)
	}))
	defer front.Close()
	env := st.Env()
	env.BackendURL, env.WechatURL, env.HTTP = front.URL, front.URL, front.Client()
	c := refclient.New(env, refclient.Options{})
	defer c.Close()

	res := do(t, c, call("d1", "POST", "/api/boom", "b1", `{"pay":1}`))
	require.Error(t, res.Err)
	assert.Equal(t, int32(1), booms.Load(), "a POST that may have executed is never re-sent")
}

func TestTokenIsNotSentToOtherHosts(t *testing.T) {
	st := refclienttest.New(t, refclienttest.Options{})
	var got atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization"))
	}))
	defer other.Close()
	c := newRef(t, st, refclient.Options{})
	warmUp(t, c, "d1")

	hc := &http.Client{Transport: c.Transport("d1")}
	resp, err := hc.Get(other.URL + "/elsewhere")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "", got.Load())
}

func TestCloseStopsTheClient(t *testing.T) {
	st := refclienttest.New(t, refclienttest.Options{})
	c := refclient.New(st.Env(), refclient.Options{})
	require.NoError(t, c.Close())
	res := do(t, c, call("d1", "GET", "/api/orders", "r1", ""))
	assert.True(t, errors.Is(res.Err, refclient.ErrClosed), "got %v", res.Err)
}

func TestUnknownStyleIsAClearError(t *testing.T) {
	st := refclienttest.New(t, refclienttest.Options{})
	env := st.Env()
	env.Style = "no-such-style"
	c := refclient.New(env, refclient.Options{})
	defer c.Close()
	res := do(t, c, call("d1", "GET", "/api/orders", "r1", ""))
	require.Error(t, res.Err)
	assert.Contains(t, res.Err.Error(), `tokenstorm/refclient: backend style: no-such-style: no built-in style "no-such-style" (built in: bearer, body-code, cookie-session, oauth2, rotating, status-403) and no such file`)
}

func TestRefreshBudgetBoundsAHangingBackend(t *testing.T) {
	st := refclienttest.New(t, refclienttest.Options{})
	c := newRef(t, st, refclient.Options{RequestTimeout: 50 * time.Millisecond, RefreshBudget: 200 * time.Millisecond, MaxRefreshAttempts: 100})
	warmUp(t, c, "d1")
	st.ExpireAll()
	st.GateRefresh() // every refresh hangs until the stack closes

	start := time.Now()
	res := do(t, c, call("d1", "GET", "/api/orders", "r1", ""))
	took := time.Since(start)
	require.Error(t, res.Err)
	assert.ErrorIs(t, res.Err, refclient.ErrRefreshFailed)
	assert.Contains(t, res.Err.Error(), "tokenstorm/refclient: refresh failed after ")
	assert.Contains(t, res.Err.Error(), "(gave up after 200ms)")
	assert.Less(t, took, 2*time.Second)
	assert.LessOrEqual(t, st.Stats().Refreshes, 5)
}
