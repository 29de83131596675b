package backend

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/style"
)

// Every built-in style is served end to end: login, success, the expired and
// invalid signals (noted in the ledger for expiry-signalled), a refusal that
// is not about the token, verify and refresh where the style has them.
func TestBuiltinStylesServedEndToEnd(t *testing.T) {
	names := style.Names()
	require.Subset(t, names, []string{"bearer", "body-code", "rotating", "status-403"})
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, Config{Style: name})
			st := e.s.Style()
			require.Equal(t, name, st.Name)
			call := func(method, path, tok string) *httptest.ResponseRecorder {
				var hdr []string
				if tok != "" {
					h := http.Header{}
					st.SetToken(h, tok)
					for k := range h {
						hdr = append(hdr, k+": "+h.Get(k))
					}
				}
				return e.do(method, path, "", hdr...)
			}
			classify := func(w *httptest.ResponseRecorder) string { return st.Classify(w.Code, w.Body.Bytes()) }
			// styled makes a login, refresh or verify call as the style's template says.
			styled := func(rq *style.Request, value string) *httptest.ResponseRecorder {
				r, err := st.NewRequest(context.Background(), "http://backend.test", rq, value)
				require.NoError(t, err)
				w := httptest.NewRecorder()
				e.s.ServeHTTP(w, r)
				return w
			}
			code := func() string { return fmt.Sprintf("alice.%d", nonce.Add(1)) }

			// login
			w := styled(&st.Requests.Login, code())
			require.Equal(t, style.SignalSuccess, classify(w), w.Body.String())
			tokens := st.ReadTokens(w.Header(), w.Body.Bytes())
			tok := tokens.AccessToken
			require.NotEmpty(t, tok, "login answer %s has no %s", w.Body.String(), st.Answers.AccessToken)
			refresh := tokens.RefreshToken
			assert.Equal(t, st.Routes.Refresh != "", refresh != "", "a refresh token exactly when there is a refresh route")

			// success
			w = call("GET", st.Routes.Resource+"orders?rid=s1", tok)
			require.Equal(t, style.SignalSuccess, classify(w), w.Body.String())
			assert.Contains(t, w.Body.String(), `"rid":"s1"`)
			if st.Token.NextHeader != "" {
				next := w.Header().Get(st.Token.NextHeader)
				require.NotEmpty(t, next, "a %s answer hands over the next token", name)
				if st.Token.SingleUse {
					w = call("GET", st.Routes.Resource+"orders", tok)
					assert.Equal(t, style.SignalInvalid, classify(w), "a single-use token works once: %s", w.Body.String())
				}
				tok = next
			}

			// invalid: garbage, missing, a token of another dialect's placement
			for _, bad := range []string{"garbage", "", tok + "x"} {
				w = call("GET", st.Routes.Resource+"orders", bad)
				assert.Equal(t, style.SignalInvalid, classify(w), "token %q: %d %s", bad, w.Code, w.Body.String())
				assert.Equal(t, st.Signals.Invalid.Status, w.Code)
				ev := e.lastEvent(ledger.KindAPI)
				noted, ok := style.NotedSignal(ev.Detail)
				assert.True(t, ok && noted == style.SignalInvalid, "ledger detail %q notes the invalid signal", ev.Detail)
			}

			// not about the token
			w = call("GET", st.Routes.Resource+"reauth", tok)
			assert.Equal(t, style.SignalNotToken, classify(w), w.Body.String())
			if st.Token.NextHeader != "" {
				tok = w.Header().Get(st.Token.NextHeader)
				require.NotEmpty(t, tok, "a not_token answer that used up the token hands over the next one")
			}

			// verify
			if st.Routes.Verify != "" {
				w = styled(&st.Requests.Verify, tok)
				assert.Equal(t, style.SignalSuccess, classify(w), w.Body.String())
				assert.Contains(t, w.Body.String(), fmt.Sprintf("%q:true", st.Answers.Valid.Name))
			}

			// expired
			e.clk.Advance(3 * time.Hour)
			w = call("GET", st.Routes.Resource+"orders?rid=x1", tok)
			assert.Equal(t, style.SignalExpired, classify(w), "%d %s", w.Code, w.Body.String())
			assert.Equal(t, st.Signals.Expired.Status, w.Code)
			ev := e.lastEvent(ledger.KindAPI)
			assert.Equal(t, ledger.OutcomeExpired, ev.Outcome)
			noted, _ := style.NotedSignal(ev.Detail)
			assert.Equal(t, style.SignalExpired, noted, ev.Detail)
			if st.Routes.Verify != "" {
				assert.Equal(t, style.SignalExpired, classify(styled(&st.Requests.Verify, tok)))
			}

			// recovery: refresh, or a new login
			if st.Routes.Refresh != "" {
				w = styled(&st.Requests.Refresh, refresh)
			} else {
				w = styled(&st.Requests.Login, code())
			}
			require.Equal(t, style.SignalSuccess, classify(w), w.Body.String())
			w = call("GET", st.Routes.Resource+"orders", st.ReadTokens(w.Header(), w.Body.Bytes()).AccessToken)
			assert.Equal(t, style.SignalSuccess, classify(w), w.Body.String())

			// a rejected wx.login code
			w = styled(&st.Requests.Login, "err.40029")
			assert.Equal(t, style.SignalInvalidCode, classify(w), w.Body.String())
			w = styled(&st.Requests.Login, "err.-1")
			assert.Equal(t, style.SignalUnavailable, classify(w), w.Body.String())
		})
	}
}
