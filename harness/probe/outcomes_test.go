package probe

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/mutant"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// failAll settles every request with an error and never calls the backend:
// it breaks no invariant, and nothing works.
type failAll struct{}

func (failAll) Do(context.Context, client.Call) client.Result {
	return client.Result{Err: errors.New("request:fail")}
}
func (failAll) Close() error { return nil }

// fabricate answers every request with an invented success.
type fabricate struct{}

func (fabricate) Do(context.Context, client.Call) client.Result {
	return client.Result{Status: 200, Body: []byte(`{"items":[]}`)}
}
func (fabricate) Close() error { return nil }

func probesNamed(t *testing.T, names ...string) []Probe {
	t.Helper()
	ps, err := Find(names)
	require.NoError(t, err)
	return ps
}

func TestProbesStateTheirRequiredOutcomes(t *testing.T) {
	f := func(client.Env) (client.Client, error) { return failAll{}, nil }
	_, res := runBattery(t, "fail-all", f, probesNamed(t, "concurrent-first-login"))
	require.Len(t, res, 1)
	sc := res[0].Scenario
	assert.Equal(t, summary.Fail, sc.Verdict, "0 successes must fail the probe: %s", sc.Detail)
	assert.Contains(t, sc.Detail, "0 of 60 requests succeeded")

	_, res = runBattery(t, "ref", refFactory, probesNamed(t, "concurrent-first-login"))
	assert.Equal(t, summary.Pass, res[0].Scenario.Verdict, res[0].Scenario.Detail)
}

func TestFabricatedAnswersFailGenuineAnswers(t *testing.T) {
	f := func(client.Env) (client.Client, error) { return fabricate{}, nil }
	s, res := runBattery(t, "fabricate", f, probesNamed(t, "concurrent-first-login", "one-at-expiry"))
	for _, r := range res {
		assert.Equal(t, summary.Fail, r.Scenario.Verdict, "probe %s", r.Probe.Name)
	}
	inv := s.Invariants[summary.GenuineAnswers]
	require.Equal(t, summary.Fail, inv.Verdict)
	assert.Contains(t, inv.Examples[0].Explanation, "never reached the backend")
}

// The refresh answer is lost after the backend rotated: the reference
// client's retry is refresh.retries, not a storm, and amplification stays 1.
func TestLostRefreshAnswerIsARetryNotAStorm(t *testing.T) {
	_, res := runBattery(t, "ref", refFactory, probesNamed(t, "network-fails-refresh", "wx-login-fails", "network-fails-resource"))
	for _, r := range res {
		assert.Equal(t, summary.Pass, r.Scenario.Verdict, "probe %s: %s %v", r.Probe.Name, r.Scenario.Detail, firstExplanations(r.Summary))
	}
	rf := res[0].Summary.Refresh
	assert.GreaterOrEqual(t, rf.Retries, 3, "%+v", rf)
	assert.Equal(t, 1.0, rf.Amplification, "%+v", rf)

	// A client that leaves its waiters hanging when the re-login fails is
	// caught by wx-login-fails.
	hang := func(env client.Env) (client.Client, error) { return mutant.New("hang-on-failure", env) }
	_, res = runBattery(t, "mutant:hang-on-failure", hang, probesNamed(t, "wx-login-fails"))
	assert.Equal(t, summary.Fail, res[0].Scenario.Verdict)
	assert.Contains(t, res[0].Scenario.Failed, summary.NoLostRequests)
}
