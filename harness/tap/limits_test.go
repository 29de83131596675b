package tap_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/tap"
)

// A long poll, a stream and a slow upload through the tap last as long as
// the backend and the client let them, well past the tap's own limits,
// which bound only a request's headers and an idle connection.
func TestLongAnswersAreNotCutByTheTap(t *testing.T) {
	const limit, long = 150 * time.Millisecond, time.Second
	defer tap.ShortenServerLimits(limit, limit)()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/poll": // nothing at all until the event comes
			time.Sleep(long)
			_, _ = io.WriteString(w, `{"event":1}`)
		case "/api/stream":
			_, _ = io.WriteString(w, "first\n")
			w.(http.Flusher).Flush()
			time.Sleep(long)
			_, _ = io.WriteString(w, "second\n")
		case "/upload":
			b, err := io.ReadAll(r.Body)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			_, _ = fmt.Fprintf(w, "%d", len(b))
		}
	}))
	defer srv.Close()
	led := ledger.New(ledger.Options{Memory: true})
	tp, err := tap.Start(context.Background(), tap.Config{Target: srv.URL, Style: style.MustLoad("bearer"), Ledger: led})
	require.NoError(t, err)
	defer tp.Close()

	get := func(path string) (int, string) {
		req, err := http.NewRequest("GET", tp.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer good")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err, "%s: the answer was cut", path)
		return resp.StatusCode, string(b)
	}
	status, body := get("/api/poll")
	assert.Equal(t, 200, status)
	assert.Equal(t, `{"event":1}`, body)
	status, body = get("/api/stream")
	assert.Equal(t, 200, status)
	assert.Equal(t, "first\nsecond\n", body)

	pr, pw := io.Pipe()
	go func() {
		for range 5 {
			_, _ = pw.Write([]byte(strings.Repeat("x", 100)))
			time.Sleep(long / 5)
		}
		_ = pw.Close()
	}()
	resp, err := http.Post(tp.URL+"/upload", "application/octet-stream", pr)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "500", string(b), "the slow upload arrived whole")
	assert.Len(t, kinds(led, ledger.KindAPI), 2, "both protected calls recorded")

	// What the tap does bound: a client that never finishes its headers,
	// and a keep-alive connection left idle.
	closedSoon := func(what, send string) {
		c, err := net.Dial("tcp", strings.TrimPrefix(tp.URL, "http://"))
		require.NoError(t, err)
		defer c.Close()
		_, err = io.WriteString(c, send)
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		start := time.Now()
		_, err = io.Copy(io.Discard, bufio.NewReader(c))
		var ne net.Error
		if assert.NotErrorAs(t, err, &ne, "%s: the tap closed the connection", what) {
			assert.Less(t, time.Since(start), 3*time.Second, what)
		}
	}
	closedSoon("unfinished headers", "GET /x HTTP/1.1\r\nHost: tap\r\n")
	closedSoon("idle keep-alive", "GET /upload HTTP/1.1\r\nHost: tap\r\n\r\n")
}
