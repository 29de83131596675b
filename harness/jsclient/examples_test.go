package jsclient_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenstorm/tokenstorm/harness/device"
	"github.com/tokenstorm/tokenstorm/harness/jsclient"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// storm is the outcome of N devices × K concurrent requests across an expiry.
type storm struct {
	s           *stack
	devices     []string
	outcomes    []device.Outcome
	warm, login time.Duration
	// counters after the expiry only
	refreshes, logins map[string]int
}

func (st storm) count(pred func(device.Outcome) bool) int {
	n := 0
	for _, o := range st.outcomes {
		if pred(o) {
			n++
		}
	}
	return n
}

// runStorm logs every device in with one call, expires every access token,
// then has each device issue k concurrent requests (GETs and POSTs with a
// body) and waits for all of them to settle or be lost at deadline.
func runStorm(t *testing.T, adapter string, n, k int, deadline time.Duration, refreshDelay time.Duration) storm {
	t.Helper()
	s := newStack(t, adapter, jsclient.Options{})
	s.fake.refreshDelay = refreshDelay
	drv := &device.Driver{Client: s.client, Ledger: s.ledger, Deadline: deadline, Prefix: "w-"}
	st := storm{s: s}
	for i := 0; i < n; i++ {
		st.devices = append(st.devices, fmt.Sprintf("dev%02d", i))
	}
	ctx := context.Background()
	// Start the runtimes first, as a storm runner would, so start-up CPU
	// does not compete with the warm-up logins.
	t0 := time.Now()
	require.NoError(t, s.client.Warm(ctx, st.devices...))
	st.warm = time.Since(t0)
	var wg sync.WaitGroup
	for _, dev := range st.devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := drv.Do(ctx, dev, device.Request{Method: "GET", Path: "/api/profile"})
			assert.Equal(t, 200, o.Status, "warm-up of %s: %v", dev, o.Err)
		}()
	}
	wg.Wait()
	st.login = time.Since(t0) - st.warm
	before := struct{ r, l map[string]int }{s.fake.counts(s.fake.refreshes), s.fake.counts(s.fake.logins)}

	s.fake.expireAll()
	drv.Prefix = "s-"
	var mu sync.Mutex
	for _, dev := range st.devices {
		for j := 0; j < k; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := device.Request{Method: "GET", Path: fmt.Sprintf("/api/orders?page=%d", j)}
				if j%2 == 1 {
					r = device.Request{Method: "POST", Path: "/api/orders", Body: []byte(fmt.Sprintf(`{"item": %d, "note": "<b>&</b>"}`, j))}
				}
				o := drv.Do(ctx, dev, r)
				mu.Lock()
				st.outcomes = append(st.outcomes, o)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	st.refreshes = diff(s.fake.counts(s.fake.refreshes), before.r)
	st.logins = diff(s.fake.counts(s.fake.logins), before.l)
	return st
}

