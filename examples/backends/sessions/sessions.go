// Package sessions is an example backend under test for tokenstorm: a small
// "session" API for a WeChat mini-program that is deliberately unlike the
// reference backend. It has its own routes (/v1/session, /v1/session/renew,
// /v1/items/…), its own member names (wx_code, sid, renew_key, ttl), opaque
// random tokens instead of JWTs, the session id raw in an X-Session header,
// and its own signals (HTTP 440 for an expired session, 401 bad_session for
// an unknown one, {"result": …} in every body). The style file next to the
// good/ program (examples/backends/good/style.yaml) describes all of that to
// tokenstorm, so the harness can drive and judge it without any code.
//
// It calls WeChat's jscode2session over HTTP, so for a test it is started
// with mock WeChat's base URL (tokenstorm's --wechat-addr).
//
// good/ runs it as written; broken/ switches on SwallowBadSessions, the
// "swallowed expiry" failure of tokenstorm's SPEC §1, which tokenstorm must
// catch as an expiry-signalled violation.
package sessions

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config configures a Server.
type Config struct {
	WechatURL  string        // base URL of (mock) WeChat, e.g. http://127.0.0.1:9400
	AppID      string        // the mini-program's appid
	Secret     string        // its app secret
	SessionTTL time.Duration // how long a sid works
	RenewTTL   time.Duration // how long a renew_key works
	// SwallowBadSessions is the deliberate bug of the broken/ example: an
	// expired or unknown session gets an empty success (HTTP 200, no items)
	// instead of 440/401, so a client never learns it must renew.
	SwallowBadSessions bool
	// Reuse is the renew_key policy: "" or "strict" (single use; a reuse
	// revokes the family), "never-rotates" (renewing hands back the same
	// renew_key, which keeps working), "grace:D" (a used renew_key still
	// renews for D after its first use), "reuse:N" (a used renew_key
	// renews N more times, at any time: Keycloak's "Refresh Token Max
	// Reuse"). Beyond the window or the count, a reuse revokes the family.
	Reuse string
	// LoginBug is a deliberate login defect for tokenstorm's backend-login
	// check to catch: "reused-code-ok" logs a reused or unknown wx.login
	// code in anyway (WeChat 40163/40029 answered with a session),
	// "wechat-500" answers WeChat busy, rate limited or unreachable with a
	// bare HTTP 500 instead of 503 wechat_down. "" = none.
	LoginBug string
	// OmitTTL leaves "ttl" out of login and renew answers (a backend that
	// does not say how long a session lives).
	OmitTTL bool
}

// Server is the session API. It is an http.Handler.
type Server struct {
	cfg Config
	hc  *http.Client
	mux *http.ServeMux

	mu       sync.Mutex
	sessions map[string]session // sid -> session
	renewals map[string]renewal // renew_key -> renewal
	revoked  map[string]bool    // family -> revoked (a renew_key was used twice)
	created  int
}

type session struct {
	openid, family string
	expires        time.Time
}

type renewal struct {
	openid, family string
	expires        time.Time
	used           bool
	usedAt         time.Time
	reuses         int // renewals after the first use (reuse:N)
}

