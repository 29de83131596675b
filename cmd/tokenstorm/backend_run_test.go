package main

import (
	"encoding/json"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/examples/backends/sessions"
	"github.com/tokenstorm/tokenstorm/mockwechat"
)

// `tokenstorm run --backend` on the example session backend (no admin
// API) exits 0 with the storm judged from the backend side through the
// tap, and its profile carries the backend's latency under the storm.
func TestRunAgainstABackendUnderTestCarriesTheStormLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the probes and the default storm")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	wechat := ln.Addr().String()
	require.NoError(t, ln.Close())
	be := httptest.NewServer(sessions.New(sessions.Config{WechatURL: "http://" + wechat, AppID: mockwechat.DefaultAppID, Secret: mockwechat.DefaultSecret,
		SessionTTL: 2 * time.Second, RenewTTL: time.Hour}))
	defer be.Close()

	out := t.TempDir()
	stdout, stderr, code := runCLI(t, "run", "--backend", be.URL, "--style", "../../examples/backends/good/style.yaml",
		"--wechat-addr", wechat, "--no-conform", "--out", out)
	if code != 0 {
		// The default storm's latency threshold is about the machine: on a
		// loaded one it alone may fail; nothing else may.
		require.Equal(t, 1, code, "%s\n%s", stdout, stderr)
		require.Regexp(t, machineBound, stdout)
		require.NotContains(t, stdout, "FAIL     ", "no invariant failed: %s", stdout)
		t.Log("only the storm's latency threshold failed (a loaded machine)")
	}
	assert.Regexp(t, `backend:  login p50 [0-9.]+ms p99 [0-9.]+ms \([1-9][0-9]*\), refresh p50 [0-9.]+ms p99 [0-9.]+ms \([1-9][0-9]*\) under the storm`, stdout)

	b, err := os.ReadFile(filepath.Join(out, "summary.json"))
	require.NoError(t, err)
	var s struct {
		Invariants map[string]struct {
			Verdict string `json:"verdict"`
			Checked int    `json:"checked"`
		} `json:"invariants"`
		Storm struct {
			BackendLoginMS *struct{ Count int } `json:"backend_login_ms"`
		} `json:"storm"`
		Profile struct {
			StormLoginMS   *struct{ Count int } `json:"storm_login_ms"`
			StormRefreshMS *struct {
				Count int
				P99   float64
			} `json:"storm_refresh_ms"`
		} `json:"backend_profile"`
	}
	require.NoError(t, json.Unmarshal(b, &s))
	sr := s.Invariants["single-refresh"]
	assert.Equal(t, "pass", sr.Verdict)
	assert.Positive(t, sr.Checked, "judged from the tap's events")
	require.NotNil(t, s.Profile.StormLoginMS, "%s", b)
	require.NotNil(t, s.Profile.StormRefreshMS)
	assert.Positive(t, s.Profile.StormLoginMS.Count)
	assert.Positive(t, s.Profile.StormRefreshMS.Count)
	assert.Positive(t, s.Profile.StormRefreshMS.P99)
	require.NotNil(t, s.Storm.BackendLoginMS)
	assert.Equal(t, s.Storm.BackendLoginMS.Count, s.Profile.StormLoginMS.Count)
	md, err := os.ReadFile(filepath.Join(out, "summary.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "refresh latency under the storm")
}
