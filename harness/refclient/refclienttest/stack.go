// Package refclienttest is a small in-memory stand-in for mockwechat's
// wx.login and the reference backend's bearer routes (SPEC §3, §4), for unit
// tests of refclient, the mutants and other clients. It records every call so
// tests can assert exactly what a client sent, and it has knobs to provoke
// expiry storms, late 401s, failing refreshes and dead refresh tokens. It is
// not the product's mock: use mockwechat and harness/backend for that.
package refclienttest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/clock"
)

// AppID is the app the stack accepts.
const AppID = "wxtest0000000000"

// Options configure a Stack.
type Options struct {
	Clock      clock.Clock   // token expiry time line; nil = real
	AccessTTL  time.Duration // 0 = 1h
	RefreshTTL time.Duration // 0 = 720h
}

// Attempt is one protected call as the backend saw it.
type Attempt struct {
	Method string
	Path   string
	Token  string // access token carried ("" = none)
	Body   string
	Status int
}

// Stats counts the auth traffic.
type Stats struct {
	WxLogins      int // codes minted
	Logins        int // POST /auth/login
	Refreshes     int // POST /auth/refresh
	CodeReused    int // logins answered invalid_code 40163
	ExpiredAnswer int // 401 token_expired answers
}

// Stack serves wx.login and the bearer backend on one httptest server.
type Stack struct {
	*httptest.Server
	opts Options

	mu        sync.Mutex
	stats     Stats
	seq       int
	codes     map[string]*code
	access    map[string]*access
	refresh   map[string]*refreshTok
	revoked   map[string]bool // families
	attempts  map[string][]Attempt
	effects   map[string]int
	failRefr  int
	failLogin []int // errcodes of the next logins to reject
	hold      *barrier
	refrGate  chan struct{}
	ridGates  map[string]chan struct{}
	done      chan struct{} // closed by Close: releases every gate
	closeOnce sync.Once
}

type code struct {
	user string
	used bool
}

type access struct {
	user    string
	expiry  time.Time
	expired bool
}

type refreshTok struct {
	user, family string
	expiry       time.Time
	rotated      bool
}

// New starts a stack and closes it when the test ends.
func New(t testing.TB, opts Options) *Stack {
	s := Start(opts)
	t.Cleanup(s.Close)
	return s
}

// Start starts a stack; the caller closes it.
func Start(opts Options) *Stack {
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.AccessTTL <= 0 {
		opts.AccessTTL = time.Hour
	}
	if opts.RefreshTTL <= 0 {
		opts.RefreshTTL = 720 * time.Hour
	}
	s := &Stack{
		opts: opts, codes: map[string]*code{}, access: map[string]*access{}, refresh: map[string]*refreshTok{},
		revoked: map[string]bool{}, attempts: map[string][]Attempt{}, effects: map[string]int{}, ridGates: map[string]chan struct{}{},
		done: make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /__mock/wx/login", s.wxLogin)
	mux.HandleFunc("POST /auth/login", s.login)
	mux.HandleFunc("POST /auth/refresh", s.refreshRoute)
	mux.HandleFunc("/api/", s.api)
	s.Server = httptest.NewServer(mux)
	return s
}

// Close releases every gate and hold, then stops the server (which waits for
// the handlers under way).
func (s *Stack) Close() {
	s.closeOnce.Do(func() { close(s.done) })
	s.Server.Close()
}

// Env is a client.Env pointing at the stack.
func (s *Stack) Env() client.Env {
	return client.Env{BackendURL: s.URL, WechatURL: s.URL, AppID: AppID, Clock: s.opts.Clock, HTTP: s.Client()}
}

// ExpireAll expires every access token issued so far (the storm trigger).
func (s *Stack) ExpireAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.access {
		a.expired = true
	}
}

// RevokeAll kills every refresh token issued so far (and the access tokens
// stay as they are): the next refresh gets 401 invalid_grant.
func (s *Stack) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.refresh {
		s.revoked[r.family] = true
	}
}

// FailRefresh makes the next n refreshes answer 503 upstream_unavailable
// (wechat_errcode -1) with Retry-After: 1.
func (s *Stack) FailRefresh(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failRefr = n
}

// FailLogin makes the next logins answer 400 invalid_code with these errcodes.
func (s *Stack) FailLogin(errcodes ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failLogin = append(s.failLogin, errcodes...)
}

// HoldExpired holds the next n token_expired answers until all n requests
// have arrived (at most 5s), so n requests are surely in flight with the old
// token when the first of them learns it expired.
func (s *Stack) HoldExpired(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hold = &barrier{n: n, open: make(chan struct{})}
}

// GateRefresh blocks every refresh until release is called.
func (s *Stack) GateRefresh() (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.refrGate = ch
	s.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// GateRID holds the answer to request rid (after its token was checked)
// until release is called: a late 401 in the making.
func (s *Stack) GateRID(rid string) (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.ridGates[rid] = ch
	s.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// Stats returns the counters.
func (s *Stack) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Attempts returns the protected calls of request rid, in arrival order.
func (s *Stack) Attempts(rid string) []Attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Attempt(nil), s.attempts[rid]...)
}

// Effects returns how often the side effect of request rid was executed.
func (s *Stack) Effects(rid string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.effects[rid]
}

// Access reports which user an access token was issued to.
func (s *Stack) Access(token string) (user string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.access[token]
	if !ok {
		return "", false
	}
	return a.user, true
}

