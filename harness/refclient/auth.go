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
)

// Routes of SPEC §3 (device side of mockwechat) and §4 (bearer backend).
const (
	wxLoginPath = "/__mock/wx/login"
	loginPath   = "/auth/login"
	refreshPath = "/auth/refresh"
)

// authAPI makes the calls the client makes on its own behalf.
type authAPI struct {
	hc         *http.Client
	wechatURL  string
	backendURL string
	appID      string
	timeout    time.Duration
}

// tokenAnswer is the JSON of a successful /auth/login or /auth/refresh.
type tokenAnswer struct {
	AccessToken      string `json:"access_token"`
	RefreshToken     string `json:"refresh_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
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
	f := a.post(ctx, "wx.login", a.wechatURL+wxLoginPath, map[string]string{"appid": a.appID, "user": device}, &out)
	if f != nil {
		return "", f
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

// login exchanges a code for tokens.
func (a *authAPI) login(ctx context.Context, code string) (tokenAnswer, *AuthFailure) {
	var out tokenAnswer
	f := a.post(ctx, "login", a.backendURL+loginPath, map[string]string{"code": code}, &out)
	return out, f
}

// refresh rotates the refresh token.
func (a *authAPI) refresh(ctx context.Context, refreshToken string) (tokenAnswer, *AuthFailure) {
	var out tokenAnswer
	f := a.post(ctx, "refresh", a.backendURL+refreshPath, map[string]string{"refresh_token": refreshToken}, &out)
	return out, f
}

// post sends a JSON body and decodes a 200 answer into out; anything else
// becomes an AuthFailure carrying what the server said.
func (a *authAPI) post(ctx context.Context, call, url string, in any, out any) *AuthFailure {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	body, _ := json.Marshal(in) // a map of strings always marshals
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return &AuthFailure{Call: call, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		return &AuthFailure{Call: call, Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return &AuthFailure{Call: call, Status: resp.StatusCode, Err: fmt.Errorf("%s: reading the answer: %w", url, err)}
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, out); err != nil {
			return &AuthFailure{Call: call, Status: resp.StatusCode, Err: fmt.Errorf("%s answered 200 with an unreadable body: %w", url, err)}
		}
		if t, ok := out.(*tokenAnswer); ok && t.AccessToken == "" {
			return &AuthFailure{Call: call, Status: resp.StatusCode, Msg: "no access_token in the answer"}
		}
		return nil
	}
	f := &AuthFailure{Call: call, Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	var e struct {
		Error         string `json:"error"`
		WechatErrcode *int   `json:"wechat_errcode"`
		Errcode       *int   `json:"errcode"`
		Errmsg        string `json:"errmsg"`
	}
	if json.Unmarshal(raw, &e) == nil && (e.Error != "" || e.WechatErrcode != nil || e.Errcode != nil) {
		f.Code, f.WechatErrcode, f.Msg = e.Error, e.WechatErrcode, e.Errmsg
		if f.WechatErrcode == nil {
			f.WechatErrcode = e.Errcode
		}
	} else {
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
