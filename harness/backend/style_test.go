package backend

import (
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/style"
)

// The backend speaks whatever dialect the style data describes: these
// dialects exist only as YAML in testdata/.
func TestStyleBodyCodeFromYAML(t *testing.T) {
	e := newEnv(t, Config{Style: "testdata/body-code.yaml"})
	st := e.s.Style()

	w := e.do("POST", "/user/login", `{"jscode":"alice.s1"}`)
	require.Equal(t, 200, w.Code, w.Body.String())
	var body map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	assert.EqualValues(t, 0, body["code"])
	assert.EqualValues(t, 7200, body["expire"])
	assert.NotContains(t, body, "refresh_token", "no refresh route, no refresh token")
	assert.NotContains(t, body, "token_type")
	assert.Equal(t, style.SignalSuccess, st.Classify(w.Code, w.Body.Bytes()))
	tok := body["token"].(string)

	w = e.do("GET", "/v1/orders?rid=b1", "", "X-Token: "+tok)
	require.Equal(t, 200, w.Code)
	assert.Contains(t, w.Body.String(), `{"code":0,"rid":"b1","path":"/v1/orders"`)
	expectJSON(t, e.do("GET", "/user/check", "", "X-Token: "+tok), 200, `{"code":0,"ok":true,"expire":7200}`)

	e.clk.Advance(3 * time.Hour)
	w = e.do("GET", "/v1/orders?rid=b2", "", "X-Token: "+tok)
	expectJSON(t, w, 200, `{"code":10006,"rid":"b2"}`)
	assert.Empty(t, w.Header().Get("WWW-Authenticate"))
	assert.Equal(t, style.SignalExpired, st.Classify(w.Code, w.Body.Bytes()))
	expectJSON(t, e.do("GET", "/v1/orders", ""), 200, `{"code":10007}`)
	expectJSON(t, e.do("GET", "/v1/orders", "", "Authorization: Bearer "+tok), 200, `{"code":10007}`)
	expectJSON(t, e.do("POST", "/user/login", `{"jscode":"err.40029"}`), 200, `{"code":10001,"wechat_errcode":40029}`)
	expectJSON(t, e.do("POST", "/user/login", `{"jscode":"err.-1"}`), 200, `{"code":10503,"wechat_errcode":-1}`)

	// the bearer routes are gone
	assert.Equal(t, 404, e.do("POST", "/auth/login", `{"code":"a.1"}`).Code)
	assert.Equal(t, 404, e.do("POST", "/auth/refresh", `{}`).Code)
	assert.Equal(t, 404, e.do("GET", "/api/x", "").Code)
}

func TestStyleRotatingSingleUseFromYAML(t *testing.T) {
	e := newEnv(t, Config{Style: "testdata/rotating-403.yaml"})
	st := e.s.Style()
	w := e.do("POST", "/login", `{"code":"alice.s1"}`)
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.NotContains(t, w.Body.String(), `"token_type"`) // field name unset: omitted
	p := decodePair(t, w)
	basic := func(tok string) string {
		return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(tok+":"))
	}
	w = e.do("GET", "/data/a", "", basic(p.Access))
	require.Equal(t, 200, w.Code, w.Body.String())
	next := w.Header().Get("X-Next-Token")
	require.NotEmpty(t, next)
	// single use: the same token again is invalid; the next one works once
	expectJSON(t, e.do("GET", "/data/a", "", basic(p.Access)), 401, `{"error":"invalid"}`)
	assert.Equal(t, "single-use token already used; signal=invalid", e.lastEvent(ledger.KindAPI).Detail)
	w = e.do("GET", "/data/a", "", basic(next))
	require.Equal(t, 200, w.Code)
	next2 := w.Header().Get("X-Next-Token")

	e.clk.Advance(3 * time.Hour)
	w = e.do("GET", "/data/a", "", basic(next2))
	expectJSON(t, w, 403, `{"error":"expired"}`)
	assert.Equal(t, style.SignalExpired, st.Classify(w.Code, w.Body.Bytes()))
	p2 := decodePair(t, e.do("POST", "/login/refresh", `{"refresh_token":"`+p.Refresh+`"}`))
	assert.Equal(t, 200, e.do("GET", "/data/a", "", basic(p2.Access)).Code)
}

func TestStyleSwitchAtRuntime(t *testing.T) {
	e := newEnv(t, Config{})
	expectJSON(t, e.do("PUT", "/__admin/config", `{"style":"testdata/body-code.yaml"}`), 200,
		`{"access_ttl":"2h0m0s","refresh_ttl":"720h0m0s","reuse":"strict","style":"testdata/body-code.yaml"}`)
	assert.Equal(t, 200, e.do("POST", "/user/login", `{"jscode":"alice.s1"}`).Code)
	assert.Equal(t, 404, e.do("POST", "/auth/login", `{"code":"alice.s2"}`).Code)
	require.NoError(t, e.s.SetConfig(RuntimeConfig{Style: "bearer"}))
	e.login("alice")

	// a broken style file is refused with file, line and field
	w := e.do("PUT", "/__admin/config", `{"style":"../style/testdata/bad-unknown.yaml"}`)
	expectJSON(t, w, 400, `{"error":"invalid_config","error_description":"../style/testdata/bad-unknown.yaml:5:3: routes.verfiy: unknown field \"verfiy\"","field":"style"}`)
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"style":     {Style: "nosuch"},
		"reuse":     {Reuse: "sometimes"},
		"ttl":       {AccessTTL: -time.Second},
		"refresh":   {RefreshTTL: MaxTTL + 1},
		"wechatURL": {WechatURL: "ftp://x"},
	} {
		_, err := New(cfg)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, name)
	}
	s, err := New(Config{})
	require.NoError(t, err, "zero Config is valid (login needs WechatURL)")
	assert.Equal(t, RuntimeConfig{AccessTTL: 2 * time.Hour, RefreshTTL: 720 * time.Hour, Reuse: "strict", Style: "bearer"}, s.CurrentConfig())
	_ = s.Close()
}
