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

func TestLoadBearer(t *testing.T) {
	s, err := Load("")
	require.NoError(t, err)
	assert.Equal(t, "bearer", s.Name)
	assert.Equal(t, "builtin/bearer.yaml", s.Source)
	assert.Equal(t, Routes{Login: "/auth/login", Refresh: "/auth/refresh", Verify: "/auth/verify", Resource: "/api/"}, s.Routes)
	assert.Equal(t, "Authorization", s.Token.Header)
	assert.Equal(t, SchemeBearer, s.Token.Scheme)
	assert.Equal(t, "Bearer", s.Token.Type)
	assert.Equal(t, 401, s.Signals.Expired.Status)
	assert.Equal(t, `"token_expired"`, string(s.Signals.Expired.ValueJSON()))
	assert.Contains(t, s.Signals.Expired.Challenge, `error_description="The access token expired"`)
	assert.NotContains(t, s.Signals.Invalid.Challenge, "expired")
	assert.Contains(t, Names(), "bearer")
}

func TestLoadFileBodyCode(t *testing.T) {
	s, err := Load("testdata/body-code.yaml")
	require.NoError(t, err)
	assert.Equal(t, "body-code-test", s.Name)
	assert.Equal(t, "", s.Routes.Refresh)
	assert.Equal(t, `10006`, string(s.Signals.Expired.ValueJSON()))
	assert.Equal(t, "Bearer", s.Token.Type, "default token type")
}

func TestLoadErrorsNameFileLineField(t *testing.T) {
	_, err := Load("testdata/bad-unknown.yaml")
	require.Error(t, err)
	var se *Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "testdata/bad-unknown.yaml", se.File)
	assert.Equal(t, 5, se.Line)
	assert.Equal(t, "routes.verfiy", se.Field)
	assert.Contains(t, err.Error(), "testdata/bad-unknown.yaml:5:")
}

func mutate(t *testing.T, from, to string) error {
	t.Helper()
	data, err := builtinFS.ReadFile("builtin/bearer.yaml")
	require.NoError(t, err)
	src := string(data)
	require.Contains(t, src, from)
	_, err = Parse("x.yaml", []byte(strings.Replace(src, from, to, 1)))
	return err
}

func lineOf(t *testing.T, needle string) int {
	data, _ := builtinFS.ReadFile("builtin/bearer.yaml")
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, needle) {
			return i + 1
		}
	}
	t.Fatalf("no line %q", needle)
	return 0
}

func TestParseValidationErrors(t *testing.T) {
	cases := []struct {
		name, from, to, field, msg, lineOf string
	}{
		{"status type", "status: 401\n    field: error\n    value: token_expired", "status: soon\n    field: error\n    value: token_expired", "signals.expired.status", "cannot unmarshal", "status: soon"},
		{"status range", "status: 503", "status: 999", "signals.upstream_unavailable.status", "not an HTTP status", "status: 999"},
		{"scheme", "scheme: Bearer ", "scheme: Token ", "token.scheme", "want Bearer, raw or basic", "scheme: Token"},
		{"login missing", "  login: /auth/login        # POST {fields.code}\n", "", "routes.login", "required", "routes:"},
		{"resource slash", "resource: /api/", "resource: /api", "routes.resource", "ending with /", "resource: /api"},
		{"admin reserved", "verify: /auth/verify", "verify: /__admin/stats", "routes.verify", "reserved", "verify: /__admin"},
		{"same path twice", "verify: /auth/verify", "verify: /auth/login", "routes.verify", "also routes.login", "verify: /auth/login"},
		{"same signal", "value: invalid_token", "value: token_expired", "signals.invalid", "tell them apart", "  invalid:"},
		{"value without field", "  success:\n    status: 200", "  success:\n    status: 200\n    value: 0", "signals.success.value", "needs a field", "  success:"},
		{"collision", "expires_in: expires_in", "expires_in: access_token", "fields.expires_in", "also fields.access_token", "  expires_in: access_token"},
		{"single use", "single_use: false", "single_use: true", "token.single_use", "next_header", "single_use: true"},
		{"bad header", "header: Authorization", "header: \"Auth orization\"", "token.header", "not a valid HTTP header", "header: \"Auth"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := mutate(t, c.from, c.to)
			require.Error(t, err)
			var se *Error
			require.ErrorAs(t, err, &se)
			assert.Equal(t, "x.yaml", se.File)
			assert.Equal(t, c.field, se.Field, err.Error())
			assert.Contains(t, se.Msg, c.msg)
			assert.Greater(t, se.Line, 0)
			if c.name == "login missing" {
				assert.Equal(t, lineOf(t, "routes:"), se.Line, "missing field points at its parent")
			}
		})
	}
}

