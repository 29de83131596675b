package probe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/backend"
	"github.com/tokenstorm/tokenstorm/harness/check"
	"github.com/tokenstorm/tokenstorm/harness/stack"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/summary"
	"github.com/tokenstorm/tokenstorm/mockwechat"
)

// The reference client passes the expiry probes against the reference
// backend in every built-in style, and the backend's own signals pass the
// harness's outside check.
func TestEveryStylePassesTheExpiryProbes(t *testing.T) {
	probes, err := Find([]string{"one-at-expiry", "concurrent-expiry", "post-at-expiry", "refresh-token-dead", "non-token-401", "backend-signals"})
	require.NoError(t, err)
	for _, name := range style.Names() {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			global := check.New(check.Options{})
			res, err := Run(ctx, Config{NewClient: refFactory, ClientName: "ref", Devices: 5, Concurrency: 4, Deadline: 2 * time.Second,
				Stack: stack.Options{Style: name}, Global: global}, probes)
			require.NoError(t, err)
			for _, r := range res {
				assert.Equal(t, summary.Pass, r.Scenario.Verdict, "style %s, probe %s: %s", name, r.Probe.Name, r.Scenario.Detail)
				switch r.Probe.Name {
				case "one-at-expiry", "concurrent-expiry", "post-at-expiry":
					assert.Equal(t, 1.0, r.Summary.Refresh.Amplification, "style %s, probe %s", name, r.Probe.Name)
				}
			}
			s := summary.New("ref", "embedded")
			global.Finish(s)
			s.Finalize()
			for _, inv := range []string{summary.SingleRefresh, summary.CorrectReplay, summary.NoLostRequests, summary.NoDuplicateEffects, summary.ExpirySignalled} {
				assert.Equal(t, summary.Pass, s.Invariants[inv].Verdict, "style %s: %s %v", name, inv, s.Invariants[inv].Examples)
				assert.Positive(t, s.Invariants[inv].Checked, "style %s: %s never exercised", name, inv)
			}
		})
	}
}

// Against a backend under test the probes that need the reference backend's
// admin API, clock or extra routes are skipped with their reason; the
// outside check runs.
func TestExternalBackendSkipsWhatNeedsTheReferenceBackend(t *testing.T) {
	wechatAddr := freeAddr(t)
	// A reference backend that is not ours: its own process as far as the
	// harness knows, without the admin API, and with a short token
	// lifetime so that the outside check can wait out an expiry (with a
	// long one, backend-signals is skip: TestNoExpiresIn… in examples/backends).
	be, err := backend.New(backend.Config{WechatURL: "http://" + wechatAddr, AppID: mockwechat.DefaultAppID, Secret: mockwechat.DefaultSecret, Style: "body-code",
		AccessTTL: time.Second})
	require.NoError(t, err)
	defer be.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, style.AdminPrefix) {
			http.NotFound(w, r)
			return
		}
		be.ServeHTTP(w, r)
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{NewClient: refFactory, ClientName: "ref", Devices: 3, Concurrency: 2, Deadline: 2 * time.Second,
		Stack: stack.Options{Style: "body-code", BackendURL: srv.URL, WechatAddr: wechatAddr}}, All())
	require.NoError(t, err)
	verdicts := map[string]summary.Scenario{}
	for _, r := range res {
		verdicts[r.Probe.Name] = r.Scenario
	}
	for _, n := range []string{"concurrent-first-login", "backend-signals"} {
		assert.Equal(t, summary.Pass, verdicts[n].Verdict, "%s: %s", n, verdicts[n].Detail)
	}
	assert.Contains(t, verdicts["backend-signals"].Detail, "")
	for n, sc := range verdicts {
		if n == "concurrent-first-login" || n == "backend-signals" {
			continue
		}
		assert.Equal(t, summary.Skip, sc.Verdict, "%s: %s", n, sc.Detail)
		assert.True(t, strings.HasPrefix(sc.Detail, "skipped: needs the reference backend's "), "%s: %s", n, sc.Detail)
	}
	assert.Contains(t, verdicts["one-at-expiry"].Detail, "admin API (POST /__admin/expire)")
	assert.Contains(t, verdicts["proactive-window"].Detail, "controllable clock")
	assert.Contains(t, verdicts["non-token-401"].Detail, "/v1/reauth")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
