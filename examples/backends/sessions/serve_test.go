package sessions

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// serveWith starts the example's HTTP server with timeouts t on loopback.
func serveWith(t *testing.T, to timeouts) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hs := newHTTPServer(New(Config{WechatURL: "http://127.0.0.1:1", SessionTTL: time.Minute}), to)
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return ln.Addr().String()
}

// closedWithin reports whether the server closes conn within d.
func closedWithin(conn net.Conn, d time.Duration) bool {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	for {
		if _, err := conn.Read(buf); err != nil {
			ne, ok := err.(net.Error)
			return !(ok && ne.Timeout())
		}
	}
}

func TestTrickledBodyIsCutOff(t *testing.T) {
	addr := serveWith(t, timeouts{readHeader: time.Second, read: 300 * time.Millisecond, write: time.Second, idle: time.Second})
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	// A body announced as 1 MB of which only a few bytes ever arrive.
	_, err = fmt.Fprintf(conn, "POST /v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{\"co")
	require.NoError(t, err)
	require.True(t, closedWithin(conn, 3*time.Second), "a trickled body must not hold the connection open")
}

func TestIdleKeepAliveIsClosed(t *testing.T) {
	addr := serveWith(t, timeouts{readHeader: time.Second, read: time.Second, write: time.Second, idle: 300 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "GET /v1/items/ HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.True(t, closedWithin(conn, 3*time.Second), "an idle keep-alive connection must be closed")
}

func TestDefaultTimeoutsAreAllSet(t *testing.T) {
	hs := newHTTPServer(http.NotFoundHandler(), defaultTimeouts)
	for name, d := range map[string]time.Duration{"read header": hs.ReadHeaderTimeout, "read": hs.ReadTimeout, "write": hs.WriteTimeout, "idle": hs.IdleTimeout} {
		require.Positive(t, d, name)
	}
}
