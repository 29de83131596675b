package jsclient_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenstorm/tokenstorm/harness/backend"
	"github.com/tokenstorm/tokenstorm/harness/check"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/device"
	"github.com/tokenstorm/tokenstorm/harness/jsclient"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/summary"
	"github.com/tokenstorm/tokenstorm/mockwechat"
)

// realStorm is runStorm against the real mockwechat and reference backend,
// with the evidence read from the shared ledger as the invariant checker
// reads it.
type realStorm struct {
	ledger    *ledger.Ledger
	client    *jsclient.Client
	devices   []string
	outcomes  []device.Outcome
	refreshes map[string]int // per device, after the expiry
	logins    map[string]int
	attempts  map[string][]string // rid → access token ids the backend saw
	oldTokens map[string]bool     // access token ids seen before ExpireAll
	code40163 int64
	summary   *summary.Summary // the invariant checker's verdict on the ledger
}

func runRealStorm(t *testing.T, adapter string, n, k int, deadline, refreshDelay time.Duration) realStorm {
	t.Helper()
	led := ledger.New(ledger.Options{Memory: true})
	wx := mockwechat.New(mockwechat.Config{Ledger: led})
	wxSrv := httptest.NewServer(wx)
	t.Cleanup(wxSrv.Close)
	t.Cleanup(wx.Close)
	be, err := backend.New(backend.Config{WechatURL: wxSrv.URL, AppID: mockwechat.DefaultAppID,
		Secret: mockwechat.DefaultSecret, Ledger: led})
	require.NoError(t, err)
	t.Cleanup(func() { _ = be.Close() })
	// A slow refresh keeps it in flight while the burst's 401s arrive.
	beSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/auth/refresh" && refreshDelay > 0 {
			time.Sleep(refreshDelay)
		}
		be.ServeHTTP(w, r)
	}))
	t.Cleanup(beSrv.Close)
	env := client.Env{BackendURL: beSrv.URL, WechatURL: wxSrv.URL, AppID: mockwechat.DefaultAppID, Ledger: led}
	jc, err := jsclient.New(adapter, env, jsclient.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = jc.Close() })

	st := realStorm{ledger: led, client: jc}
	for i := 0; i < n; i++ {
		st.devices = append(st.devices, fmt.Sprintf("rdev%02d", i))
	}
	ctx := context.Background()
	require.NoError(t, jc.Warm(ctx, st.devices...))
	drv := &device.Driver{Client: jc, Ledger: led, Deadline: deadline, Prefix: "w-"}
	var wg sync.WaitGroup
	for _, dev := range st.devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := drv.Do(ctx, dev, device.Request{Method: "GET", Path: "/api/profile"})
			assert.Equal(t, 200, o.Status, "warm-up of %s: %v %s", dev, o.Err, o.Body)
		}()
	}
	wg.Wait()
	mark := led.Append(ledger.Event{Source: ledger.SourceHarness, Kind: ledger.KindEpisodeMarker, Detail: "expire all"}).Seq
	be.ExpireAll()

	drv.Prefix = "s-"
	var mu sync.Mutex
	for _, dev := range st.devices {
		for j := 0; j < k; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := device.Request{Method: "GET", Path: fmt.Sprintf("/api/orders?page=%d", j)}
				if j%2 == 1 {
					r = device.Request{Method: "POST", Path: "/api/orders", Body: []byte(fmt.Sprintf(`{"item": %d}`, j))}
				}
				o := drv.Do(ctx, dev, r)
				mu.Lock()
				st.outcomes = append(st.outcomes, o)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()

	byOpenID := map[string]string{}
	for _, dev := range st.devices {
		byOpenID[mockwechat.OpenID(mockwechat.DefaultAppID, dev)] = dev
	}
	st.refreshes, st.logins, st.attempts = map[string]int{}, map[string]int{}, map[string][]string{}
	st.oldTokens = map[string]bool{}
	for _, e := range led.Events() {
		if e.Seq < mark {
			if e.Source == ledger.SourceBackend && e.Kind == ledger.KindAPI {
				st.oldTokens[e.Token] = true // expired by ExpireAll
			}
			continue
		}
		switch e.Kind {
		case ledger.KindRefresh:
			st.refreshes[byOpenID[e.Subject]]++
		case ledger.KindBackendLogin:
			st.logins[byOpenID[e.Subject]]++
		case ledger.KindAPI:
			st.attempts[e.RID] = append(st.attempts[e.RID], e.Token)
		}
	}
	st.code40163 = wx.Stats().Errcodes[mockwechat.APIJSCode2Session][40163]
	st.summary = summary.New(jc.String(), "ref")
	require.NoError(t, check.Check(led, check.Options{}, st.summary))
	st.summary.Finalize()
	return st
}

