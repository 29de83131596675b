package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serve on port 0 prints the real URLs, serves both APIs and /metrics, and
// stops cleanly when its context ends (what SIGINT does in main).
func TestServeOnFreePortsAndShutdown(t *testing.T) {
	urls, _, stop := startServe(t, "--wechat-addr", "127.0.0.1:0", "--backend-addr", "127.0.0.1:0", "--access-ttl", "30s")
	for _, u := range urls {
		assert.NotContains(t, u, ":0", "the printed URL shows the chosen port")
		resp, err := http.Get(u + "/metrics")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
	}
	resp, err := http.Post(urls["mock WeChat"]+"/__mock/wx/login", "application/json", strings.NewReader(`{"user":"d1"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	stop()
}
