package mockwechat

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// tokenState asks checksession whether token is accepted: 40003 (unknown
// openid) means the token passed; 40001/42001 mean it did not.
func (f *fixture) tokenState(token string) int {
	f.t.Helper()
	return errcodeOf(f.t, f.do(http.MethodGet, checkURL(token, "o-nobody", "00"), ""))
}

func TestCgiBinToken(t *testing.T) {
	f := newFixture(t)
	rec := f.do(http.MethodGet, "/cgi-bin/token?grant_type=client_credential&appid="+DefaultAppID+"&secret="+DefaultSecret, "")
	require.Equal(t, http.StatusOK, rec.Code)
	assert.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json"))
	m := decode(t, rec.Body.Bytes())
	assert.Len(t, m, 2)
	assert.Equal(t, float64(7200), m["expires_in"])
	assert.Regexp(t, `^88_`, m["access_token"])

	evs := f.events(ledger.KindAccessToken)
	require.Len(t, evs, 1)
	assert.Equal(t, ledger.OutcomeOK, evs[0].Outcome)
}

func TestCgiBinTokenErrcodes(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		query string
		want  int
	}{
		{"", ErrcodeAppIDMissing},
		{"grant_type=client_credential&secret=x", ErrcodeAppIDMissing},
		{"grant_type=client_credential&appid=" + DefaultAppID, ErrcodeSecretMissing},
		{"appid=" + DefaultAppID + "&secret=" + DefaultSecret, ErrcodeInvalidGrantType},
		{"grant_type=authorization_code&appid=" + DefaultAppID + "&secret=" + DefaultSecret, ErrcodeInvalidGrantType},
		{"grant_type=client_credential&appid=wxnope&secret=x", ErrcodeInvalidAppID},
		{"grant_type=client_credential&appid=" + DefaultAppID + "&secret=wrong", ErrcodeInvalidSecret},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			assert.Equal(t, tc.want, errcodeOf(t, f.do(http.MethodGet, "/cgi-bin/token?"+tc.query, "")))
		})
	}
	assert.Equal(t, ErrcodeRequireGET, errcodeOf(t, f.do(http.MethodPatch, "/cgi-bin/token", "")))
}

func TestCgiBinTokenOverlap(t *testing.T) {
	f := newFixture(t)
	t1 := f.token()
	assert.Equal(t, ErrcodeInvalidOpenID, f.tokenState(t1), "t1 is valid")

	f.clk.Advance(time.Hour)
	t2 := f.token()
	require.NotEqual(t, t1, t2)
	f.clk.Advance(5 * time.Minute)
	assert.Equal(t, ErrcodeInvalidOpenID, f.tokenState(t1), "old token still valid within the 5-minute overlap")
	f.clk.Advance(time.Second)
	assert.Equal(t, ErrcodeInvalidCredential, f.tokenState(t1), "old token invalid after the overlap")
	assert.Equal(t, ErrcodeInvalidOpenID, f.tokenState(t2))

	f.clk.Advance(7200 * time.Second)
	assert.Equal(t, ErrcodeAccessTokenExpired, f.tokenState(t2), "a token past its 7200s expires (42001)")
	assert.Equal(t, ErrcodeInvalidCredential, f.tokenState("88_unknown"))
}

func stableBody(force bool) string {
	return fmt.Sprintf(`{"grant_type":"client_credential","appid":%q,"secret":%q,"force_refresh":%v}`, DefaultAppID, DefaultSecret, force)
}

func (f *fixture) stable(force bool) tokenAnswer {
	f.t.Helper()
	rec := f.do(http.MethodPost, "/cgi-bin/stable_token", stableBody(force), "Content-Type", "application/json")
	require.Equal(f.t, 0, errcodeOf(f.t, rec), rec.Body.String())
	var a tokenAnswer
	require.NoError(f.t, json.Unmarshal(rec.Body.Bytes(), &a))
	return a
}

