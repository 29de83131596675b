package probe

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/clients"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// needModules skips unless the example's npm dependencies were fetched
// (npm install --prefix DIR): no test needs the network.
func needModules(t *testing.T, dir string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs real libraries")
	}
	_, here, _, _ := runtime.Caller(0)
	abs := filepath.Join(filepath.Dir(here), "..", "..", "examples", dir)
	if _, err := os.Stat(filepath.Join(abs, "node_modules")); err != nil {
		t.Skipf("examples/%s has no node_modules (npm install --no-package-lock --prefix examples/%s)", dir, dir)
	}
	return abs
}

// The published libraries of examples/*/axios-auth-refresh,
// examples/js/flyio and examples/js/alova keep getting the verdicts their source explains
// (examples/js/README.md, examples/exec/README.md), with explanations that
// say why.
func TestThirdPartyLibrariesVerdicts(t *testing.T) {
	t.Run("js axios-auth-refresh 3", func(t *testing.T) {
		dir := needModules(t, "js/axios-auth-refresh")
		f, err := clients.Parse(context.Background(), "js:"+filepath.Join(dir, "adapter.js"))
		require.NoError(t, err)
		s, _ := runBattery(t, "js:axios-auth-refresh", f, probesNamed(t, "concurrent-expiry", "late-401", "non-token-401"))
		assert.Equal(t, summary.Pass, s.Invariants[summary.CorrectReplay].Verdict, "%v", firstExplanation(s.Invariants[summary.CorrectReplay]))
		sr := s.Invariants[summary.SingleRefresh]
		require.Equal(t, summary.Fail, sr.Verdict)
		assert.Contains(t, firstExplanation(sr), "a late 401")
		assert.Equal(t, summary.Fail, s.Invariants[summary.BoundedRetry].Verdict)
	})
	t.Run("js flyio", func(t *testing.T) {
		dir := needModules(t, "js/flyio")
		f, err := clients.Parse(context.Background(), "js:"+filepath.Join(dir, "adapter.js"))
		require.NoError(t, err)
		s, _ := runBattery(t, "js:flyio", f, probesNamed(t, "concurrent-expiry", "non-token-401"))
		assert.Equal(t, summary.Fail, s.Invariants[summary.SingleRefresh].Verdict)
		nl := s.Invariants[summary.NoLostRequests]
		require.Equal(t, summary.Fail, nl.Verdict)
		assert.Contains(t, firstExplanation(nl), "the client kept calling them without settling the request")
	})
	t.Run("js alova 3", func(t *testing.T) {
		dir := needModules(t, "js/alova")
		f, err := clients.Parse(context.Background(), "js:"+filepath.Join(dir, "adapter.js"))
		require.NoError(t, err)
		s, _ := runBattery(t, "js:alova", f, probesNamed(t, "concurrent-expiry", "refresh-fails"))
		nl := s.Invariants[summary.NoLostRequests]
		require.Equal(t, summary.Fail, nl.Verdict)
		assert.Contains(t, firstExplanation(nl), "and it was never re-sent")
	})
	t.Run("exec axios-auth-refresh 5", func(t *testing.T) {
		dir := needModules(t, "exec/axios-auth-refresh")
		if _, err := exec.LookPath("node"); err != nil {
			t.Skip("node is not installed")
		}
		f, err := clients.Parse(context.Background(), "exec:node "+filepath.Join(dir, "client.mjs"))
		require.NoError(t, err)
		s, _ := runBattery(t, "exec:axios-auth-refresh", f, probesNamed(t, "concurrent-expiry"))
		cr := s.Invariants[summary.CorrectReplay]
		require.Equal(t, summary.Fail, cr.Verdict)
		assert.Contains(t, firstExplanation(cr), "the client did not queue this request behind that renewal")
	})
}
