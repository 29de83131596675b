package backend

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/mockwechat"
)

type httpDo func(method, path, body, token string) (int, http.Header, string)

func loopbackClient(t *testing.T, base string) httpDo {
	c := &http.Client{Timeout: 10 * time.Second}
	return func(method, path, body, token string) (int, http.Header, string) {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, base+path, rd)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
}

// Over real sockets: a fake jscode2session server, the backend on its own
// port, the default outbound HTTP client.
func TestLoopbackWithFakeWechat(t *testing.T) {
	wx := newFakeWechat()
	wxSrv := httptest.NewServer(wx)
	defer wxSrv.Close()
	clk := clock.NewManual(t0)
	led := ledger.New(ledger.Options{Memory: true, Clock: clk})
	s, err := New(Config{WechatURL: wxSrv.URL, AppID: testAppID, Secret: testSecret, Clock: clk, Ledger: led})
	require.NoError(t, err)
	defer s.Close()
	srv := httptest.NewServer(s)
	defer srv.Close()
	do := loopbackClient(t, srv.URL)

	var wg sync.WaitGroup
	tokens := make([]pair, 20)
	for i := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _, body := do("POST", "/auth/login", fmt.Sprintf(`{"code":"user%d.c"}`, i), "")
			if assert.Equal(t, 200, status, body) {
				assert.NoError(t, json.Unmarshal([]byte(body), &tokens[i]))
			}
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 20, wx.calls.Load())

	status, hdr, body := do("GET", "/api/orders?rid=L1", "", tokens[0].Access)
	assert.Equal(t, 200, status, body)
	assert.Equal(t, "L1", hdr.Get("X-Request-ID"))

	// code reuse reaches WeChat and comes back as invalid_code
	status, _, body = do("POST", "/auth/login", `{"code":"user0.c"}`, "")
	assert.Equal(t, 400, status)
	assert.JSONEq(t, `{"error":"invalid_code","wechat_errcode":40163}`, body)

	status, _, _ = do("POST", "/__admin/expire", `{"all":true}`, "")
	require.Equal(t, 200, status)
	status, hdr, body = do("GET", "/api/orders", "", tokens[1].Access)
	assert.Equal(t, 401, status)
	assert.JSONEq(t, expiredBody, body)
	assert.Equal(t, expiredChallenge, hdr.Get("WWW-Authenticate"))

	status, _, body = do("POST", "/auth/refresh", `{"refresh_token":"`+tokens[1].Refresh+`"}`, "")
	require.Equal(t, 200, status, body)
	var p pair
	require.NoError(t, json.Unmarshal([]byte(body), &p))
	status, _, _ = do("POST", "/api/orders?rid=L2", `{"n":1}`, p.Access)
	assert.Equal(t, 200, status)

	status, hdr, body = do("GET", "/__admin/ledger", "", "")
	assert.Equal(t, 200, status)
	assert.Equal(t, "application/x-ndjson", hdr.Get("Content-Type"))
	assert.Contains(t, body, `"kind":"effect"`)

	// WeChat goes away: 503, never a 500
	wxSrv.Close()
	status, hdr, body = do("POST", "/auth/login", `{"code":"user99.c"}`, "")
	assert.Equal(t, 503, status)
	assert.JSONEq(t, `{"error":"upstream_unavailable"}`, body)
	assert.Equal(t, "1", hdr.Get("Retry-After"))
}

// Against the real mock (mockwechat/): codes from the simulated wx.login,
// openids that match mockwechat.OpenID, single-use codes.
func TestLoopbackWithMockWechat(t *testing.T) {
	clk := clock.NewManual(t0)
	led := ledger.New(ledger.Options{Memory: true, Clock: clk})
	mw := mockwechat.New(mockwechat.Config{Clock: clk, Ledger: led})
	defer mw.Close()
	wxSrv := httptest.NewServer(mw)
	defer wxSrv.Close()
	s, err := New(Config{WechatURL: wxSrv.URL, AppID: mockwechat.DefaultAppID, Secret: mockwechat.DefaultSecret, Clock: clk, Ledger: led})
	require.NoError(t, err)
	defer s.Close()
	srv := httptest.NewServer(s)
	defer srv.Close()
	do := loopbackClient(t, srv.URL)

	code, err := mw.Login(mockwechat.DefaultAppID, "alice")
	require.NoError(t, err)
	status, _, body := do("POST", "/auth/login", `{"code":"`+code+`"}`, "")
	require.Equal(t, 200, status, body)
	login := e2eEvent(t, led, ledger.KindBackendLogin)
	assert.Equal(t, mockwechat.OpenID(mockwechat.DefaultAppID, "alice"), login.Subject)
	assert.Equal(t, code, login.Code)

	status, _, body = do("POST", "/auth/login", `{"code":"`+code+`"}`, "")
	assert.Equal(t, 400, status)
	assert.JSONEq(t, `{"error":"invalid_code","wechat_errcode":40163}`, body)

	status, _, body = do("POST", "/auth/login", `{"code":"never-minted"}`, "")
	assert.Equal(t, 400, status)
	assert.JSONEq(t, `{"error":"invalid_code","wechat_errcode":40029}`, body)
}

func e2eEvent(t *testing.T, led *ledger.Ledger, kind string) ledger.Event {
	for _, ev := range led.Events() {
		if ev.Kind == kind && ev.Source == ledger.SourceBackend {
			return ev
		}
	}
	t.Fatalf("no %s event", kind)
	return ledger.Event{}
}