func diff(after, before map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

const (
	stormDevices = 4
	stormK       = 4
	// slowRefresh keeps the refresh in flight until every 401 of the burst
	// has arrived, for wrappers whose single flight does not cover a late
	// 401 (they would legitimately refresh again, with the new token).
	slowRefresh = 200 * time.Millisecond
)

func TestExampleCorrect(t *testing.T) {
	st := runStorm(t, example("correct"), stormDevices, stormK, 5*time.Second, 20*time.Millisecond)
	for _, o := range st.outcomes {
		assert.NoError(t, o.Err, o.RID)
		assert.Equal(t, 200, o.Status, "%s: %s", o.RID, o.Body)
		// Each request that met the expiry was sent twice: once with the
		// expired token, once (the replay) with the new one.
		tokens := st.s.fake.attemptsOf(o.RID)
		if assert.Len(t, tokens, 2, o.RID) {
			assert.NotEqual(t, tokens[0], tokens[1], "replay of %s carries the new token", o.RID)
		}
		bodies := st.s.fake.bodiesOf(o.RID)
		if len(bodies) == 2 && bodies[0] != "" {
			assert.Equal(t, bodies[0], bodies[1], "replay of %s carries the same body bytes", o.RID)
			// The wrapper re-serialises req.data; unchanged content goes out
			// as the caller's exact bytes (spaces included).
			assert.Regexp(t, `^\{"item": \d, "note": "<b>&</b>"\}$`, bodies[0], "body bytes are the caller's")
		}
	}
	for _, dev := range st.devices {
		assert.Equal(t, 1, st.refreshes[dev], "one refresh per device per expiry (%s)", dev)
		assert.Zero(t, st.logins[dev], "no new login when the refresh token works (%s)", dev)
		assert.Empty(t, st.s.client.UI(dev), "a transparent refresh shows nothing (%s)", dev)
	}
	assert.Zero(t, st.s.client.Stats().Stalled)
	assert.Empty(t, eventsOf(st.s.ledger, ledger.KindClientLog), "no console output, no uncaught errors")
}

func TestExampleRefreshPerRequest(t *testing.T) {
	st := runStorm(t, example("refresh-per-request"), stormDevices, stormK, 5*time.Second, 20*time.Millisecond)
	assert.Greater(t, sum(st.refreshes), stormDevices, "refresh storm: more refreshes than devices (single-refresh broken)")
	for _, dev := range st.devices {
		assert.Greater(t, st.refreshes[dev], 1, "device %s refreshed once per expired request", dev)
	}
	// Strict reuse detection revokes the family: callers see failures.
	assert.Positive(t, st.count(func(o device.Outcome) bool { return o.Err != nil || o.Status != 200 }))
	assert.Zero(t, st.count(func(o device.Outcome) bool { return o.Lost }))
}

func TestExampleSingleSlot(t *testing.T) {
	st := runStorm(t, example("single-slot"), stormDevices, stormK, 1500*time.Millisecond, 100*time.Millisecond)
	lost := st.count(func(o device.Outcome) bool { return o.Lost })
	assert.Positive(t, lost, "overwritten slots leave promises pending (no-lost-requests broken)")
	perDev := map[string]int{}
	for _, o := range st.outcomes {
		if o.Status == 200 {
			perDev[o.Device]++
		}
	}
	for _, dev := range st.devices {
		assert.GreaterOrEqual(t, perDev[dev], 1, "the last request of %s in the slot is replayed", dev)
	}
	// Do returns at the deadline; the loop forgets the call just after.
	require.Eventually(t, func() bool { return st.s.client.Stats().Pending == 0 }, 2*time.Second, time.Millisecond)
	stats := st.s.client.Stats()
	assert.EqualValues(t, lost, stats.Stalled, "every lost call was seen stalled before its deadline")
	assert.EqualValues(t, lost, stats.Abandoned)
	notes := 0
	for _, e := range eventsOf(st.s.ledger, "log") {
		if strings.Contains(e.Detail, "dropped its promise") {
			notes++
		}
	}
	assert.Equal(t, lost, notes, "each stalled call is explained in the ledger")
}

func TestExampleVerifyBeforeEveryCall(t *testing.T) {
	st := runStorm(t, example("verify-before-every-call"), stormDevices, stormK, 5*time.Second, 20*time.Millisecond)
	assert.Greater(t, sum(st.refreshes), stormDevices, "every request that saw an invalid token refreshed")
	st.s.fake.mu.Lock()
	verifies := st.s.fake.verifyCalls
	st.s.fake.mu.Unlock()
	// one verify per request after the first login (warm-up logged in instead)
	assert.GreaterOrEqual(t, verifies, stormDevices*stormK, "a verify round trip per request")
	assert.Zero(t, st.count(func(o device.Outcome) bool { return o.Lost }))
}

func TestExampleStaleReplay(t *testing.T) {
	st := runStorm(t, example("stale-replay"), stormDevices, stormK, 5*time.Second, slowRefresh)
	for _, o := range st.outcomes {
		assert.Equal(t, 401, o.Status, "%s: the replay with the old token fails again", o.RID)
		tokens := st.s.fake.attemptsOf(o.RID)
		if assert.Len(t, tokens, 2, o.RID) {
			assert.Equal(t, tokens[0], tokens[1], "replay of %s carries the stale token", o.RID)
		}
	}
	for _, dev := range st.devices {
		assert.Equal(t, 1, st.refreshes[dev], "refresh itself is single-flight (%s)", dev)
	}
}

func TestExampleNoReplay(t *testing.T) {
	st := runStorm(t, example("no-replay"), stormDevices, stormK, 5*time.Second, slowRefresh)
	for _, o := range st.outcomes {
		require.Error(t, o.Err, o.RID)
		assert.Equal(t, 401, o.Status, "%s: the caller gets the 401", o.RID)
		assert.Contains(t, o.Err.Error(), "RequestError: HTTP 401")
		assert.Len(t, st.s.fake.attemptsOf(o.RID), 1, "%s is never replayed", o.RID)
	}
	for _, dev := range st.devices {
		assert.Equal(t, 1, st.refreshes[dev], "refresh itself is single-flight (%s)", dev)
		assert.Contains(t, st.s.client.UI(dev), "showToast 网络开小差了，请重试")
	}
}
