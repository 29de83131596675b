package check

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/style"
)

// The one rule the non-token-401 probe and the feature step share.
func TestNotTokenRefusal(t *testing.T) {
	bearer, err := style.Load("bearer")
	require.NoError(t, err)
	bodyCode, err := style.Load("body-code")
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		sty  *style.Style
		a    Answer
		want string // "" = holds
	}{
		"the refusal itself":              {bearer, Answer{Status: 401, Body: []byte(`{"error":"password_required"}`)}, ""},
		"an error carrying the refusal":   {bearer, Answer{Err: errors.New("request failed: password_required")}, ""},
		"an error naming its status":      {bearer, Answer{Err: errors.New("HTTP 401")}, ""},
		"body-code refusal itself":        {bodyCode, Answer{Status: 200, Body: []byte(`{"code":10010}`)}, ""},
		"a bare error":                    {bearer, Answer{Err: errors.New("request:ok")}, `the error "request:ok", which does not carry the refusal`},
		"a success":                       {bearer, Answer{Status: 200, Body: []byte(`{"items":[]}`)}, "which is the style's success signal"},
		"lost":                            {bearer, Answer{Lost: true}, "lost"},
		"body-code: bare 200 is no error": {bodyCode, Answer{Err: errors.New("HTTP 200")}, "does not carry"},
	} {
		t.Run(name, func(t *testing.T) {
			got := NotTokenRefusal(tc.sty, tc.a)
			if tc.want == "" {
				assert.Empty(t, got)
				return
			}
			assert.Contains(t, got, tc.want)
			assert.Contains(t, got, "or an error that carries it")
		})
	}
}
