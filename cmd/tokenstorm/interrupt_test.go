package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// cancelOn is a progress writer that cancels the run once a line containing
// want has been written: an interrupt at a known point, not after a sleep.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	want   string
	cancel context.CancelFunc
}

func (w *cancelOn) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.cancel()
	}
	return len(p), nil
}

func runInterrupted(t *testing.T, want string, args ...string) (*summary.Summary, string, int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	errw := &cancelOn{want: want, cancel: cancel}
	if want == "" {
		cancel()
	}
	err := run(ctx, args, strings.NewReader(""), &out, errw)
	code := exitCode(err, errw)
	dir := args[len(args)-1]
	s, rerr := summary.ReadFile(dir)
	require.NoError(t, rerr, "an interrupted run still writes its summary")
	return s, out.String(), code
}

func TestInterruptedRunBeforeAnythingRanIsAllSkip(t *testing.T) {
	dir := t.TempDir()
	s, out, code := runInterrupted(t, "", "run", "--out", dir)
	assert.Equal(t, exitInterrupted, code)
	assert.Equal(t, summary.Interrupted, s.Verdict)
	assert.Contains(t, out, "verdict: INTERRUPTED")
	require.NotEmpty(t, s.Scenarios)
	kinds := map[string]bool{}
	for _, sc := range s.Scenarios {
		assert.Equal(t, summary.Skip, sc.Verdict, "%s %s: what did not run is skip", sc.Kind, sc.Name)
		assert.Contains(t, sc.Detail, "interrupted")
		kinds[sc.Kind] = true
	}
	assert.Equal(t, map[string]bool{"probe": true, "feature": true, "storm": true}, kinds, "probes, the suite and the storm are all listed")
	for name, inv := range s.Invariants {
		assert.NotEqual(t, summary.Fail, inv.Verdict, name)
	}
}

func TestInterruptedStormSaysSoAndExits130(t *testing.T) {
	dir := t.TempDir()
	// Interrupt once the live progress shows the attack running.
	s, out, code := runInterrupted(t, "sent ", "storm", "steady", "--duration", "30s", "--out", dir)
	assert.Equal(t, exitInterrupted, code)
	assert.Equal(t, summary.Interrupted, s.Verdict)
	assert.Contains(t, out, "verdict: INTERRUPTED")
	assert.NotContains(t, out, "verdict: PASS")
	require.Len(t, s.Scenarios, 1)
	assert.NotEqual(t, summary.Fail, s.Scenarios[0].Verdict)
	assert.Contains(t, s.Scenarios[0].Detail, "interrupted")
	assert.Greater(t, s.Requests.Issued, 0, "what ran is reported")
	assert.Contains(t, strings.Join(s.Notes, "\n"), "interrupted: storm steady stopped after")
}

func TestInterruptedConformanceMarksCutScenariosSkip(t *testing.T) {
	dir := t.TempDir()
	// The first feature line means the suite is under way.
	s, _, code := runInterrupted(t, "  feature ", "run", "--no-storm", "--out", dir)
	assert.Equal(t, exitInterrupted, code)
	assert.Equal(t, summary.Interrupted, s.Verdict)
	var features, ran int
	for _, sc := range s.Scenarios {
		if sc.Kind != "feature" {
			continue
		}
		features++
		assert.NotEqual(t, summary.Fail, sc.Verdict, "%s: %s", sc.Name, sc.Detail)
		if sc.Verdict == summary.Pass {
			ran++
		}
	}
	assert.Greater(t, features, 10)
	assert.Less(t, ran, features, "the interrupt cut the suite short")
}
