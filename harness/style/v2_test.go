package style

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func loadShape(t testing.TB, name string) *Style {
	t.Helper()
	s, err := Load(filepath.Join("..", "..", "examples", "styles", name+".yaml"))
	require.NoError(t, err)
	return s
}

// roundTrip builds a call with NewRequest and reads it back as a server
// does with ReadValue.
func roundTrip(t testing.TB, s *Style, rq *Request, value string) (*http.Request, []byte, string, error) {
	t.Helper()
	req, err := s.NewRequest(context.Background(), "http://backend.test", rq, value)
	require.NoError(t, err)
	var body []byte
	if req.Body != nil {
		body, err = io.ReadAll(req.Body)
		require.NoError(t, err)
	}
	got, err := s.ReadValue(rq, req, body)
	return req, body, got, err
}

func TestRequestTemplatesOnTheWire(t *testing.T) {
	cases := []struct {
		style, route                     string
		method, url, ctype, body, cookie string
		header                           [2]string
	}{
		{style: "oauth2", route: "refresh", method: "POST", url: "http://backend.test/auth/refresh",
			ctype: "application/x-www-form-urlencoded", body: "grant_type=refresh_token&refresh_token=V"},
		{style: "get-login", route: "login", method: "GET", url: "http://backend.test/wx/login?code=V"},
		{style: "code-header", route: "login", method: "POST", url: "http://backend.test/auth/wx?type=100", header: [2]string{"X-Wx-Code", "V"}},
		{style: "post-verify", route: "verify", method: "POST", url: "http://backend.test/auth/verify", ctype: "application/json", body: `{"token":"V"}`},
		{style: "one-prefix", route: "login", method: "POST", url: "http://backend.test/api/v1/member/login", ctype: "application/json", body: `{"code":"V","type":100}`},
		{style: "cookies", route: "refresh", method: "POST", url: "http://backend.test/session/renew", cookie: "rt=V"},
		{style: "cookie-session", route: "verify", method: "GET", url: "http://backend.test/session/check", cookie: "session=V"},
		{style: "bearer", route: "refresh", method: "POST", url: "http://backend.test/auth/refresh", ctype: "application/json", body: `{"refresh_token":"V"}`},
		{style: "status-403", route: "verify", method: "GET", url: "http://backend.test/session/verify", header: [2]string{"Authorization", "Basic Vjo="}},
	}
	for _, c := range cases {
		t.Run(c.style+"/"+c.route, func(t *testing.T) {
			s, err := Load(c.style)
			if err != nil {
				s = loadShape(t, c.style)
			}
			rq := map[string]*Request{"login": &s.Requests.Login, "refresh": &s.Requests.Refresh, "verify": &s.Requests.Verify}[c.route]
			req, body, got, err := roundTrip(t, s, rq, "V")
			require.NoError(t, err)
			assert.Equal(t, "V", got, "the server reads back what the client sent")
			assert.Equal(t, c.method, req.Method)
			assert.Equal(t, c.url, req.URL.String())
			assert.Equal(t, c.ctype, req.Header.Get("Content-Type"))
			assert.Equal(t, c.body, string(body))
			assert.Equal(t, c.cookie, req.Header.Get("Cookie"))
			if c.header[0] != "" {
				assert.Equal(t, c.header[1], req.Header.Get(c.header[0]))
			}
		})
	}
}