// New returns a Server.
func New(cfg Config) *Server {
	s := &Server{
		cfg:      cfg,
		hc:       &http.Client{Timeout: 5 * time.Second},
		mux:      http.NewServeMux(),
		sessions: map[string]session{},
		renewals: map[string]renewal{},
		revoked:  map[string]bool{},
	}
	s.mux.HandleFunc("POST /v1/session", s.login)
	s.mux.HandleFunc("POST /v1/session/renew", s.renew)
	s.mux.HandleFunc("/v1/items/", s.items)
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// reply writes {"result": result, …more}.
func reply(w http.ResponseWriter, status int, result string, more map[string]any) {
	body := map[string]any{"result": result}
	for k, v := range more {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// login: POST /v1/session {"wx_code": "…"}.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		WxCode string `json:"wx_code"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil || in.WxCode == "" {
		reply(w, http.StatusBadRequest, "bad_request", map[string]any{"message": "wx_code is required"})
		return
	}
	openid, errcode, err := s.jscode2session(r.Context(), in.WxCode)
	switch {
	case s.cfg.LoginBug == "reused-code-ok" && err == nil && (errcode == 40163 || errcode == 40029):
		openid, errcode = "bug-"+in.WxCode, 0 // the bug: the code is taken as good
	case s.cfg.LoginBug == "wechat-500" && (err != nil || errcode == -1 || errcode == 45011):
		http.Error(w, "internal error", http.StatusInternalServerError) // the bug: WeChat's trouble is a 500
		return
	}
	switch {
	case err != nil:
		reply(w, http.StatusServiceUnavailable, "wechat_down", map[string]any{"message": err.Error()})
		return
	case errcode == 40029 || errcode == 40163 || errcode == 40226 || errcode == 41008:
		reply(w, http.StatusBadRequest, "bad_wx_code", map[string]any{"wx_errcode": errcode})
		return
	case errcode == 40013 || errcode == 40125 || errcode == 41002 || errcode == 41004:
		reply(w, http.StatusBadGateway, "wechat_config", map[string]any{"wx_errcode": errcode})
		return
	case errcode != 0:
		w.Header().Set("Retry-After", "1")
		reply(w, http.StatusServiceUnavailable, "wechat_down", map[string]any{"wx_errcode": errcode})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issueLocked(w, openid, random(), "")
}

// renew: POST /v1/session/renew {"renew_key": "…"}. Each renew_key works
// once; presenting a used one again revokes the whole family.
func (s *Server) renew(w http.ResponseWriter, r *http.Request) {
	var in struct {
		RenewKey string `json:"renew_key"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil || in.RenewKey == "" {
		reply(w, http.StatusBadRequest, "bad_request", map[string]any{"message": "renew_key is required"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rn, ok := s.renewals[in.RenewKey]
	now := time.Now()
	window, count, _ := ParseReuse(s.cfg.Reuse)
	switch {
	case !ok || s.revoked[rn.family] || now.After(rn.expires):
		reply(w, http.StatusUnauthorized, "renew_rejected", nil)
		return
	case s.cfg.Reuse == "never-rotates":
		s.issueLocked(w, rn.openid, rn.family, in.RenewKey)
		return
	case rn.used && window > 0 && now.Sub(rn.usedAt) <= window:
		// inside the grace window: renew again, no revocation
	case rn.used && rn.reuses < count:
		rn.reuses++ // within the reuse count
		s.renewals[in.RenewKey] = rn
	case rn.used:
		s.revoked[rn.family] = true
		reply(w, http.StatusUnauthorized, "renew_rejected", map[string]any{"message": "renew_key reused: session family revoked"})
		return
	default:
		rn.used, rn.usedAt = true, now
		s.renewals[in.RenewKey] = rn
	}
	s.issueLocked(w, rn.openid, rn.family, "")
}

// ParseReuse reads Config.Reuse: the grace window of "grace:D", the count
// of "reuse:N" (both 0 for "strict" and "never-rotates").
func ParseReuse(policy string) (window time.Duration, count int, err error) {
	switch {
	case policy == "" || policy == "strict" || policy == "never-rotates":
		return 0, 0, nil
	case strings.HasPrefix(policy, "grace:"):
		window, err = time.ParseDuration(strings.TrimPrefix(policy, "grace:"))
		if err == nil && window > 0 {
			return window, 0, nil
		}
	case strings.HasPrefix(policy, "reuse:"):
		count, err = strconv.Atoi(strings.TrimPrefix(policy, "reuse:"))
		if err == nil && count > 0 {
			return 0, count, nil
		}
	}
	return 0, 0, fmt.Errorf("renew_key policy %q: want strict, never-rotates, grace:D (D > 0, e.g. grace:30s) or reuse:N (N > 0)", policy)
}

// issueLocked hands out a new session, and a new renew_key unless key
// (the presented one, under never-rotates) is given.
func (s *Server) issueLocked(w http.ResponseWriter, openid, family, key string) {
	sid := random()
	now := time.Now()
	s.sessions[sid] = session{openid: openid, family: family, expires: now.Add(s.cfg.SessionTTL)}
	if key == "" {
		key = random()
		s.renewals[key] = renewal{openid: openid, family: family, expires: now.Add(s.cfg.RenewTTL)}
	}
	out := map[string]any{"sid": sid, "renew_key": key, "ttl": int(s.cfg.SessionTTL / time.Second), "renew_ttl": int(s.cfg.RenewTTL / time.Second)}
	if s.cfg.OmitTTL {
		delete(out, "ttl")
	}
	reply(w, http.StatusOK, "ok", out)
}

// items: /v1/items/… with X-Session: <sid>.
func (s *Server) items(w http.ResponseWriter, r *http.Request) {
	sid := strings.TrimSpace(r.Header.Get("X-Session"))
	s.mu.Lock()
	sess, ok := s.sessions[sid]
	valid := ok && !s.revoked[sess.family]
	expired := valid && !time.Now().Before(sess.expires)
	if valid && !expired && r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.created++
	}
	created := s.created
	s.mu.Unlock()

	switch {
	case (!valid || expired) && s.cfg.SwallowBadSessions:
		reply(w, http.StatusOK, "ok", map[string]any{"items": []any{}}) // the bug: "no orders"
	case !valid:
		reply(w, http.StatusUnauthorized, "bad_session", nil)
	case expired:
		reply(w, 440, "session_expired", nil) // 440 Login Time-out
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		name := strings.TrimPrefix(r.URL.Path, "/v1/items/")
		reply(w, http.StatusOK, "ok", map[string]any{"items": []map[string]any{{"id": 1, "name": name + " 1"}, {"id": 2, "name": name + " 2"}}})
	default:
		reply(w, http.StatusOK, "ok", map[string]any{"created": created})
	}
}

// jscode2session exchanges a wx.login code for the user's openid.
func (s *Server) jscode2session(ctx context.Context, code string) (string, int, error) {
	q := url.Values{"appid": {s.cfg.AppID}, "secret": {s.cfg.Secret}, "js_code": {code}, "grant_type": {"authorization_code"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(s.cfg.WechatURL, "/")+"/sns/jscode2session?"+q.Encode(), nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("calling WeChat: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		OpenID  string `json:"openid"`
		Errcode int    `json:"errcode"`
	}
	// WeChat answers JSON as text/plain; decode it whatever the content type.
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&out); err != nil {
		return "", 0, fmt.Errorf("WeChat answered HTTP %d with an unreadable body", resp.StatusCode)
	}
	if out.Errcode == 0 && out.OpenID == "" {
		return "", 0, fmt.Errorf("WeChat answered without an openid")
	}
	return out.OpenID, out.Errcode, nil
}

func random() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
