package hostile

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/stack"
	"github.com/tokenstorm/tokenstorm/mockwechat"
)

// hc bounds every case: a server that hangs fails the case, not the suite.
var hc = &http.Client{Timeout: 5 * time.Second}

type reqCase struct {
	name, method, path, body string
	hdr                      map[string]string
	want                     int    // exact status; 0 = anything but 5xx
	contains                 string // in the body, if set
	absent                   string // never in the body, if set
}

func start(t *testing.T, o stack.Options) *stack.Stack {
	t.Helper()
	st, err := stack.Start(context.Background(), o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func run(t *testing.T, base string, cases []reqCase) {
	t.Helper()
	for _, c := range cases {
		req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		require.NoError(t, err, c.name)
		for k, v := range c.hdr {
			req.Header.Set(k, v)
		}
		if c.body != "" && req.Header.Get("Content-Type") == "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		require.NoError(t, err, c.name)
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if c.want != 0 {
			assert.Equal(t, c.want, resp.StatusCode, "%s: %s", c.name, clip(b))
		}
		assert.Less(t, resp.StatusCode, 500, "%s: %s", c.name, clip(b))
		if c.contains != "" {
			assert.Contains(t, string(b), c.contains, c.name)
		}
		if c.absent != "" {
			assert.NotContains(t, string(b), c.absent, c.name)
		}
	}
}

func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// healthy logs a fresh device in end to end (wx.login → backend login →
// jscode2session → a protected request): the servers still serve.
func healthy(t *testing.T, st *stack.Stack, admin string) {
	t.Helper()
	healthyVia(t, st.WechatURL, st.BackendURL, admin)
}

// healthyVia is healthy with the backend reached at backendURL (a tap in
// front of it, or a backend started by hand).
func healthyVia(t *testing.T, wechatURL, backendURL, admin string) {
	t.Helper()
	user := fmt.Sprintf("healthy-%d", time.Now().UnixNano())
	var code struct{ Code string }
	postJSON(t, wechatURL+"/__mock/wx/login", `{"user":"`+user+`"}`, "", &code)
	require.NotEmpty(t, code.Code, "wx.login still works")
	var pair struct {
		AccessToken string `json:"access_token"`
	}
	postJSON(t, backendURL+"/auth/login", `{"code":"`+code.Code+`"}`, "", &pair)
	require.NotEmpty(t, pair.AccessToken, "backend login still works")
	req, _ := http.NewRequest("GET", backendURL+"/api/orders?rid=h", nil)
	req.Header.Set("Authorization", "Bearer "+pair.AccessToken)
	resp, err := hc.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, "protected request still works")
	if admin != "" {
		req, _ = http.NewRequest("GET", backendURL+"/__admin/stats", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err = hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
	}
}

func postJSON(t *testing.T, url, body, token string, out any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
}

var (
	big    = strings.Repeat("a", 2<<20)
	bomb   = "x0: &a0 [q, q, q, q, q, q, q, q, q, q]\nx1: &a1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]\nx2: &a2 [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]\nx3: &a3 [*a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2]\nx4: &a4 [*a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3]\nx5: [*a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4]\n"
	badUTF = "{\"user\":\"\xff\xfe\"}"
)

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

// bearerYAML is the built-in bearer style's file: a valid style document.
func bearerYAML(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "style", "builtin", "bearer.yaml"))
	require.NoError(t, err)
	return b
}

// paddedStyleYAML is the bearer style padded with a comment to size bytes.
func paddedStyleYAML(t *testing.T, size int) string {
	t.Helper()
	b := bearerYAML(t)
	require.Less(t, len(b)+2, size)
	return string(b) + "#" + strings.Repeat("a", size-len(b)-2) + "\n"
}

// paddedStyleJSON is the bearer style as a JSON object whose description
// pads it to about size bytes.
func paddedStyleJSON(t *testing.T, size int) string {
	t.Helper()
	j, err := yaml.YAMLToJSON(bearerYAML(t))
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(j, &m))
	m["description"] = strings.Repeat("a", size-len(j))
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return string(out)
}

