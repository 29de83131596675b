package mutant_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/mutant"
	"github.com/tokenstorm/tokenstorm/harness/refclient"
	"github.com/tokenstorm/tokenstorm/harness/refclient/refclienttest"
)

// Each test runs one scenario twice: against the reference client, where the
// invariant holds, and against the mutant, where exactly that invariant breaks.

const ref = "ref"

func newClient(t *testing.T, st *refclienttest.Stack, name string) *refclient.Client {
	t.Helper()
	opts := refclient.Options{BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}
	var c *refclient.Client
	if name == ref {
		c = refclient.New(st.Env(), opts)
	} else {
		var err error
		c, err = mutant.NewWith(name, st.Env(), opts)
		require.NoError(t, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func call(method, path, rid, body string) client.Call {
	return client.Call{ID: rid, Device: "d1", Method: method, Path: path + "?rid=" + rid,
		Header: http.Header{"X-Request-Id": {rid}}, Body: []byte(body)}
}

func doWithin(c client.Client, d time.Duration, cl client.Call) (client.Result, time.Duration) {
	start := time.Now() // before the deadline's clock starts: took ≥ d when the call ran into it
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	res := c.Do(ctx, cl)
	return res, time.Since(start)
}

func warmUp(t *testing.T, c client.Client) {
	t.Helper()
	res, _ := doWithin(c, 10*time.Second, call("GET", "/api/warmup", "warm", ""))
	require.NoError(t, res.Err)
	require.Equal(t, 200, res.Status)
}

// expiredStack returns a stack and a client for name whose device d1 is
// logged in and whose token the backend has just expired.
func expiredStack(t *testing.T, name string) (*refclienttest.Stack, *refclient.Client) {
	st := refclienttest.New(t, refclienttest.Options{})
	c := newClient(t, st, name)
	warmUp(t, c)
	st.ExpireAll()
	return st, c
}

// concurrentAtExpiry sends n GETs that are all in flight with the expired
// token before any of them learns it expired.
func concurrentAtExpiry(st *refclienttest.Stack, c client.Client, n int, deadline time.Duration) ([]client.Result, []time.Duration) {
	st.HoldExpired(n)
	res := make([]client.Result, n)
	took := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], took[i] = doWithin(c, deadline, call("GET", "/api/orders", "c"+string(rune('a'+i)), ""))
		}()
	}
	wg.Wait()
	return res, took
}

func TestNamesAndDescriptions(t *testing.T) {
	want := []string{"code-reuse", "double-replay", "drop-body", "fabricate", "hang-on-failure", "late-401",
		"no-replay", "retry-forever", "single-slot", "stale-replay", "storm"}
	assert.Equal(t, want, mutant.Names())
	for _, n := range mutant.Names() {
		assert.NotEmpty(t, mutant.Describe(n), n)
		assert.Equal(t, mutant.Describe(n), mutant.Describe("mutant:"+n))
		c, err := mutant.New("mutant:"+n, client.Env{})
		require.NoError(t, err)
		require.NoError(t, c.Close())
	}
	assert.Equal(t, "single-refresh", mutant.Breaks("storm"))
	_, err := mutant.New("nope", client.Env{})
	assert.EqualError(t, err, `unknown mutant "nope" (known: code-reuse, double-replay, drop-body, fabricate, hang-on-failure, late-401, no-replay, retry-forever, single-slot, stale-replay, storm)`)
	assert.Empty(t, mutant.Describe("nope"))
}

func TestStormRefreshesOncePerRequest(t *testing.T) {
	const n = 8
	for name, want := range map[string]int{ref: 1, "storm": n} {
		t.Run(name, func(t *testing.T) {
			st, c := expiredStack(t, name)
			concurrentAtExpiry(st, c, n, 10*time.Second)
			assert.Equal(t, want, st.Stats().Refreshes)
		})
	}
}

