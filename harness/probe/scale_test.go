package probe

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/refclient"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// 1,000 devices × 8 requests in flight, every token expiring at once: the
// reference client makes exactly one refresh per device and loses nothing.
func TestThousandDevicesExpireAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test; run without -short")
	}
	ps, err := Find([]string{"concurrent-expiry"})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	// Generous client timeouts: under the race detector on a shared 2-core
	// machine a refresh can take seconds, and a timed-out refresh retried with
	// the same refresh token is reuse (strict revokes the family) — that would
	// test the machine, not single-flight.
	patient := func(env client.Env) (client.Client, error) {
		return refclient.New(env, refclient.Options{RequestTimeout: time.Minute, RefreshBudget: 2 * time.Minute}), nil
	}
	res, err := Run(ctx, Config{NewClient: patient, ClientName: "ref", Devices: 1000, Concurrency: 8, Deadline: 3 * time.Minute}, ps)
	require.NoError(t, err)
	require.Len(t, res, 1)
	s := res[0].Summary
	t.Logf("1000×8 synchronized expiry: %s, %d requests, episodes %d, refreshes %d, logins %d, retries %d, late %d, p99 %.1fms",
		time.Since(start).Round(time.Millisecond), s.Requests.Issued, s.Refresh.ExpiryEpisodes, s.Refresh.Refreshes, s.Refresh.Logins, s.Refresh.Retries, s.Requests.Late, s.Latency.P99)
	assert.Equal(t, summary.Pass, s.Verdict, "failed: %v", s.FailedInvariants())
	assert.Equal(t, 1.0, s.Refresh.Amplification)
	// Under load a token call may time out client-side and be retried: that
	// is refresh.retries (SPEC §5), so the counts are judged net of it.
	assert.Equal(t, 1000, s.Refresh.FirstLogins, "one first login per device (warm-up)")
	assert.Equal(t, 1000, s.Refresh.ExpiryEpisodes, "one episode per device")
	assert.Equal(t, 2000, s.Refresh.Refreshes+s.Refresh.Logins-s.Refresh.Retries, "one login and one refresh per device, less retries")
	assert.Zero(t, s.Requests.Lost)
	assert.Equal(t, 1000+8000, s.Requests.Issued)
}
