package mockwechat

import (
	"slices"
	"sync"
	"time"
)

// state is everything WeChat remembers between calls. One mutex guards it: the
// critical sections are map operations, far shorter than an HTTP round trip.
type state struct {
	mu       sync.Mutex
	codes    map[string]*codeEntry
	queue    []*codeEntry          // codes in mint order, for sweeping
	head     int                   // queue[:head] already swept
	sessions map[string]*session   // by openid: the user's current session_key
	byUser   map[quotaKey]*session // the same sessions by (appid, user)
	quotas   map[quotaKey]quotaWindow
	quotaMin int64 // the minute quotas were last swept in
	blocked  map[string]bool
	tokens   tokenStore
}

// codeEntry is one wx.login code. Used codes stay until they expire so that a
// second exchange is answered 40163 (not 40029), as WeChat does.
type codeEntry struct {
	code       string
	appid      string
	user       string
	openid     string
	sessionKey string
	minted     time.Time
	used       bool
}

// session is a user's login state in one app. session_key rotates with every
// wx.login: WeChat documents that a new login may replace the key, and the mock
// always does, so that stale keys are visible to checksession.
type session struct {
	appid  string
	user   string
	openid string
	key    string
}

func (st *state) init() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.codes = map[string]*codeEntry{}
	st.queue = nil
	st.head = 0
	if st.sessions == nil {
		st.sessions = map[string]*session{}
		st.byUser = map[quotaKey]*session{}
	}
	st.quotas = map[quotaKey]quotaWindow{}
	st.tokens.init()
}

// reset forgets codes and quotas (sessions and tokens survive, see Server.Reset).
func (st *state) reset() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.codes = map[string]*codeEntry{}
	st.queue = nil
	st.head = 0
	st.quotas = map[quotaKey]quotaWindow{}
}

func (st *state) setBlocked(users []string) {
	m := make(map[string]bool, len(users))
	for _, u := range users {
		m[u] = true
	}
	st.mu.Lock()
	st.blocked = m
	st.mu.Unlock()
}

func (st *state) blockedList() []string {
	st.mu.Lock()
	out := make([]string, 0, len(st.blocked))
	for u := range st.blocked {
		out = append(out, u)
	}
	st.mu.Unlock()
	slices.Sort(out)
	return out
}

func (st *state) liveCodes() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.codes)
}

// mint creates a code for user in appid and rotates the user's session_key.
func (s *Server) mint(appid, user string) (code, openid string) {
	key := newSessionKey()
	s.ledger.NoteSecret(key) // the admin ledger hides secrets wherever a client printed them
	now := s.clock.Now()

	st := &s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	s.sweepLocked(now)
	sess := st.byUser[quotaKey{appid, user}]
	if sess == nil {
		// First login of this user: hash the openid once (under the lock, but
		// only once per user; later logins skip the HMAC entirely).
		sess = &session{appid: appid, user: user, openid: OpenID(appid, user)}
		st.byUser[quotaKey{appid, user}] = sess
		st.sessions[sess.openid] = sess
	}
	sess.key = key
	for {
		code = newCode()
		if _, dup := st.codes[code]; !dup {
			break
		}
	}
	e := &codeEntry{code: code, appid: appid, user: user, openid: sess.openid, sessionKey: key, minted: now}
	st.codes[code] = e
	st.queue = append(st.queue, e)
	s.ledger.NoteSecret(code)
	return code, sess.openid
}

// codeOwner tells who a code belongs to without touching it: fault rules with
// a users filter and the ledger need to know. openid is set only when the code
// belongs to appid.
func (s *Server) codeOwner(code, appid string) (user, openid string) {
	if code == "" {
		return "", ""
	}
	st := &s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	e := st.codes[code]
	if e == nil {
		return "", ""
	}
	if e.appid == appid {
		return e.user, e.openid
	}
	return e.user, ""
}

// exchangeResult is what jscode2session learns from the code store.
type exchangeResult struct {
	errcode    int
	sessionKey string
}

// exchange consumes code for app. The order of checks is the documented error
// precedence for the code itself (docs/mockwechat.md):
//
//	unknown, other app's or expired code → 40029
//	user blocked                          → 40226 (code not consumed)
//	minute quota exceeded                 → 45011 (code not consumed)
//	code already used                     → 40163
func (s *Server) exchange(appid, code string) exchangeResult {
	now := s.clock.Now()
	st := &s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	s.sweepLocked(now)
	e := st.codes[code]
	switch {
	case e == nil || e.appid != appid || s.expired(e, now):
		return exchangeResult{errcode: ErrcodeInvalidCode}
	case st.blocked[e.user]:
		return exchangeResult{errcode: ErrcodeCodeBlocked}
	case !s.takeQuotaLocked(appid, e.user, now):
		return exchangeResult{errcode: ErrcodeMinuteQuota}
	case e.used:
		return exchangeResult{errcode: ErrcodeCodeUsed}
	}
	e.used = true
	return exchangeResult{sessionKey: e.sessionKey}
}

// expired: a code is valid for CodeTTL after minting, inclusive.
func (s *Server) expired(e *codeEntry, now time.Time) bool {
	return now.Sub(e.minted) > s.codeTTL
}

// sweepLocked drops expired codes from the front of the mint-order queue, so a
// storm of millions of logins keeps only the last CodeTTL's worth in memory.
// Amortised O(1) per call. (If the clock is set backwards the queue is briefly
// out of order; codes behind a younger head are dropped a little later.)
func (s *Server) sweepLocked(now time.Time) {
	st := &s.state
	for st.head < len(st.queue) && s.expired(st.queue[st.head], now) {
		e := st.queue[st.head]
		if st.codes[e.code] == e {
			delete(st.codes, e.code)
		}
		st.queue[st.head] = nil
		st.head++
	}
	// Compact once the swept prefix dominates, so the backing array is reused.
	if st.head > 1024 && st.head*2 > len(st.queue) {
		n := copy(st.queue, st.queue[st.head:])
		clear(st.queue[n:])
		st.queue = st.queue[:n]
		st.head = 0
	}
	s.sweepQuotasLocked(now)
}

// UserOfCode is the user a live wx.login code was minted for, "" when the
// code is unknown (never minted, exchanged or expired). It does not touch
// the code.
func (s *Server) UserOfCode(code string) string {
	if s == nil {
		return ""
	}
	user, _ := s.codeOwner(code, "")
	return user
}

// UserOf is the user openid belongs to, "" when no user of any app has it
// (a user that never logged in, or one forgotten by Reset).
func (s *Server) UserOf(openid string) string {
	if s == nil {
		return ""
	}
	sess, _ := s.session(openid)
	return sess.user
}

// session returns the current session of openid, if any.
func (s *Server) session(openid string) (session, bool) {
	st := &s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	sess := st.sessions[openid]
	if sess == nil {
		return session{}, false
	}
	return *sess, true
}
