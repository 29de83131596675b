package stack

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var short = Timeouts{ReadHeader: 300 * time.Millisecond, Read: 400 * time.Millisecond, Write: time.Second, Idle: 300 * time.Millisecond}

// closedWithin reads from c until the server closes it; false if it is still
// open after limit.
func closedWithin(t *testing.T, c net.Conn, limit time.Duration) bool {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(limit)))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true
}

func TestTrickledBodyIsCutOff(t *testing.T) {
	st, err := Start(context.Background(), Options{Timeouts: short})
	require.NoError(t, err)
	defer st.Close()
	for _, u := range []string{st.BackendURL + "/auth/login", st.WechatURL + "/__mock/wx/login"} {
		host := strings.TrimPrefix(u, "http://")
		addr, path, _ := strings.Cut(host, "/")
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		_, err = io.WriteString(c, "POST /"+path+" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
		require.NoError(t, err)
		stop := make(chan struct{})
		go func() { // one byte every 50ms: never enough to finish
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
					if _, err := c.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
		assert.True(t, closedWithin(t, c, 5*time.Second), "%s: a trickled body kept the connection open", u)
		close(stop)
		c.Close()
	}
}

func TestIdleKeepAliveIsClosed(t *testing.T) {
	st, err := Start(context.Background(), Options{Timeouts: short})
	require.NoError(t, err)
	defer st.Close()
	for _, u := range []string{st.BackendURL, st.WechatURL} {
		c, err := net.Dial("tcp", strings.TrimPrefix(u, "http://"))
		require.NoError(t, err)
		_, err = io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		assert.True(t, closedWithin(t, c, 5*time.Second), "%s: an idle keep-alive stayed open", u)
		c.Close()
	}
}

func TestDefaultTimeoutsAreSet(t *testing.T) {
	srv := NewHTTPServer(http.NotFoundHandler(), "", Timeouts{})
	assert.Equal(t, DefaultTimeouts.ReadHeader, srv.ReadHeaderTimeout)
	assert.Equal(t, DefaultTimeouts.Read, srv.ReadTimeout)
	assert.Equal(t, DefaultTimeouts.Write, srv.WriteTimeout)
	assert.Equal(t, DefaultTimeouts.Idle, srv.IdleTimeout)
}

func TestAdminTokenGuardsBothServers(t *testing.T) {
	st, err := Start(context.Background(), Options{AdminToken: "tok-123"})
	require.NoError(t, err)
	defer st.Close()
	for _, u := range []string{st.BackendURL + "/__admin/stats", st.WechatURL + "/__admin/stats"} {
		resp, err := http.Get(u)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 401, resp.StatusCode, u)
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Authorization", "Bearer tok-123")
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode, u)
	}
	// the device side and the public routes stay open
	resp, err := http.Post(st.WechatURL+"/__mock/wx/login", "application/json", strings.NewReader(`{"user":"u1"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
}

func TestNonLoopbackNeedsAdminToken(t *testing.T) {
	_, err := Start(context.Background(), Options{WechatAddr: "0.0.0.0:0"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "without an admin token")
	st, err := Start(context.Background(), Options{WechatAddr: "0.0.0.0:0", BackendAddr: "0.0.0.0:0", AdminToken: "t"})
	require.NoError(t, err)
	st.Close()
}
