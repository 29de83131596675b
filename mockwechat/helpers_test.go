package mockwechat

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// t0 is mid-minute so that quota tests can tell "same minute" from "next".
var t0 = time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)

const (
	app2ID     = "wx00000000000000b2"
	app2Secret = "second-app-secret"
)

var ridRE = regexp.MustCompile(`rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`)

type fixture struct {
	t   testing.TB
	s   *Server
	clk *clock.Manual
	led *ledger.Ledger
}

// newFixture: a Server on a manual clock with a memory ledger and two apps
// (the default one, and app2 with UnionID).
func newFixture(t testing.TB, mutate ...func(*Config)) *fixture {
	t.Helper()
	clk := clock.NewManual(t0)
	led := ledger.New(ledger.Options{Memory: true, Clock: clk})
	cfg := Config{
		Apps: []App{
			{AppID: DefaultAppID, Secret: DefaultSecret},
			{AppID: app2ID, Secret: app2Secret, UnionID: true},
		},
		Clock:  clk,
		Ledger: led,
		Seed:   42,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	s := New(cfg)
	t.Cleanup(s.Close)
	return &fixture{t: t, s: s, clk: clk, led: led}
}

// do serves one request in-process.
func (f *fixture) do(method, target, body string, header ...string) *httptest.ResponseRecorder {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	f.s.ServeHTTP(rec, req)
	return rec
}

// login mints a code over HTTP for user in appid ("" = default app).
func (f *fixture) login(appid, user string) string {
	f.t.Helper()
	body, _ := json.Marshal(map[string]string{"appid": appid, "user": user})
	if appid == "" {
		body, _ = json.Marshal(map[string]string{"user": user})
	}
	rec := f.do(http.MethodPost, "/__mock/wx/login", string(body))
	require.Equal(f.t, http.StatusOK, rec.Code, rec.Body.String())
	var a loginAnswer
	require.NoError(f.t, json.Unmarshal(rec.Body.Bytes(), &a))
	return a.Code
}

func jscodeURL(appid, secret, code string) string {
	q := url.Values{"appid": {appid}, "secret": {secret}, "js_code": {code}, "grant_type": {"authorization_code"}}
	return "/sns/jscode2session?" + q.Encode()
}

// exchange calls jscode2session for the default app.
func (f *fixture) exchange(code string) *httptest.ResponseRecorder {
	f.t.Helper()
	return f.do(http.MethodGet, jscodeURL(DefaultAppID, DefaultSecret, code), "")
}

// decode parses a JSON body into a generic map.
func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), "body: %s", b)
	return m
}

// errcodeOf returns the errcode of a WeChat answer (0 when absent) and checks
// the WeChat shape: HTTP 200, an errmsg ending in a rid.
func errcodeOf(t testing.TB, rec *httptest.ResponseRecorder) int {
	t.Helper()
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	m := decode(t, rec.Body.Bytes())
	ec, ok := m["errcode"]
	if !ok {
		return 0
	}
	code := int(ec.(float64))
	if code != 0 {
		require.Regexp(t, ridRE, m["errmsg"])
	}
	return code
}

// sessionOf exchanges code successfully and returns the answer.
func (f *fixture) sessionOf(code string) sessionAnswer {
	f.t.Helper()
	rec := f.exchange(code)
	require.Equal(f.t, 0, errcodeOf(f.t, rec), rec.Body.String())
	var a sessionAnswer
	require.NoError(f.t, json.Unmarshal(rec.Body.Bytes(), &a))
	return a
}

// token gets a cgi-bin/token for the default app.
func (f *fixture) token() string {
	f.t.Helper()
	rec := f.do(http.MethodGet, "/cgi-bin/token?grant_type=client_credential&appid="+DefaultAppID+"&secret="+DefaultSecret, "")
	require.Equal(f.t, 0, errcodeOf(f.t, rec), rec.Body.String())
	var a tokenAnswer
	require.NoError(f.t, json.Unmarshal(rec.Body.Bytes(), &a))
	return a.AccessToken
}

func checkURL(token, openid, sig string) string {
	q := url.Values{"access_token": {token}, "openid": {openid}, "signature": {sig}, "sig_method": {"hmac_sha256"}}
	return "/wxa/checksession?" + q.Encode()
}

// addFault posts a rule and returns its id.
func (f *fixture) addFault(js string) string {
	f.t.Helper()
	rec := f.do(http.MethodPost, "/__admin/faults", js)
	require.Equal(f.t, http.StatusCreated, rec.Code, rec.Body.String())
	return decode(f.t, rec.Body.Bytes())["id"].(string)
}

// healthy asserts the server still does a full login round trip.
func (f *fixture) healthy() {
	f.t.Helper()
	code := f.login("", "healthcheck")
	a := f.sessionOf(code)
	require.Equal(f.t, OpenID(DefaultAppID, "healthcheck"), a.OpenID)
}

// events returns the ledger events of kind.
func (f *fixture) events(kind string) []ledger.Event {
	var out []ledger.Event
	for _, e := range f.led.Events() {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}
