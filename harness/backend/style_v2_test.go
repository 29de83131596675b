package backend

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// doRaw sends a request with a raw body and content type.
func (e *tenv) doRaw(method, path, ctype, body string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		r.Header.Add(k, strings.TrimSpace(v))
	}
	w := httptest.NewRecorder()
	e.s.ServeHTTP(w, r)
	return w
}

const form = "application/x-www-form-urlencoded"

// oauth2: the refresh route is an RFC 6749 §6 token endpoint.
func TestOAuth2TokenEndpoint(t *testing.T) {
	e := newEnv(t, Config{Style: "oauth2"})
	p := e.login("ann")

	w := e.doRaw("POST", "/auth/refresh", form, "grant_type=refresh_token&refresh_token="+p.Refresh)
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	var ans map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &ans))
	for _, k := range []string{"access_token", "token_type", "expires_in", "refresh_token"} {
		assert.Contains(t, ans, k, "RFC 6749 §5.1 member")
	}
	assert.Equal(t, "Bearer", ans["token_type"])

	// The rotated token is refused as RFC 6749 §5.2 says.
	w = e.doRaw("POST", "/auth/refresh", form, "grant_type=refresh_token&refresh_token="+p.Refresh)
	assert.Equal(t, 400, w.Code)
	assert.Contains(t, w.Body.String(), `{"error":"invalid_grant"`)

	// A call that is not a refresh grant is a bad request, not a refusal of the token.
	w = e.doRaw("POST", "/auth/refresh", form, "grant_type=password&refresh_token=x")
	expectJSON(t, w, 400, `{"error":"invalid_request","error_description":"form:grant_type is \"password\", this route wants \"refresh_token\"","field":"form:grant_type"}`)
	w = e.doRaw("POST", "/auth/refresh", "application/json", `{"grant_type":"refresh_token","refresh_token":"x"}`)
	assert.Equal(t, 400, w.Code)
	assert.Contains(t, w.Body.String(), "Content-Type must be application/x-www-form-urlencoded")
}

func TestV2ShapesOnTheWire(t *testing.T) {
	// Nested members: {"code":0,"data":{"skey":…}}.
	e := newEnv(t, Config{Style: "../../examples/styles/nested-token.yaml"})
	w := e.do("POST", "/user/login", `{"js_code":"bob.1"}`)
	require.Equal(t, 200, w.Code, w.Body.String())
	var nested struct {
		Code int `json:"code"`
		Data struct {
			Skey      string `json:"skey"`
			Refresh   string `json:"refresh"`
			ExpiresIn int    `json:"expires_in"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &nested))
	assert.Zero(t, nested.Code)
	assert.NotEmpty(t, nested.Data.Skey)
	assert.Equal(t, 7200, nested.Data.ExpiresIn)
	w = e.do("POST", "/user/refresh", `{"refresh":"`+nested.Data.Refresh+`"}`)
	require.Equal(t, 200, w.Code, w.Body.String())
	e.clk.Advance(3 * time.Hour)
	w = e.do("GET", "/v1/orders", "", "X-Skey: "+nested.Data.Skey)
	expectJSON(t, w, 200, `{"code":40001}`)

	// GET login with the code in the query; POST with it in a header.
	e = newEnv(t, Config{Style: "../../examples/styles/get-login.yaml"})
	w = e.do("GET", "/wx/login?code=cat.1", "")
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), `"data":{"session_key":"`)
	assert.Equal(t, 405, e.do("POST", "/wx/login", `{"code":"cat.2"}`).Code, "the template's method only")

	e = newEnv(t, Config{Style: "../../examples/styles/code-header.yaml"})
	assert.Equal(t, 200, e.doRaw("POST", "/auth/wx?type=100", "", "", "X-WX-Code: dan.1").Code)
	w = e.doRaw("POST", "/auth/wx", "", "", "X-WX-Code: dan.2")
	expectJSON(t, w, 400, `{"error":"invalid_request","error_description":"missing query:type (this route wants 100)","field":"query:type"}`)

	// The token in a response header.
	e = newEnv(t, Config{Style: "../../examples/styles/header-token.yaml"})
	w = e.do("POST", "/login", `{"code":"eve.1"}`)
	require.Equal(t, 200, w.Code)
	tok := w.Header().Get("B-T")
	require.NotEmpty(t, tok)
	assert.NotContains(t, w.Body.String(), tok, "the header, not the body")
	assert.Equal(t, 200, e.do("GET", "/api/x", "", "B-T: "+tok).Code)

	// POST verify with the token in the body, multi-member signals.
	e = newEnv(t, Config{Style: "../../examples/styles/post-verify.yaml"})
	p := e.login("fay")
	expectJSON(t, e.do("POST", "/auth/verify", `{"token":"`+p.Access+`"}`), 200, `{"isValid":true,"expires_in":7200}`)
	expectJSON(t, e.do("POST", "/auth/verify", `{"token":"garbage"}`), 401, `{"isValid":false,"reason":"invalid"}`)
	expectJSON(t, e.do("POST", "/auth/verify", `{}`), 401, `{"isValid":false,"reason":"invalid"}`)

	// One prefix: explicit routes win over the resource prefix.
	e = newEnv(t, Config{Style: "../../examples/styles/one-prefix.yaml"})
	w = e.do("POST", "/api/v1/member/login", `{"code":"gus.1","type":100}`)
	require.Equal(t, 200, w.Code, w.Body.String())
	var op struct{ Data struct{ Token string } }
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &op))
	expectJSON(t, e.do("GET", "/api/v1/member/verify", "", "token: "+op.Data.Token), 200, `{"status":1,"data":{"valid":true,"expire":7200}}`)
	assert.Contains(t, e.do("GET", "/api/v1/member/index", "", "token: "+op.Data.Token).Body.String(), `"path":"/api/v1/member/index"`)

	// Merged signal: one answer for expired and invalid.
	e = newEnv(t, Config{Style: "../../examples/styles/merged-signal.yaml"})
	expectJSON(t, e.do("GET", "/member/api/x", "", "X-Session: garbage"), 200, `{"errmsg":"session invalid","errno":1001}`)
}

func TestCookieSessions(t *testing.T) {
	e := newEnv(t, Config{Style: "../../examples/styles/cookies.yaml"})
	w := e.do("POST", "/session", `{"code":"hal.1"}`)
	require.Equal(t, 200, w.Code, w.Body.String())
	cookies := (&http.Response{Header: w.Header()}).Cookies()
	got := map[string]*http.Cookie{}
	for _, c := range cookies {
		got[c.Name] = c
	}
	require.Contains(t, got, "sid")
	require.Contains(t, got, "rt")
	assert.True(t, got["sid"].HttpOnly)
	assert.Equal(t, "/", got["sid"].Path)

	assert.Equal(t, 200, e.do("GET", "/app/x", "", "Cookie: theme=dark; sid="+got["sid"].Value).Code, "other cookies are fine")
	expectJSON(t, e.do("GET", "/app/x", "", "Cookie: sid=a; sid=b"), 401, `{"error":"no_session"}`)
	w = e.do("POST", "/session/renew", "", "Cookie: rt="+got["rt"].Value)
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.Contains(t, w.Header().Values("Set-Cookie")[0], "sid=")
	e.clk.Advance(3 * time.Hour)
	expectJSON(t, e.do("GET", "/app/x", "", "Cookie: sid="+got["sid"].Value), 401, `{"error":"session_expired"}`)
}
