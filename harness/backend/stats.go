package backend

import (
	"sync/atomic"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// Stats is GET /__admin/stats. Outcome maps always hold every known outcome
// (zero included) so that the JSON shape is stable.
type Stats struct {
	Logins          map[string]int64 `json:"logins"`    // ok, wechat, error
	Refreshes       map[string]int64 `json:"refreshes"` // ok, reused, revoked, expired, invalid
	API             map[string]int64 `json:"api"`       // ok, expired, invalid, missing, error
	Verify          map[string]int64 `json:"verify"`    // ok, expired, invalid, missing
	Effects         int64            `json:"effects"`   // side effects executed
	WechatCalls     int64            `json:"wechat_calls"`
	Families        int              `json:"families"`         // families known (since the last reset)
	FamiliesRevoked int64            `json:"families_revoked"` // by reuse detection or admin
	RefreshTokens   int              `json:"refresh_tokens"`   // refresh records held
}

// tally counts outcomes without locks: the key set is fixed at creation, so
// the map is only read afterwards.
type tally map[string]*atomic.Int64

func newTally(outcomes ...string) tally {
	t := tally{"other": new(atomic.Int64)}
	for _, o := range outcomes {
		t[o] = new(atomic.Int64)
	}
	return t
}

func (t tally) inc(outcome string) {
	c, ok := t[outcome]
	if !ok {
		c = t["other"]
	}
	c.Add(1)
}

func (t tally) snapshot() map[string]int64 {
	out := make(map[string]int64, len(t))
	for k, c := range t {
		if v := c.Load(); v != 0 || k != "other" {
			out[k] = v
		}
	}
	return out
}

func (t tally) reset() {
	for _, c := range t {
		c.Store(0)
	}
}

type stats struct {
	logins, refreshes, api, verify tally
	wechatCalls                    atomic.Int64
}

func newStats() *stats {
	return &stats{
		logins:    newTally(ledger.OutcomeOK, ledger.OutcomeWechat, ledger.OutcomeError),
		refreshes: newTally(ledger.OutcomeOK, ledger.OutcomeReused, ledger.OutcomeRevoked, ledger.OutcomeExpired, ledger.OutcomeInvalid),
		api:       newTally(ledger.OutcomeOK, ledger.OutcomeExpired, ledger.OutcomeInvalid, ledger.OutcomeMissing, ledger.OutcomeError),
		verify:    newTally(ledger.OutcomeOK, ledger.OutcomeExpired, ledger.OutcomeInvalid, ledger.OutcomeMissing),
	}
}

func (st *stats) reset() {
	st.logins.reset()
	st.refreshes.reset()
	st.api.reset()
	st.verify.reset()
	st.wechatCalls.Store(0)
}

// Stats counts what the backend did since New or the last Reset.
func (s *Server) Stats() Stats {
	fams, recs := s.store.counts()
	return Stats{
		Logins:          s.stats.logins.snapshot(),
		Refreshes:       s.stats.refreshes.snapshot(),
		API:             s.stats.api.snapshot(),
		Verify:          s.stats.verify.snapshot(),
		Effects:         s.effects.Load(),
		WechatCalls:     s.stats.wechatCalls.Load(),
		Families:        fams,
		FamiliesRevoked: s.store.revokedFamilies.Load(),
		RefreshTokens:   recs,
	}
}
