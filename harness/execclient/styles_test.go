package execclient

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/conform"
	"github.com/tokenstorm/tokenstorm/harness/storm"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// TestGoExampleClientEveryStyle runs the client scenarios of `tokenstorm
// conform` and a short storm against the reference backend in every built-in
// style with examples/exec/go, which learns the style from the hello's
// style_spec (issue 7: every built-in style with the Go exec client).
func TestGoExampleClientEveryStyle(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the conform suite and a storm per style take a while")
	}
	cmd := goClient(t)
	newClient := func(env client.Env) (client.Client, error) {
		return New(context.Background(), cmd, env, Options{})
	}
	for _, name := range style.Names() {
		t.Run(name, func(t *testing.T) {
			t.Run("conform", func(t *testing.T) {
				start := time.Now()
				res, err := conform.Run(context.Background(), conform.Options{
					NewClient: newClient, ClientName: "exec:go", Style: name, Tags: "@client",
				})
				require.NoError(t, err)
				for _, sc := range res.Scenarios {
					if sc.Verdict == summary.Fail {
						t.Errorf("%s: failed %v: %s", sc.Name, sc.Failed, sc.Detail)
					}
				}
				t.Logf("%s: %d passed, %d failed, %d skipped in %s", name, res.Passed, res.Failed, res.Skipped, time.Since(start).Round(time.Millisecond))
				assert.Zero(t, res.Failed)
				assert.Positive(t, res.Passed)
			})
			t.Run("storm", func(t *testing.T) {
				s, err := storm.Run(context.Background(), shortStorm(t), storm.Options{
					NewClient: newClient, ClientName: "exec:go", Style: name,
				})
				require.NoError(t, err)
				t.Logf("%s: requests %+v refresh %+v", name, s.Requests, s.Refresh)
				assert.Equal(t, summary.Pass, s.Verdict, "failed invariants %v; thresholds %+v; scenarios %+v", s.FailedInvariants(), s.Thresholds, s.Scenarios)
				assert.Zero(t, s.Requests.Lost)
				assert.Positive(t, s.Refresh.Refreshes+s.Refresh.Logins, "the expiry made the devices renew")
			})
		})
	}
}

// shortStorm is the shipped synchronized-expiry storm shrunk to 20 devices
// and 2 s, expiring every token after 1 s. The latency threshold is dropped:
// under -race on two cores, and with single-use tokens (one request at a time
// per device), latency is not what this test is about.
func shortStorm(t *testing.T) *storm.Scenario {
	t.Helper()
	sc := storm.Default()
	sc.Devices = 20
	sc.Rate = storm.Rate{Pacer: "constant", Freq: 300, Per: time.Second}
	sc.Duration = 2 * time.Second
	require.NotEmpty(t, sc.Timeline)
	sc.Timeline[0].At = time.Second
	var keep []storm.Threshold
	for _, th := range sc.Thresholds {
		if th.Metric != "latency.p99" {
			keep = append(keep, th)
		}
	}
	sc.Thresholds = keep
	return sc
}