func TestSingleSlotLosesOverwrittenCallers(t *testing.T) {
	const n, deadline = 6, 2 * time.Second
	for _, name := range []string{ref, "single-slot"} {
		t.Run(name, func(t *testing.T) {
			st, c := expiredStack(t, name)
			release := st.GateRefresh()
			// Let every expired request reach the slot before the refresh ends.
			go func() {
				for st.Stats().ExpiredAnswer < n {
					time.Sleep(time.Millisecond)
				}
				time.Sleep(300 * time.Millisecond)
				release()
			}()
			results, took := concurrentAtExpiry(st, c, n, deadline)
			ok, lost := 0, 0
			for i, r := range results {
				switch {
				case r.Err == nil && r.Status == 200:
					ok++
				case assert.ErrorIs(t, r.Err, context.DeadlineExceeded):
					assert.GreaterOrEqual(t, took[i], deadline, "settled only because its context ended")
					lost++
				}
			}
			if name == ref {
				assert.Equal(t, n, ok)
				return
			}
			assert.GreaterOrEqual(t, ok, 1, "the last writer of the slot is replayed")
			assert.GreaterOrEqual(t, lost, 1, "the overwritten callers hang")
			assert.Equal(t, n, ok+lost)
			assert.Equal(t, 1, st.Stats().Refreshes, "still a single refresh: only no-lost-requests breaks")
		})
	}
}

func TestNoReplayDeliversTheOriginal401(t *testing.T) {
	for _, name := range []string{ref, "no-replay"} {
		t.Run(name, func(t *testing.T) {
			st, c := expiredStack(t, name)
			res, _ := doWithin(c, 10*time.Second, call("GET", "/api/orders", "r1", ""))
			require.NoError(t, res.Err)
			assert.Equal(t, 1, st.Stats().Refreshes)
			if name == ref {
				assert.Equal(t, 200, res.Status)
				assert.Len(t, st.Attempts("r1"), 2)
				return
			}
			assert.Equal(t, 401, res.Status)
			assert.JSONEq(t, `{"error":"token_expired"}`, string(res.Body))
			assert.Len(t, st.Attempts("r1"), 1, "never re-sent")
		})
	}
}

func TestFabricateInventsAnEmptySuccess(t *testing.T) {
	for _, name := range []string{ref, "fabricate"} {
		t.Run(name, func(t *testing.T) {
			st, c := expiredStack(t, name)
			res, _ := doWithin(c, 10*time.Second, call("GET", "/api/orders", "r1", ""))
			require.NoError(t, res.Err)
			assert.Equal(t, 200, res.Status)
			if name == ref {
				assert.Contains(t, string(res.Body), "r1", "the backend's answer echoes the request id")
				assert.Len(t, st.Attempts("r1"), 2)
				return
			}
			assert.JSONEq(t, `{"items":[]}`, string(res.Body))
			assert.Zero(t, st.Stats().Refreshes, "never refreshed")
			assert.Len(t, st.Attempts("r1"), 1, "never re-sent")
		})
	}
}

func TestStaleReplayCarriesTheOldToken(t *testing.T) {
	for _, name := range []string{ref, "stale-replay"} {
		t.Run(name, func(t *testing.T) {
			st, c := expiredStack(t, name)
			res, _ := doWithin(c, 10*time.Second, call("GET", "/api/orders", "r1", ""))
			require.NoError(t, res.Err)
			att := st.Attempts("r1")
			require.Len(t, att, 2)
			if name == ref {
				assert.NotEqual(t, att[0].Token, att[1].Token)
				assert.Equal(t, 200, res.Status)
				return
			}
			assert.Equal(t, att[0].Token, att[1].Token, "replayed with the rejected token")
			assert.Equal(t, 401, res.Status)
		})
	}
}

func TestDropBodyReplaysWithoutBody(t *testing.T) {
	const body = `{"item":"tea"}`
	for _, name := range []string{ref, "drop-body"} {
		t.Run(name, func(t *testing.T) {
			st, c := expiredStack(t, name)
			res, _ := doWithin(c, 10*time.Second, call("POST", "/api/orders", "p1", body))
			require.NoError(t, res.Err)
			att := st.Attempts("p1")
			require.Len(t, att, 2)
			assert.Equal(t, body, att[0].Body)
			if name == ref {
				assert.Equal(t, body, att[1].Body)
				return
			}
			assert.Equal(t, "", att[1].Body)
		})
	}
}

func TestDoubleReplayExecutesPostTwice(t *testing.T) {
	for name, want := range map[string]int{ref: 1, "double-replay": 2} {
		t.Run(name, func(t *testing.T) {
			st, c := expiredStack(t, name)
			res, _ := doWithin(c, 10*time.Second, call("POST", "/api/orders", "p1", `{"pay":1}`))
			require.NoError(t, res.Err)
			assert.Equal(t, 200, res.Status)
			assert.Equal(t, want, st.Effects("p1"))
			assert.Len(t, st.Attempts("p1"), 1+want)
		})
	}
}