func TestParseSyntaxError(t *testing.T) {
	_, err := Parse("s.yaml", []byte("name: x\nroutes: [unclosed\n"))
	require.Error(t, err)
	var se *Error
	require.ErrorAs(t, err, &se)
	assert.Greater(t, se.Line, 0)
	assert.True(t, strings.HasPrefix(err.Error(), "s.yaml:"), err.Error())
}

func TestLoadMissing(t *testing.T) {
	_, err := Load("nosuchstyle")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `no built-in style "nosuchstyle"`)
	_, err = Load(filepath.Join(t.TempDir(), "none.yaml"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "none.yaml")
	_, err = Parse("empty.yaml", nil)
	require.Error(t, err)
}

func TestLoadUserFileShadowsNothing(t *testing.T) {
	data, err := os.ReadFile("testdata/body-code.yaml")
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "mine.yaml")
	require.NoError(t, os.WriteFile(p, data, 0o600))
	s, err := Load(p)
	require.NoError(t, err)
	assert.Equal(t, p, s.Source)
}

func TestTokenPlacementRoundTrip(t *testing.T) {
	for _, scheme := range []string{SchemeBearer, SchemeRaw, SchemeBasic} {
		s := MustLoad("bearer")
		s.Token.Scheme = scheme
		h := http.Header{}
		s.SetToken(h, "abc.def.ghi")
		got, err := s.TokenFrom(h)
		require.NoError(t, err, scheme)
		assert.Equal(t, "abc.def.ghi", got, scheme)
	}
	s := MustLoad("bearer")
	for _, c := range []struct {
		vals []string
		err  error
	}{
		{nil, ErrNoToken},
		{[]string{""}, ErrNoToken},
		{[]string{"Bearer"}, ErrMalformedToken},
		{[]string{"Bearer "}, ErrMalformedToken},
		{[]string{"Basic abc"}, ErrMalformedToken},
		{[]string{"Bearer a b"}, ErrMalformedToken},
		{[]string{"Bearer a", "Bearer b"}, ErrMalformedToken},
	} {
		h := http.Header{}
		if c.vals != nil {
			h["Authorization"] = c.vals
		}
		_, err := s.TokenFrom(h)
		assert.ErrorIs(t, err, c.err, "%q", c.vals)
	}
	h := http.Header{"Authorization": {"bEaReR   tok"}}
	got, err := s.TokenFrom(h)
	require.NoError(t, err)
	assert.Equal(t, "tok", got)
}

func TestClassify(t *testing.T) {
	b := MustLoad("bearer")
	assert.Equal(t, SignalSuccess, b.Classify(200, []byte(`{"items":[]}`)))
	assert.Equal(t, SignalExpired, b.Classify(401, []byte(`{"error":"token_expired"}`)))
	assert.Equal(t, SignalInvalid, b.Classify(401, []byte(`{"error":"invalid_token","rid":"x"}`)))
	assert.Equal(t, SignalNotToken, b.Classify(401, []byte(`{"error":"password_required"}`)))
	assert.Equal(t, SignalInvalidGrant, b.Classify(401, []byte(`{"error":"invalid_grant"}`)))
	assert.Equal(t, SignalUnavailable, b.Classify(503, []byte(`{"error":"upstream_unavailable"}`)))
	assert.Equal(t, "", b.Classify(401, nil))
	assert.Equal(t, "", b.Classify(400, []byte(`{"error":"invalid_request"}`)))

	c, err := Load("testdata/body-code.yaml")
	require.NoError(t, err)
	assert.Equal(t, SignalSuccess, c.Classify(200, []byte(`{"code":0,"data":1}`)))
	assert.Equal(t, SignalExpired, c.Classify(200, []byte(`{"code":10006}`)))
	assert.Equal(t, SignalExpired, c.Classify(200, []byte(`{"code":10006.0}`)))
	assert.Equal(t, SignalInvalid, c.Classify(200, []byte(`{"code":10007}`)))
	assert.Equal(t, "", c.Classify(200, []byte(`{"code":"10006"}`)), "a string is not the number")
	assert.Equal(t, "", c.Classify(200, []byte(`not json`)))
	assert.True(t, c.Signals.Expired.Matches(200, []byte(`{"code":10006}`)))
}
