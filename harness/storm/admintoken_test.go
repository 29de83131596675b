package storm

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// With an admin token the servers refuse unauthenticated admin calls, and the
// storm's own timeline still drives them.
func TestTimelineWithAdminToken(t *testing.T) {
	src := `
name: guarded
devices: 4
duration: 1500ms
rate: {pacer: constant, freq: 60}
mix:
  - {method: GET, path: /api/orders}
timeline:
  - {at: 300ms, action: expire_all}
  - {at: 500ms, action: wechat_fault, errcode: -1, count: 1, for: 300ms}
  - {at: 900ms, action: clear_faults}
thresholds:
  - "invariants: all"
`
	sc, err := Parse("guarded.yaml", []byte(src))
	require.NoError(t, err)
	s, err := Run(context.Background(), sc, Options{NewClient: refFactory, AdminToken: "storm-token"})
	require.NoError(t, err)
	require.Len(t, s.Scenarios, 1)
	assert.Equal(t, summary.Pass, s.Scenarios[0].Verdict, s.Scenarios[0].Detail)
	var marks []string
	for _, m := range s.Timeline {
		marks = append(marks, m.Kind+" "+m.Detail)
	}
	all := strings.Join(marks, "\n")
	assert.NotContains(t, all, "401")
	assert.Contains(t, all, "expire_all at 300ms")
	assert.GreaterOrEqual(t, s.Refresh.ExpiryEpisodes, 1)
}
