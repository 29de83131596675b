package probe

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/check"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/mutant"
	"github.com/tokenstorm/tokenstorm/harness/refclient"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

func refFactory(env client.Env) (client.Client, error) {
	return refclient.New(env, refclient.Options{}), nil
}

func runBattery(t *testing.T, name string, f func(client.Env) (client.Client, error), probes []Probe) (*summary.Summary, []Result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	global := check.New(check.Options{})
	res, err := Run(ctx, Config{NewClient: f, ClientName: name, Devices: 10, Concurrency: 6, Deadline: 2 * time.Second, Global: global}, probes)
	require.NoError(t, err)
	s := summary.New(name, "embedded")
	for _, r := range res {
		s.Scenarios = append(s.Scenarios, r.Scenario)
	}
	global.Finish(s)
	s.Finalize()
	return s, res
}

func TestReferenceClientPassesEveryProbe(t *testing.T) {
	s, res := runBattery(t, "ref", refFactory, All())
	for _, r := range res {
		want := summary.Pass
		if r.Probe.Name == "app-relaunch" {
			want = summary.Skip // the reference client has no app runtime
		}
		assert.Equal(t, want, r.Scenario.Verdict, "probe %s: %s", r.Probe.Name, r.Scenario.Detail)
	}
	for _, n := range summary.InvariantNames {
		inv := s.Invariants[n]
		assert.Equal(t, summary.Pass, inv.Verdict, "invariant %s: %d violations %v", n, inv.Violations, firstExplanation(inv))
		assert.Positive(t, inv.Checked, "invariant %s was never exercised by the battery", n)
	}
	assert.Zero(t, s.Requests.Lost)
	for _, r := range res {
		switch r.Probe.Name {
		case "concurrent-first-login":
			// First logins are no episodes: nothing to amplify.
			assert.Zero(t, r.Summary.Refresh.ExpiryEpisodes, "probe %s", r.Probe.Name)
			assert.Equal(t, r.Summary.Refresh.Logins, r.Summary.Refresh.FirstLogins, "probe %s", r.Probe.Name)
		case "backend-signals", "non-token-401", "network-fails-resource", "app-relaunch":
			// No expiry: no episode.
			assert.Zero(t, r.Summary.Refresh.ExpiryEpisodes, "probe %s", r.Probe.Name)
		default:
			// A correct client makes one call per episode, whatever the
			// probe injects: its bounded retries are refresh.retries.
			assert.Equal(t, 1.0, r.Summary.Refresh.Amplification, "probe %s: %+v", r.Probe.Name, r.Summary.Refresh)
		}
	}
	assert.Equal(t, 1.0, s.Refresh.Amplification, "the whole run: %+v", s.Refresh)
}

// Every mutant must be caught by the invariant it was written to break.
func TestEveryMutantIsCaughtByItsInvariant(t *testing.T) {
	want := map[string]string{
		"storm":           summary.SingleRefresh,
		"single-slot":     summary.NoLostRequests,
		"no-replay":       summary.CorrectReplay,
		"stale-replay":    summary.CorrectReplay,
		"drop-body":       summary.CorrectReplay,
		"double-replay":   summary.CorrectReplay,
		"retry-forever":   summary.BoundedRetry,
		"hang-on-failure": summary.NoLostRequests,
		"late-401":        summary.SingleRefresh,
		"code-reuse":      summary.CodeSingleUse,
		"fabricate":       summary.GenuineAnswers,
	}
	names := mutant.Names()
	sort.Strings(names)
	require.Len(t, names, len(want), "every mutant needs an expected invariant here")
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel() // mostly waiting on deadlines of lost requests
			inv, ok := want[name]
			require.True(t, ok, "no expectation for mutant %s", name)
			f := func(env client.Env) (client.Client, error) { return mutant.New(name, env) }
			s, _ := runBattery(t, "mutant:"+name, f, All())
			assert.Equal(t, summary.Fail, s.Verdict)
			got := s.Invariants[inv]
			require.Equal(t, summary.Fail, got.Verdict, "mutant %s must fail %s; failed: %v", name, inv, s.FailedInvariants())
			require.NotEmpty(t, got.Examples)
			assert.NotEmpty(t, got.Examples[0].Explanation)
			assert.NotEmpty(t, got.Examples[0].Evidence, "a violation must show its evidence")
		})
	}
}

func firstExplanation(inv *summary.Invariant) string {
	if len(inv.Examples) == 0 {
		return ""
	}
	e := inv.Examples[0]
	return fmt.Sprintf("[%s] %s", e.Scenario, e.Explanation)
}
