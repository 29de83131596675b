package mockwechat

import (
	"maps"
	"sync"
)

// Stats is GET /__admin/stats: what the mock was asked since the last reset.
type Stats struct {
	// Calls counts requests per API (jscode2session, cgi-bin/token,
	// stable_token, checksession, wx.login).
	Calls map[string]int64 `json:"calls"`
	// Errcodes counts WeChat-style answers per API and errcode (0 = success).
	Errcodes map[string]map[int]int64 `json:"errcodes"`
	// Statuses counts answers per API and HTTP status (0 = none: client gone
	// or connection reset).
	Statuses map[string]map[int]int64 `json:"statuses"`
	// Users counts calls per user and API, for calls whose user is known
	// (wx.login; jscode2session with a known code; checksession with a known openid).
	Users map[string]map[string]int64 `json:"users"`
	// Faults counts fired fault rules per API.
	Faults map[string]int64 `json:"faults"`
	// CodesLive is the number of codes held (unexpired, used or not).
	CodesLive int `json:"codes_live"`
	// Blocked lists the blocked users.
	Blocked []string `json:"blocked"`
}

type statsRecorder struct {
	mu sync.Mutex
	st Stats
}

func newStatsRecorder() *statsRecorder {
	r := &statsRecorder{}
	r.reset()
	return r
}

func (r *statsRecorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st = Stats{
		Calls:    map[string]int64{},
		Errcodes: map[string]map[int]int64{},
		Statuses: map[string]map[int]int64{},
		Users:    map[string]map[string]int64{},
		Faults:   map[string]int64{},
	}
}

func bump[K comparable](m map[string]map[K]int64, outer string, k K) {
	inner := m[outer]
	if inner == nil {
		inner = map[K]int64{}
		m[outer] = inner
	}
	inner[k]++
}

func (r *statsRecorder) record(c *call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st.Calls[c.api]++
	if c.wechat {
		bump(r.st.Errcodes, c.api, c.errcode)
	}
	bump(r.st.Statuses, c.api, c.status)
	if c.user != "" {
		bump(r.st.Users, c.user, c.api)
	}
}

func (r *statsRecorder) fault(api string, n int) {
	r.mu.Lock()
	r.st.Faults[api] += int64(n)
	r.mu.Unlock()
}

// Stats returns a snapshot (a deep copy, safe to keep).
func (s *Server) Stats() Stats {
	r := s.stats
	r.mu.Lock()
	out := Stats{
		Calls:    maps.Clone(r.st.Calls),
		Errcodes: make(map[string]map[int]int64, len(r.st.Errcodes)),
		Statuses: make(map[string]map[int]int64, len(r.st.Statuses)),
		Users:    make(map[string]map[string]int64, len(r.st.Users)),
		Faults:   maps.Clone(r.st.Faults),
	}
	for k, v := range r.st.Errcodes {
		out.Errcodes[k] = maps.Clone(v)
	}
	for k, v := range r.st.Statuses {
		out.Statuses[k] = maps.Clone(v)
	}
	for k, v := range r.st.Users {
		out.Users[k] = maps.Clone(v)
	}
	r.mu.Unlock()
	out.CodesLive = s.state.liveCodes()
	out.Blocked = s.state.blockedList()
	return out
}
