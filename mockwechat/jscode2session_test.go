package mockwechat

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

func TestJSCode2SessionSuccess(t *testing.T) {
	f := newFixture(t)
	code := f.login(DefaultAppID, "d1")
	rec := f.exchange(code)

	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, "text/plain", rec.Header().Get("Content-Type"), "WeChat really answers text/plain")
	m := decode(t, rec.Body.Bytes())
	assert.Len(t, m, 2, "exactly session_key and openid; no errcode key on success: %v", m)
	assert.Equal(t, OpenID(DefaultAppID, "d1"), m["openid"])
	key, err := base64.StdEncoding.DecodeString(m["session_key"].(string))
	require.NoError(t, err)
	assert.Len(t, key, 16)
	assert.True(t, strings.HasPrefix(rec.Body.String(), `{"session_key":`), "WeChat's key order")

	evs := f.events(ledger.KindJSCode2Sess)
	require.Len(t, evs, 1)
	assert.Equal(t, "d1", evs[0].Device)
	assert.Equal(t, code, evs[0].Code)
	assert.Equal(t, OpenID(DefaultAppID, "d1"), evs[0].Subject)
	assert.Equal(t, ledger.OutcomeOK, evs[0].Outcome)
	assert.Equal(t, 0, evs[0].Errcode)
	assert.Equal(t, ledger.SourceWechat, evs[0].Source)
}

func TestJSCode2SessionPOSTForm(t *testing.T) {
	f := newFixture(t)
	code := f.login("", "d1")
	form := url.Values{"appid": {DefaultAppID}, "secret": {DefaultSecret}, "js_code": {code}, "grant_type": {"authorization_code"}}
	rec := f.do(http.MethodPost, "/sns/jscode2session", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	assert.Equal(t, 0, errcodeOf(t, rec))
	assert.Equal(t, OpenID(DefaultAppID, "d1"), decode(t, rec.Body.Bytes())["openid"])

	// POST with the parameters in the query string works the same.
	code = f.login("", "d1")
	rec = f.do(http.MethodPost, jscodeURL(DefaultAppID, DefaultSecret, code), "")
	assert.Equal(t, 0, errcodeOf(t, rec))
}

func TestJSCode2SessionUnionID(t *testing.T) {
	f := newFixture(t)
	code := f.login(app2ID, "d1")
	rec := f.do(http.MethodGet, jscodeURL(app2ID, app2Secret, code), "")
	m := decode(t, rec.Body.Bytes())
	assert.Equal(t, UnionID("d1"), m["unionid"])
	assert.Equal(t, OpenID(app2ID, "d1"), m["openid"])
	assert.Len(t, m, 3)

	// Default app has UnionID off: no unionid key.
	a := decode(t, f.exchange(f.login("", "d1")).Body.Bytes())
	assert.NotContains(t, a, "unionid")
}

func TestJSCode2SessionErrcodes(t *testing.T) {
	f := newFixture(t)
	app2Code := f.login(app2ID, "d1")
	q := func(kv ...string) string {
		var parts []string
		for i := 0; i+1 < len(kv); i += 2 {
			parts = append(parts, kv[i]+"="+url.QueryEscape(kv[i+1]))
		}
		return "/sns/jscode2session?" + strings.Join(parts, "&")
	}
	const gt = "authorization_code"
	cases := []struct {
		name   string
		method string
		target string
		want   int
		msg    string
	}{
		{"no params", "GET", q(), 41002, "appid missing rid: "},
		{"appid missing beats all", "GET", q("secret", "x", "js_code", "y", "grant_type", "bad"), 41002, ""},
		{"secret missing", "GET", q("appid", DefaultAppID, "js_code", "c", "grant_type", gt), 41004, "appsecret missing rid: "},
		{"secret missing beats unknown appid", "GET", q("appid", "wxnope", "grant_type", gt), 41004, ""},
		{"grant_type missing", "GET", q("appid", DefaultAppID, "secret", DefaultSecret, "js_code", "c"), 40002, "invalid grant_type rid: "},
		{"grant_type wrong", "GET", q("appid", DefaultAppID, "secret", DefaultSecret, "js_code", "c", "grant_type", "client_credential"), 40002, ""},
		{"grant_type beats unknown appid", "GET", q("appid", "wxnope", "secret", "s", "grant_type", "x"), 40002, ""},
		{"unknown appid", "GET", q("appid", "wxnope", "secret", "s", "js_code", "c", "grant_type", gt), 40013, "invalid appid rid: "},
		{"wrong secret", "GET", q("appid", DefaultAppID, "secret", "nope", "js_code", "c", "grant_type", gt), 40125, "invalid appsecret rid: "},
		{"wrong secret beats missing code", "GET", q("appid", DefaultAppID, "secret", "nope", "grant_type", gt), 40125, ""},
		{"code missing", "GET", q("appid", DefaultAppID, "secret", DefaultSecret, "grant_type", gt), 41008, "missing code, rid: "},
		{"code unknown", "GET", q("appid", DefaultAppID, "secret", DefaultSecret, "js_code", "0nope", "grant_type", gt), 40029, "invalid code, rid: "},
		{"other app's code", "GET", q("appid", DefaultAppID, "secret", DefaultSecret, "js_code", app2Code, "grant_type", gt), 40029, ""},
		{"DELETE", "DELETE", q("appid", DefaultAppID, "secret", DefaultSecret, "js_code", "c", "grant_type", gt), 43001, "require GET method rid: "},
		{"PUT", "PUT", q(), 43001, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(tc.method, tc.target, "")
			assert.Equal(t, "text/plain", rec.Header().Get("Content-Type"))
			require.Equal(t, tc.want, errcodeOf(t, rec), rec.Body.String())
			m := decode(t, rec.Body.Bytes())
			assert.Len(t, m, 2, "errcode and errmsg only")
			if tc.msg != "" {
				assert.True(t, strings.HasPrefix(m["errmsg"].(string), tc.msg), "errmsg %q", m["errmsg"])
			}
		})
	}
	// The app2 code was presented to the wrong app only: it still works for app2.
	rec := f.do(http.MethodGet, jscodeURL(app2ID, app2Secret, app2Code), "")
	assert.Equal(t, 0, errcodeOf(t, rec))
}

