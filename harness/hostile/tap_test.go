package hostile

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/backend"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/stack"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/tap"
)

func startTap(t *testing.T, target string, timeout time.Duration) *tap.Server {
	t.Helper()
	tp, err := tap.Start(context.Background(), tap.Config{Target: target, Style: style.MustLoad("bearer"),
		Ledger: ledger.New(ledger.Options{Memory: true}), TokenCallTimeout: timeout})
	require.NoError(t, err)
	t.Cleanup(tp.Close)
	return tp
}

// Hostile requests through the tap to the reference backend: the tap
// forwards them (the backend answers them as it would directly), never
// answers 5xx itself, and still carries a full login afterwards.
func TestHostileTapRequests(t *testing.T) {
	st := start(t, stack.Options{})
	tp := startTap(t, st.BackendURL, 5*time.Second)
	over := strings.Repeat("a", backend.MaxBody+1)
	run(t, tp.URL, []reqCase{
		{name: "login truncated JSON", method: "POST", path: "/auth/login", body: `{"code":`, want: 400},
		{name: "login body just over the tap's read limit", method: "POST", path: "/auth/login", body: over, want: 413},
		{name: "login huge body", method: "POST", path: "/auth/login", body: big, want: 413},
		{name: "refresh huge body", method: "POST", path: "/auth/refresh", body: big, want: 413},
		{name: "refresh garbage", method: "POST", path: "/auth/refresh", body: "\x00\xff{", want: 400},
		{name: "api huge body", method: "POST", path: "/api/orders", body: big, want: 401},
		{name: "other route huge body", method: "POST", path: "/nope", body: big},
		{name: "verify garbage token", method: "GET", path: "/auth/verify", hdr: map[string]string{"Authorization": "Bearer a.b.c"}, want: 401},
		{name: "hop-by-hop Connection names Authorization", method: "GET", path: "/api/x", hdr: map[string]string{"Connection": "Authorization", "Authorization": "Bearer x"}, want: 401},
		{name: "hop-by-hop Upgrade websocket", method: "GET", path: "/api/x", hdr: map[string]string{"Connection": "Upgrade", "Upgrade": "websocket"}, want: 401},
		{name: "hop-by-hop TE and Keep-Alive junk", method: "POST", path: "/auth/login", body: `{"code":"x"}`, hdr: map[string]string{"TE": "trailers, gzip;q=x", "Keep-Alive": "timeout=-1", "Proxy-Connection": "close"}, want: 400},
		{name: "Connection names Content-Length", method: "POST", path: "/auth/login", body: `{"code":"x"}`, hdr: map[string]string{"Connection": "Content-Length, Content-Type"}},
		{name: "X-Forwarded-For spoof", method: "GET", path: "/api/x", hdr: map[string]string{"X-Forwarded-For": "1.2.3.4, evil.invalid"}, want: 401},
		{name: "unknown method", method: "BREW", path: "/auth/login", body: `{"code":"x"}`},
		{name: "PROPFIND on api", method: "PROPFIND", path: "/api/x", want: 405},
		{name: "very long path", method: "GET", path: "/api/" + strings.Repeat("p", 6000), want: 401},
		{name: "encoded traversal", method: "GET", path: "/api/..%2f..%2fetc%2fpasswd", want: 401},
		{name: "NUL in query", method: "GET", path: "/auth/verify?x=%00%ff", want: 401},
		{name: "admin through the tap", method: "GET", path: "/__admin/stats", want: 200},
	})
	addr := strings.TrimPrefix(tp.URL, "http://")
	for name, raw := range map[string]string{
		"invalid method token":  "G@T /api/x HTTP/1.1\r\nHost: x\r\n\r\n",
		"absolute-form target":  "GET http://evil.invalid/api/x HTTP/1.1\r\nHost: evil.invalid\r\n\r\n",
		"CONNECT":               "CONNECT evil.invalid:443 HTTP/1.1\r\nHost: evil.invalid:443\r\n\r\n",
		"OPTIONS *":             "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
		"garbage request line":  "\x00\x01\x02 nonsense\r\n\r\n",
		"two Content-Lengths":   "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\n{}",
		"bad chunked body":      "POST /auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
		"header too large":      "GET /api/x HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("h", 70<<10) + "\r\n\r\n",
		"control char in path":  "GET /api/\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
		"expect 100-continue":   "POST /auth/login HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}",
		"HTTP/1.0 no host":      "GET /api/x HTTP/1.0\r\n\r\n",
		"Upgrade h2c":           "GET /api/x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n",
		"chunked and length":    "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"negative chunk size":   "POST /auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n",
		"unsupported transfer":  "POST /auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
		"absolute-form to self": "GET " + tp.URL + "/api/x HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		// 100 is the interim answer to Expect: the case only checks that the
		// tap answers or closes.
		rawCase(t, addr, name, raw, []int{100, 200, 400, 401, 404, 405, 413, 431, 501})
	}
	// A body broken off (the client half-closes): the tap forwards what
	// came and answers.
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	_, _ = io.WriteString(c, "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"code\":")
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = io.ReadAll(c)
	assert.NoError(t, err, "body broken off: the tap answers or closes")
	c.Close()
	// A body trickled a few bytes at a time still logs in.
	var code struct{ Code string }
	postJSON(t, st.WechatURL+"/__mock/wx/login", `{"user":"trickle"}`, "", &code)
	pr, pw := io.Pipe()
	go func() {
		for _, b := range []byte(`{"code":"` + code.Code + `"}`) {
			_, _ = pw.Write([]byte{b})
			time.Sleep(2 * time.Millisecond)
		}
		pw.Close()
	}()
	resp, err := hc.Post(tp.URL+"/auth/login", "application/json", pr)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode, "trickled login")
	healthyVia(t, st.WechatURL, tp.URL, "")
}

