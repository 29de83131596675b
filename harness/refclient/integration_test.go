package refclient_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/backend"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/refclient"
	"github.com/tokenstorm/tokenstorm/mockwechat"
)

// realStack runs the product's mockwechat and reference backend on loopback.
type realStack struct {
	env client.Env
	wx  *mockwechat.Server
	be  *backend.Server
	led *ledger.Ledger
}

func newRealStack(t *testing.T) *realStack {
	t.Helper()
	rs, _ := styledStack(t, "")
	return rs
}

// count counts backend ledger events of kind with outcome ("" = any).
func (r *realStack) count(kind, outcome string) int {
	n := 0
	for _, e := range r.led.Events() {
		if e.Source == ledger.SourceBackend && e.Kind == kind && (outcome == "" || e.Outcome == outcome) {
			n++
		}
	}
	return n
}

func (r *realStack) apiTokens(rid string) []string {
	var out []string
	for _, e := range r.led.Events() {
		if e.Kind == ledger.KindAPI && e.RID == rid {
			out = append(out, e.Token)
		}
	}
	return out
}

func TestIntegrationStormOnRealStack(t *testing.T) {
	const n = 30
	rs := newRealStack(t)
	c := refclient.New(rs.env, refclient.Options{})
	defer c.Close()
	warmUp(t, c, "alice")
	rs.be.ExpireAll()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	results := concurrently(ctx, c, n, func(i int) client.Call {
		// delay_ms keeps the expired attempts overlapping
		if i%3 == 0 {
			return call("alice", "POST", "/api/orders?delay_ms=100", rid("s", i), `{"i":`+rid("", i)+`}`)
		}
		return call("alice", "GET", "/api/orders?delay_ms=100", rid("s", i), "")
	})
	for i, res := range results {
		require.NoError(t, res.Err, i)
		assert.Equal(t, 200, res.Status, "%d: %s", i, res.Body)
		toks := rs.apiTokens(rid("s", i))
		assert.LessOrEqual(t, len(toks), 2, "at most one replay")
	}
	assert.GreaterOrEqual(t, rs.count(ledger.KindAPI, ledger.OutcomeExpired), 1, "some requests met the expiry")
	assert.Equal(t, 1, rs.count(ledger.KindRefresh, ""), "single-refresh")
	assert.Equal(t, 1, rs.count(ledger.KindBackendLogin, ""))
	assert.Equal(t, n/3, rs.count(ledger.KindEffect, ""), "every POST executed once")
}

func TestIntegrationLate401(t *testing.T) {
	rs := newRealStack(t)
	c := refclient.New(rs.env, refclient.Options{})
	defer c.Close()
	warmUp(t, c, "bob")
	rs.be.ExpireAll()

	var wg sync.WaitGroup
	var late client.Result
	wg.Add(1)
	go func() {
		defer wg.Done()
		late = do(t, c, call("bob", "GET", "/api/slow?delay_ms=400", "late", ""))
	}()
	require.Eventually(t, func() bool { return len(rs.apiTokens("late")) == 1 }, 5*time.Second, time.Millisecond)
	res := do(t, c, call("bob", "GET", "/api/fast", "fast", ""))
	require.NoError(t, res.Err)
	wg.Wait()
	require.NoError(t, late.Err)
	assert.Equal(t, 200, late.Status)
	assert.Equal(t, 1, rs.count(ledger.KindRefresh, ""), "the late 401 did not refresh again")
	toks := rs.apiTokens("late")
	require.Len(t, toks, 2)
	assert.NotEqual(t, toks[0], toks[1])
}

func TestIntegrationWechatBusySettlesWithClearError(t *testing.T) {
	rs := newRealStack(t)
	c := refclient.New(rs.env, refclient.Options{BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond})
	defer c.Close()
	require.NoError(t, rs.wx.AddFault(mockwechat.Fault{API: mockwechat.APIJSCode2Session, Errcode: -1}))

	res := do(t, c, call("carol", "GET", "/api/orders", "r1", ""))
	assert.EqualError(t, res.Err, "tokenstorm/refclient: login failed after 3 attempts: backend answered 503 upstream_unavailable (wechat_errcode -1)")
	assert.Equal(t, 3, rs.count(ledger.KindBackendLogin, ""))

	rs.wx.ClearFaults()
	time.Sleep(30 * time.Millisecond) // the cool-down after a failure (BackoffMax)
	res = do(t, c, call("carol", "GET", "/api/orders", "r2", ""))
	require.NoError(t, res.Err)
	assert.Equal(t, 200, res.Status)
}

func TestIntegrationRevokedFamilyFallsBackToLoginAndNonToken401(t *testing.T) {
	rs := newRealStack(t)
	c := refclient.New(rs.env, refclient.Options{})
	defer c.Close()
	warmUp(t, c, "dave")
	rs.be.RevokeAll()

	res := do(t, c, call("dave", "GET", "/api/orders", "r1", ""))
	require.NoError(t, res.Err)
	assert.Equal(t, 200, res.Status)
	assert.Equal(t, 2, rs.count(ledger.KindBackendLogin, ledger.OutcomeOK))

	res = do(t, c, call("dave", "GET", "/api/reauth", "r2", ""))
	require.NoError(t, res.Err)
	assert.Equal(t, 401, res.Status)
	assert.Contains(t, string(res.Body), "password_required")
	assert.Len(t, rs.apiTokens("r2"), 1)
	assert.Zero(t, rs.wx.Stats().Errcodes[mockwechat.APIJSCode2Session][40163], "code-single-use")
}
