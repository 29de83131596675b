package mutant_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/backend"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/mutant"
	"github.com/tokenstorm/tokenstorm/harness/refclient"
	"github.com/tokenstorm/tokenstorm/harness/stack"
	"github.com/tokenstorm/tokenstorm/mockwechat"
)

// The same defects against the product's mockwechat and reference backend.

type realStack struct {
	env client.Env
	wx  *mockwechat.Server
	be  *backend.Server
	led *ledger.Ledger
}

func newRealStack(t *testing.T) *realStack {
	t.Helper()
	led := ledger.New(ledger.Options{Memory: true})
	st, err := stack.Start(context.Background(), stack.Options{Ledger: led})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	env := st.Env()
	env.HTTP = &http.Client{Transport: tr}
	return &realStack{env: env, wx: st.Wechat, be: st.Backend, led: led}
}

func (r *realStack) count(kind string) int {
	n := 0
	for _, e := range r.led.Events() {
		if e.Source == ledger.SourceBackend && e.Kind == kind {
			n++
		}
	}
	return n
}

func realClient(t *testing.T, rs *realStack, name string) client.Client {
	t.Helper()
	opts := refclient.Options{BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}
	if name == ref {
		c := refclient.New(rs.env, opts)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	c, err := mutant.NewWith(name, rs.env, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestIntegrationStormAmplifies(t *testing.T) {
	const n = 10
	rs := newRealStack(t)
	c := realClient(t, rs, "storm")
	warmUp(t, c)
	rs.be.ExpireAll()
	// delay_ms holds every answer, the 401s included, so all n requests are
	// sent with the expired token before any of them can refresh.
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := call("GET", "/api/orders", "s"+string(rune('a'+i)), "")
			cl.Path += "&delay_ms=150"
			doWithin(c, 10*time.Second, cl)
		}()
	}
	wg.Wait()
	assert.Greater(t, rs.count(ledger.KindRefresh)+rs.count(ledger.KindBackendLogin), 2, "refresh.amplification > 1")
}

func TestIntegrationDoubleReplayDuplicatesEffect(t *testing.T) {
	rs := newRealStack(t)
	c := realClient(t, rs, "double-replay")
	warmUp(t, c)
	rs.be.ExpireAll()
	res, _ := doWithin(c, 10*time.Second, call("POST", "/api/orders", "p1", `{"pay":1}`))
	require.NoError(t, res.Err)
	assert.Equal(t, 2, rs.count(ledger.KindEffect))
}

func TestIntegrationCodeReuseGets40163(t *testing.T) {
	for name, want := range map[string]int64{ref: 0, "code-reuse": 1} {
		t.Run(name, func(t *testing.T) {
			rs := newRealStack(t)
			c := realClient(t, rs, name)
			warmUp(t, c)
			rs.be.RevokeAll()
			res, _ := doWithin(c, 10*time.Second, call("GET", "/api/orders", "r1", ""))
			require.NoError(t, res.Err)
			assert.Equal(t, 200, res.Status)
			assert.Equal(t, want, rs.wx.Stats().Errcodes[mockwechat.APIJSCode2Session][40163])
		})
	}
}

func TestIntegrationHangOnFailureLosesRequests(t *testing.T) {
	rs := newRealStack(t)
	c := realClient(t, rs, "hang-on-failure")
	require.NoError(t, rs.wx.AddFault(mockwechat.Fault{API: mockwechat.APIJSCode2Session, Errcode: 45011}))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res := c.Do(ctx, call("GET", "/api/orders", "r1", ""))
	assert.ErrorIs(t, res.Err, context.DeadlineExceeded)
	assert.Equal(t, 3, rs.count(ledger.KindBackendLogin), "still bounded: the waiter is what hangs")
}
