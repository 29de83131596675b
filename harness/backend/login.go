package backend

import (
	"context"
	"net/http"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// handleLogin exchanges a wx.login code with WeChat and starts a token family.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request, set *settings) string {
	st := set.style
	ev := ledger.Event{Kind: ledger.KindBackendLogin, Method: r.Method, Route: r.URL.Path}
	refuse := func(e *reqError) string {
		ev.Outcome, ev.Status, ev.Detail = ledger.OutcomeError, e.status, e.desc
		s.record(ev)
		s.stats.logins.inc(ledger.OutcomeError)
		writeReqError(w, e, "")
		return e.code
	}
	body, rerr := readBody(w, r)
	if rerr != nil {
		return refuse(rerr)
	}
	m, rerr := decodeObject(body)
	if rerr != nil {
		return refuse(rerr)
	}
	// A missing code is refused here rather than forwarded: WeChat would
	// only answer 41008, and a correct backend does not spend its quota on it.
	code, rerr := stringMember(m, st.Fields.Code)
	if rerr != nil {
		return refuse(rerr)
	}
	ev.Code = code

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.closing, cancel)
	defer stop()
	s.stats.wechatCalls.Add(1)
	res := s.jscode2session(ctx, code)
	if res.openid == "" {
		ref := classifyWechat(res)
		sig := ref.signal(&st.Signals)
		ev.Outcome, ev.Status, ev.Errcode = ledger.OutcomeWechat, sig.Status, res.errcode
		if res.err != nil {
			ev.Outcome, ev.Detail = ledger.OutcomeError, res.err.Error()
		}
		s.record(ev)
		s.stats.logins.inc(ev.Outcome)
		o := signalObj(sig)
		if res.errcode != 0 {
			o.num("wechat_errcode", int64(res.errcode))
		}
		if ref.retryAfter != "" {
			w.Header().Set("Retry-After", ref.retryAfter)
		}
		sendSignal(w, sig, o)
		return ref.metric
	}

	now := s.clock.Now()
	f := s.store.newFamily(res.openid, now)
	var secret string
	if st.Routes.Refresh != "" {
		secret, _ = s.store.addRefresh(f, now, set.refreshTTL)
	}
	acc, err := s.issueAccess(res.openid, f.id, now, set.accessTTL)
	if err != nil {
		panic(err) // HS256 with a non-empty key cannot fail
	}
	ev.Subject, ev.Token, ev.Family, ev.Expires = res.openid, acc.jti, f.id, acc.exp
	ev.Outcome, ev.Status = ledger.OutcomeOK, st.Signals.Success.Status
	s.record(ev)
	s.noteUndelivered(r, ev)
	s.stats.logins.inc(ledger.OutcomeOK)
	s.writeTokens(w, set, acc, secret)
	return ledger.OutcomeOK
}

// writeTokens answers login and refresh with the style's member names.
func (s *Server) writeTokens(w http.ResponseWriter, set *settings, acc access, refresh string) {
	st := set.style
	f := st.Fields
	o := signalObj(&st.Signals.Success).str(f.AccessToken, acc.token)
	if refresh != "" {
		o.str(f.RefreshToken, refresh)
	}
	o.str(f.TokenType, st.Token.Type)
	o.num(f.ExpiresIn, seconds(set.accessTTL))
	if refresh != "" {
		o.num(f.RefreshExpiresIn, seconds(set.refreshTTL))
	}
	sendSignal(w, &st.Signals.Success, o)
}

func seconds(d time.Duration) int64 { return int64(d / time.Second) }

// noteUndelivered records that the client had gone (its deadline passed, its
// connection closed) before the new tokens of a successful login or refresh
// could be sent: as the client saw it the call failed, so the checker counts
// its next call as a retry, not a storm (docs/invariants.md).
func (s *Server) noteUndelivered(r *http.Request, ok ledger.Event) {
	if r.Context().Err() == nil {
		return
	}
	jti := ok.Token
	if ok.Kind == ledger.KindRefresh {
		jti = ok.Detail
	}
	s.record(ledger.Event{Kind: ledger.KindUndelivered, Time: ok.Time, Method: r.Method, Route: r.URL.Path, Subject: ok.Subject, Family: ok.Family,
		Token: jti, Detail: "the client had gone before the " + ok.Kind + " was answered: it never got these tokens"})
}
