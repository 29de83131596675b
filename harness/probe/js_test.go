package probe

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/clients"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

func jsExample(t *testing.T, name string) func(client.Env) (client.Client, error) {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(here), "..", "..", "examples", "js", name, "adapter.js")
	f, err := clients.Parse(context.Background(), "js:"+path)
	require.NoError(t, err)
	return f
}

// The probes that provoke an expiry a verify-first client can meet.
var expiryProbes = []string{"one-at-expiry", "concurrent-expiry", "proactive-window", "stored-expired-token", "concurrent-first-login", "wechat-busy"}

// A verify-first wrapper that logs in once when verify says expired is
// correct: its one login per episode is amplification 1.00. The same idea
// without single flight (verify-before-every-call) storms.
func TestVerifyFirstJSWrapper(t *testing.T) {
	if testing.Short() {
		t.Skip("runs JS runtimes")
	}
	s, res := runBattery(t, "js:verify-first", jsExample(t, "verify-first"), probesNamed(t, expiryProbes...))
	for _, r := range res {
		assert.Equal(t, summary.Pass, r.Scenario.Verdict, "probe %s: %s %v", r.Probe.Name, r.Scenario.Detail, firstExplanations(r.Summary))
	}
	assert.Equal(t, summary.Pass, s.Invariants[summary.SingleRefresh].Verdict, "%v", firstExplanation(s.Invariants[summary.SingleRefresh]))
	assert.Equal(t, 1.0, s.Refresh.Amplification, "%+v", s.Refresh)

	s, _ = runBattery(t, "js:verify-before-every-call", jsExample(t, "verify-before-every-call"), probesNamed(t, "concurrent-expiry", "stored-expired-token"))
	assert.Equal(t, summary.Fail, s.Invariants[summary.SingleRefresh].Verdict)
	assert.Greater(t, s.Refresh.Amplification, 1.0)
}

func TestFabricatingJSWrapperFailsGenuineAnswers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs JS runtimes")
	}
	s, _ := runBattery(t, "js:fabricate", jsExample(t, "fabricate"), probesNamed(t, "one-at-expiry", "concurrent-first-login"))
	inv := s.Invariants[summary.GenuineAnswers]
	require.Equal(t, summary.Fail, inv.Verdict)
	assert.NotEmpty(t, inv.Examples[0].Evidence)

	s, _ = runBattery(t, "js:correct", jsExample(t, "correct"), probesNamed(t, "one-at-expiry", "concurrent-first-login"))
	assert.Equal(t, summary.Pass, s.Invariants[summary.GenuineAnswers].Verdict, "%v", firstExplanation(s.Invariants[summary.GenuineAnswers]))
}

func firstExplanations(s *summary.Summary) []string {
	var out []string
	for _, n := range s.FailedInvariants() {
		out = append(out, n+": "+firstExplanation(s.Invariants[n]))
	}
	return out
}

// app-relaunch restarts the JS runtime with storage kept, so launch code
// runs: launch code that renews through the requests' single flight passes,
// launch code that renews on its own storms.
func TestAppRelaunchRunsLaunchCode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs JS runtimes")
	}
	s, res := runBattery(t, "js:app-launch", jsExample(t, "app-launch"), probesNamed(t, "app-relaunch", "one-at-expiry", "concurrent-expiry"))
	for _, r := range res {
		assert.Equal(t, summary.Pass, r.Scenario.Verdict, "probe %s: %s %v", r.Probe.Name, r.Scenario.Detail, firstExplanations(r.Summary))
	}
	assert.Equal(t, 1.0, s.Refresh.Amplification, "%+v", s.Refresh)

	_, res = runBattery(t, "js:app-launch-race", jsExample(t, "app-launch-race"), probesNamed(t, "app-relaunch"))
	require.Len(t, res, 1)
	assert.Equal(t, summary.Fail, res[0].Scenario.Verdict, res[0].Scenario.Detail)
	assert.Contains(t, res[0].Scenario.Failed, summary.SingleRefresh)
}