func (s *Stack) wxLogin(w http.ResponseWriter, r *http.Request) {
	var in struct{ AppID, User string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.User == "" {
		writeJSON(w, 400, map[string]any{"errcode": 41008, "errmsg": "missing user"})
		return
	}
	if in.AppID != AppID {
		writeJSON(w, 200, map[string]any{"errcode": 40013, "errmsg": "invalid appid"})
		return
	}
	s.mu.Lock()
	s.seq++
	c := fmt.Sprintf("code-%s-%d", in.User, s.seq)
	s.codes[c] = &code{user: in.User}
	s.stats.WxLogins++
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"code": c, "expires_in": 300})
}

func (s *Stack) login(w http.ResponseWriter, r *http.Request) {
	var in struct{ Code string }
	_ = json.NewDecoder(r.Body).Decode(&in)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Logins++
	if len(s.failLogin) > 0 {
		ec := s.failLogin[0]
		s.failLogin = s.failLogin[1:]
		writeJSON(w, 400, map[string]any{"error": "invalid_code", "wechat_errcode": ec})
		return
	}
	c := s.codes[in.Code]
	switch {
	case c == nil:
		writeJSON(w, 400, map[string]any{"error": "invalid_code", "wechat_errcode": 40029})
	case c.used:
		s.stats.CodeReused++
		writeJSON(w, 400, map[string]any{"error": "invalid_code", "wechat_errcode": 40163})
	default:
		c.used = true
		s.seq++
		s.issueLocked(w, c.user, fmt.Sprintf("fam-%d", s.seq))
	}
}

func (s *Stack) refreshRoute(w http.ResponseWriter, r *http.Request) {
	var in struct {
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.NewDecoder(r.Body).Decode(&in)
	s.mu.Lock()
	s.stats.Refreshes++
	gate := s.refrGate
	s.mu.Unlock()
	s.wait(gate)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failRefr > 0 {
		s.failRefr--
		w.Header().Set("Retry-After", "1")
		writeJSON(w, 503, map[string]any{"error": "upstream_unavailable", "wechat_errcode": -1})
		return
	}
	rt := s.refresh[in.RefreshToken]
	switch {
	case rt == nil || s.revoked[rt.family] || !s.opts.Clock.Now().Before(rt.expiry):
		writeJSON(w, 401, map[string]any{"error": "invalid_grant"})
	case rt.rotated:
		s.revoked[rt.family] = true // strict reuse detection: the family is gone
		writeJSON(w, 401, map[string]any{"error": "invalid_grant"})
	default:
		rt.rotated = true
		s.issueLocked(w, rt.user, rt.family)
	}
}

func (s *Stack) issueLocked(w http.ResponseWriter, user, family string) {
	s.seq++
	now := s.opts.Clock.Now()
	at := fmt.Sprintf("at-%s-%d", user, s.seq)
	rt := fmt.Sprintf("rt-%s-%d", user, s.seq)
	s.access[at] = &access{user: user, expiry: now.Add(s.opts.AccessTTL)}
	s.refresh[rt] = &refreshTok{user: user, family: family, expiry: now.Add(s.opts.RefreshTTL)}
	writeJSON(w, 200, map[string]any{
		"access_token": at, "refresh_token": rt, "token_type": "Bearer",
		"expires_in": int(s.opts.AccessTTL / time.Second), "refresh_expires_in": int(s.opts.RefreshTTL / time.Second),
	})
}

func (s *Stack) api(w http.ResponseWriter, r *http.Request) {
	rid := r.URL.Query().Get("rid")
	if rid == "" {
		rid = r.Header.Get("X-Request-ID")
	}
	body, _ := io.ReadAll(r.Body)
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	w.Header().Set("X-Request-ID", rid)

	s.mu.Lock()
	a := s.access[token]
	status := 200
	var answer any
	var hold *barrier
	switch {
	case a == nil:
		status, answer = 401, map[string]any{"error": "invalid_token"}
	case a.expired || !s.opts.Clock.Now().Before(a.expiry):
		status, answer = 401, map[string]any{"error": "token_expired"}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="the access token expired"`)
		s.stats.ExpiredAnswer++
		hold = s.hold
	case r.URL.Path == "/api/reauth":
		status, answer = 401, map[string]any{"error": "password_required"}
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		answer = map[string]any{"rid": rid, "path": r.URL.Path, "user": a.user}
	default:
		s.effects[rid]++
		answer = map[string]any{"rid": rid, "ok": true, "effect": s.effects[rid]}
	}
	s.attempts[rid] = append(s.attempts[rid], Attempt{Method: r.Method, Path: r.URL.Path, Token: token, Body: string(body), Status: status})
	gate := s.ridGates[rid]
	s.mu.Unlock()

	if hold != nil {
		hold.arrive(s.done)
	}
	s.wait(gate)
	writeJSON(w, status, answer)
}

// barrier releases everyone once n have arrived (or after 5s, so a broken
// client cannot hang the test).
type barrier struct {
	mu      sync.Mutex
	n, seen int
	open    chan struct{}
}

func (b *barrier) arrive(done <-chan struct{}) {
	b.mu.Lock()
	b.seen++
	if b.seen == b.n {
		close(b.open)
	}
	b.mu.Unlock()
	select {
	case <-b.open:
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

// wait blocks on gate (nil = no gate) until it is released or the stack closes.
func (s *Stack) wait(gate chan struct{}) {
	if gate == nil {
		return
	}
	select {
	case <-gate:
	case <-s.done:
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
