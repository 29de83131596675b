package backends_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/mutant"
	"github.com/tokenstorm/tokenstorm/harness/refclient"
	"github.com/tokenstorm/tokenstorm/harness/storm"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// stormThroughTap runs the default storm (20 devices) against the example
// backend at url with the given client; the storm puts its recording tap
// between the client and the backend.
func stormThroughTap(t *testing.T, url, wechat string, newClient func(client.Env) (client.Client, error)) *summary.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sc := storm.Default()
	sc.Devices, sc.Thresholds = 20, nil
	s, err := storm.Run(ctx, sc, storm.Options{NewClient: newClient, BackendURL: url, Style: "good/style.yaml", WechatAddr: wechat})
	require.NoError(t, err)
	return s
}

// reactive is the reference client without proactive refresh: it renews
// only on the backend's expiry signal, so requests meet the expiry and are
// replayed (with proactive refresh and 2s sessions none ever does, and
// correct-replay has nothing to judge).
var reactive = refclient.Options{ProactiveSkew: -1}

func mutantClient(name string) func(client.Env) (client.Client, error) {
	return func(env client.Env) (client.Client, error) { return mutant.NewWith(name, env, reactive) }
}

// A storm against a backend under test is judged from the backend side
// too: the tap's events make single-refresh, correct-replay and
// no-duplicate-effects checked (not "not exercised"), they catch a client
// that storms or replays wrongly, and the storm carries the backend's
// login/refresh latency under it.
func TestTheTapJudgesAStormAgainstABackendUnderTest(t *testing.T) {
	good := build(t, "good")
	wechat := freeAddr(t)
	url := start(t, good, wechat)

	s := stormThroughTap(t, url, wechat, func(env client.Env) (client.Client, error) { return refclient.New(env, reactive), nil })
	assert.Equal(t, summary.Pass, s.Verdict, "failed %v; scenarios %+v; notes %v", s.FailedInvariants(), s.Scenarios, s.Notes)
	for _, name := range []string{summary.SingleRefresh, summary.CorrectReplay, summary.NoDuplicateEffects} {
		inv := s.Invariants[name]
		assert.Equal(t, summary.Pass, inv.Verdict, "%s: %s", name, inv.Reason)
		assert.Positive(t, inv.Checked, "%s is judged from the backend side", name)
	}
	assert.GreaterOrEqual(t, s.Refresh.Refreshes, 20, "every device renewed once its tokens ran out")
	require.NotNil(t, s.Storm.BackendLoginMS)
	require.NotNil(t, s.Storm.BackendRefreshMS)
	assert.GreaterOrEqual(t, s.Storm.BackendLoginMS.Count, int64(20), "every device logged in through the tap")
	assert.Positive(t, s.Storm.BackendRefreshMS.Count)
	assert.Positive(t, s.Storm.BackendRefreshMS.P99)

	t.Run("a client that refreshes once per waiting request fails single-refresh", func(t *testing.T) {
		s := stormThroughTap(t, url, wechat, mutantClient("storm"))
		inv := s.Invariants[summary.SingleRefresh]
		assert.Equal(t, summary.Fail, inv.Verdict, "%+v", inv)
		assert.Greater(t, s.Refresh.Amplification, 1.0)
	})
	t.Run("a client that replays with the rejected token fails correct-replay", func(t *testing.T) {
		s := stormThroughTap(t, url, wechat, mutantClient("stale-replay"))
		assert.Equal(t, summary.Fail, s.Invariants[summary.CorrectReplay].Verdict, "%+v", s.Invariants[summary.CorrectReplay])
	})
	t.Run("a client that replays twice fails correct-replay and no-duplicate-effects", func(t *testing.T) {
		s := stormThroughTap(t, url, wechat, mutantClient("double-replay"))
		assert.Equal(t, summary.Fail, s.Invariants[summary.CorrectReplay].Verdict, "%+v", s.Invariants[summary.CorrectReplay])
		assert.Equal(t, summary.Fail, s.Invariants[summary.NoDuplicateEffects].Verdict, "%+v", s.Invariants[summary.NoDuplicateEffects])
	})
}
