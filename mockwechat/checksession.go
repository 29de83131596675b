package mockwechat

import (
	"crypto/hmac"
	"encoding/hex"
	"net/http"
	"strings"
)

// handleCheckSession is GET /wxa/checksession?access_token=&openid=&signature=&sig_method=hmac_sha256.
// Error precedence (after faults):
//
//	method not GET/POST          → 43001
//	access_token missing         → 41001
//	access_token unknown/stale   → 40001 (expired: 42001)
//	openid missing               → 41009
//	openid unknown in token's app→ 40003
//	signature or sig_method missing, sig_method not hmac_sha256 → 40097
//	signature not the current session_key's → 87009
func (s *Server) handleCheckSession(w http.ResponseWriter, r *http.Request) {
	c := s.newCall(w, r, APICheckSession, ctJSON)
	defer c.finish()
	p, ok := c.readParams()
	if !ok {
		return
	}
	openid := p.get("openid")
	sess, known := s.session(openid)
	if known {
		c.user, c.openid = sess.user, openid
	}
	if s.applyFault(c) {
		return
	}
	if !getOrPost(r.Method) {
		c.answerWechat(ErrcodeRequireGET)
		return
	}
	token := p.get("access_token")
	if token == "" {
		c.answerWechat(ErrcodeAccessTokenMissing)
		return
	}
	appid, errcode := s.tokenApp(token)
	if errcode != 0 {
		c.answerWechat(errcode)
		return
	}
	sig, method := p.get("signature"), p.get("sig_method")
	switch {
	case openid == "":
		c.answerWechat(ErrcodeOpenIDMissing)
	case !known || sess.appid != appid:
		c.answerWechat(ErrcodeInvalidOpenID)
	case sig == "" || method != "hmac_sha256":
		c.answerWechat(ErrcodeInvalidArgs)
	case !validSignature(sig, sess.key):
		c.answerWechat(ErrcodeInvalidSignature)
	default:
		c.answerWechat(ErrcodeOK)
	}
}

// validSignature compares in constant time; hex case does not matter.
func validSignature(sig, sessionKey string) bool {
	got, err := hex.DecodeString(strings.ToLower(sig))
	if err != nil {
		return false
	}
	want, _ := hex.DecodeString(Signature(sessionKey))
	return hmac.Equal(got, want)
}