// badUpstream answers each request on a raw connection with what the case
// named in X-Case says: what a broken backend under test might send.
func badUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	answers := map[string]string{
		"garbage":          "NOT HTTP AT ALL\r\n\r\n",
		"status 000":       "HTTP/1.1 000 Zero\r\nContent-Length: 0\r\n\r\n",
		"status 99":        "HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n",
		"status 1000":      "HTTP/1.1 1000 High\r\nContent-Length: 0\r\n\r\n",
		"status 999":       "HTTP/1.1 999 Odd\r\nContent-Length: 2\r\n\r\n{}",
		"status text only": "HTTP/1.1 OK\r\nContent-Length: 0\r\n\r\n",
		"short body":       "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"access_token\":",
		"bad chunked":      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"two lengths":      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 7\r\n\r\n{}",
		"huge header":      "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("h", 2<<20) + "\r\nContent-Length: 0\r\n\r\n",
		"1xx flood":        strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n", 50) + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
		"101 unasked":      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: evil\r\n\r\n",
		"wrong types":      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 58\r\n\r\n{\"access_token\":5,\"refresh_token\":[1],\"expires_in\":\"soon\"}",
		"deep JSON":        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 20000\r\n\r\n" + strings.Repeat("[", 20000),
		"hop-by-hop":       "HTTP/1.1 200 OK\r\nConnection: X-Secret, Keep-Alive\r\nX-Secret: leak\r\nKeep-Alive: timeout=1\r\nProxy-Authenticate: Basic\r\nTrailer: X-T\r\nContent-Length: 2\r\n\r\n{}",
		"NUL header":       "HTTP/1.1 200 OK\r\nX-N: a\x00b\r\nContent-Length: 2\r\n\r\n{}",
		"close at once":    "",
		// Go's transport drops a Connection header that says close before
		// the proxy sees it, so the fields it names cannot be stripped; the
		// case checks only that the tap answers.
		"hop-by-hop close": "HTTP/1.1 200 OK\r\nConnection: close, X-Other\r\nX-Other: 1\r\nContent-Length: 2\r\n\r\n{}",
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					kase := req.Header.Get("X-Case")
					switch kase {
					case "huge body":
						_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", 8<<20)
						_, _ = c.Write([]byte(strings.Repeat(" ", 8<<20)))
						continue
					case "slow":
						time.Sleep(1500 * time.Millisecond)
						_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
						continue
					case "endless stream":
						_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
						for i := 0; i < 40; i++ {
							if _, err := io.WriteString(c, "1\r\n \r\n"); err != nil {
								return
							}
							time.Sleep(5 * time.Millisecond)
						}
						return
					}
					_, _ = io.WriteString(c, answers[kase])
					return
				}
			}(c)
		}
	}()
	return "http://" + ln.Addr().String()
}

// A broken backend under test: the tap answers the client (502 when the
// answer is unusable, else what came), records, and keeps serving.
func TestHostileTapUpstream(t *testing.T) {
	tp := startTap(t, badUpstream(t), time.Second)
	kases := []string{"garbage", "status 000", "status 99", "status 1000", "status 999", "status text only", "short body",
		"bad chunked", "two lengths", "huge header", "1xx flood", "101 unasked", "wrong types", "deep JSON", "hop-by-hop",
		"NUL header", "close at once", "hop-by-hop close", "huge body", "slow", "endless stream"}
	for _, route := range []string{"/auth/login", "/auth/refresh", "/api/x", "/other"} {
		for _, k := range kases {
			name := route + " " + k
			req, err := http.NewRequest("POST", tp.URL+route, strings.NewReader(`{"code":"c","refresh_token":"r"}`))
			require.NoError(t, err)
			req.Header.Set("X-Case", k)
			req.Header.Set("Authorization", "Bearer x")
			resp, err := hc.Do(req)
			if err != nil {
				// An answer whose body breaks off is passed on broken (the
				// client sees what the backend did); anything else is answered.
				assert.Contains(t, []string{"short body", "bad chunked"}, k, "%s: no answer: %v", name, err)
				continue
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 16<<20))
			resp.Body.Close()
			assert.True(t, resp.StatusCode == http.StatusBadGateway || (resp.StatusCode >= 100 && resp.StatusCode < 500) || resp.StatusCode == 999,
				"%s: status %d", name, resp.StatusCode)
			assert.NotEqual(t, "leak", resp.Header.Get("X-Secret"), "%s: a header the backend named hop-by-hop was forwarded", name)
		}
	}
	// Taps still forward to a healthy backend, and the one in front of the
	// broken backend still answers.
	st := start(t, stack.Options{})
	tp2 := startTap(t, st.BackendURL, time.Second)
	healthyVia(t, st.WechatURL, tp2.URL, "")
	req, _ := http.NewRequest("GET", tp.URL+"/other", nil)
	req.Header.Set("X-Case", "status 999")
	resp, err := hc.Do(req)
	require.NoError(t, err, "the tap in front of the broken backend still answers")
	resp.Body.Close()
}
