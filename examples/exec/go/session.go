package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// sessions keeps the tokens of every device (each simulated device is its own
// phone, logging in as its own WeChat user).
type sessions struct {
	backend, wechat, appid string
	http                   *http.Client

	mu      sync.Mutex
	devices map[string]*device
}

func newSessions(backend, wechat, appid string, hc *http.Client) *sessions {
	return &sessions{backend: backend, wechat: wechat, appid: appid, http: hc, devices: map[string]*device{}}
}

// device holds one phone's tokens and its renewal in progress, if any.
type device struct {
	name string

	mu      sync.Mutex
	access  string
	refresh string
	flight  *renewal // non-nil while a renewal runs: the single flight
}

// renewal is one refresh-or-login that every waiter shares.
type renewal struct {
	done  chan struct{}
	token string
	err   error
}

func (s *sessions) device(name string) *device {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devices[name]
	if d == nil {
		d = &device{name: name}
		s.devices[name] = d
	}
	return d
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do makes the request for dev, renewing the token and replaying the request
// once if the backend says the token is expired or invalid.
func (s *sessions) do(dev, method, path string, headers map[string]string, body []byte) (*response, error) {
	d := s.device(dev)
	token, err := s.token(d, "")
	if err != nil {
		return nil, err
	}
	res, err := s.attempt(method, path, headers, body, token)
	if err != nil {
		return nil, err
	}
	if !tokenProblem(res) {
		return res, nil
	}
	fresh, err := s.token(d, token)
	if err != nil {
		return nil, err
	}
	return s.attempt(method, path, headers, body, fresh) // the one replay, same bytes
}

// token returns a token other than stale, renewing only if nobody already
// has: with stale == "" any current token will do. Concurrent callers with
// the same stale token share one renewal, and a caller whose stale token was
// already replaced (a late 401) gets the new one without a renewal.
func (s *sessions) token(d *device, stale string) (string, error) {
	d.mu.Lock()
	if d.access != "" && d.access != stale {
		t := d.access
		d.mu.Unlock()
		return t, nil
	}
	if f := d.flight; f != nil {
		d.mu.Unlock()
		<-f.done
		return f.token, f.err
	}
	f := &renewal{done: make(chan struct{})}
	d.flight = f
	refresh := d.refresh
	d.mu.Unlock()

	access, newRefresh, err := s.renew(d.name, refresh)

	d.mu.Lock()
	if err == nil {
		d.access, d.refresh = access, newRefresh
	}
	d.flight = nil
	d.mu.Unlock()
	f.token, f.err = access, err
	close(f.done)
	return access, err
}

// renew refreshes the pair, or logs in again when there is no refresh token
// or the backend rejects it. A failure is returned, never retried: the caller
// gets a clear error instead of a loop.
func (s *sessions) renew(dev, refresh string) (access, newRefresh string, err error) {
	var pair struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if refresh != "" {
		status, text, err := s.postJSON(s.backend+"/auth/refresh", map[string]string{"refresh_token": refresh}, &pair)
		switch {
		case err != nil:
			return "", "", fmt.Errorf("token refresh failed: %w", err)
		case status == http.StatusOK && pair.AccessToken != "":
			return pair.AccessToken, pair.RefreshToken, nil
		case status != http.StatusBadRequest && status != http.StatusUnauthorized:
			return "", "", fmt.Errorf("token refresh failed: HTTP %d %s", status, text)
		}
		// The refresh token is dead (invalid_grant): log in again.
	}
	var code struct {
		Code string `json:"code"`
	}
	status, text, err := s.postJSON(s.wechat+"/__mock/wx/login", map[string]string{"appid": s.appid, "user": dev}, &code)
	if err != nil || status != http.StatusOK || code.Code == "" {
		return "", "", fmt.Errorf("wx.login failed: HTTP %d %s %v", status, text, err)
	}
	status, text, err = s.postJSON(s.backend+"/auth/login", map[string]string{"code": code.Code}, &pair)
	if err != nil || status != http.StatusOK || pair.AccessToken == "" {
		return "", "", fmt.Errorf("login failed: HTTP %d %s %v", status, text, err)
	}
	return pair.AccessToken, pair.RefreshToken, nil
}

func (s *sessions) postJSON(url string, payload, into any) (status int, text string, err error) {
	b, _ := json.Marshal(payload)
	res, err := s.http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, "", err
	}
	if res.StatusCode == http.StatusOK {
		_ = json.Unmarshal(raw, into)
	}
	return res.StatusCode, strings.TrimSpace(string(raw)), nil
}

func (s *sessions) attempt(method, path string, headers map[string]string, body []byte, token string) (*response, error) {
	req, err := http.NewRequest(method, s.backend+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range headers {
		switch strings.ToLower(k) {
		case "host", "content-length", "connection", "transfer-encoding", "authorization":
			continue // computed by the HTTP stack, or ours to set
		}
		req.Header.Set(k, v)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	return &response{status: res.StatusCode, header: res.Header, body: raw}, nil
}

// tokenProblem tells a 401 about the token (expired or invalid, which a new
// token fixes) from any other 401 (which the caller must see as is).
func tokenProblem(r *response) bool {
	if r.status != http.StatusUnauthorized {
		return false
	}
	if strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
		return true
	}
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error == "token_expired" || e.Error == "invalid_token"
}
