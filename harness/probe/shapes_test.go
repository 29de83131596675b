package probe

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/check"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/mutant"
	"github.com/tokenstorm/tokenstorm/harness/stack"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// shapeStyles are the API shapes of issue 13, each described by a style
// file alone (examples/styles) or a built-in.
func shapeStyles(t *testing.T) []string {
	files, err := filepath.Glob("../../examples/styles/*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 8)
	return append(files, "oauth2", "cookie-session")
}

func runStyled(t *testing.T, sty, name string, f func(client.Env) (client.Client, error)) (*summary.Summary, []Result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	global := check.New(check.Options{})
	res, err := Run(ctx, Config{NewClient: f, ClientName: name, Devices: 6, Concurrency: 4, Deadline: 2 * time.Second,
		Stack: stack.Options{Style: sty}, Global: global}, All())
	require.NoError(t, err)
	s := summary.New(name, "embedded")
	for _, r := range res {
		s.Scenarios = append(s.Scenarios, r.Scenario)
	}
	global.Finish(s)
	s.Finalize()
	return s, res
}

// For every shape: the reference backend serves the style, the reference
// client passes the whole probe battery against it, and a mutant that
// does not replay fails against it.
func TestEveryShapeIsServedPassedAndCatchesAMutant(t *testing.T) {
	for _, sty := range shapeStyles(t) {
		t.Run(filepath.Base(sty), func(t *testing.T) {
			s, res := runStyled(t, sty, "ref", refFactory)
			for _, r := range res {
				assert.NotEqual(t, summary.Fail, r.Scenario.Verdict, "style %s, probe %s: %s", sty, r.Probe.Name, r.Scenario.Detail)
			}
			assert.Equal(t, summary.Pass, s.Verdict, "style %s: failed %v", sty, s.FailedInvariants())
			for _, inv := range []string{summary.SingleRefresh, summary.CorrectReplay, summary.NoLostRequests, summary.NoDuplicateEffects, summary.ExpirySignalled} {
				assert.Equal(t, summary.Pass, s.Invariants[inv].Verdict, "style %s: %s %v", sty, inv, firstExplanation(s.Invariants[inv]))
				assert.Positive(t, s.Invariants[inv].Checked, "style %s: %s never exercised", sty, inv)
			}

			m, _ := runStyled(t, sty, "mutant:no-replay", func(env client.Env) (client.Client, error) { return mutant.New("no-replay", env) })
			assert.Equal(t, summary.Fail, m.Invariants[summary.CorrectReplay].Verdict, "style %s: mutant:no-replay must fail correct-replay; failed %v", sty, m.FailedInvariants())
		})
	}
}
