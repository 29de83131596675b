package refclient_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/refclient"
	"github.com/tokenstorm/tokenstorm/harness/refclient/refclienttest"
)

// doWaiting runs cl on c in the background with cl.Waiting set, and returns
// the counter and a channel that yields the result.
func doWaiting(ctx context.Context, c client.Client, cl client.Call) (*atomic.Int32, <-chan client.Result) {
	w := new(atomic.Int32)
	cl.Waiting = w
	out := make(chan client.Result, 1)
	go func() { out <- c.Do(ctx, cl) }()
	return w, out
}

// The reference client says when it waits on the servers for a call (an
// attempt in flight, a renewal the call queued behind) and when it does not,
// so the device driver can tell busy servers from a forgotten request.
func TestRefClientCountsWaitingOnTheServers(t *testing.T) {
	st := refclienttest.New(t, refclienttest.Options{})
	c := newRef(t, st, refclient.Options{})
	warmUp(t, c, "d1")

	release := st.GateRID("r1")
	w, res := doWaiting(context.Background(), c, call("d1", "GET", "/api/orders", "r1", ""))
	require.Eventually(t, func() bool { return w.Load() > 0 }, 5*time.Second, time.Millisecond, "attempt in flight")
	release()
	r := <-res
	require.NoError(t, r.Err)
	assert.Zero(t, w.Load(), "answered: nothing owed")

	st.ExpireAll()
	releaseRefresh := st.GateRefresh()
	w, res = doWaiting(context.Background(), c, call("d1", "GET", "/api/orders", "r2", ""))
	require.Eventually(t, func() bool { return st.Stats().Refreshes > 0 || w.Load() > 0 }, 5*time.Second, time.Millisecond)
	time.Sleep(20 * time.Millisecond) // the 401 answered, the refresh held at the backend
	assert.Positive(t, w.Load(), "queued behind a refresh the backend holds")
	releaseRefresh()
	r = <-res
	require.NoError(t, r.Err)
	assert.Equal(t, 200, r.Status)
	assert.Zero(t, w.Load())
}

// mutant:hang-on-failure never settles the waiters of a failed refresh: it
// waits on nothing the servers owe it, and says so.
func TestHangingMutantDoesNotCountAsWaiting(t *testing.T) {
	st := refclienttest.New(t, refclienttest.Options{})
	c := newRef(t, st, refclient.Options{Behaviour: refclient.Behaviour{HangOnFailure: true}, MaxRefreshAttempts: 1})
	warmUp(t, c, "d1")
	st.ExpireAll()
	st.FailRefresh(100)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	w, res := doWaiting(ctx, c, call("d1", "GET", "/api/orders", "r1", ""))
	require.Eventually(t, func() bool { return st.Stats().Refreshes > 0 }, 2*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return w.Load() == 0 }, 2*time.Second, time.Millisecond, "hanging, not waiting on the servers")
	select {
	case <-res:
		t.Fatal("the mutant settled its request")
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	<-res
}
