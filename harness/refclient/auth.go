package refclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/style"
)

// wxLoginPath is the device side of mockwechat (SPEC §3).
const wxLoginPath = "/__mock/wx/login"

// authAPI makes the calls the client makes on its own behalf, in the
// backend's dialect (routes and member names of login and refresh).
type authAPI struct {
	hc         *http.Client
	wechatURL  string
	backendURL string
	appID      string
	timeout    time.Duration
	spec       *style.Style
}

// tokenAnswer is what a successful login or refresh handed over.
type tokenAnswer struct {
	AccessToken      string
	RefreshToken     string
	ExpiresIn        int64
	RefreshExpiresIn int64
}

// tokens converts an answer received at now into Tokens.
func (a tokenAnswer) tokens(now time.Time) Tokens {
	t := Tokens{Access: a.AccessToken, Refresh: a.RefreshToken}
	if a.ExpiresIn > 0 {
		t.AccessExpiry = now.Add(time.Duration(a.ExpiresIn) * time.Second)
	}
	if a.RefreshExpiresIn > 0 {
		t.RefreshExpiry = now.Add(time.Duration(a.RefreshExpiresIn) * time.Second)
	}
	return t
}

// wxLogin is what wx.login() does on the phone: a fresh one-time code.
func (a *authAPI) wxLogin(ctx context.Context, device string) (string, *AuthFailure) {
	var out struct {
		Code    string `json:"code"`
		Errcode *int   `json:"errcode"`
		Errmsg  string `json:"errmsg"`
	}
	status, _, raw, f := a.post(ctx, "wx.login", a.wechatURL+wxLoginPath, map[string]string{"appid": a.appID, "user": device})
	if f != nil {
		return "", f
	}
	if status != http.StatusOK {
		return "", failureOf("wx.login", status, nil, raw, "")
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", &AuthFailure{Call: "wx.login", Status: status, Err: fmt.Errorf("%s answered 200 with an unreadable body: %w", a.wechatURL+wxLoginPath, err)}
	}
	if out.Code == "" {
		f = &AuthFailure{Call: "wx.login", Status: http.StatusOK, WechatErrcode: out.Errcode, Msg: out.Errmsg}
		if f.Msg == "" && f.WechatErrcode == nil {
			f.Msg = "no code in the answer"
		}
		return "", f
	}
	return out.Code, nil
}

// login exchanges a code for tokens on the style's login route.
func (a *authAPI) login(ctx context.Context, code string) (tokenAnswer, *AuthFailure) {
	return a.tokenCall(ctx, "login", &a.spec.Requests.Login, code)
}

// refresh rotates the refresh token on the style's refresh route.
func (a *authAPI) refresh(ctx context.Context, refreshToken string) (tokenAnswer, *AuthFailure) {
	if a.spec.Requests.Refresh.Path == "" {
		return tokenAnswer{}, &AuthFailure{Call: "refresh", Signal: style.SignalInvalidGrant, Msg: "the backend's style has no refresh route"}
	}
	return a.tokenCall(ctx, "refresh", &a.spec.Requests.Refresh, refreshToken)
}

// tokenCall makes a login or refresh as the style's template says and reads
// the tokens where the style puts them (body members, headers, cookies)
// when the answer carries the success signal.
func (a *authAPI) tokenCall(ctx context.Context, call string, rq *style.Request, value string) (tokenAnswer, *AuthFailure) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	req, err := a.spec.NewRequest(ctx, a.backendURL, rq, value)
	if err != nil {
		return tokenAnswer{}, &AuthFailure{Call: call, Err: err}
	}
	status, h, raw, f := a.do(call, req)
	if f != nil {
		return tokenAnswer{}, f
	}
	sig := a.spec.Classify(status, raw)
	if sig != style.SignalSuccess {
		f := failureOf(call, status, h, raw, sig)
		return tokenAnswer{}, f
	}
	t := a.spec.ReadTokens(h, raw)
	ans := tokenAnswer{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, ExpiresIn: t.ExpiresIn, RefreshExpiresIn: t.RefreshExpiresIn}
	if ans.AccessToken == "" {
		return tokenAnswer{}, &AuthFailure{Call: call, Status: status, Msg: "no " + a.spec.Answers.AccessToken.String() + " in the answer"}
	}
	return ans, nil
}

// post sends a JSON body and returns the answer, or an AuthFailure when no
// answer could be read.
func (a *authAPI) post(ctx context.Context, call, url string, in any) (int, http.Header, []byte, *AuthFailure) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	body, _ := json.Marshal(in) // a map of strings always marshals
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, &AuthFailure{Call: call, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	return a.do(call, req)
}

// do sends one of the client's own calls and reads the answer.
func (a *authAPI) do(call string, req *http.Request) (int, http.Header, []byte, *AuthFailure) {
	url := req.URL.String()
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, nil, nil, &AuthFailure{Call: call, Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, nil, &AuthFailure{Call: call, Status: resp.StatusCode, Err: fmt.Errorf("%s: reading the answer: %w", url, err)}
	}
	return resp.StatusCode, resp.Header, raw, nil
}

// failureOf describes a refused call: the style signal it carried, and the
// members a backend uses to explain itself ("error", "wechat_errcode", …).
func failureOf(call string, status int, h http.Header, raw []byte, sig string) *AuthFailure {
	f := &AuthFailure{Call: call, Status: status, Signal: sig, Code: sig}
	if h != nil {
		f.RetryAfter = retryAfter(h.Get("Retry-After"))
	}
	var e struct {
		Error         string `json:"error"`
		WechatErrcode *int   `json:"wechat_errcode"`
		Errcode       *int   `json:"errcode"`
		Errmsg        string `json:"errmsg"`
	}
	if json.Unmarshal(raw, &e) == nil && (e.Error != "" || e.WechatErrcode != nil || e.Errcode != nil) {
		if e.Error != "" {
			f.Code = e.Error
		}
		f.WechatErrcode, f.Msg = e.WechatErrcode, e.Errmsg
		if f.WechatErrcode == nil {
			f.WechatErrcode = e.Errcode
		}
	} else if sig == "" {
		f.Msg = shorten(string(raw))
	}
	return f
}

// retryAfter parses Retry-After (seconds or an HTTP date) into seconds.
func retryAfter(v string) int64 {
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n > 0 {
		return n
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return int64(d.Round(time.Second) / time.Second)
		}
	}
	return 0
}

func shorten(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
