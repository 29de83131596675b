package mockwechat

import (
	"encoding/json"
	"net/http"
	"time"
)

const (
	tokenTTL      = 7200 * time.Second
	tokenOverlap  = 5 * time.Minute  // old token's life after a new one is issued
	forceInterval = 30 * time.Second // stable_token force_refresh spacing
	forcePerDay   = 20               // stable_token force_refresh daily limit
	tokenRetain   = 24 * time.Hour   // how long dead tokens are remembered (42001 vs 40001)
)

// tokenStore holds the access tokens of both kinds. cgi-bin/token and
// stable_token tokens are "completely isolated" on WeChat (separate current
// token per app) but both are valid credentials for other APIs.
type tokenStore struct {
	all        map[string]*accessToken
	plain      map[string]*accessToken // appid → latest cgi-bin/token
	stable     map[string]*stableState // appid → stable_token state
	lastPruned time.Time
}

type accessToken struct {
	appid      string
	expires    time.Time // valid up to and including this instant
	superseded bool      // replaced by a newer token: after expiry it is "not latest" (40001)
}

func (t *accessToken) alive(now time.Time) bool { return !now.After(t.expires) }

type stableState struct {
	cur        *accessToken
	value      string
	lastForce  time.Time
	forceDay   int64
	forceCount int
}

func (ts *tokenStore) init() {
	ts.all = map[string]*accessToken{}
	ts.plain = map[string]*accessToken{}
	ts.stable = map[string]*stableState{}
}

// pruneLocked forgets tokens dead for a day, at most once a minute: tokens are
// few (one per call of a rate-limited API), so a scan is cheap.
func (ts *tokenStore) pruneLocked(now time.Time) {
	if now.Sub(ts.lastPruned) < time.Minute {
		return
	}
	ts.lastPruned = now
	for v, t := range ts.all {
		if now.Sub(t.expires) > tokenRetain {
			delete(ts.all, v)
		}
	}
}

// issuePlain is cgi-bin/token: every call issues a new token; the previous one
// keeps working for five more minutes (WeChat's documented overlap).
func (s *Server) issuePlain(appid string) (string, time.Duration) {
	now := s.clock.Now()
	value := newAccessToken()
	s.ledger.NoteSecret(value)
	st := &s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	ts := &st.tokens
	ts.pruneLocked(now)
	if old := ts.plain[appid]; old != nil {
		if end := now.Add(tokenOverlap); end.Before(old.expires) {
			old.expires = end
		}
		old.superseded = true
	}
	t := &accessToken{appid: appid, expires: now.Add(tokenTTL)}
	ts.all[value] = t
	ts.plain[appid] = t
	return value, tokenTTL
}

// issueStable is stable_token. Normal mode returns the current token while it
// has more than five minutes left (with the remaining expires_in), and a new
// one in its last five minutes (the old one lives on until it expires: the
// overlap). force_refresh invalidates the current token at once and issues a
// new one, except within 30s of the previous forced refresh (WeChat then
// "does not refresh") and beyond 20 per day (45009).
func (s *Server) issueStable(appid string, force bool) (value string, ttl time.Duration, errcode int) {
	now := s.clock.Now()
	st := &s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	ts := &st.tokens
	ts.pruneLocked(now)
	ss := ts.stable[appid]
	if ss == nil {
		ss = &stableState{}
		ts.stable[appid] = ss
	}
	live := ss.cur != nil && ss.cur.alive(now)
	if force && live && now.Sub(ss.lastForce) < forceInterval {
		force = false // too soon: answer the current token
	}
	if force {
		day := now.Unix() / 86400
		if ss.forceDay != day {
			ss.forceDay, ss.forceCount = day, 0
		}
		if ss.forceCount >= forcePerDay {
			return "", 0, ErrcodeDailyQuota
		}
		ss.forceCount++
		ss.lastForce = now
		if live {
			delete(ts.all, ss.value) // invalidated at once
		}
	} else if live && ss.cur.expires.Sub(now) > tokenOverlap {
		return ss.value, ss.cur.expires.Sub(now), 0
	} else if live {
		ss.cur.superseded = true // new token below; this one runs out its last minutes
	}
	value = newAccessToken()
	s.ledger.NoteSecret(value)
	t := &accessToken{appid: appid, expires: now.Add(tokenTTL)}
	ts.all[value] = t
	ss.cur, ss.value = t, value
	return value, tokenTTL, 0
}

// tokenApp validates an access_token: the app it belongs to, or 40001 (unknown,
// superseded) or 42001 (expired).
func (s *Server) tokenApp(value string) (appid string, errcode int) {
	now := s.clock.Now()
	st := &s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	t := st.tokens.all[value]
	switch {
	case t == nil:
		return "", ErrcodeInvalidCredential
	case !t.alive(now) && t.superseded:
		return "", ErrcodeInvalidCredential
	case !t.alive(now):
		return "", ErrcodeAccessTokenExpired
	}
	return t.appid, 0
}

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// handleToken is GET /cgi-bin/token?grant_type=client_credential&appid=&secret=.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	c := s.newCall(w, r, APIToken, ctJSON)
	defer c.finish()
	p, ok := c.readParams()
	if !ok {
		return
	}
	if s.applyFault(c) {
		return
	}
	appid := p.get("appid")
	if errcode := s.checkApp(r.Method, appid, p.get("secret"), p.get("grant_type"), "client_credential"); errcode != 0 {
		c.answerWechat(errcode)
		return
	}
	value, ttl := s.issuePlain(appid)
	b, _ := json.Marshal(tokenAnswer{value, int(ttl / time.Second)})
	c.answerOK(b)
}

type stableRequest struct {
	GrantType    string `json:"grant_type"`
	AppID        string `json:"appid"`
	Secret       string `json:"secret"`
	ForceRefresh bool   `json:"force_refresh"`
}

// handleStableToken is POST /cgi-bin/stable_token with a JSON body. WeChat
// accepts only POST JSON: GET → 43002, a body that is not the JSON object →
// 47001 (unknown keys are ignored, as WeChat does). Then the same order as
// cgi-bin/token: 41002, 41004, 40002, 40013, 40125.
func (s *Server) handleStableToken(w http.ResponseWriter, r *http.Request) {
	c := s.newCall(w, r, APIStableToken, ctJSON)
	defer c.finish()
	if s.applyFault(c) {
		return
	}
	if r.Method != http.MethodPost {
		c.answerWechat(ErrcodeRequirePOST)
		return
	}
	body, err := readBody(r)
	if err != nil && isTooLarge(err) {
		c.tooLarge()
		return
	}
	var req stableRequest
	if err != nil || json.Unmarshal(body, &req) != nil {
		c.answerWechat(ErrcodeDataFormat)
		return
	}
	if errcode := s.checkApp(r.Method, req.AppID, req.Secret, req.GrantType, "client_credential"); errcode != 0 {
		c.answerWechat(errcode)
		return
	}
	value, ttl, errcode := s.issueStable(req.AppID, req.ForceRefresh)
	if errcode != 0 {
		c.answerWechat(errcode)
		return
	}
	// expires_in counts whole seconds left, at least 1 while the token lives.
	secs := int((ttl + time.Second - 1) / time.Second)
	b, _ := json.Marshal(tokenAnswer{value, secs})
	c.answerOK(b)
}
