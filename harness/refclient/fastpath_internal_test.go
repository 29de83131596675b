package refclient

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/client"
)

// Do builds the URL of a plain path from its parts; it must be the one
// http.NewRequest parses from the whole string.
func TestNewRequestBuildsTheURLParseWould(t *testing.T) {
	for _, backend := range []string{"http://127.0.0.1:8080", "https://Example.COM", "http://[::1]:9000", "HTTP://h"} {
		c := New(client.Env{BackendURL: backend}, Options{})
		require.NotEmpty(t, c.reqHost, backend)
		for _, path := range []string{"/", "/api/orders", "/api/orders?rid=steady-r12", "/a?", "/a?b=1&rid=x%20y",
			"/v1/x.y~z_w-1", "/a?b=c=d", "/a?%zz", "/a?x=1;y=2"} {
			p, q, has := strings.Cut(path, "?")
			require.True(t, plainPath(p) && plainQuery(q), path)
			got, err := c.newRequest(context.Background(), "GET", p, q, has)
			require.NoError(t, err)
			want, err := http.NewRequestWithContext(context.Background(), "GET", backend+path, nil)
			require.NoError(t, err)
			assert.Equal(t, *want.URL, *got.URL, path)
			assert.Equal(t, want.Host, got.Host, path)
			assert.Equal(t, want.URL.String(), got.URL.String(), path)
			assert.True(t, c.ours(got))
		}
	}
	for _, path := range []string{"//evil/x", "api", "/a b", "/a%20b", "/a#f", "/a?b#f", "/a?b c", "/é", "/a:b", "/a?b?c", "/a\x00"} {
		p, q, _ := strings.Cut(path, "?")
		assert.False(t, plainPath(p) && plainQuery(q), path)
	}
	for _, backend := range []string{"http://h/base", "http://h/", "http://u@h", "http://h?x", "http://h:", "::bad"} {
		assert.Empty(t, New(client.Env{BackendURL: backend}, Options{}).reqHost, backend)
	}
}

// Only the reference client itself vouches for returning on cancel: not a
// mutant, not one over a base transport it does not know.
func TestReturnsOnCancelOnlyForTheReferenceItself(t *testing.T) {
	env := client.Env{BackendURL: "http://127.0.0.1:1"}
	var p client.Prompt = New(env, Options{})
	assert.True(t, p.ReturnsOnCancel())
	assert.False(t, New(env, Options{Behaviour: Behaviour{HangOnFailure: true}}).ReturnsOnCancel())
	assert.False(t, New(env, Options{Base: http.DefaultTransport}).ReturnsOnCancel())
}