func TestCodeSingleUse(t *testing.T) {
	f := newFixture(t)
	code := f.login("", "d1")
	f.sessionOf(code)
	rec := f.exchange(code)
	assert.Equal(t, ErrcodeCodeUsed, errcodeOf(t, rec))
	assert.True(t, strings.HasPrefix(decode(t, rec.Body.Bytes())["errmsg"].(string), "code been used, rid: "))

	evs := f.events(ledger.KindJSCode2Sess)
	require.Len(t, evs, 2)
	assert.Equal(t, ledger.OutcomeWechat, evs[1].Outcome)
	assert.Equal(t, ErrcodeCodeUsed, evs[1].Errcode)
	assert.Equal(t, "d1", evs[1].Device, "the user owning the code is known even on error")
	assert.Equal(t, code, evs[1].Code)
}

func TestCodeSingleUseConcurrent(t *testing.T) {
	f := newFixture(t)
	const codes, racers = 20, 8
	for i := range codes {
		code := f.login("", fmt.Sprintf("u%d", i))
		var wg sync.WaitGroup
		results := make([]int, racers)
		for j := range racers {
			wg.Go(func() { results[j] = errcodeOf(t, f.exchange(code)) })
		}
		wg.Wait()
		ok, used := 0, 0
		for _, r := range results {
			switch r {
			case 0:
				ok++
			case ErrcodeCodeUsed:
				used++
			}
		}
		assert.Equal(t, 1, ok, "exactly one exchange of a code succeeds")
		assert.Equal(t, racers-1, used)
	}
}

func TestCodeLifetime(t *testing.T) {
	f := newFixture(t)
	fresh := f.login("", "d1")
	f.clk.Advance(5 * time.Minute)
	f.sessionOf(fresh) // exactly 5 minutes old: still valid

	old := f.login("", "d1")
	f.clk.Advance(5*time.Minute + time.Second)
	assert.Equal(t, ErrcodeInvalidCode, errcodeOf(t, f.exchange(old)))
}

