package backend

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

func TestAdminStats(t *testing.T) {
	e := newEnv(t, Config{})
	p := e.login("alice")
	e.do("POST", "/auth/login", `{"code":"err.-1"}`)
	e.do("GET", "/api/x", "", bearer(p.Access))
	e.do("POST", "/api/x", "{}", bearer(p.Access))
	e.do("GET", "/api/x", "")
	decodePair(t, e.refresh(p.Refresh))
	e.refresh(p.Refresh)

	w := e.do("GET", "/__admin/stats", "")
	require.Equal(t, 200, w.Code)
	assert.JSONEq(t, `{
		"logins":{"ok":1,"wechat":1,"error":0},
		"refreshes":{"ok":1,"reused":1,"revoked":0,"expired":0,"invalid":0},
		"api":{"ok":2,"expired":0,"invalid":0,"missing":1,"error":0},
		"verify":{"ok":0,"expired":0,"invalid":0,"missing":0},
		"effects":1,"wechat_calls":2,"families":1,"families_revoked":1,"refresh_tokens":2}`, w.Body.String())
}

func TestAdminLedgerNDJSON(t *testing.T) {
	e := newEnv(t, Config{})
	e.login("alice")
	w := e.do("GET", "/__admin/ledger", "")
	require.Equal(t, 200, w.Code)
	assert.Equal(t, "application/x-ndjson", w.Header().Get("Content-Type"))
	sc := bufio.NewScanner(strings.NewReader(w.Body.String()))
	var evs []ledger.Event
	for sc.Scan() {
		var ev ledger.Event
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev))
		evs = append(evs, ev)
	}
	require.Len(t, evs, 1)
	assert.Equal(t, ledger.KindBackendLogin, evs[0].Kind)
	assert.Equal(t, t0, evs[0].Time.UTC(), "stamped with the injected clock")

	// codes are live secrets: served as a hash, the same for the same code
	e.led.Append(ledger.Event{Source: ledger.SourceWechat, Kind: ledger.KindWxLogin, Device: "bob", Code: "bob.live-code"})
	body := e.do("GET", "/__admin/ledger", "").Body.String()
	assert.NotContains(t, body, "bob.live-code")
	assert.Contains(t, body, `"code":"`+ledger.RedactSecret("bob.live-code")+`"`)
	assert.Regexp(t, `^sha256:[0-9a-f]{16}$`, ledger.RedactSecret("bob.live-code"))
	assert.NotEqual(t, ledger.RedactSecret("a"), ledger.RedactSecret("b"))
	for _, ln := range strings.Split(strings.TrimSpace(body), "\n") {
		var ev ledger.Event
		require.NoError(t, json.Unmarshal([]byte(ln), &ev))
		if ev.Code != "" {
			assert.True(t, strings.HasPrefix(ev.Code, ledger.RedactedPrefix), ev.Code)
		}
	}

	noLedger, err := New(Config{WechatURL: wxBase})
	require.NoError(t, err)
	defer noLedger.Close()
	e2 := &tenv{t: t, s: noLedger}
	expectJSON(t, e2.do("GET", "/__admin/ledger", ""), 404, `{"error":"no_ledger","error_description":"this backend runs without a ledger"}`)
}

func TestAdminConfig(t *testing.T) {
	e := newEnv(t, Config{})
	expectJSON(t, e.do("GET", "/__admin/config", ""), 200, `{"access_ttl":"2h0m0s","refresh_ttl":"720h0m0s","reuse":"strict","style":"bearer"}`)
	w := e.do("PUT", "/__admin/config", `{"access_ttl":"10m","refresh_ttl":"1h","reuse":"grace:30s"}`)
	expectJSON(t, w, 200, `{"access_ttl":"10m0s","refresh_ttl":"1h0m0s","reuse":"grace:30s","style":"bearer"}`)
	w = e.do("POST", "/auth/login", `{"code":"alice.cfg"}`)
	require.Equal(t, 200, w.Code)
	assert.Contains(t, w.Body.String(), `"expires_in":600`)
	assert.Contains(t, w.Body.String(), `"refresh_expires_in":3600`)
	// partial update keeps the rest; a refused one changes nothing
	expectJSON(t, e.do("PUT", "/__admin/config", `{"reuse":"reuse:2"}`), 200, `{"access_ttl":"10m0s","refresh_ttl":"1h0m0s","reuse":"reuse:2","style":"bearer"}`)
	assert.Equal(t, 400, e.do("PUT", "/__admin/config", `{"access_ttl":"1h","reuse":"x"}`).Code)
	assert.Equal(t, 10*time.Minute, e.s.CurrentConfig().AccessTTL)

	require.NoError(t, e.s.SetConfig(RuntimeConfig{AccessTTL: time.Hour}))
	err := e.s.SetConfig(RuntimeConfig{Reuse: "nope"})
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "reuse", ce.Field)
	assert.Equal(t, time.Hour, e.s.CurrentConfig().AccessTTL)
}

