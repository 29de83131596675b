package backend

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/style"
)

// handleLogin exchanges a wx.login code with WeChat and starts a token family.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request, set *settings) string {
	st := set.style
	ev := ledger.Event{Kind: ledger.KindBackendLogin, Method: r.Method, Route: r.URL.Path}
	refuse := func(e *reqError) string {
		ev.Outcome, ev.Status, ev.Detail = ledger.OutcomeError, e.status, e.desc
		s.rec.Append(ev)
		s.stats.logins.inc(ledger.OutcomeError)
		writeReqError(w, e, "")
		return e.code
	}
	// A missing code is refused here rather than forwarded: WeChat would
	// only answer 41008, and a correct backend does not spend its quota on it.
	code, rerr := callValue(w, r, st, &st.Requests.Login)
	if rerr != nil {
		return refuse(rerr)
	}
	ev.Code = code
	if s.cfg.Renewing != nil {
		defer s.cfg.Renewing(code, "")()
	}

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
		s.rec.Append(ev)
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
		s.ledger.NoteSecret(secret)
	}
	acc, err := s.issueAccess(res.openid, f.id, now, set.accessTTL)
	if err != nil {
		panic(err) // HS256 with a non-empty key cannot fail
	}
	ev.Subject, ev.Token, ev.Family, ev.Expires = res.openid, acc.jti, f.id, acc.exp
	ev.Outcome, ev.Status = ledger.OutcomeOK, st.Signals.Success.Status
	s.rec.Append(ev)
	s.noteUndelivered(r, ev)
	s.stats.logins.inc(ledger.OutcomeOK)
	s.writeTokens(w, set, acc, secret)
	return ledger.OutcomeOK
}

// writeTokens answers login and refresh where the style says: body members
// (by path), response headers or Set-Cookie.
func (s *Server) writeTokens(w http.ResponseWriter, set *settings, acc access, refresh string) {
	st := set.style
	a := &st.Answers
	o := signalObj(&st.Signals.Success)
	putToken(w, o, a.AccessToken, acc.token)
	if refresh != "" {
		putToken(w, o, a.RefreshToken, refresh)
	}
	o.str(jsonName(a.TokenType), st.Token.Type)
	o.num(jsonName(a.ExpiresIn), seconds(set.accessTTL))
	if refresh != "" {
		o.num(jsonName(a.RefreshExpiresIn), seconds(set.refreshTTL))
	}
	sendSignal(w, &st.Signals.Success, o)
}

// putToken hands a token over at p.
func putToken(w http.ResponseWriter, o *obj, p style.Place, token string) {
	switch p.In {
	case style.InJSON:
		o.str(p.Name, token)
	case style.InHeader:
		w.Header().Set(p.Name, token)
	case style.InCookie:
		// A session cookie: the backend, not the browser, decides expiry
		// and says so with the style's signal.
		http.SetCookie(w, &http.Cookie{Name: p.Name, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
}

// jsonName is the member path of a body place ("" for another place, which
// obj skips).
func jsonName(p style.Place) string {
	if p.In == style.InJSON {
		return p.Name
	}
	return ""
}

// callValue reads the one value a login, refresh or verify call carries,
// where the style's template puts it. A JSON body must be an object without
// duplicate members.
func callValue(w http.ResponseWriter, r *http.Request, st *style.Style, rq *style.Request) (string, *reqError) {
	body, rerr := readBody(w, r)
	if rerr != nil {
		return "", rerr
	}
	if usesJSON(rq) {
		if _, rerr := decodeObject(body); rerr != nil {
			return "", rerr
		}
	}
	v, err := st.ReadValue(rq, r, body)
	if err != nil {
		field := ""
		var re *style.RequestError
		if errors.As(err, &re) {
			field = re.Name
		}
		return "", &reqError{status: http.StatusBadRequest, code: "invalid_request", desc: err.Error(), field: field}
	}
	return v, nil
}

func usesJSON(rq *style.Request) bool {
	if rq.Value.In == style.InJSON {
		return true
	}
	for _, e := range rq.Extra {
		if e.In == style.InJSON {
			return true
		}
	}
	return false
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
	s.rec.Append(ledger.Event{Kind: ledger.KindUndelivered, Time: ok.Time, Method: r.Method, Route: r.URL.Path, Subject: ok.Subject, Family: ok.Family,
		Token: jti, Detail: "the client had gone before the " + ok.Kind + " was answered: it never got these tokens"})
}