func TestStableToken(t *testing.T) {
	f := newFixture(t)
	a := f.stable(false)
	assert.Equal(t, 7200, a.ExpiresIn)

	f.clk.Advance(10 * time.Minute)
	b := f.stable(false)
	assert.Equal(t, a.AccessToken, b.AccessToken, "normal mode: same token while valid")
	assert.Equal(t, 7200-600, b.ExpiresIn, "with the time it has left")

	plain := f.token()
	assert.NotEqual(t, plain, a.AccessToken, "isolated from cgi-bin/token")
	assert.Equal(t, ErrcodeInvalidOpenID, f.tokenState(a.AccessToken), "cgi-bin/token did not invalidate it")

	// Force refresh: a new token, the old one dead at once.
	f.clk.Advance(time.Minute)
	c := f.stable(true)
	assert.NotEqual(t, a.AccessToken, c.AccessToken)
	assert.Equal(t, ErrcodeInvalidCredential, f.tokenState(a.AccessToken))
	assert.Equal(t, ErrcodeInvalidOpenID, f.tokenState(c.AccessToken))

	// Within 30s of the last forced refresh WeChat does not refresh.
	f.clk.Advance(10 * time.Second)
	assert.Equal(t, c.AccessToken, f.stable(true).AccessToken)

	// In its last 5 minutes a normal call gets a new token; the old runs out.
	f.clk.Advance(7200*time.Second - 10*time.Second - 4*time.Minute)
	d := f.stable(false)
	assert.NotEqual(t, c.AccessToken, d.AccessToken)
	assert.Equal(t, 7200, d.ExpiresIn)
	assert.Equal(t, ErrcodeInvalidOpenID, f.tokenState(c.AccessToken), "old one valid until it expires")
	f.clk.Advance(4*time.Minute + time.Second)
	assert.Equal(t, ErrcodeInvalidCredential, f.tokenState(c.AccessToken))
}

func TestStableTokenForceDailyLimit(t *testing.T) {
	f := newFixture(t)
	for range 20 {
		f.stable(true)
		f.clk.Advance(31 * time.Second)
	}
	rec := f.do(http.MethodPost, "/cgi-bin/stable_token", stableBody(true))
	assert.Equal(t, ErrcodeDailyQuota, errcodeOf(t, rec))
	f.clk.Advance(24 * time.Hour)
	f.stable(true)
}

func TestStableTokenErrcodes(t *testing.T) {
	f := newFixture(t)
	body := func(kv map[string]any) string { b, _ := json.Marshal(kv); return string(b) }
	ok := map[string]any{"grant_type": "client_credential", "appid": DefaultAppID, "secret": DefaultSecret}
	with := func(k string, v any) string {
		m := map[string]any{}
		for kk, vv := range ok {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return body(m)
	}
	cases := []struct {
		name, method, body string
		want               int
	}{
		{"GET", http.MethodGet, "", ErrcodeRequirePOST},
		{"not JSON", http.MethodPost, "grant_type=client_credential", ErrcodeDataFormat},
		{"array", http.MethodPost, `[1,2]`, ErrcodeDataFormat},
		{"empty", http.MethodPost, "", ErrcodeDataFormat},
		{"force_refresh not bool", http.MethodPost, with("force_refresh", "yes"), ErrcodeDataFormat},
		{"appid missing", http.MethodPost, with("appid", nil), ErrcodeAppIDMissing},
		{"secret missing", http.MethodPost, with("secret", nil), ErrcodeSecretMissing},
		{"grant_type wrong", http.MethodPost, with("grant_type", "x"), ErrcodeInvalidGrantType},
		{"appid unknown", http.MethodPost, with("appid", "wxnope"), ErrcodeInvalidAppID},
		{"secret wrong", http.MethodPost, with("secret", "nope"), ErrcodeInvalidSecret},
		{"unknown keys ignored", http.MethodPost, with("extra", 1), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, errcodeOf(t, f.do(tc.method, "/cgi-bin/stable_token", tc.body)))
		})
	}
	assert.NotEmpty(t, f.events(ledger.KindStableToken))
}

