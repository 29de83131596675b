package hostile

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/stack"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/mockwechat"
)

// secrets collects every live secret a test saw on the wire, with where it
// came from for the failure message.
type secrets map[string]string

func (s secrets) add(v, what string) {
	if v != "" {
		s[v] = what
	}
}

// do sends req and returns the status, headers and body.
func do(t *testing.T, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := hc.Do(req)
	require.NoError(t, err, req.URL.Path)
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, b
}

// wxCode mints a wx.login code for user.
func wxCode(t *testing.T, st *stack.Stack, user string) string {
	t.Helper()
	var c struct{ Code string }
	postJSON(t, st.WechatURL+"/__mock/wx/login", `{"user":"`+user+`"}`, "", &c)
	require.NotEmpty(t, c.Code)
	return c.Code
}

// tokenCall makes the style's login or refresh call carrying value.
func tokenCall(t *testing.T, sty *style.Style, st *stack.Stack, rq *style.Request, value string) (int, style.TokenAnswer) {
	t.Helper()
	req, err := sty.NewRequest(context.Background(), st.BackendURL, rq, value)
	require.NoError(t, err)
	status, h, b := do(t, req)
	return status, sty.ReadTokens(h, b)
}

// protected calls the style's resource with access, GET and POST (an
// effect), and its verify route when it has one. In a style that hands over
// the next access token on every answer, each one is used (and collected).
func protected(t *testing.T, sty *style.Style, st *stack.Stack, access string, seen secrets) {
	t.Helper()
	for _, m := range []string{"GET", "POST"} {
		req, err := http.NewRequest(m, st.BackendURL+sty.ResourcePath("/api/orders")+"?rid=ledger-"+m, strings.NewReader(`{"item":"tea"}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		sty.SetToken(req.Header, access)
		status, h, b := do(t, req)
		require.Less(t, status, 300, "%s %s: %s", sty.Name, m, b)
		if sty.Token.NextHeader != "" {
			access = h.Get(sty.Token.NextHeader)
			require.NotEmpty(t, access, "%s: next token", sty.Name)
			seen.add(access, "access token handed over in "+sty.Token.NextHeader)
		}
	}
	if sty.Requests.Verify.Path != "" {
		req, err := sty.NewRequest(context.Background(), st.BackendURL, &sty.Requests.Verify, access)
		require.NoError(t, err)
		status, _, b := do(t, req)
		require.Less(t, status, 300, "%s verify: %s", sty.Name, b)
	}
}

// GET /__admin/ledger is served to whoever reaches the admin port (without
// --admin-token, anyone on loopback): it must carry no live secret. In every
// built-in style, a device logs in, refreshes, calls protected routes, has a
// refresh token reused and a code replayed, another device's code is left
// unexchanged, WeChat's own secrets (session_key, the app access token) are
// minted, and a client prints them all; then no secret string seen on the
// wire may be in the ledger.
func TestLedgerAPICarriesNoSecrets(t *testing.T) {
	for _, name := range style.Names() {
		t.Run(name, func(t *testing.T) {
			sty, err := style.Builtin(name)
			require.NoError(t, err)
			st := start(t, stack.Options{Style: name})
			seen := secrets{}

			code := wxCode(t, st, "ledger-alice")
			seen.add(code, "alice's wx.login code")
			status, tok := tokenCall(t, sty, st, &sty.Requests.Login, code)
			require.Equal(t, 200, status, "login")
			require.NotEmpty(t, tok.AccessToken, "login answer")
			seen.add(tok.AccessToken, "access token from login")
			seen.add(tok.RefreshToken, "refresh token from login")
			protected(t, sty, st, tok.AccessToken, seen)
			tokenCall(t, sty, st, &sty.Requests.Login, code) // a replayed code (refused in the style's way)

			if sty.Requests.Refresh.Path != "" {
				require.NotEmpty(t, tok.RefreshToken, "login answer of a style with a refresh route")
				status, next := tokenCall(t, sty, st, &sty.Requests.Refresh, tok.RefreshToken)
				require.Equal(t, 200, status, "refresh")
				require.NotEmpty(t, next.AccessToken, "refresh answer")
				seen.add(next.AccessToken, "access token from refresh")
				seen.add(next.RefreshToken, "refresh token from refresh")
				protected(t, sty, st, next.AccessToken, seen)
				tokenCall(t, sty, st, &sty.Requests.Refresh, tok.RefreshToken) // reuse of a rotated token
			}

			seen.add(wxCode(t, st, "ledger-bob"), "bob's unexchanged wx.login code")
			// WeChat's own secrets, asked for directly: a session_key and the
			// app's access token.
			carol := wxCode(t, st, "ledger-carol")
			seen.add(carol, "carol's wx.login code")
			var sess struct {
				SessionKey string `json:"session_key"`
			}
			q := url.Values{"appid": {mockwechat.DefaultAppID}, "secret": {mockwechat.DefaultSecret}, "js_code": {carol}, "grant_type": {"authorization_code"}}
			req, _ := http.NewRequest("GET", st.WechatURL+"/sns/jscode2session?"+q.Encode(), nil)
			_, _, b := do(t, req)
			require.NoError(t, json.Unmarshal(b, &sess), "%s", b)
			require.NotEmpty(t, sess.SessionKey, "%s", b)
			seen.add(sess.SessionKey, "carol's session_key")
			var app struct {
				AccessToken string `json:"access_token"`
			}
			q = url.Values{"appid": {mockwechat.DefaultAppID}, "secret": {mockwechat.DefaultSecret}, "grant_type": {"client_credential"}}
			req, _ = http.NewRequest("GET", st.WechatURL+"/cgi-bin/token?"+q.Encode(), nil)
			_, _, b = do(t, req)
			require.NoError(t, json.Unmarshal(b, &app), "%s", b)
			require.NotEmpty(t, app.AccessToken, "%s", b)
			seen.add(app.AccessToken, "WeChat app access token")
			seen.add(mockwechat.DefaultSecret, "the app secret")

			// A client that prints what it holds: console and exec log lines
			// are free text in the ledger, the secrets must be hidden there too.
			for v := range seen {
				for _, line := range []string{"console.log: got " + v, "Authorization: Bearer " + v + ".", `{"access_token":"` + v + `","x":1}`, "GET /api/x?token=" + v + "&rid=1"} {
					st.Ledger.Append(ledger.Event{Source: ledger.SourceClient, Kind: ledger.KindClientLog, Device: "printer", Detail: line})
				}
			}

			req, _ = http.NewRequest("GET", st.BackendURL+"/__admin/ledger", nil)
			status, h, body := do(t, req)
			require.Equal(t, 200, status)
			require.Equal(t, "application/x-ndjson", h.Get("Content-Type"))
			led := string(body)
			// Not vacuous: the calls above are in it, by id and hash.
			for _, kind := range []string{`"kind":"wx.login"`, `"kind":"jscode2session"`, `"kind":"login"`, `"kind":"api"`, `"code":"sha256:`} {
				assert.Contains(t, led, kind)
			}
			if sty.Requests.Refresh.Path != "" {
				assert.Contains(t, led, `"kind":"refresh"`)
			}
			for v, what := range seen {
				assert.NotContains(t, led, v, "%s: the ledger API shows %s", name, what)
				assert.Contains(t, led, "Bearer "+ledger.RedactSecret(v)+".", "%s: %s in client output is shown hashed", name, what)
			}

		})
	}
}
