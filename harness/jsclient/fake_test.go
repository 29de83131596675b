package jsclient_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// fakeStack is a small stand-in for mockwechat + the reference backend
// (bearer style, SPEC §4): enough to drive wrappers across an expiry and
// count what they did. Refresh tokens rotate with strict reuse detection.
type fakeStack struct {
	mu           sync.Mutex
	refreshDelay time.Duration

	n       int
	codes   map[string]*fakeCode  // code → user
	access  map[string]*fakeToken // access token → ...
	refresh map[string]*fakeToken // refresh token → ...
	revoked map[string]bool       // family
	cutoff  int                   // access tokens with serial <= cutoff are expired

	wxLogins    map[string]int // per user
	logins      map[string]int
	refreshes   map[string]int
	verifies    map[string]int
	verifyCalls int
	attempts    map[string][]string // rid → access tokens it carried, in order
	bodies      map[string][]string // rid → bodies it carried
	effects     map[string]int      // rid → side effects executed
}

type fakeCode struct {
	user string
	used bool
}

type fakeToken struct {
	user, family string
	serial       int
	used         bool
}

func newFakeStack() *fakeStack {
	return &fakeStack{codes: map[string]*fakeCode{}, access: map[string]*fakeToken{}, refresh: map[string]*fakeToken{},
		revoked: map[string]bool{}, wxLogins: map[string]int{}, logins: map[string]int{}, refreshes: map[string]int{},
		verifies: map[string]int{}, attempts: map[string][]string{}, bodies: map[string][]string{}, effects: map[string]int{}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeStack) expireAll() {
	f.mu.Lock()
	f.cutoff = f.n
	f.mu.Unlock()
}

// issue makes a token pair; f.mu held.
func (f *fakeStack) issue(user, family string) map[string]any {
	f.n++
	at := fmt.Sprintf("at-%s-%d", user, f.n)
	rt := fmt.Sprintf("rt-%s-%d", user, f.n)
	f.access[at] = &fakeToken{user: user, family: family, serial: f.n}
	f.refresh[rt] = &fakeToken{user: user, family: family, serial: f.n}
	return map[string]any{"access_token": at, "refresh_token": rt, "token_type": "Bearer", "expires_in": 7200, "refresh_expires_in": 2592000}
}

// check validates a bearer token; f.mu held. It returns the user or writes the 401.
func (f *fakeStack) check(w http.ResponseWriter, r *http.Request) (string, string, bool) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	t := f.access[tok]
	switch {
	case t == nil || f.revoked[t.family]:
		writeJSON(w, 401, map[string]string{"error": "invalid_token"})
		return "", tok, false
	case t.serial <= f.cutoff:
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="the access token expired"`)
		writeJSON(w, 401, map[string]string{"error": "token_expired"})
		return "", tok, false
	}
	return t.user, tok, true
}

func (f *fakeStack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var raw []byte
	if r.Body != nil {
		raw, _ = io.ReadAll(r.Body)
	}
	var in map[string]string
	_ = json.Unmarshal(raw, &in)
	switch p := r.URL.Path; {
	case p == "/__mock/wx/login":
		f.mu.Lock()
		f.n++
		code := fmt.Sprintf("code-%d", f.n)
		f.codes[code] = &fakeCode{user: in["user"]}
		f.wxLogins[in["user"]]++
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{"code": code, "expires_in": 300})
	case p == "/auth/login":
		f.mu.Lock()
		defer f.mu.Unlock()
		c := f.codes[in["code"]]
		if c == nil || c.used {
			writeJSON(w, 400, map[string]any{"error": "invalid_code", "wechat_errcode": 40163})
			return
		}
		c.used = true
		f.logins[c.user]++
		f.n++
		writeJSON(w, 200, f.issue(c.user, fmt.Sprintf("fam-%d", f.n)))
	case p == "/auth/refresh":
		if f.refreshDelay > 0 {
			time.Sleep(f.refreshDelay)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		t := f.refresh[in["refresh_token"]]
		if t != nil {
			f.refreshes[t.user]++
		}
		switch {
		case t == nil || f.revoked[t.family]:
			writeJSON(w, 401, map[string]string{"error": "invalid_grant"})
		case t.used:
			f.revoked[t.family] = true // strict reuse detection
			writeJSON(w, 401, map[string]string{"error": "invalid_grant"})
		default:
			t.used = true
			writeJSON(w, 200, f.issue(t.user, t.family))
		}
	case p == "/auth/verify":
		f.mu.Lock()
		defer f.mu.Unlock()
		f.verifyCalls++
		user, _, ok := f.check(w, r)
		if ok {
			f.verifies[user]++
			writeJSON(w, 200, map[string]any{"valid": true, "expires_in": 7200})
		}
	case strings.HasPrefix(p, "/api/"):
		f.mu.Lock()
		defer f.mu.Unlock()
		rid := r.URL.Query().Get("rid")
		if rid == "" {
			rid = r.Header.Get("X-Request-ID")
		}
		f.attempts[rid] = append(f.attempts[rid], strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		f.bodies[rid] = append(f.bodies[rid], string(raw))
		user, _, ok := f.check(w, r)
		if !ok {
			return
		}
		w.Header().Set("X-Request-ID", rid)
		if p == "/api/reauth" {
			writeJSON(w, 401, map[string]string{"error": "password_required"})
			return
		}
		if r.Method == http.MethodGet {
			writeJSON(w, 200, map[string]any{"rid": rid, "path": p, "user": user, "items": []int{1, 2, 3}})
			return
		}
		f.effects[rid]++
		writeJSON(w, 200, map[string]any{"rid": rid, "ok": true, "effect": f.effects[rid]})
	default:
		http.NotFound(w, r)
	}
}

// counts returns per-user copies of a counter.
func (f *fakeStack) counts(m map[string]int) map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (f *fakeStack) attemptsOf(rid string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.attempts[rid]...)
}

func (f *fakeStack) bodiesOf(rid string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.bodies[rid]...)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
