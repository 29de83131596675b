package mockwechat

import "time"

// quotaKey: WeChat's jscode2session limit is per user of an app.
type quotaKey struct{ appid, user string }

// quotaWindow counts calls in one calendar minute. WeChat's message says
// "retry next minute", i.e. fixed windows, not a sliding one.
type quotaWindow struct {
	minute int64
	n      int
}

func unixMinute(t time.Time) int64 { return t.Unix() / 60 }

// takeQuotaLocked counts one call of user and reports whether it is within the
// minute quota.
func (s *Server) takeQuotaLocked(appid, user string, now time.Time) bool {
	if s.quota < 0 {
		return true
	}
	k := quotaKey{appid, user}
	m := unixMinute(now)
	w := s.state.quotas[k]
	if w.minute != m {
		w = quotaWindow{minute: m}
	}
	w.n++
	s.state.quotas[k] = w
	return w.n <= s.quota
}

// sweepQuotasLocked forgets windows of past minutes, once per minute, so the
// map holds only users active in the current minute.
func (s *Server) sweepQuotasLocked(now time.Time) {
	m := unixMinute(now)
	if m == s.state.quotaMin {
		return
	}
	s.state.quotaMin = m
	for k, w := range s.state.quotas {
		if w.minute != m {
			delete(s.state.quotas, k)
		}
	}
}
