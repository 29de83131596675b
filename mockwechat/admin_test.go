package mockwechat

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStats(t *testing.T) {
	f := newFixture(t)
	code := f.login("", "d1")
	f.sessionOf(code)
	f.exchange(code) // 40163
	f.exchange("0nope")
	f.token()
	f.do(http.MethodGet, "/__mock/wx/login", "") // 405

	rec := f.do(http.MethodGet, "/__admin/stats", "")
	require.Equal(t, http.StatusOK, rec.Code)
	var st Stats
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &st))
	assert.Equal(t, map[string]int64{APIWxLogin: 2, APIJSCode2Session: 3, APIToken: 1}, st.Calls)
	assert.Equal(t, map[int]int64{0: 1, ErrcodeCodeUsed: 1, ErrcodeInvalidCode: 1}, st.Errcodes[APIJSCode2Session])
	assert.Equal(t, map[int]int64{0: 1}, st.Errcodes[APIToken])
	assert.Equal(t, map[int]int64{200: 1, 405: 1}, st.Statuses[APIWxLogin])
	assert.Equal(t, map[string]int64{APIWxLogin: 1, APIJSCode2Session: 2}, st.Users["d1"])
	assert.Equal(t, 1, st.CodesLive)
	assert.Contains(t, rec.Body.String(), `"errcodes":{`)
	assert.Contains(t, rec.Body.String(), `"40163":1`)
}

func TestReset(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Blocked = []string{"bad"}; c.MinuteQuota = 1 })
	code := f.login("", "d1")
	f.sessionOf(f.login("", "d1")) // uses d1's quota
	tok := f.token()
	f.addFault(`{"api":"cgi-bin/token","errcode":-1}`)
	f.s.Block("other")

	rec := f.do(http.MethodPost, "/__admin/reset", "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.JSONEq(t, `{"reset":true}`, rec.Body.String())

	st := f.s.Stats()
	assert.Empty(t, st.Calls)
	assert.Equal(t, 0, st.CodesLive)
	assert.Empty(t, f.s.Faults())
	assert.Equal(t, []string{"bad"}, st.Blocked, "blocked users back to the Config's")
	assert.Equal(t, ErrcodeInvalidCode, errcodeOf(t, f.exchange(code)), "codes forgotten")
	f.sessionOf(f.login("", "d1")) // quota forgotten
	assert.Equal(t, ErrcodeInvalidOpenID, f.tokenState(tok), "access tokens survive a reset")
	f.token() // faults cleared
	assert.Equal(t, http.StatusMethodNotAllowed, f.do(http.MethodGet, "/__admin/reset", "").Code)
}

func TestMetrics(t *testing.T) {
	f := newFixture(t)
	g := newFixture(t) // a second server in the same process: own registry
	f.sessionOf(f.login("", "d1"))
	f.exchange("0nope")
	g.token()
	f.addFault(`{"api":"cgi-bin/token","errcode":-1,"count":1}`)
	f.do(http.MethodGet, "/cgi-bin/token", "")

	rec := f.do(http.MethodGet, "/metrics", "")
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	assert.Contains(t, body, `mockwechat_requests_total{api="jscode2session",errcode="0",status="200"} 1`)
	assert.Contains(t, body, `mockwechat_requests_total{api="jscode2session",errcode="40029",status="200"} 1`)
	assert.Contains(t, body, `mockwechat_requests_total{api="wx.login",errcode="none",status="200"} 1`)
	assert.Contains(t, body, `mockwechat_requests_total{api="cgi-bin/token",errcode="-1",status="200"} 1`)
	assert.Contains(t, body, `mockwechat_request_duration_seconds_bucket{api="jscode2session"`)
	assert.Contains(t, body, `mockwechat_faults_total{api="cgi-bin/token"} 1`)
	assert.Contains(t, body, `mockwechat_codes_live 1`)

	other := g.do(http.MethodGet, "/metrics", "").Body.String()
	assert.Contains(t, other, `mockwechat_requests_total{api="cgi-bin/token",errcode="0",status="200"} 1`)
	assert.NotContains(t, other, `api="jscode2session"`)
	assert.Equal(t, http.StatusMethodNotAllowed, f.do(http.MethodPost, "/metrics", "").Code)
	assert.NotNil(t, f.s.Registry())
}

func TestRecoverPanic(t *testing.T) {
	f := newFixture(t)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	func() {
		tw := &trackingWriter{ResponseWriter: rec}
		defer f.s.recoverPanic(tw, req)
		panic("boom")
	}()
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.JSONEq(t, `{"error":"internal error"}`, rec.Body.String())

	assert.PanicsWithValue(t, http.ErrAbortHandler, func() {
		tw := &trackingWriter{ResponseWriter: httptest.NewRecorder()}
		defer f.s.recoverPanic(tw, req)
		panic(http.ErrAbortHandler)
	}, "net/http's abort sentinel passes through")
}

// TestLoopbackRoundTrip drives the whole flow over a real socket, the way a
// backend SDK would, checking the wire headers.
func TestLoopbackRoundTrip(t *testing.T) {
	f := newFixture(t)
	ts := f.loopback()
	resp, err := http.Post(ts.URL+"/__mock/wx/login", "application/json", strings.NewReader(`{"user":"d1"}`))
	require.NoError(t, err)
	var a loginAnswer
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&a))
	resp.Body.Close()

	resp, err = http.Get(ts.URL + jscodeURL(DefaultAppID, DefaultSecret, a.Code))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "text/plain", resp.Header.Get("Content-Type"))
	assert.Equal(t, OpenID(DefaultAppID, "d1"), decode(t, b)["openid"])

	f.clk.Advance(time.Minute)
	resp, err = http.Get(ts.URL + jscodeURL(DefaultAppID, DefaultSecret, a.Code))
	require.NoError(t, err)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, float64(ErrcodeCodeUsed), decode(t, b)["errcode"])
}