func TestHostileMockWechat(t *testing.T) {
	st := start(t, stack.Options{})
	a, s := mockwechat.DefaultAppID, mockwechat.DefaultSecret
	run(t, st.WechatURL, []reqCase{
		{name: "jscode2session no params", method: "GET", path: "/sns/jscode2session", contains: "errcode"},
		{name: "jscode2session unknown code", method: "GET", path: "/sns/jscode2session?appid=" + a + "&secret=" + s + "&js_code=nope&grant_type=authorization_code", want: 200, contains: "40029"},
		{name: "jscode2session wrong secret", method: "GET", path: "/sns/jscode2session?appid=" + a + "&secret=x&js_code=c&grant_type=authorization_code", want: 200, contains: "40125"},
		{name: "jscode2session huge code", method: "GET", path: "/sns/jscode2session?appid=" + a + "&secret=" + s + "&js_code=" + strings.Repeat("c", 6000) + "&grant_type=authorization_code", want: 200},
		{name: "jscode2session repeated params", method: "GET", path: "/sns/jscode2session?appid=a&appid=b&secret=" + s + "&js_code=c&grant_type=authorization_code", want: 200},
		{name: "jscode2session bad escapes", method: "GET", path: "/sns/jscode2session?appid=%zz&js_code=%00", want: 200},
		{name: "jscode2session POST body", method: "POST", path: "/sns/jscode2session", body: big},
		{name: "cgi-bin/token wrong grant", method: "GET", path: "/cgi-bin/token?grant_type=x&appid=" + a + "&secret=" + s, want: 200, contains: "40002"},
		{name: "stable_token garbage", method: "POST", path: "/cgi-bin/stable_token", body: "{{{{"},
		{name: "stable_token huge", method: "POST", path: "/cgi-bin/stable_token", body: big, want: 413},
		{name: "checksession bad signature", method: "GET", path: "/wxa/checksession?access_token=x&openid=y&signature=zz&sig_method=hmac_sha256", want: 200},
		{name: "wx.login invalid UTF-8", method: "POST", path: "/__mock/wx/login", body: badUTF, want: 400, contains: "UTF-8"},
		{name: "wx.login huge body", method: "POST", path: "/__mock/wx/login", body: `{"user":"` + big + `"}`, want: 413},
		{name: "wx.login unknown member", method: "POST", path: "/__mock/wx/login", body: `{"user":"u","evil":1}`, want: 400},
		{name: "wx.login array", method: "POST", path: "/__mock/wx/login", body: `[1]`, want: 400},
		{name: "wx.login NUL user", method: "POST", path: "/__mock/wx/login", body: `{"user":"\u0000"}`},
		{name: "wx.login GET", method: "GET", path: "/__mock/wx/login", want: 405},
		{name: "faults bad JSON", method: "POST", path: "/__admin/faults", body: `{"api":`, want: 400},
		{name: "faults huge latency", method: "POST", path: "/__admin/faults", body: `{"api":"*","latency":"1000000h"}`, want: 400},
		{name: "faults delete traversal", method: "DELETE", path: "/__admin/faults/../../etc/passwd", want: 404},
		{name: "blocked not a list", method: "POST", path: "/__admin/blocked", body: `{"users":"x"}`, want: 400},
		{name: "admin unknown", method: "GET", path: "/__admin/../../etc/passwd"},
		{name: "mock unknown", method: "GET", path: "/__mock/nope", want: 404},
		{name: "metrics POST", method: "POST", path: "/metrics"},
		{name: "stats with query junk", method: "GET", path: "/__admin/stats?x=%00%ff", want: 200},
		{name: "fault by unknown id", method: "GET", path: "/__admin/faults/f999999", want: 404},
		{name: "reset GET", method: "GET", path: "/__admin/reset", want: 405},
		{name: "metrics", method: "GET", path: "/metrics", want: 200},
	})
	healthy(t, st, "")
}