func TestAdminRevoke(t *testing.T) {
	e := newEnv(t, Config{})
	a, a2, b, c := e.login("alice"), e.login("alice"), e.login("bob"), e.login("carol")
	fam := claimsOf(t, c.Access)["fam"].(string)

	expectJSON(t, e.do("POST", "/__admin/revoke", `{"users":["`+openid("alice")+`"]}`), 200, `{"ok":true,"revoked":2}`)
	for _, p := range []pair{a, a2} {
		expectJSON(t, e.do("GET", "/api/x", "", bearer(p.Access)), 401, invalidBody)
		expectJSON(t, e.refresh(p.Refresh), 401, invalidGrant("refresh token family revoked"))
	}
	assert.Equal(t, 200, e.do("GET", "/api/x", "", bearer(b.Access)).Code)

	expectJSON(t, e.do("POST", "/__admin/revoke", `{"families":["`+fam+`","f-nope"]}`), 200, `{"ok":true,"revoked":1,"unknown":["f-nope"]}`)
	expectJSON(t, e.do("GET", "/api/x", "", bearer(c.Access)), 401, invalidBody)
	assert.Equal(t, 200, e.do("GET", "/api/x", "", bearer(b.Access)).Code)

	expectJSON(t, e.do("POST", "/__admin/revoke", `{"all":true}`), 200, `{"ok":true,"revoked":1}`)
	expectJSON(t, e.do("GET", "/api/x", "", bearer(b.Access)), 401, invalidBody)

	revs := e.events(ledger.KindRevoke)
	require.Len(t, revs, 4)
	for _, ev := range revs {
		assert.Equal(t, "revoked by admin", ev.Detail)
		assert.NotEmpty(t, ev.Family)
		assert.NotEmpty(t, ev.Subject)
	}
	assert.EqualValues(t, 4, e.s.Stats().FamiliesRevoked)
	d := e.login("dave")
	assert.Equal(t, 200, e.do("GET", "/api/x", "", bearer(d.Access)).Code, "new logins unaffected")
}

func TestAdminReset(t *testing.T) {
	e := newEnv(t, Config{})
	p := e.login("alice")
	e.do("POST", "/api/x", "{}", bearer(p.Access))
	e.s.ExpireAll()
	expectJSON(t, e.do("POST", "/__admin/reset", ""), 200, `{"ok":true}`)
	st := e.s.Stats()
	assert.Zero(t, st.Effects)
	assert.Zero(t, st.Families)
	assert.Zero(t, st.Logins["ok"])
	// forgotten tokens are unknown: invalid, not expired
	expectJSON(t, e.do("GET", "/api/x", "", bearer(p.Access)), 401, invalidBody)
	expectJSON(t, e.refresh(p.Refresh), 401, invalidGrant("unknown refresh token"))
	q := e.login("alice")
	assert.Equal(t, 200, e.do("GET", "/api/x", "", bearer(q.Access)).Code, "cutoffs were forgotten too")
	w := e.do("POST", "/api/x", "{}", bearer(q.Access))
	assert.Contains(t, w.Body.String(), `"effect":1`)
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, Config{})
	p := e.login("alice")
	e.do("GET", "/api/x", "", bearer(p.Access))
	e.do("GET", "/api/x", "")
	e.do("GET", "/nope", "")
	w := e.do("GET", "/metrics", "")
	require.Equal(t, http.StatusOK, w.Code)
	body := w.Body.String()
	assert.Contains(t, body, `tokenstorm_backend_requests_total{outcome="ok",route="login"} 1`)
	assert.Contains(t, body, `tokenstorm_backend_requests_total{outcome="ok",route="api"} 1`)
	assert.Contains(t, body, `tokenstorm_backend_requests_total{outcome="missing",route="api"} 1`)
	assert.Contains(t, body, `tokenstorm_backend_requests_total{outcome="not_found",route="not_found"} 1`)
	assert.Contains(t, body, `tokenstorm_backend_request_duration_seconds_bucket{route="api",le="+Inf"} 2`)
	assert.Contains(t, body, `tokenstorm_backend_effects 0`)

	// a second server has its own registry
	e2 := newEnv(t, Config{})
	assert.NotContains(t, e2.do("GET", "/metrics", "").Body.String(), `tokenstorm_backend_requests_total{outcome="ok",route="login"}`)
}
