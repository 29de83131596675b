package refclient

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/style"
)

func dialect(t *testing.T, name string) *Dialect {
	t.Helper()
	d, err := LoadDialect(name)
	require.NoError(t, err)
	return d
}

func TestDialectCredential(t *testing.T) {
	for _, c := range []struct{ style, header, value string }{
		{"bearer", "Authorization", "Bearer abc"},
		{"rotating", "Authorization", "Bearer abc"},
		{"body-code", "X-Token", "abc"},
		{"status-403", "Authorization", "Basic YWJjOg=="}, // base64("abc:")
	} {
		h, v := dialect(t, c.style).Credential("abc")
		assert.Equal(t, c.header, h, c.style)
		assert.Equal(t, c.value, v, c.style)
	}
}

func TestDialectClassify(t *testing.T) {
	bearerExpired := http.Header{"Www-Authenticate": {`Bearer error="invalid_token", error_description="The access token expired"`}}
	rfc6750Expired := http.Header{"Www-Authenticate": {`Bearer error="invalid_token", error_description="token has expired"`}}
	rfc6750Invalid := http.Header{"Www-Authenticate": {`Bearer error="invalid_token"`}}
	cases := []struct {
		style  string
		status int
		h      http.Header
		body   string
		want   Signal
	}{
		{"bearer", 200, nil, `{"error":"token_expired"}`, SignalNone},
		{"bearer", 401, nil, `{"error":"token_expired"}`, SignalExpired},
		{"bearer", 401, nil, `{"error":"invalid_token","rid":"r"}`, SignalInvalid},
		{"bearer", 401, nil, `{"error":"password_required"}`, SignalNone},
		{"bearer", 401, bearerExpired, ``, SignalExpired},
		{"bearer", 401, rfc6750Expired, `not json`, SignalExpired},
		{"bearer", 401, rfc6750Invalid, ``, SignalInvalid},
		{"bearer", 401, nil, ``, SignalNone},
		{"bearer", 403, rfc6750Invalid, `{"error":"invalid_token"}`, SignalNone},
		{"body-code", 200, nil, `{"code":0,"items":[]}`, SignalNone},
		{"body-code", 200, nil, `{"code":10006,"rid":"r"}`, SignalExpired},
		{"body-code", 200, nil, `{"code":10005}`, SignalInvalid},
		{"body-code", 200, nil, `{"code":10010}`, SignalNone},
		{"body-code", 200, nil, `{"code":"10006"}`, SignalNone},
		{"body-code", 401, nil, `{"error":"token_expired"}`, SignalNone},
		{"status-403", 403, nil, `{"error":"token_expired"}`, SignalExpired},
		{"status-403", 403, nil, `{"error":"forbidden"}`, SignalNone},
		{"status-403", 401, nil, `{"error":"invalid_token"}`, SignalInvalid},
		{"status-403", 401, http.Header{"Www-Authenticate": {`Basic realm="api"`}}, ``, SignalInvalid},
		{"rotating", 401, nil, `{"error":"invalid_token"}`, SignalInvalid},
	}
	for _, c := range cases {
		d := dialect(t, c.style)
		h := c.h
		if h == nil {
			h = http.Header{}
		}
		assert.Equal(t, c.want, d.Classify(c.status, h, []byte(c.body)), "%s %d %s %v", c.style, c.status, c.body, c.h)
	}
	assert.True(t, dialect(t, "body-code").Peek(200, nil), "body-code signals expiry with HTTP 200")
	assert.False(t, dialect(t, "bearer").Peek(200, nil), "bearer bodies of 200 answers are never buffered")
	assert.True(t, dialect(t, "status-403").Peek(403, nil))
	assert.True(t, dialect(t, "status-403").Peek(401, nil))
	assert.False(t, dialect(t, "status-403").Peek(404, nil))
}

// Login and refresh failures are read through the style's signals: in
// body-code everything is HTTP 200 and the code says what happened.
func TestAuthFailuresFollowTheStyle(t *testing.T) {
	bc := dialect(t, "body-code").Spec()
	f := failureOf("login", 200, http.Header{"Retry-After": {"1"}}, []byte(`{"code":10503,"wechat_errcode":-1}`), bc.Classify(200, []byte(`{"code":10503,"wechat_errcode":-1}`)))
	assert.Equal(t, style.SignalUnavailable, f.Signal)
	assert.True(t, f.retryable(), "WeChat busy: try again later")
	assert.EqualValues(t, 1, f.RetryAfter)
	assert.Equal(t, "backend answered 200 upstream_unavailable (wechat_errcode -1)", f.Error())

	f = failureOf("login", 200, nil, []byte(`{"code":10001,"wechat_errcode":40163}`), bc.Classify(200, []byte(`{"code":10001,"wechat_errcode":40163}`)))
	assert.True(t, f.invalidCode(), "a rejected code: get a new one")
	assert.False(t, f.retryable())

	f = failureOf("login", 200, nil, []byte(`{"code":10502,"wechat_errcode":40013}`), style.SignalMisconfigured)
	assert.False(t, f.retryable(), "the backend's own credentials are wrong: retrying cannot help")

	b := dialect(t, "bearer").Spec()
	f = failureOf("refresh", 401, nil, []byte(`{"error":"invalid_grant"}`), b.Classify(401, []byte(`{"error":"invalid_grant"}`)))
	assert.True(t, f.refreshDead())
	f = failureOf("refresh", 503, nil, []byte(`{"error":"upstream_unavailable"}`), b.Classify(503, []byte(`{"error":"upstream_unavailable"}`)))
	assert.True(t, f.retryable())
	assert.False(t, f.refreshDead())
	f = failureOf("refresh", 500, nil, []byte(`oops`), "")
	assert.True(t, f.retryable(), "an unclassified 5xx is retried boundedly")
	assert.Equal(t, "backend answered 500: oops", f.Error())
}
