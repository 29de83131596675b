package backend

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
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
	doc, err := os.ReadFile("testdata/body-code.yaml")
	require.NoError(t, err)
	body, _ := json.Marshal(map[string]string{"style": string(doc)})
	w := e.do("PUT", "/__admin/config", string(body))
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.Equal(t, 200, e.do("POST", "/user/login", `{"jscode":"alice.s1"}`).Code)
	assert.Equal(t, 404, e.do("POST", "/auth/login", `{"code":"alice.s2"}`).Code)
	expectJSON(t, e.do("PUT", "/__admin/config", `{"style":"bearer"}`), 200,
		`{"access_ttl":"2h0m0s","refresh_ttl":"720h0m0s","reuse":"strict","style":"bearer"}`)
	e.login("alice")

	// a broken inline style is refused with line and field
	bad, err := os.ReadFile("../style/testdata/bad-unknown.yaml")
	require.NoError(t, err)
	body, _ = json.Marshal(map[string]string{"style": string(bad)})
	w = e.do("PUT", "/__admin/config", string(body))
	expectJSON(t, w, 400, `{"error":"invalid_config","error_description":"style:5:3: routes.verfiy: unknown field \"verfiy\"","field":"style"}`)
}

// TestAdminConfigNeverReadsFiles: over HTTP a style is a built-in name or an
// inline document; a path is an unknown name, whatever the file holds.
func TestAdminConfigNeverReadsFiles(t *testing.T) {
	e := newEnv(t, Config{})
	secret := filepath.Join(t.TempDir(), "secret.yaml")
	require.NoError(t, os.WriteFile(secret, []byte("TOPSECRET-LINE\n"), 0o600))
	for _, p := range []string{secret, "/etc/shadow", "/etc/passwd", "/dev/zero", "testdata/body-code.yaml", secret + ".missing"} {
		body, _ := json.Marshal(map[string]string{"style": p})
		w := e.do("PUT", "/__admin/config", string(body))
		require.Equal(t, 400, w.Code, p)
		assert.NotContains(t, w.Body.String(), "TOPSECRET")
		assert.NotContains(t, w.Body.String(), "no such file")
		assert.NotContains(t, w.Body.String(), "permission")
		assert.Contains(t, w.Body.String(), "no built-in style", p)
	}
	assert.Equal(t, "bearer", e.s.CurrentConfig().Style, "a refused style changes nothing")

	// a JSON object is an inline style too
	doc, err := os.ReadFile("testdata/body-code.yaml")
	require.NoError(t, err)
	obj, err := yaml.YAMLToJSON(doc)
	require.NoError(t, err)
	w := e.do("PUT", "/__admin/config", `{"style":`+string(obj)+`}`)
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.Equal(t, 200, e.do("POST", "/user/login", `{"jscode":"alice.s1"}`).Code)

	// inline documents are capped
	big, _ := json.Marshal(map[string]string{"style": "name: x\n#" + strings.Repeat("a", style.MaxSize)})
	w = e.do("PUT", "/__admin/config", string(big))
	expectJSON(t, w, 400, `{"error":"invalid_config","error_description":"style: larger than 262144 bytes (the limit for this input)","field":"style"}`)
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