func TestCodeTTLConfigurable(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.CodeTTL = time.Minute })
	rec := f.do(http.MethodPost, "/__mock/wx/login", `{"user":"d1"}`)
	assert.Equal(t, float64(60), decode(t, rec.Body.Bytes())["expires_in"])
	code := decode(t, rec.Body.Bytes())["code"].(string)
	f.clk.Advance(61 * time.Second)
	assert.Equal(t, ErrcodeInvalidCode, errcodeOf(t, f.exchange(code)))
}

func TestMinuteQuota(t *testing.T) {
	f := newFixture(t)
	codes := make([]string, 101)
	for i := range codes {
		codes[i] = f.login("", "d1")
	}
	for i := range 100 {
		require.Equal(t, 0, errcodeOf(t, f.exchange(codes[i])), "call %d", i+1)
	}
	rec := f.exchange(codes[100])
	assert.Equal(t, ErrcodeMinuteQuota, errcodeOf(t, rec), "the 101st call in a minute")
	assert.True(t, strings.HasPrefix(decode(t, rec.Body.Bytes())["errmsg"].(string), "api minute-quota reach limit"))

	other := f.login("", "d2")
	assert.Equal(t, 0, errcodeOf(t, f.exchange(other)), "the quota is per user")

	f.clk.Advance(time.Minute)
	assert.Equal(t, 0, errcodeOf(t, f.exchange(codes[100])), "next minute: OK again, and the rate-limited code was not consumed")
}

func TestMinuteQuotaConfig(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MinuteQuota = 2 })
	for range 2 {
		f.sessionOf(f.login("", "d1"))
	}
	assert.Equal(t, ErrcodeMinuteQuota, errcodeOf(t, f.exchange(f.login("", "d1"))))

	g := newFixture(t, func(c *Config) { c.MinuteQuota = -1 })
	for range 150 {
		g.sessionOf(g.login("", "d1"))
	}
}

func TestBlocked(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Blocked = []string{"bad"} })
	code := f.login("", "bad")
	rec := f.exchange(code)
	assert.Equal(t, ErrcodeCodeBlocked, errcodeOf(t, rec))
	assert.True(t, strings.HasPrefix(decode(t, rec.Body.Bytes())["errmsg"].(string), "code blocked rid: "))
	f.sessionOf(f.login("", "good"))

	// Unblock via admin: the same code now works (blocking does not consume it).
	rec = f.do(http.MethodPost, "/__admin/blocked", `{"users":[]}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	f.sessionOf(code)

	// Block via Go.
	f.s.Block("good")
	assert.Equal(t, []string{"good"}, f.s.Blocked())
	assert.Equal(t, ErrcodeCodeBlocked, errcodeOf(t, f.exchange(f.login("", "good"))))
	rec = f.do(http.MethodGet, "/__admin/blocked", "")
	assert.JSONEq(t, `{"users":["good"]}`, rec.Body.String())
}

func TestSessionKeyRotates(t *testing.T) {
	f := newFixture(t)
	a := f.sessionOf(f.login("", "d1"))
	b := f.sessionOf(f.login("", "d1"))
	assert.NotEqual(t, a.SessionKey, b.SessionKey, "each login rotates the session_key")
	assert.Equal(t, a.OpenID, b.OpenID, "openid is stable")
}

func TestCodeSweep(t *testing.T) {
	f := newFixture(t)
	for i := range 5000 {
		_, err := f.s.Login("", fmt.Sprintf("u%d", i%50))
		require.NoError(t, err)
	}
	assert.Equal(t, 5000, f.s.Stats().CodesLive)
	f.clk.Advance(6 * time.Minute)
	_, err := f.s.Login("", "late")
	require.NoError(t, err)
	assert.Equal(t, 1, f.s.Stats().CodesLive, "expired codes are swept")
	f.s.state.mu.Lock()
	assert.LessOrEqual(t, len(f.s.state.queue), 1, "the sweep queue is compacted")
	f.s.state.mu.Unlock()
}
