package style

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNamesListsTheBuiltins(t *testing.T) {
	assert.Equal(t, []string{"bearer", "body-code", "cookie-session", "oauth2", "rotating", "status-403"}, Names())
	for _, n := range Names() {
		s, err := Load(n)
		require.NoError(t, err, n)
		assert.Equal(t, n, s.Name, "the file name is the style name")
		assert.Equal(t, "builtin/"+n+".yaml", s.Source)
		assert.NotEmpty(t, s.Description, n)
	}
}

func TestBuiltinBodyCode(t *testing.T) {
	s := MustLoad("body-code")
	assert.Equal(t, Routes{Login: "/user/login", Verify: "/user/check", Resource: "/v1/"}, s.Routes)
	assert.Equal(t, "token", s.Fields.AccessToken)
	assert.Empty(t, s.Fields.RefreshToken)
	h := http.Header{}
	s.SetToken(h, "tok")
	assert.Equal(t, "tok", h.Get("X-Token"), "raw token in a custom header")
	for _, c := range []struct {
		status int
		body   string
		want   string
	}{
		{200, `{"code":0,"token":"t","expire":7200}`, SignalSuccess},
		{200, `{"code":10006,"rid":"r"}`, SignalExpired},
		{200, `{"code":10005}`, SignalInvalid},
		{200, `{"code":10010}`, SignalNotToken},
		{200, `{"code":10001,"wechat_errcode":40029}`, SignalInvalidCode},
		{200, `{"code":10503}`, SignalUnavailable},
		{200, `{"items":[]}`, ""}, // an empty success is NOT a success in this dialect
		{200, ``, ""},
	} {
		assert.Equal(t, c.want, s.Classify(c.status, []byte(c.body)), c.body)
	}
}

func TestBuiltinRotating(t *testing.T) {
	s := MustLoad("rotating")
	assert.True(t, s.Token.SingleUse)
	assert.Equal(t, "X-Next-Token", s.Token.NextHeader)
	assert.Empty(t, s.Routes.Verify, "a verify call would spend a single-use token")
	assert.Equal(t, SignalInvalid, s.Classify(401, []byte(`{"error":"invalid_token"}`)))
	assert.Equal(t, SignalExpired, s.Classify(401, []byte(`{"error":"token_expired"}`)))
}

func TestBuiltinStatus403(t *testing.T) {
	s := MustLoad("status-403")
	h := http.Header{}
	s.SetToken(h, "tok")
	assert.Equal(t, "Basic dG9rOg==", h.Get("Authorization"), `Basic base64("tok:")`)
	got, err := s.TokenFrom(h)
	require.NoError(t, err)
	assert.Equal(t, "tok", got)
	assert.Equal(t, SignalExpired, s.Classify(403, []byte(`{"error":"token_expired"}`)))
	assert.Equal(t, SignalNotToken, s.Classify(403, []byte(`{"error":"forbidden"}`)), "a 403 is not always expiry")
	assert.Equal(t, SignalInvalid, s.Classify(401, []byte(`{"error":"invalid_token"}`)))
	assert.Equal(t, "", s.Classify(403, []byte(`{}`)))
}

func TestNotedSignal(t *testing.T) {
	for _, c := range []struct {
		detail, want string
		ok           bool
	}{
		{"exp passed; signal=expired", SignalExpired, true},
		{"signal=invalid", SignalInvalid, true},
		{WithNote("tampered token", SignalNote("")), SignalNone, true},
		{"next abc", "", false},
		{"", "", false},
		{"not_token; next j1", "", false},
	} {
		got, ok := NotedSignal(c.detail)
		assert.Equal(t, c.want, got, c.detail)
		assert.Equal(t, c.ok, ok, c.detail)
	}
	assert.Equal(t, "a", WithNote("a", ""))
	assert.Equal(t, "b", WithNote("", "b"))
}

