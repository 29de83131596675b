package reports

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// A device's first login belongs to no expiry episode: a correct storm
// device (first login, one expiry, one refresh) is one call per episode in
// the chart and the table, and a device that only logged in is not a
// "proactive refresh".
func TestFirstLoginIsNotCountedInAnEpisode(t *testing.T) {
	s := &summary.Summary{Invariants: map[string]*summary.Invariant{summary.SingleRefresh: {Verdict: summary.Pass}}}
	for _, n := range []string{"d1", "d2", "d3"} {
		s.PerDevice = append(s.PerDevice, summary.DeviceStat{Device: n, Episodes: 1, Refreshes: 1, Logins: 1, FirstLoginCalls: 1})
	}
	s.PerDevice = append(s.PerDevice, summary.DeviceStat{Device: "d4", Logins: 2, FirstLoginCalls: 2})

	c := refreshChart(s)
	require.NotEmpty(t, c.SVG, c.Empty)
	assert.Contains(t, c.Caption, "3 devices that met at least one expiry episode")
	assert.NotContains(t, c.Caption, "devices above 1", "no device made more than one call per episode")
	assert.NotContains(t, c.Caption, "proactive", "d4 only logged in")

	rows := topDevices(s.PerDevice, 10, false)
	require.Len(t, rows, 4)
	for _, r := range rows[:3] {
		assert.Equal(t, "1", r.PerEpisode, "%+v", r)
		assert.Equal(t, 1, r.FirstLogin)
	}
	assert.Equal(t, "d4", rows[3].Device, "no episode sorts last: %+v", rows)
}