func TestCheckSession(t *testing.T) {
	f := newFixture(t)
	sess := f.sessionOf(f.login("", "d1"))
	tok := f.token()

	rec := f.do(http.MethodGet, checkURL(tok, sess.OpenID, Signature(sess.SessionKey)), "")
	assert.JSONEq(t, `{"errcode":0,"errmsg":"ok"}`, rec.Body.String())
	assert.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json"))

	upper := strings.ToUpper(Signature(sess.SessionKey))
	assert.Equal(t, 0, errcodeOf(t, f.do(http.MethodGet, checkURL(tok, sess.OpenID, upper), "")), "hex case does not matter")

	rec = f.do(http.MethodGet, checkURL(tok, sess.OpenID, Signature("wrong")), "")
	assert.Equal(t, ErrcodeInvalidSignature, errcodeOf(t, rec))
	assert.True(t, strings.HasPrefix(decode(t, rec.Body.Bytes())["errmsg"].(string), "invalid signature rid: "))

	// A new login rotates the key: the old signature fails, the new one passes.
	sess2 := f.sessionOf(f.login("", "d1"))
	assert.Equal(t, ErrcodeInvalidSignature, errcodeOf(t, f.do(http.MethodGet, checkURL(tok, sess.OpenID, Signature(sess.SessionKey)), "")))
	assert.Equal(t, 0, errcodeOf(t, f.do(http.MethodGet, checkURL(tok, sess.OpenID, Signature(sess2.SessionKey)), "")))
	// wx.login alone (code not yet exchanged) already rotates it, as WeChat warns.
	f.login("", "d1")
	assert.Equal(t, ErrcodeInvalidSignature, errcodeOf(t, f.do(http.MethodGet, checkURL(tok, sess.OpenID, Signature(sess2.SessionKey)), "")))

	evs := f.events(ledger.KindCheckSession)
	require.NotEmpty(t, evs)
	assert.Equal(t, sess.OpenID, evs[0].Subject)
	assert.Equal(t, "d1", evs[0].Device)
}

func TestCheckSessionErrcodes(t *testing.T) {
	f := newFixture(t)
	sess := f.sessionOf(f.login("", "d1"))
	other := f.do(http.MethodGet, jscodeURL(app2ID, app2Secret, f.login(app2ID, "d1")), "")
	otherOpenID := decode(t, other.Body.Bytes())["openid"].(string)
	tok := f.token()
	sig := Signature(sess.SessionKey)
	q := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return "/wxa/checksession?" + v.Encode()
	}
	cases := []struct {
		name, target string
		want         int
	}{
		{"nothing", q(), ErrcodeAccessTokenMissing},
		{"token missing beats all", q("openid", sess.OpenID, "signature", sig, "sig_method", "hmac_sha256"), ErrcodeAccessTokenMissing},
		{"token invalid", q("access_token", "bogus", "openid", sess.OpenID, "signature", sig, "sig_method", "hmac_sha256"), ErrcodeInvalidCredential},
		{"openid missing", q("access_token", tok, "signature", sig, "sig_method", "hmac_sha256"), ErrcodeOpenIDMissing},
		{"openid unknown", q("access_token", tok, "openid", "oUnknown", "signature", sig, "sig_method", "hmac_sha256"), ErrcodeInvalidOpenID},
		{"openid of another app", q("access_token", tok, "openid", otherOpenID, "signature", sig, "sig_method", "hmac_sha256"), ErrcodeInvalidOpenID},
		{"signature missing", q("access_token", tok, "openid", sess.OpenID, "sig_method", "hmac_sha256"), ErrcodeInvalidArgs},
		{"sig_method missing", q("access_token", tok, "openid", sess.OpenID, "signature", sig), ErrcodeInvalidArgs},
		{"sig_method md5", q("access_token", tok, "openid", sess.OpenID, "signature", sig, "sig_method", "md5"), ErrcodeInvalidArgs},
		{"signature not hex", q("access_token", tok, "openid", sess.OpenID, "signature", "zz", "sig_method", "hmac_sha256"), ErrcodeInvalidSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, errcodeOf(t, f.do(http.MethodGet, tc.target, "")))
		})
	}
	assert.Equal(t, ErrcodeRequireGET, errcodeOf(t, f.do(http.MethodDelete, q(), "")))
}