// A broken style file is refused with its file, line and field, so a user
// can fix it without reading Go.
func TestBrokenStyleFilesNameFileLineAndField(t *testing.T) {
	const good = `name: mine
routes:
  login: /login
  resource: /api/
fields:
  code: code
  access_token: token
token:
  header: X-Token
  scheme: raw
signals:
  success: {status: 200, field: code, value: 0}
  expired: {status: 200, field: code, value: 1}
  invalid: {status: 200, field: code, value: 2}
  not_token: {status: 200, field: code, value: 3}
  invalid_grant: {status: 200, field: code, value: 4}
  invalid_code: {status: 200, field: code, value: 5}
  upstream_unavailable: {status: 200, field: code, value: 6}
  upstream_misconfigured: {status: 200, field: code, value: 7}
`
	dir := t.TempDir()
	ok := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(ok, []byte(good), 0o600))
	_, err := Load(ok)
	require.NoError(t, err, "the base of the table must be valid")

	cases := []struct {
		name, from, to string
		line           int
		field, msg     string
	}{
		{"misspelt key", "  resource: /api/\n", "  resource: /api/\n  verfiy: /check\n", 5, "routes.verfiy", `unknown field "verfiy"`},
		{"missing login", "  login: /login\n", "", 2, "routes.login", "required"},
		{"relative route", "login: /login", "login: login", 3, "routes.login", "must be a path"},
		{"GET login with a JSON code", "login: /login", "login: {path: /login, method: GET}", 3, "routes.login.code", "a GET request has no body"},
		{"bad place", "login: /login", "login: {path: /login, code: 'body:code'}", 3, "routes.login.code", "want a JSON member path"},
		{"merge of other signals", "not_token: {status: 200, field: code, value: 3}", "not_token: {same_as: expired}", 15, "signals.not_token.same_as", "only signals.invalid"},
		{"refresh without field", "  resource: /api/\n", "  resource: /api/\n  refresh: /renew\n", 6, "fields.refresh_token", "required when routes.refresh is set"},
		{"missing access token field", "  access_token: token\n", "", 5, "fields.access_token", "required"},
		{"bad scheme", "scheme: raw", "scheme: Token", 10, "token.scheme", "want Bearer, raw or basic"},
		{"bad header", "header: X-Token", "header: X Token", 9, "token.header", "not a valid HTTP header"},
		{"single use without next", "  scheme: raw\n", "  scheme: raw\n  single_use: true\n", 11, "token.single_use", "next_header"},
		{"status not a number", "expired: {status: 200,", "expired: {status: soon,", 13, "signals.expired.status", ""},
		{"status out of range", "invalid: {status: 200,", "invalid: {status: 700,", 14, "signals.invalid.status", "not an HTTP status"},
		{"value without field", "upstream_misconfigured: {status: 200, field: code, value: 7}", "upstream_misconfigured: {status: 502, value: 7}", 19, "signals.upstream_misconfigured.value", "needs a field"},
		{"field without value", "not_token: {status: 200, field: code, value: 3}", "not_token: {status: 200, field: code}", 15, "signals.not_token.value", "required when field is set"},
		{"indistinguishable", "expired: {status: 200, field: code, value: 1}", "expired: {status: 200, field: code, value: 2}", 14, "signals.invalid", "could not tell them apart"},
		{"missing signal", "  invalid_code: {status: 200, field: code, value: 5}\n", "", 11, "signals.invalid_code.status", "required"},
		{"reserved route", "resource: /api/", "resource: /__admin/", 4, "routes.resource", "reserved"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Contains(t, good, c.from)
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".yaml")
			require.NoError(t, os.WriteFile(p, []byte(strings.Replace(good, c.from, c.to, 1)), 0o600))
			_, err := Load(p)
			require.Error(t, err)
			var se *Error
			require.ErrorAs(t, err, &se)
			assert.Equal(t, p, se.File)
			assert.Equal(t, c.line, se.Line, err.Error())
			assert.Equal(t, c.field, se.Field, err.Error())
			assert.Contains(t, se.Msg, c.msg)
			assert.True(t, strings.HasPrefix(err.Error(), p+":"), "printed as file:line:col: field: msg, got %s", err)
			assert.Contains(t, err.Error(), c.field)
		})
	}
}

func TestResourcePath(t *testing.T) {
	assert.Equal(t, "/v1/orders?page=2", MustLoad("body-code").ResourcePath("/api/orders?page=2"))
	assert.Equal(t, "/api/orders", MustLoad("bearer").ResourcePath("/api/orders"))
	assert.Equal(t, "/auth/login", MustLoad("body-code").ResourcePath("/auth/login"))
}