func TestRetryForeverIsBoundedOnlyByContext(t *testing.T) {
	const deadline = 300 * time.Millisecond
	for _, name := range []string{ref, "retry-forever"} {
		t.Run(name+"/failing refresh", func(t *testing.T) {
			st, c := expiredStack(t, name)
			st.FailRefresh(1 << 30)
			res, took := doWithin(c, deadline, call("GET", "/api/orders", "r1", ""))
			require.Error(t, res.Err)
			if name == ref {
				assert.ErrorIs(t, res.Err, refclient.ErrRefreshFailed)
				assert.Less(t, took, deadline)
				assert.Equal(t, 3, st.Stats().Refreshes)
				return
			}
			assert.ErrorIs(t, res.Err, context.DeadlineExceeded)
			assert.Greater(t, st.Stats().Refreshes, 3)
		})
		t.Run(name+"/401 not about the token", func(t *testing.T) {
			st := refclienttest.New(t, refclienttest.Options{})
			c := newClient(t, st, name)
			warmUp(t, c)
			res, _ := doWithin(c, deadline, call("GET", "/api/reauth", "r1", ""))
			if name == ref {
				require.NoError(t, res.Err)
				assert.Equal(t, 401, res.Status)
				assert.Equal(t, 0, st.Stats().Refreshes)
				assert.Len(t, st.Attempts("r1"), 1)
				return
			}
			assert.ErrorIs(t, res.Err, context.DeadlineExceeded)
			assert.Greater(t, st.Stats().Refreshes, 1)
			assert.Greater(t, len(st.Attempts("r1")), 2)
		})
	}
}

func TestHangOnFailureNeverSettlesWaiters(t *testing.T) {
	const n, deadline = 4, 400 * time.Millisecond
	for _, name := range []string{ref, "hang-on-failure"} {
		t.Run(name, func(t *testing.T) {
			st, c := expiredStack(t, name)
			st.FailRefresh(1 << 30)
			results, took := concurrentAtExpiry(st, c, n, deadline)
			for i, r := range results {
				require.Error(t, r.Err)
				if name == ref {
					assert.ErrorIs(t, r.Err, refclient.ErrRefreshFailed)
					assert.Less(t, took[i], deadline)
				} else {
					assert.ErrorIs(t, r.Err, context.DeadlineExceeded)
					assert.GreaterOrEqual(t, took[i], deadline)
				}
			}
			assert.Equal(t, 3, st.Stats().Refreshes, "retries stay bounded: only no-lost-requests breaks")
		})
	}
}

func TestLate401StartsSecondRefresh(t *testing.T) {
	for name, want := range map[string]int{ref: 1, "late-401": 2} {
		t.Run(name, func(t *testing.T) {
			st, c := expiredStack(t, name)
			release := st.GateRID("late")
			done := make(chan client.Result, 1)
			go func() {
				res, _ := doWithin(c, 10*time.Second, call("GET", "/api/slow", "late", ""))
				done <- res
			}()
			require.Eventually(t, func() bool { return len(st.Attempts("late")) == 1 }, 5*time.Second, time.Millisecond)
			res, _ := doWithin(c, 10*time.Second, call("GET", "/api/fast", "fast", ""))
			require.NoError(t, res.Err)
			require.Equal(t, 1, st.Stats().Refreshes)
			release()
			late := <-done
			require.NoError(t, late.Err)
			assert.Equal(t, 200, late.Status)
			assert.Equal(t, want, st.Stats().Refreshes)
		})
	}
}

func TestCodeReuseSendsACodeTwice(t *testing.T) {
	for name, want := range map[string]int{ref: 0, "code-reuse": 1} {
		t.Run(name, func(t *testing.T) {
			st := refclienttest.New(t, refclienttest.Options{})
			c := newClient(t, st, name)
			warmUp(t, c)
			st.RevokeAll() // the refresh token is dead: the next expiry needs a new login
			st.ExpireAll()
			res, _ := doWithin(c, 10*time.Second, call("GET", "/api/orders", "r1", ""))
			require.NoError(t, res.Err)
			assert.Equal(t, 200, res.Status, "the caller still gets its answer")
			assert.Equal(t, want, st.Stats().CodeReused, "40163 answers")
		})
	}
}