func TestHostileBackend(t *testing.T) {
	st := start(t, stack.Options{})
	run(t, st.BackendURL, []reqCase{
		{name: "login truncated JSON", method: "POST", path: "/auth/login", body: `{"code":`, want: 400},
		{name: "login huge body", method: "POST", path: "/auth/login", body: big, want: 413},
		{name: "login duplicate members", method: "POST", path: "/auth/login", body: `{"code":"a","code":"b"}`, want: 400},
		{name: "login deep nesting", method: "POST", path: "/auth/login", body: strings.Repeat("[", 100000), want: 400},
		{name: "login unknown code", method: "POST", path: "/auth/login", body: `{"code":"nope"}`, want: 400, contains: "invalid_code"},
		{name: "refresh garbage token", method: "POST", path: "/auth/refresh", body: `{"refresh_token":"` + strings.Repeat("\u00e9", 2000) + `"}`},
		{name: "verify no token", method: "GET", path: "/auth/verify", want: 401},
		{name: "api alg none", method: "GET", path: "/api/x", hdr: map[string]string{"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}, want: 401},
		{name: "api huge token", method: "GET", path: "/api/x", hdr: map[string]string{"Authorization": "Bearer " + strings.Repeat("A", 30000)}, want: 401},
		{name: "api delay too long", method: "GET", path: "/api/x?delay_ms=999999999"},
		{name: "api rid control chars", method: "GET", path: "/api/x?rid=a%0Db"},
		{name: "config style /etc/shadow", method: "PUT", path: "/__admin/config", body: `{"style":"/etc/shadow"}`, want: 400, contains: "no built-in style", absent: "root:"},
		{name: "config style /etc/passwd", method: "PUT", path: "/__admin/config", body: `{"style":"/etc/passwd"}`, want: 400, absent: "root:"},
		{name: "config style /dev/zero", method: "PUT", path: "/__admin/config", body: `{"style":"/dev/zero"}`, want: 400},
		{name: "config style alias bomb", method: "PUT", path: "/__admin/config", body: `{"style":` + jsonString(bomb) + `}`, want: 400, contains: "alias"},
		// A valid style padded to just under and just past the 256 KiB cap, as
		// YAML text and as a JSON object: only the cap refuses the second.
		{name: "config style padded inline under the cap", method: "PUT", path: "/__admin/config", body: `{"style":` + jsonString(paddedStyleYAML(t, 250<<10)) + `}`, want: 200, contains: `"style":"bearer"`},
		{name: "config style huge inline", method: "PUT", path: "/__admin/config", body: `{"style":` + jsonString(paddedStyleYAML(t, 300<<10)) + `}`, want: 400, contains: "larger than 262144 bytes"},
		{name: "config style padded inline object under the cap", method: "PUT", path: "/__admin/config", body: `{"style":` + paddedStyleJSON(t, 250<<10) + `}`, want: 200, contains: `"style":"bearer"`},
		{name: "config style huge inline object", method: "PUT", path: "/__admin/config", body: `{"style":` + paddedStyleJSON(t, 300<<10) + `}`, want: 400, contains: "larger than 262144 bytes"},
		{name: "config ttl nonsense", method: "PUT", path: "/__admin/config", body: `{"access_ttl":"-1h"}`, want: 400},
		{name: "config reuse nonsense", method: "PUT", path: "/__admin/config", body: `{"reuse":"reuse:-5"}`, want: 400},
		{name: "expire both", method: "POST", path: "/__admin/expire", body: `{"all":true,"users":["x"]}`, want: 400},
		{name: "revoke empty families", method: "POST", path: "/__admin/revoke", body: `{"families":[]}`, want: 400},
		{name: "ledger POST", method: "POST", path: "/__admin/ledger", want: 405},
		{name: "unknown route", method: "GET", path: "/../../etc/passwd"},
		{name: "stats POST", method: "POST", path: "/__admin/stats", want: 405},
		{name: "reset with body", method: "POST", path: "/__admin/reset", body: big},
		{name: "config GET", method: "GET", path: "/__admin/config", want: 200, contains: "access_ttl"},
		{name: "metrics", method: "GET", path: "/metrics", want: 200},
		{name: "verify expired-looking garbage", method: "GET", path: "/auth/verify", hdr: map[string]string{"Authorization": "Bearer a.b.c"}, want: 401},
	})
	healthy(t, st, "")
	// The ledger never shows a live code, whatever was minted above.
	var code struct{ Code string }
	postJSON(t, st.WechatURL+"/__mock/wx/login", `{"user":"ledger-check"}`, "", &code)
	_, _ = hc.Post(st.BackendURL+"/auth/login", "application/json", strings.NewReader(`{"code":"`+code.Code+`"}`))
	resp, err := hc.Get(st.BackendURL + "/__admin/ledger")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.NotContains(t, string(b), code.Code)
}

func TestHostileAdminToken(t *testing.T) {
	const tok = "hostile-admin-token"
	st := start(t, stack.Options{AdminToken: tok})
	for _, base := range []string{st.WechatURL, st.BackendURL} {
		run(t, base, []reqCase{
			{name: "admin without token", method: "GET", path: "/__admin/stats", want: 401},
			{name: "admin wrong token", method: "POST", path: "/__admin/reset", hdr: map[string]string{"Authorization": "Bearer nope"}, want: 401},
			{name: "admin token as basic", method: "POST", path: "/__admin/reset", hdr: map[string]string{"Authorization": "Basic " + tok}, want: 401},
			{name: "admin prefix only", method: "GET", path: "/__admin", want: 401},
		})
	}
	healthy(t, st, tok)
}

// Raw connections: what an HTTP client library would never send.
func TestHostileConnections(t *testing.T) {
	st := start(t, stack.Options{Timeouts: stack.Timeouts{ReadHeader: 500 * time.Millisecond, Read: time.Second, Idle: 500 * time.Millisecond}})
	for _, base := range []string{st.WechatURL, st.BackendURL} {
		addr := strings.TrimPrefix(base, "http://")
		for name, raw := range map[string]string{
			"garbage request line": "\x00\x01\x02 nonsense\r\n\r\n",
			"HTTP/0.9":             "GET /\r\n\r\n",
			"header too large":     "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("h", 70<<10) + "\r\n\r\n",
			"bad content-length":   "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
			"stalled headers":      "GET / HTTP/1.1\r\nHost: x\r\n",
			"trickled body":        "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{",
		} {
			rawCase(t, addr, name, raw, []int{400, 404, 405, 413, 431, 200})
		}
	}
	healthy(t, st, "")
}

// rawCase writes raw on a new connection to addr: the answer, if any, has
// one of the statuses allowed (5xx only if listed: net/http itself answers
// 501 to a transfer coding it does not know), and the server never leaves the connection
// hanging (it answers or closes within 5s).
func rawCase(t *testing.T, addr, name, raw string, allowed []int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	require.NoError(t, err)
	defer c.Close()
	_, _ = io.WriteString(c, raw)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		resp.Body.Close()
		assert.Contains(t, allowed, resp.StatusCode, name)
		return
	}
	var ne net.Error
	assert.False(t, isTimeout(err, &ne), "%s: the server kept the connection open: %v", name, err)
}

func isTimeout(err error, ne *net.Error) bool {
	if e, ok := err.(net.Error); ok {
		*ne = e
		return e.Timeout()
	}
	return false
}
