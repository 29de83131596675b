package backend

import (
	"crypto/sha256"
	"net/http"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// unknownToken is the ledger Token of a refresh token the backend never issued.
const unknownToken = "unknown"

// Reasons, sent as error_description and recorded as ledger Detail.
const (
	reasonReuse   = "reuse of rotated refresh token"
	reasonRevoked = "refresh token family revoked"
	reasonExpired = "refresh token expired"
	reasonUnknown = "unknown refresh token"
	reasonAdmin   = "revoked by admin"
)

// rotation is the verdict on one presented refresh token.
type rotation struct {
	outcome string // ledger outcome
	reason  string
	recID   string
	family  string
	subject string
	acc     access // on success
	secret  string // on success: the new refresh token
}

// handleRefresh rotates a refresh token under the current reuse policy.
func (s *Server) handleRefresh(w http.ResponseWriter, r *http.Request, set *settings) string {
	st := set.style
	secret, rerr := callValue(w, r, st, &st.Requests.Refresh)
	if rerr != nil {
		s.rec.Append(ledger.Event{Kind: ledger.KindRefresh, Method: r.Method, Route: r.URL.Path, Token: unknownToken,
			Outcome: ledger.OutcomeInvalid, Status: rerr.status, Detail: rerr.desc})
		s.stats.refreshes.inc(ledger.OutcomeInvalid)
		writeReqError(w, rerr, "")
		return rerr.code
	}
	if s.cfg.Renewing != nil {
		if rec := s.store.lookup(sha256.Sum256([]byte(secret))); rec != nil {
			defer s.cfg.Renewing("", rec.fam.subject)()
		}
	}
	rot := s.rotate(secret, set, r)
	s.stats.refreshes.inc(rot.outcome)
	if rot.outcome != ledger.OutcomeOK {
		sig := &st.Signals.InvalidGrant
		sendSignal(w, sig, signalObj(sig).str("error_description", rot.reason))
		return rot.outcome
	}
	s.writeTokens(w, set, rot.acc, rot.secret)
	return ledger.OutcomeOK
}

// rotate decides a refresh under the family's lock. The ledger event is
// appended inside the lock, so the ledger order is the decision order: in a
// strict-mode race it reads "ok (winner), reused (first loser), admin.revoke,
// revoked (later losers)", and the winner's new tokens die with the family.
func (s *Server) rotate(secret string, set *settings, r *http.Request) rotation {
	ev := ledger.Event{Kind: ledger.KindRefresh, Method: r.Method, Route: r.URL.Path}
	rec := s.store.lookup(sha256.Sum256([]byte(secret)))
	if rec == nil {
		ev.Token, ev.Outcome, ev.Status, ev.Detail = unknownToken, ledger.OutcomeInvalid, set.style.Signals.InvalidGrant.Status, reasonUnknown
		s.rec.Append(ev)
		return rotation{outcome: ledger.OutcomeInvalid, reason: reasonUnknown}
	}
	f := rec.fam
	rot := rotation{recID: rec.id, family: f.id, subject: f.subject}
	ev.Token, ev.Family, ev.Subject = rec.id, f.id, f.subject

	f.mu.Lock()
	defer f.mu.Unlock()
	now := s.clock.Now()
	ev.Time = now
	revokedNow := false
	switch {
	case f.revoked.Load():
		rot.outcome, rot.reason = ledger.OutcomeRevoked, reasonRevoked
	case !now.Before(rec.expires):
		rot.outcome, rot.reason = ledger.OutcomeExpired, reasonExpired
	default:
		rec.uses++
		switch {
		case rec.uses == 1:
			rec.rotatedAt = now
			rot.outcome = ledger.OutcomeOK
		case set.reuse.allows(rec.uses, rec.rotatedAt, now):
			rot.outcome = ledger.OutcomeOK // tolerated by grace:/reuse: policy
		default:
			rot.outcome, rot.reason = ledger.OutcomeReused, reasonReuse
			revokedNow = s.store.revoke(f)
		}
	}
	if rot.outcome == ledger.OutcomeOK {
		rot.secret, _ = s.store.addRefresh(f, now, set.refreshTTL)
		s.ledger.NoteSecret(rot.secret)
		acc, err := s.issueAccess(f.subject, f.id, now, set.accessTTL)
		if err != nil {
			panic(err) // HS256 with a non-empty key cannot fail
		}
		rot.acc = acc
		ev.Detail, ev.Status, ev.Expires = acc.jti, set.style.Signals.Success.Status, acc.exp
		if rec.uses > 1 {
			ev.Attempt = rec.uses // a tolerated reuse: which presentation this was
		}
	} else {
		ev.Detail, ev.Status = rot.reason, set.style.Signals.InvalidGrant.Status
	}
	ev.Outcome = rot.outcome
	s.rec.Append(ev)
	if rot.outcome == ledger.OutcomeOK {
		s.noteUndelivered(r, ev)
	}
	if revokedNow {
		s.rec.Append(ledger.Event{Kind: ledger.KindRevoke, Time: now, Family: f.id, Subject: f.subject, Token: rec.id, Detail: reasonReuse})
	}
	return rot
}
