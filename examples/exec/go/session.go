package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// sessions keeps the tokens of every device (each simulated device is its own
// phone, logging in as its own WeChat user) and talks to the backend in the
// style the harness announced.
type sessions struct {
	backend, wechat, appid string
	style                  *styleSpec
	http                   *http.Client

	mu      sync.Mutex
	devices map[string]*device
}

func newSessions(backend, wechat, appid string, st *styleSpec, hc *http.Client) *sessions {
	return &sessions{backend: backend, wechat: wechat, appid: appid, style: st, http: hc, devices: map[string]*device{}}
}

// device holds one phone's tokens and its renewal in progress, if any.
type device struct {
	name string
	// turn lets one request at a time through when the style's tokens are
	// single-use: each request must carry the token the previous answer
	// handed over.
	turn chan struct{}

	mu      sync.Mutex
	access  string
	refresh string
	// renewAt is when, by the device's own clock, access is close enough to
	// its expiry to be renewed before it is sent, as a phone's wrapper does
	// (zero: the backend did not say how long it lives).
	renewAt time.Time
	flight  *renewal // non-nil while a renewal runs: the single flight
	// After a failed renewal, requests that need a new token get its error
	// until quietUntil instead of starting another one: with one request at
	// a time (single-use tokens) they could not join the failed flight, and
	// each would otherwise try again (bounded-retry).
	lastErr    error
	quietUntil time.Time
}

// coolDown is how long a failed renewal is not retried.
const coolDown = time.Second

// proactive is how long before its expiry a token is renewed (at most half
// its life): the reference client's window.
const proactiveWindow = 30 * time.Second

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
		d = &device{name: name, turn: make(chan struct{}, 1)}
		s.devices[name] = d
	}
	return d
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do makes the request for dev, renewing the token first if it expires
// soon by the device's clock (our clock plus offset: the call's
// clock_offset_ms), and replaying the request once if the backend says the
// token is expired or invalid.
func (s *sessions) do(dev string, offset time.Duration, method, path string, headers map[string]string, body []byte) (*response, error) {
	d := s.device(dev)
	if s.style.Token.SingleUse {
		d.turn <- struct{}{} // one request in flight per device
		defer func() { <-d.turn }()
	}
	now := func() time.Time { return time.Now().Add(offset) } // the device's clock
	token, err := s.fresh(d, now)
	if err != nil {
		return nil, err
	}
	res, err := s.attempt(d, method, path, headers, body, token)
	if err != nil || !s.style.tokenProblem(res) {
		return res, err
	}
	renewed, err := s.token(d, token, false, now)
	if err != nil {
		return nil, err
	}
	return s.attempt(d, method, path, headers, body, renewed) // the one replay, same bytes
}

// fresh is the token to send: the current one, or a renewed one when it
// expires within the proactive window by the device's clock. A failed
// proactive renewal is not the caller's problem while the old token may
// still work: it is sent, and the backend decides.
func (s *sessions) fresh(d *device, now func() time.Time) (string, error) {
	d.mu.Lock()
	cur, exp := d.access, d.renewAt
	d.mu.Unlock()
	if cur == "" || exp.IsZero() || now().Before(exp) {
		return s.token(d, "", false, now)
	}
	if t, err := s.token(d, cur, true, now); err == nil {
		return t, nil
	}
	return cur, nil
}

// token returns a token other than stale, renewing only if nobody already
// has: with stale == "" any current token will do. Concurrent callers with
// the same stale token share one renewal, and a caller whose stale token was
// already replaced (a late 401) gets the new one without a renewal. A
// proactive renewal (stale is only about to expire) that fails keeps stale:
// the backend has not refused it.
func (s *sessions) token(d *device, stale string, proactive bool, now func() time.Time) (string, error) {
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
	if time.Now().Before(d.quietUntil) {
		err := d.lastErr
		d.mu.Unlock()
		return "", err
	}
	f := &renewal{done: make(chan struct{})}
	d.flight = f
	refresh := d.refresh
	d.mu.Unlock()

	access, newRefresh, life, err := s.renew(d.name, refresh)

	d.mu.Lock()
	d.refresh = newRefresh
	if err == nil {
		d.access, d.renewAt = access, time.Time{}
		if life > 0 {
			// Renewed this long before it expires, by the device's clock.
			d.renewAt = now().Add(life - min(proactiveWindow, life/2))
		}
	} else {
		if d.access == stale && !proactive {
			d.access = "" // rejected by the backend: not worth sending again
		}
		d.lastErr, d.quietUntil = err, time.Now().Add(coolDown)
	}
	d.flight = nil
	d.mu.Unlock()
	f.token, f.err = access, err
	close(f.done)
	return access, err
}

