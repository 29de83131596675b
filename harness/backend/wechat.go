package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/tokenstorm/tokenstorm/harness/style"
)

// WeChat errcodes of jscode2session the backend tells apart (SPEC §3).
const (
	wxSystemBusy    = -1
	wxInvalidAppID  = 40013
	wxInvalidCode   = 40029
	wxInvalidSecret = 40125
	wxCodeUsed      = 40163
	wxCodeBlocked   = 40226
	wxAppIDMissing  = 41002
	wxSecretMissing = 41004
	wxCodeMissing   = 41008
	wxMinuteQuota   = 45011
)

// maxWechatBody bounds what the backend reads of a WeChat answer.
const maxWechatBody = 64 << 10

// wxSession is the outcome of one jscode2session exchange: an openid, an
// errcode WeChat answered, or a failure to get any usable answer.
type wxSession struct {
	openid  string
	errcode int   // non-zero when WeChat answered an errcode
	err     error // transport failure, non-200, garbage body
}

type wxBody struct {
	OpenID     string `json:"openid"`
	SessionKey string `json:"session_key"`
	UnionID    string `json:"unionid"`
	Errcode    *int   `json:"errcode"`
	Errmsg     string `json:"errmsg"`
}

// jscode2session exchanges a wx.login code like a real backend: GET over
// HTTP. WeChat answers text/plain JSON, errors as HTTP 200 with errcode, and
// no errcode key at all on success, so the Content-Type is ignored and a
// missing or zero errcode with an openid is success.
func (s *Server) jscode2session(ctx context.Context, code string) wxSession {
	q := url.Values{
		"appid":      {s.cfg.AppID},
		"secret":     {s.cfg.Secret},
		"js_code":    {code},
		"grant_type": {"authorization_code"},
	}
	u := strings.TrimRight(s.cfg.WechatURL, "/") + "/sns/jscode2session?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return wxSession{err: fmt.Errorf("building the jscode2session request: %w", err)}
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return wxSession{err: fmt.Errorf("jscode2session: %w", err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxWechatBody))
	if err != nil {
		return wxSession{err: fmt.Errorf("jscode2session body: %w", err)}
	}
	if resp.StatusCode != http.StatusOK {
		return wxSession{err: fmt.Errorf("jscode2session: HTTP %d", resp.StatusCode)}
	}
	var b wxBody
	if err := json.Unmarshal(body, &b); err != nil {
		return wxSession{err: fmt.Errorf("jscode2session: unreadable answer: %w", err)}
	}
	if b.Errcode != nil && *b.Errcode != 0 {
		return wxSession{errcode: *b.Errcode}
	}
	if b.OpenID == "" {
		return wxSession{err: fmt.Errorf("jscode2session: answer without openid or errcode")}
	}
	return wxSession{openid: b.OpenID}
}

// wxRefusal is how the backend answers a failed exchange.
type wxRefusal struct {
	signal     func(*style.Signals) *style.Signal
	retryAfter string // Retry-After header; "" = none
	metric     string
}

// classifyWechat maps a failed exchange to the backend's answer:
//   - the user's code is bad (unknown, used, blocked, missing): invalid_code, 400 in bearer;
//   - the backend's own appid/secret are wrong: upstream_misconfigured, 502 —
//     retrying cannot help and the operator must act;
//   - WeChat busy (-1), rate limited (45011), unreachable, non-200, garbage,
//     or an errcode this backend does not know: upstream_unavailable, 503
//     with Retry-After, so a client may retry later (boundedly).
func classifyWechat(res wxSession) wxRefusal {
	switch res.errcode {
	case wxInvalidCode, wxCodeUsed, wxCodeBlocked, wxCodeMissing:
		return wxRefusal{signal: func(s *style.Signals) *style.Signal { return &s.InvalidCode }, metric: "invalid_code"}
	case wxInvalidAppID, wxInvalidSecret, wxAppIDMissing, wxSecretMissing:
		return wxRefusal{signal: func(s *style.Signals) *style.Signal { return &s.Misconfigured }, metric: "upstream_misconfigured"}
	case wxMinuteQuota:
		// The quota is per user per minute: retrying sooner is pointless.
		return wxRefusal{signal: func(s *style.Signals) *style.Signal { return &s.Unavailable }, retryAfter: "60", metric: "upstream_unavailable"}
	}
	return wxRefusal{signal: func(s *style.Signals) *style.Signal { return &s.Unavailable }, retryAfter: "1", metric: "upstream_unavailable"}
}
