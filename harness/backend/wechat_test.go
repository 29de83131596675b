package backend

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// mockedEnv is a backend whose outbound jscode2session goes to httpmock.
func mockedEnv(t *testing.T, responder httpmock.Responder) (*tenv, *httpmock.MockTransport) {
	mt := httpmock.NewMockTransport()
	mt.RegisterResponderWithQuery(http.MethodGet, wxBase+"/sns/jscode2session",
		map[string]string{"appid": testAppID, "secret": testSecret, "js_code": "the-code", "grant_type": "authorization_code"},
		responder)
	e := newEnv(t, Config{HTTPClient: &http.Client{Transport: mt, Timeout: 200 * time.Millisecond}})
	return e, mt
}

func wxText(body string) httpmock.Responder {
	return httpmock.NewStringResponder(200, body).HeaderSet(http.Header{"Content-Type": {"text/plain"}})
}

func TestLoginWechatErrcodes(t *testing.T) {
	cases := []struct {
		name       string
		responder  httpmock.Responder
		status     int
		body       string
		retryAfter string
		outcome    string
		errcode    int
	}{
		{"40029 invalid code", wxText(`{"errcode":40029,"errmsg":"invalid code, rid: 1"}`), 400, `{"error":"invalid_code","wechat_errcode":40029}`, "", ledger.OutcomeWechat, 40029},
		{"40163 code used", wxText(`{"errcode":40163,"errmsg":"code been used, rid: 1"}`), 400, `{"error":"invalid_code","wechat_errcode":40163}`, "", ledger.OutcomeWechat, 40163},
		{"40226 blocked", wxText(`{"errcode":40226,"errmsg":"code blocked"}`), 400, `{"error":"invalid_code","wechat_errcode":40226}`, "", ledger.OutcomeWechat, 40226},
		{"41008 missing code", wxText(`{"errcode":41008,"errmsg":"missing code"}`), 400, `{"error":"invalid_code","wechat_errcode":41008}`, "", ledger.OutcomeWechat, 41008},
		{"-1 busy", wxText(`{"errcode":-1,"errmsg":"system error"}`), 503, `{"error":"upstream_unavailable","wechat_errcode":-1}`, "1", ledger.OutcomeWechat, -1},
		{"45011 quota", wxText(`{"errcode":45011,"errmsg":"minute-quota reach limit"}`), 503, `{"error":"upstream_unavailable","wechat_errcode":45011}`, "60", ledger.OutcomeWechat, 45011},
		{"40013 appid", wxText(`{"errcode":40013,"errmsg":"invalid appid"}`), 502, `{"error":"upstream_misconfigured","wechat_errcode":40013}`, "", ledger.OutcomeWechat, 40013},
		{"40125 secret", wxText(`{"errcode":40125,"errmsg":"invalid appsecret"}`), 502, `{"error":"upstream_misconfigured","wechat_errcode":40125}`, "", ledger.OutcomeWechat, 40125},
		{"41002 appid missing", wxText(`{"errcode":41002,"errmsg":"appid missing"}`), 502, `{"error":"upstream_misconfigured","wechat_errcode":41002}`, "", ledger.OutcomeWechat, 41002},
		{"41004 secret missing", wxText(`{"errcode":41004,"errmsg":"appsecret missing"}`), 502, `{"error":"upstream_misconfigured","wechat_errcode":41004}`, "", ledger.OutcomeWechat, 41004},
		{"unknown errcode", wxText(`{"errcode":40999,"errmsg":"??"}`), 503, `{"error":"upstream_unavailable","wechat_errcode":40999}`, "1", ledger.OutcomeWechat, 40999},
		{"garbage body", wxText(`<html>502 Bad Gateway</html>`), 503, `{"error":"upstream_unavailable"}`, "1", ledger.OutcomeError, 0},
		{"no openid", wxText(`{"session_key":"x"}`), 503, `{"error":"upstream_unavailable"}`, "1", ledger.OutcomeError, 0},
		{"HTTP 500", httpmock.NewStringResponder(500, `{"errcode":-1}`), 503, `{"error":"upstream_unavailable"}`, "1", ledger.OutcomeError, 0},
		{"connection error", httpmock.NewErrorResponder(errors.New("dial tcp: connection refused")), 503, `{"error":"upstream_unavailable"}`, "1", ledger.OutcomeError, 0},
		{"timeout", wxText(`{"openid":"late"}`).Delay(2 * time.Second), 503, `{"error":"upstream_unavailable"}`, "1", ledger.OutcomeError, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, mt := mockedEnv(t, c.responder)
			w := e.do("POST", "/auth/login", `{"code":"the-code"}`)
			expectJSON(t, w, c.status, c.body)
			assert.Equal(t, c.retryAfter, w.Header().Get("Retry-After"))
			assert.Equal(t, 1, mt.GetTotalCallCount())
			ev := e.lastEvent(ledger.KindBackendLogin)
			assert.Equal(t, c.outcome, ev.Outcome)
			assert.Equal(t, c.errcode, ev.Errcode)
			assert.Equal(t, c.status, ev.Status)
			assert.Equal(t, "the-code", ev.Code)
			assert.Equal(t, ledger.SourceBackend, ev.Source)
			// still serving
			assert.Equal(t, 401, e.do("GET", "/api/x", "").Code)
		})
	}
}