func TestReadValueRefusesABadCall(t *testing.T) {
	s := MustLoad("oauth2")
	rq := &s.Requests.Refresh
	form := func(body string) *http.Request {
		r := httptest.NewRequest("POST", "/auth/refresh", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
	for _, c := range []struct{ body, name, msg string }{
		{"grant_type=password&refresh_token=x", "form:grant_type", `form:grant_type is "password", this route wants "refresh_token"`},
		{"refresh_token=x", "form:grant_type", "missing form:grant_type"},
		{"grant_type=refresh_token", "form:refresh_token", "missing form:refresh_token"},
		{"grant_type=refresh_token&refresh_token=a&refresh_token=b", "form:refresh_token", "given twice"},
	} {
		_, err := s.ReadValue(rq, form(c.body), []byte(c.body))
		var re *RequestError
		require.ErrorAs(t, err, &re, c.body)
		assert.Equal(t, c.name, re.Name, c.body)
		assert.Contains(t, re.Msg, c.msg, c.body)
	}
	r := httptest.NewRequest("POST", "/auth/refresh", strings.NewReader(`{"refresh_token":"x"}`))
	r.Header.Set("Content-Type", "application/json")
	_, err := s.ReadValue(rq, r, []byte(`{"refresh_token":"x"}`))
	assert.ErrorContains(t, err, "Content-Type must be application/x-www-form-urlencoded")

	one := loadShape(t, "one-prefix")
	body := []byte(`{"code":"c","type":"100"}`)
	_, err = one.ReadValue(&one.Requests.Login, httptest.NewRequest("POST", "/api/v1/member/login", nil), body)
	assert.ErrorContains(t, err, `type is "100", this route wants 100`, "a fixed number is not a string")
	_, err = one.ReadValue(&one.Requests.Login, httptest.NewRequest("POST", "/api/v1/member/login", nil), []byte(`{"code":"c","type":100.0}`))
	assert.NoError(t, err)
}

func TestReadTokensWhereTheStyleSays(t *testing.T) {
	h := http.Header{}
	h.Set("B-T", "tok")
	got := loadShape(t, "header-token").ReadTokens(h, []byte(`{"refresh_token":"r","expires_in":60}`))
	assert.Equal(t, TokenAnswer{AccessToken: "tok", RefreshToken: "r", ExpiresIn: 60, HasExpiresIn: true}, got)

	h = http.Header{}
	h.Add("Set-Cookie", "sid=s1; Path=/; HttpOnly")
	h.Add("Set-Cookie", "rt=r1; Path=/")
	got = loadShape(t, "cookies").ReadTokens(h, []byte(`{"expires_in":"7200"}`))
	assert.Equal(t, TokenAnswer{AccessToken: "s1", RefreshToken: "r1", ExpiresIn: 7200, HasExpiresIn: true}, got, "a lifetime sent as a string counts")

	got = loadShape(t, "nested-token").ReadTokens(nil, []byte(`{"code":0,"data":{"skey":"k","refresh":"r","expires_in":5,"userinfo":{"openid":"o"}}}`))
	assert.Equal(t, "k", got.AccessToken)
	assert.Equal(t, int64(5), got.ExpiresIn)
	assert.Empty(t, loadShape(t, "nested-token").ReadTokens(nil, []byte(`{"code":0,"skey":"k"}`)).AccessToken, "the path, not the last segment")
}

func TestClassifyV2Signals(t *testing.T) {
	nested := loadShape(t, "nested-token")
	assert.Equal(t, SignalExpired, nested.Classify(200, []byte(`{"code":40001}`)))
	assert.Equal(t, SignalExpired, nested.Classify(200, []byte(`{"code":40014,"msg":"x"}`)), "one of several values")
	assert.Equal(t, SignalSuccess, nested.Classify(200, []byte(`{"code":0,"data":{}}`)))

	pv := loadShape(t, "post-verify")
	assert.Equal(t, SignalExpired, pv.Classify(401, []byte(`{"isValid":false,"reason":"expired"}`)))
	assert.Equal(t, SignalInvalid, pv.Classify(401, []byte(`{"reason":"invalid","isValid":false}`)))
	assert.Equal(t, "", pv.Classify(401, []byte(`{"reason":"expired"}`)), "every member must match")

	ch := loadShape(t, "code-header")
	assert.Equal(t, SignalExpired, ch.Classify(419, nil), "any of the shapes")
	assert.Equal(t, SignalExpired, ch.Classify(401, []byte(`{"error":"token_expired"}`)))
	assert.Equal(t, []int{401, 419}, ch.Signals.Expired.Statuses())

	m := loadShape(t, "merged-signal")
	bad := []byte(`{"errno":1001,"errmsg":"session invalid"}`)
	assert.Equal(t, SignalExpired, m.Classify(200, bad), "the merged signal is named expired")
	assert.True(t, m.Signals.Invalid.Matches(200, bad))
	assert.Equal(t, SignalExpired, m.Signals.Invalid.SameAs)

	var spec map[string]any
	b, err := json.Marshal(m)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &spec))
	inv := spec["signals"].(map[string]any)["invalid"].(map[string]any)
	assert.Equal(t, "expired", inv["same_as"], "style_spec says the signals are merged")
	assert.EqualValues(t, 200, inv["status"], "and carries the merged shape itself")
}

func TestV2ValidationErrors(t *testing.T) {
	base := string(mustRead(t, "../../examples/styles/post-verify.yaml"))
	for _, c := range []struct{ from, to, field, msg string }{
		{"    method: POST\n", "    method: TRACE\n", "routes.verify.method", "want GET, POST"},
		{"    access_token: json:token\n", "    access_token: json:token\n    code: x\n", "routes.verify.code", "carries the access token, not the code"},
		{"  refresh: /auth/refresh\n", "  refresh:\n    method: POST\n", "routes.refresh.path", "required when the route has a template"},
		{"access_token: access_token\n", "access_token: form:t\n", "fields.access_token", "want a JSON member path"},
		{"expires_in: expires_in\n", "expires_in: access_token.ttl\n", "fields.expires_in", "also fields.access_token"},
		{"    members: {isValid: false, reason: invalid}", "    members: {isValid: false, reason: expired}", "signals.invalid", "could not tell them apart"},
		{"    members: {isValid: false, reason: invalid}", "    members: {isValid: false, reason: []}", "signals.invalid.members.reason", "empty list"},
		{"  success: {status: 200}", "  success: {any_of: [{status: 200}], status: 200}", "signals.success.any_of", "no other keys"},
	} {
		require.Contains(t, base, c.from)
		_, err := Parse("pv.yaml", []byte(strings.Replace(base, c.from, c.to, 1)))
		var se *Error
		require.ErrorAs(t, err, &se, c.field)
		assert.Equal(t, c.field, se.Field, err.Error())
		assert.Contains(t, se.Msg, c.msg)
		assert.Positive(t, se.Line, c.field)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return b
}
