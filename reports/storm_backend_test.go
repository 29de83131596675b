package reports

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// The backend's latency under the storm (measured by the tap) is in the
// reports: in the backend profile of a run, and on its own for a storm
// alone; summary.json stays valid against the schema either way.
func TestReportsShowTheBackendLatencyUnderTheStorm(t *testing.T) {
	login := &summary.CallLatency{Count: 40, P50: 1.5, P99: 12.25, Max: 20}
	refresh := &summary.CallLatency{Count: 21, P50: 2, P99: 9.5, Max: 11}

	stormOnly := Sample(false)
	stormOnly.Storm.BackendLoginMS, stormOnly.Storm.BackendRefreshMS = login, refresh
	run := Sample(false)
	run.Storm.BackendLoginMS, run.Storm.BackendRefreshMS = login, refresh
	run.BackendProfile = &summary.BackendProfile{Style: "sessions-example", Rotation: "rotates", Reuse: "strict", Signals: map[string]int{"success": 3},
		StormLoginMS: login, StormRefreshMS: refresh}

	for name, s := range map[string]*summary.Summary{"storm": stormOnly, "run": run} {
		assert.Empty(t, validate(t, summaryJSON(t, s)), name)
		dir := render(t, s)
		for _, file := range []string{"summary.md", "report.html"} {
			out := readFile(t, dir, file)
			for _, want := range []string{"login latency under the storm", "(40 calls)", "refresh latency under the storm", "(21 calls)"} {
				assert.True(t, strings.Contains(out, want), "%s %s lacks %q", name, file, want)
			}
		}
	}
	md := readFile(t, render(t, run), "summary.md")
	assert.True(t, strings.Contains(md, "| rotation | rotates |"), "the run's profile keeps its other rows")
	assert.True(t, strings.Contains(md, "p99 12.2"), "p99 of the storm's logins")

	plain := Sample(false)
	assert.False(t, strings.Contains(readFile(t, render(t, plain), "summary.md"), "under the storm"), "no tap, no rows")
}