// rotate installs the next access token an answer handed over (a rotating
// style's next_header) in place of used, unless a renewal replaced used
// meanwhile.
func (s *sessions) rotate(d *device, used string, h http.Header) {
	if s.style.Token.NextHeader == "" {
		return
	}
	next := strings.TrimSpace(h.Get(s.style.Token.NextHeader))
	if next == "" {
		return
	}
	d.mu.Lock()
	if d.access == used {
		d.access = next
	}
	d.mu.Unlock()
}

// renew refreshes the tokens through the style's refresh route, or logs in
// again when the style has none, there is no refresh token, or the backend
// rejects it (invalid_grant). It returns the refresh token to keep: the new
// one, or on failure the old one unless the backend rejected it, and how
// long the new access token lives (0: not said). A failure is returned,
// never retried: the caller gets a clear error instead of a loop.
func (s *sessions) renew(dev, refresh string) (access, newRefresh string, life time.Duration, err error) {
	st := s.style
	if st.Requests.Refresh.Path != "" && refresh != "" {
		status, h, text, err := s.authCall(&st.Requests.Refresh, refresh)
		if err != nil {
			return "", refresh, 0, fmt.Errorf("token refresh failed: %w", err)
		}
		switch st.classify(status, text) {
		case "success":
			if access := tokenAt(st.Answers.AccessToken, h, text); access != "" {
				return access, tokenAt(st.Answers.RefreshToken, h, text), lifetimeAt(st.Answers.ExpiresIn, h, text), nil
			}
			return "", refresh, 0, fmt.Errorf("token refresh failed: no access token at %s in HTTP %d %s", st.Answers.AccessToken.Name, status, text)
		case "invalid_grant":
			// The refresh token is dead: log in again below.
		default:
			return "", refresh, 0, fmt.Errorf("token refresh failed: HTTP %d %s", status, text)
		}
	}
	status, text, err := s.postJSON(s.wechat+"/__mock/wx/login", map[string]string{"appid": s.appid, "user": dev})
	code := member(text, "code")
	if err != nil || status != http.StatusOK || code == "" {
		return "", "", 0, fmt.Errorf("wx.login failed: HTTP %d %s %v", status, text, err)
	}
	status, h, text, err := s.authCall(&st.Requests.Login, code)
	if err != nil {
		return "", "", 0, fmt.Errorf("login failed: %w", err)
	}
	access = tokenAt(st.Answers.AccessToken, h, text)
	if st.classify(status, text) != "success" || access == "" {
		return "", "", 0, fmt.Errorf("login failed: HTTP %d %s", status, text)
	}
	return access, tokenAt(st.Answers.RefreshToken, h, text), lifetimeAt(st.Answers.ExpiresIn, h, text), nil
}

// authCall makes a login or refresh call as the style's template says.
func (s *sessions) authCall(rq *request, value string) (status int, h http.Header, body []byte, err error) {
	req, err := s.style.newCall(s.backend, rq, value)
	if err != nil {
		return 0, nil, nil, err
	}
	res, err := s.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, bytes.TrimSpace(raw), err
}

// postJSON posts payload and returns the answer's status and body (trimmed).
func (s *sessions) postJSON(url string, payload any) (status int, body []byte, err error) {
	b, _ := json.Marshal(payload)
	res, err := s.http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return res.StatusCode, bytes.TrimSpace(raw), err
}

// attempt sends the request once with token and takes over the next token
// if the answer hands one over.
func (s *sessions) attempt(d *device, method, path string, headers map[string]string, body []byte, token string) (*response, error) {
	req, err := http.NewRequest(method, s.backend+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range headers {
		switch strings.ToLower(k) {
		case "host", "content-length", "connection", "transfer-encoding", strings.ToLower(s.style.Token.Header):
			continue // computed by the HTTP stack, or ours to set
		case "cookie":
			if s.style.Token.Cookie != "" {
				req.Header.Add("Cookie", v) // the caller's cookies, next to ours
				continue
			}
		}
		req.Header.Set(k, v)
	}
	s.style.setToken(req.Header, token)
	res, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	s.rotate(d, token, res.Header)
	return &response{status: res.StatusCode, header: res.Header, body: raw}, nil
}
