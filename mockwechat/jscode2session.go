package mockwechat

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
)

type sessionAnswer struct {
	SessionKey string `json:"session_key"`
	OpenID     string `json:"openid"`
	UnionID    string `json:"unionid,omitempty"`
}

// handleJSCode2Session is GET /sns/jscode2session. Error precedence (after any
// fault rule, which fires first, like a proxy in front of WeChat):
//
//	method not GET/POST → 43001
//	appid missing       → 41002
//	secret missing      → 41004
//	grant_type wrong    → 40002
//	appid unknown       → 40013
//	secret wrong        → 40125
//	js_code missing     → 41008
//	then the code itself (see exchange): 40029, 40226, 45011, 40163
func (s *Server) handleJSCode2Session(w http.ResponseWriter, r *http.Request) {
	c := s.newCall(w, r, APIJSCode2Session, ctText)
	defer c.finish()
	p, ok := c.readParams()
	if !ok {
		return
	}
	appid, secret, code := p.get("appid"), p.get("secret"), p.get("js_code")
	c.code = code
	c.user, c.openid = s.codeOwner(code, appid)
	if s.applyFault(c) {
		return
	}
	if errcode := s.checkApp(r.Method, appid, secret, p.get("grant_type"), "authorization_code"); errcode != 0 {
		c.answerWechat(errcode)
		return
	}
	if code == "" {
		c.answerWechat(ErrcodeCodeMissing)
		return
	}
	res := s.exchange(appid, code)
	if res.errcode != 0 {
		c.answerWechat(res.errcode)
		return
	}
	a := sessionAnswer{SessionKey: res.sessionKey, OpenID: c.openid}
	if s.apps[appid].UnionID {
		a.UnionID = UnionID(c.user)
	}
	b, _ := json.Marshal(a)
	c.answerOK(b)
}

// checkApp validates the parameters jscode2session and cgi-bin/token share, in
// WeChat's order: method, missing appid, missing secret, grant_type, unknown
// appid, wrong secret. It returns 0 when all is well.
func (s *Server) checkApp(method, appid, secret, grant, wantGrant string) int {
	switch {
	case !getOrPost(method):
		return ErrcodeRequireGET
	case appid == "":
		return ErrcodeAppIDMissing
	case secret == "":
		return ErrcodeSecretMissing
	case grant != wantGrant:
		return ErrcodeInvalidGrantType
	}
	app, ok := s.apps[appid]
	switch {
	case !ok:
		return ErrcodeInvalidAppID
	case subtle.ConstantTimeCompare([]byte(app.Secret), []byte(secret)) != 1:
		return ErrcodeInvalidSecret
	}
	return 0
}