func (st realStorm) count(pred func(device.Outcome) bool) int {
	return storm{outcomes: st.outcomes}.count(pred)
}

func TestRealStackCorrect(t *testing.T) {
	st := runRealStorm(t, example("correct"), stormDevices, stormK, 5*time.Second, 0)
	for _, o := range st.outcomes {
		assert.Equal(t, 200, o.Status, "%s: %v %s", o.RID, o.Err, o.Body)
		// A request sent before the refresh meets the expiry and is replayed
		// once with the new token; one the wrapper held back while the
		// refresh was in flight goes once, with the new token.
		toks := st.attempts[o.RID]
		if assert.NotEmpty(t, toks, o.RID) && assert.LessOrEqual(t, len(toks), 2, o.RID) {
			assert.False(t, st.oldTokens[toks[len(toks)-1]], "%s: its last attempt carries the new token", o.RID)
			if len(toks) == 2 {
				assert.True(t, st.oldTokens[toks[0]], "%s: a replayed request first went with the expired token", o.RID)
			}
		}
	}
	for _, dev := range st.devices {
		assert.Equal(t, 1, st.refreshes[dev], "single-refresh (%s)", dev)
		assert.Zero(t, st.logins[dev], dev)
		assert.Empty(t, st.client.UI(dev), dev)
	}
	assert.Zero(t, st.code40163, "code-single-use")
	assert.Empty(t, st.summary.FailedInvariants(), "the invariant checker finds nothing")
	assert.Equal(t, summary.Pass, st.summary.Verdict)
}

// assertBreaks checks the invariant checker fails the run on inv.
func assertBreaks(t *testing.T, st realStorm, inv string) {
	t.Helper()
	assert.Contains(t, st.summary.FailedInvariants(), inv)
	if i := st.summary.Invariants[inv]; i != nil && len(i.Examples) > 0 {
		t.Logf("%s: %s", inv, i.Examples[0].Explanation)
	}
	t.Logf("failed invariants: %v", st.summary.FailedInvariants())
}

func TestRealStackBrokenExamples(t *testing.T) {
	t.Run("refresh-per-request", func(t *testing.T) {
		st := runRealStorm(t, example("refresh-per-request"), stormDevices, stormK, 5*time.Second, 0)
		assert.Greater(t, sum(st.refreshes), stormDevices, "single-refresh broken")
		assertBreaks(t, st, summary.SingleRefresh)
	})
	t.Run("single-slot", func(t *testing.T) {
		st := runRealStorm(t, example("single-slot"), stormDevices, stormK, 1500*time.Millisecond, slowRefresh)
		assert.Positive(t, st.count(func(o device.Outcome) bool { return o.Lost }), "no-lost-requests broken")
		assertBreaks(t, st, summary.NoLostRequests)
	})
	t.Run("verify-before-every-call", func(t *testing.T) {
		st := runRealStorm(t, example("verify-before-every-call"), stormDevices, stormK, 5*time.Second, 0)
		assert.Greater(t, sum(st.refreshes), stormDevices, "single-refresh broken")
		assertBreaks(t, st, summary.SingleRefresh)
	})
	t.Run("stale-replay", func(t *testing.T) {
		st := runRealStorm(t, example("stale-replay"), stormDevices, stormK, 5*time.Second, slowRefresh)
		for _, o := range st.outcomes {
			assert.Equal(t, 401, o.Status, o.RID)
			if toks := st.attempts[o.RID]; assert.Len(t, toks, 2, o.RID) {
				assert.Equal(t, toks[0], toks[1], "correct-replay broken: %s replayed with the old token", o.RID)
			}
		}
		assertBreaks(t, st, summary.CorrectReplay)
	})
	t.Run("no-replay", func(t *testing.T) {
		st := runRealStorm(t, example("no-replay"), stormDevices, stormK, 5*time.Second, slowRefresh)
		for _, o := range st.outcomes {
			assert.Equal(t, 401, o.Status, o.RID)
			assert.Error(t, o.Err, o.RID)
			assert.Len(t, st.attempts[o.RID], 1, "correct-replay broken: %s never replayed", o.RID)
		}
		assertBreaks(t, st, summary.CorrectReplay)
	})
}