func TestLoginWechatSuccessTextPlain(t *testing.T) {
	e, mt := mockedEnv(t, wxText(`{"session_key":"abc==","openid":"oUser123456789012345678901234"}`))
	w := e.do("POST", "/auth/login", `{"code":"the-code"}`)
	require.Equal(t, 200, w.Code, w.Body.String())
	var body map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	assert.Equal(t, "Bearer", body["token_type"])
	assert.EqualValues(t, 7200, body["expires_in"])
	assert.EqualValues(t, 720*3600, body["refresh_expires_in"])
	assert.NotEmpty(t, body["refresh_token"])
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	assert.Equal(t, 1, mt.GetTotalCallCount())
	ev := e.lastEvent(ledger.KindBackendLogin)
	assert.Equal(t, ledger.OutcomeOK, ev.Outcome)
	assert.Equal(t, "oUser123456789012345678901234", ev.Subject)
	assert.NotEmpty(t, ev.Token)
	assert.NotEmpty(t, ev.Family)
	assert.Equal(t, 200, ev.Status)

	// errcode 0 with an openid is success too (some WeChat APIs send it)
	e2, _ := mockedEnv(t, wxText(`{"errcode":0,"errmsg":"ok","openid":"oX","session_key":"k"}`))
	assert.Equal(t, 200, e2.do("POST", "/auth/login", `{"code":"the-code"}`).Code)
}

func TestLoginNoWechatCallForMissingCode(t *testing.T) {
	e, mt := mockedEnv(t, wxText(`{"openid":"o1","session_key":"k"}`))
	expectJSON(t, e.do("POST", "/auth/login", `{}`), 400, `{"error":"invalid_request","error_description":"missing code","field":"code"}`)
	assert.Equal(t, 0, mt.GetTotalCallCount())
	assert.Equal(t, ledger.OutcomeError, e.lastEvent(ledger.KindBackendLogin).Outcome)
}

func TestLoginCloseAbortsWechatCall(t *testing.T) {
	mt := httpmock.NewMockTransport()
	mt.RegisterNoResponder(wxText(`{"openid":"late"}`).Delay(time.Minute))
	e := newEnv(t, Config{HTTPClient: &http.Client{Transport: mt}}) // no client timeout: only Close can end it
	go func() { time.Sleep(20 * time.Millisecond); _ = e.s.Close() }()
	start := time.Now()
	w := e.do("POST", "/auth/login", `{"code":"the-code"}`)
	assert.Equal(t, 503, w.Code)
	assert.Less(t, time.Since(start), 2*time.Second)
}
