package admingate

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWrap(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) })
	h := Wrap("s3cret", ok)
	cases := []struct {
		path string
		auth []string
		want int
	}{
		{"/__admin/ledger", nil, 401},
		{"/__admin/ledger", []string{"Bearer s3cret"}, 204},
		{"/__admin/ledger", []string{"bearer s3cret"}, 204},
		{"/__admin/ledger", []string{"Bearer wrong"}, 401},
		{"/__admin/ledger", []string{"Bearer s3cret", "Bearer s3cret"}, 401},
		{"/__admin/ledger", []string{"Basic czNjcmV0Og=="}, 401},
		{"/__admin/ledger", []string{"Bearer"}, 401},
		{"/__admin", nil, 401},
		{"/__adminx", nil, 204},
		{"/__mock/wx/login", nil, 204},
		{"/sns/jscode2session", nil, 204},
		{"/metrics", nil, 204},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", c.path, nil)
		for _, a := range c.auth {
			r.Header.Add("Authorization", a)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, c.want, w.Code, "%s %v", c.path, c.auth)
		if c.want == 401 {
			assert.Equal(t, `Bearer realm="tokenstorm-admin"`, w.Header().Get("WWW-Authenticate"))
			assert.JSONEq(t, `{"error":"unauthorized","error_description":"admin endpoints need Authorization: Bearer <admin token> (--admin-token)"}`, w.Body.String())
		}
	}
	// no token: unchanged
	w := httptest.NewRecorder()
	Wrap("", ok).ServeHTTP(w, httptest.NewRequest("GET", "/__admin/ledger", nil))
	assert.Equal(t, 204, w.Code)
}

func TestCheckBind(t *testing.T) {
	lo := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	any4 := &net.TCPAddr{IP: net.IPv4zero, Port: 1}
	lan := &net.TCPAddr{IP: net.IPv4(192, 168, 1, 5), Port: 1}
	assert.NoError(t, CheckBind(lo, ""))
	assert.NoError(t, CheckBind(&net.TCPAddr{IP: net.IPv6loopback}, ""))
	assert.ErrorContains(t, CheckBind(any4, ""), "refusing to serve on non-loopback address 0.0.0.0:1 without an admin token")
	assert.Error(t, CheckBind(lan, ""))
	assert.Error(t, CheckBind(&net.TCPAddr{IP: net.IPv6unspecified}, ""))
	assert.NoError(t, CheckBind(any4, "tok"))
}
