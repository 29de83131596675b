package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serve on port 0 prints the real URLs, serves both APIs and /metrics, and
// stops cleanly when its context ends (what SIGINT does in main).
func TestServeOnFreePortsAndShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--wechat-addr", "127.0.0.1:0", "--backend-addr", "127.0.0.1:0", "--access-ttl", "30s"}, strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	urls := map[string]string{}
	re := regexp.MustCompile(`^\s+(mock WeChat|reference backend):\s+(http://127\.0\.0\.1:\d+)`)
	sc := bufio.NewScanner(pr)
	for sc.Scan() && len(urls) < 2 {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			urls[m[1]] = m[2]
		}
	}
	go io.Copy(io.Discard, pr)
	require.Len(t, urls, 2, "serve prints both URLs")
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

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not shut down")
	}
}
