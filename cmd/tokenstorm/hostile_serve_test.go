package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startServe runs `tokenstorm serve args…` through run until the banner is
// printed: the URLs by name ("mock WeChat", "reference backend"), the banner,
// and stop, which interrupts serve and checks it shuts down cleanly.
func startServe(t *testing.T, args ...string) (urls map[string]string, banner string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve"}, args...), strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	urls = map[string]string{}
	var b strings.Builder
	re := regexp.MustCompile(`^\s+(mock WeChat|reference backend):\s+(http://127\.0\.0\.1:\d+)`)
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			urls[m[1]] = m[2]
		}
		if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("serve did not shut down")
		}
	}
	t.Cleanup(stop)
	require.Len(t, urls, 2, "serve prints both URLs:\n%s", b.String())
	return urls, b.String(), stop
}

// Flags no one should pass: each is refused with exit 2 and a message
// naming it, at once (no server is left running).
func TestServeHostileFlags(t *testing.T) {
	lo := []string{"--wechat-addr", "127.0.0.1:0", "--backend-addr", "127.0.0.1:0"}
	for _, c := range []struct {
		msg  string
		args []string
	}{
		{"--reuse", []string{"--reuse", "grace:-1s"}},
		{"--reuse", []string{"--reuse", "reuse:99999999999999999999"}},
		{"--access-ttl", []string{"--access-ttl", "0s"}},
		{"--access-ttl", []string{"--access-ttl", "-5m"}},
		{"invalid value", []string{"--access-ttl", "9999999999h"}},
		{"invalid value", []string{"--minute-quota", "99999999999999999999"}},
		{"--minute-quota 0: must be at least 1", []string{"--minute-quota", "0"}},
		{"takes no arguments", []string{"extra"}},
		{"flag provided but not defined", []string{"--evil"}},
		{"--style", []string{"--style", "no-such-style"}},
		{"--style", []string{"--style", "bearer\x00"}},
		{"--style", []string{"--style", "/"}},
		{"serve", []string{"--wechat-addr", "not an address"}},
		{"serve", []string{"--backend-addr", "127.0.0.1:99999"}},
	} {
		usageErr(t, c.msg, append(append([]string{"serve"}, lo...), c.args...)...)
	}
	// Both servers on one port: the second cannot listen.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	taken := ln.Addr().String()
	usageErr(t, "serve", "serve", "--wechat-addr", "127.0.0.1:0", "--backend-addr", taken)
	ln.Close()
}

// serve started by the CLI with non-default flags takes hostile requests on
// both ports, then carries a normal login and protected request.
func TestServeHostileRequests(t *testing.T) {
	urls, _, stop := startServe(t, "--wechat-addr", "127.0.0.1:0", "--backend-addr", "127.0.0.1:0",
		"--access-ttl", "30s", "--refresh-ttl", "1h", "--reuse", "grace:2s", "--minute-quota", "50")
	wx, be := urls["mock WeChat"], urls["reference backend"]
	hc := &http.Client{Timeout: 5 * time.Second}
	big := strings.Repeat("a", 2<<20)
	for _, c := range []struct {
		name, method, url, body string
		want                    int // 0: anything but 5xx
	}{
		{"wx.login huge", "POST", wx + "/__mock/wx/login", `{"user":"` + big + `"}`, 413},
		{"wx.login not JSON", "POST", wx + "/__mock/wx/login", "\x00\xff", 400},
		{"jscode2session junk", "GET", wx + "/sns/jscode2session?appid=%zz&js_code=%00", "", 200},
		{"faults bad JSON", "POST", wx + "/__admin/faults", `{"api":`, 400},
		{"mock traversal", "GET", wx + "/__admin/../../etc/passwd", "", 0},
		{"login huge", "POST", be + "/auth/login", big, 413},
		{"login deep nesting", "POST", be + "/auth/login", strings.Repeat("[", 100000), 400},
		{"refresh garbage", "POST", be + "/auth/refresh", `{"refresh_token":7}`, 400},
		{"api alg none", "GET", be + "/api/x", "", 401},
		{"config style path", "PUT", be + "/__admin/config", `{"style":"/etc/passwd"}`, 400},
		{"config style /dev/zero", "PUT", be + "/__admin/config", `{"style":"/dev/zero"}`, 400},
		{"config reuse nonsense", "PUT", be + "/__admin/config", `{"reuse":"grace:forever"}`, 400},
		{"ledger POST", "POST", be + "/__admin/ledger", "", 405},
		{"unknown method", "BREW", be + "/auth/login", "", 0},
	} {
		req, err := http.NewRequest(c.method, c.url, strings.NewReader(c.body))
		require.NoError(t, err, c.name)
		if c.name == "api alg none" {
			req.Header.Set("Authorization", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
		}
		resp, err := hc.Do(req)
		require.NoError(t, err, c.name)
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if c.want != 0 {
			assert.Equal(t, c.want, resp.StatusCode, "%s: %.200s", c.name, b)
		}
		assert.Less(t, resp.StatusCode, 500, "%s: %.200s", c.name, b)
		assert.NotContains(t, string(b), "root:", c.name)
	}
	for _, base := range []string{wx, be} {
		for name, raw := range map[string]string{
			"garbage request line": "\x00\x01\x02 nonsense\r\n\r\n",
			"header too large":     "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("h", 70<<10) + "\r\n\r\n",
			"bad content-length":   "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
		} {
			c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second)
			require.NoError(t, err)
			_, _ = io.WriteString(c, raw)
			require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			require.NoError(t, err, name)
			resp.Body.Close()
			assert.Contains(t, []int{400, 431}, resp.StatusCode, name)
			c.Close()
		}
	}

	// Healthy: wx.login → backend login → protected request.
	var code struct{ Code string }
	resp, err := hc.Post(wx+"/__mock/wx/login", "application/json", strings.NewReader(`{"user":"serve-healthy"}`))
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&code))
	resp.Body.Close()
	resp, err = hc.Post(be+"/auth/login", "application/json", strings.NewReader(fmt.Sprintf(`{"code":%q}`, code.Code)))
	require.NoError(t, err)
	var pair struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&pair))
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, 30, pair.ExpiresIn, "--access-ttl 30s is in force")
	req, _ := http.NewRequest("GET", be+"/api/orders", nil)
	req.Header.Set("Authorization", "Bearer "+pair.AccessToken)
	resp, err = hc.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	stop()
}
