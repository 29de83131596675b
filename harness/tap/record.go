package tap

import (
	"errors"
	"io"
	"log"
	"net/http"
	"strconv"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/backend"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/style"
)

// unknownToken is the Token of a refresh whose token could not be read, as
// in the reference backend's ledger.
const unknownToken = "unknown"

var discardLog = log.New(io.Discard, "", 0)

// event starts the ledger event of an exchange.
func (t *Tap) event(x *exchange) ledger.Event {
	kind := ledger.KindAPI
	switch x.route {
	case routeLogin:
		kind = ledger.KindBackendLogin
	case routeRefresh:
		kind = ledger.KindRefresh
	case routeVerify:
		kind = ledger.KindVerify
	}
	return ledger.Event{Kind: kind, Method: x.in.Method, Route: x.in.URL.Path}
}

// callValue is the code or refresh token a login or refresh carried, read
// as the reference backend reads it; "" when the request did not carry one
// the style's way.
func (t *Tap) callValue(x *exchange, rq *style.Request) string {
	if x.bodyOver {
		return ""
	}
	v, err := t.st.ReadValue(rq, x.in, x.body)
	if err != nil {
		return ""
	}
	return v
}

// expiresAt is when a token handed out now expires: its JWT exp, else the
// answer's expires_in.
func (t *Tap) expiresAt(c claims, ans style.TokenAnswer, now time.Time) time.Time {
	if !c.exp.IsZero() {
		return c.exp
	}
	if ans.HasExpiresIn && ans.ExpiresIn > 0 {
		return now.Add(time.Duration(ans.ExpiresIn) * time.Second)
	}
	return time.Time{}
}

// recordLogin: a success starts a family with the access token handed out.
func (t *Tap) recordLogin(x *exchange, status int, h http.Header, body seen) {
	ev := t.event(x)
	ev.Code = t.callValue(x, &t.st.Requests.Login)
	ev.Status = status
	sig := t.st.Classify(status, body.b)
	ans := t.st.ReadTokens(h, body.b)
	switch {
	case sig == style.SignalSuccess && ans.AccessToken != "":
		now := t.clock.Now()
		acc := readToken(ans.AccessToken)
		fam := t.fams.start(readToken(ans.RefreshToken).id, x.device)
		ev.Time = now
		ev.Outcome, ev.Token, ev.Subject, ev.Family, ev.Expires = ledger.OutcomeOK, acc.id, acc.subject, fam.id, t.expiresAt(acc, ans, now)
	case sig == style.SignalInvalidCode || sig == style.SignalUnavailable || sig == style.SignalMisconfigured:
		ev.Outcome, ev.Detail = ledger.OutcomeWechat, style.SignalNote(sig)
	default:
		ev.Outcome, ev.Detail = ledger.OutcomeError, body.note(sig)
	}
	t.rec.Append(ev)
	if ev.Outcome == ledger.OutcomeOK {
		x.ok = ev
	}
}

// recordRefresh: the presented refresh token's family is the new tokens'
// family; a refused token that had been accepted before is a reuse, and its
// family is revoked from then on (as the backends that rotate strictly do:
// a later refusal in it is "revoked").
func (t *Tap) recordRefresh(x *exchange, status int, h http.Header, body seen) {
	ev := t.event(x)
	ev.Status = status
	rec := x.rec
	if x.presented == "" {
		ev.Token = unknownToken
	} else {
		ev.Token = x.presented
	}
	if rec != nil {
		ev.Family = rec.fam.id
	}
	sig := t.st.Classify(status, body.b)
	ans := t.st.ReadTokens(h, body.b)
	if sig == style.SignalSuccess && ans.AccessToken != "" {
		now := t.clock.Now()
		acc := readToken(ans.AccessToken)
		fam, uses := t.fams.accepted(rec, ev.Token, readToken(ans.RefreshToken).id)
		ev.Time = now
		ev.Outcome, ev.Family, ev.Subject, ev.Detail, ev.Expires = ledger.OutcomeOK, fam.id, acc.subject, acc.id, t.expiresAt(acc, ans, now)
		if uses > 1 {
			ev.Attempt = uses // a tolerated reuse: which presentation this was
		}
		t.rec.Append(ev)
		x.ok = ev
		return
	}
	if sig != style.SignalInvalidGrant && sig != style.SignalInvalid && sig != style.SignalExpired {
		// Not a verdict on the token: a broken call or a failing backend
		// (the family is not marked either).
		ev.Outcome, ev.Detail = ledger.OutcomeError, body.note(sig)
		t.rec.Append(ev)
		return
	}
	reuse, concurrent, revoked := t.fams.refused(rec)
	ev.Detail = style.SignalNote(sig)
	switch {
	case revoked:
		ev.Outcome = ledger.OutcomeRevoked
	case reuse:
		ev.Outcome = ledger.OutcomeReused
		if concurrent {
			ev.Detail = style.WithNote(ev.Detail, "presented while another presentation of the same token was in flight")
		}
	case rec == nil && x.presented != "" && t.fams.forgot():
		// Maybe a token the tap was handed out and forgot: whether this
		// is a reuse, a revoked family or a token never issued is not
		// known, and saying "invalid" would be a guess.
		ev.Outcome = ledger.OutcomeUnknown
		ev.Detail = style.WithNote(ev.Detail, "refresh token not remembered: the tap remembers the last "+strconv.Itoa(familyGeneration)+" to "+strconv.Itoa(2*familyGeneration)+" refresh tokens handed out or presented")
	default:
		ev.Outcome = ledger.OutcomeInvalid
	}
	t.rec.Append(ev)
}

// note is the Detail of a token answer that is no success: the signal it
// carried, and why its body was not read, if it was not (an error may then
// be a success the tap could not see).
func (b seen) note(sig string) string {
	if b.unread == "" {
		return style.SignalNote(sig)
	}
	return style.WithNote(style.SignalNote(sig), "body not read ("+b.unread+")")
}

// tokenOutcome is the ledger outcome of an answer to a call carrying an
// access token, from the signal it carried, and the Detail noting it.
func (t *Tap) tokenOutcome(sig string, status int, tokErr error, body seen) (string, string) {
	switch {
	case sig == style.SignalExpired:
		return ledger.OutcomeExpired, style.SignalNote(sig)
	case sig == style.SignalInvalid && errors.Is(tokErr, style.ErrNoToken):
		return ledger.OutcomeMissing, style.SignalNote(sig)
	case sig == style.SignalInvalid:
		return ledger.OutcomeInvalid, style.SignalNote(sig)
	case sig == style.SignalNotToken:
		return ledger.OutcomeOK, style.WithNote(style.SignalNotToken, style.SignalNote(sig))
	case sig == "" && status >= 200 && status < 400 && t.st.NeedsBody(status):
		// The style tells what happened from the body at this status (a
		// business code at HTTP 200).
		if body.unread != "" {
			return ledger.OutcomeOK, "body not read (" + body.unread + "): judged by its status"
		}
		// A body of none of its shapes: an unknown code. What the backend
		// did is not known, so it is no success (and no effect).
		return ledger.OutcomeError, style.WithNote(style.SignalNote(sig), "status "+strconv.Itoa(status)+" with a body of none of the style's shapes (an unknown business code?): not known to be executed")
	case sig == style.SignalSuccess || (sig == "" && status >= 200 && status < 400):
		return ledger.OutcomeOK, ""
	}
	return ledger.OutcomeError, style.SignalNote(sig)
}

// recordVerify: the verify route's verdict on the access token it carried.
func (t *Tap) recordVerify(x *exchange, status int, body seen) {
	ev := t.event(x)
	var raw string
	var tokErr error
	if rq := &t.st.Requests.Verify; rq.Value.In == style.InToken {
		raw, tokErr = t.st.TokenFrom(x.in.Header)
	} else if raw = t.callValue(x, rq); raw == "" {
		tokErr = style.ErrNoToken
	}
	c := readToken(raw)
	ev.Token, ev.Subject, ev.Status = c.id, c.subject, status
	ev.Outcome, ev.Detail = t.tokenOutcome(t.st.Classify(status, body.b), status, tokErr, body)
	t.rec.Append(ev)
}

// recordAPI: a protected call, and its effect when the backend executed a
// non-idempotent one: answered it with the style's success, or, where the
// style tells success by status alone, with a 2xx carrying no refusal.
func (t *Tap) recordAPI(x *exchange, status int, h http.Header, body seen) {
	ev := t.event(x)
	rid, err := backend.RequestID(x.in)
	if err == nil {
		ev.RID = rid
	}
	raw, tokErr := t.st.TokenFrom(x.in.Header)
	c := readToken(raw)
	ev.Token, ev.Subject, ev.Status = c.id, c.subject, status
	effect := x.in.Method != http.MethodGet && x.in.Method != http.MethodHead
	if effect && !x.bodyOver {
		ev.BodyHash = ledger.HashBody(x.body)
	}
	sig := t.st.Classify(status, body.b)
	ev.Outcome, ev.Detail = t.tokenOutcome(sig, status, tokErr, body)
	if x.bodyOver {
		ev.Detail = style.WithNote(ev.Detail, "body over "+strconv.Itoa(maxRequestBody)+" bytes: not hashed")
	}
	if next := t.st.Token.NextHeader; next != "" && ev.Outcome == ledger.OutcomeOK {
		if tok := h.Get(next); tok != "" {
			ev.Detail = style.WithNote(ev.Detail, "next "+readToken(tok).id)
		}
	}
	t.rec.Append(ev)
	if effect && ev.Outcome == ledger.OutcomeOK && sig != style.SignalNotToken && status < 300 {
		t.rec.Append(ledger.Event{Kind: ledger.KindEffect, RID: ev.RID, Method: ev.Method, Route: ev.Route, BodyHash: ev.BodyHash, Token: ev.Token, Subject: ev.Subject})
	}
}

// noteUndelivered records that the client had gone (its deadline passed,
// its connection closed) before the new tokens of a successful login or
// refresh reached it, as the reference backend does: the checker then
// counts its next call as a retry, not a storm.
func (t *Tap) noteUndelivered(x *exchange) {
	ok := x.ok
	if ok.Kind == "" || x.in.Context().Err() == nil {
		return
	}
	jti := ok.Token
	if ok.Kind == ledger.KindRefresh {
		jti = ok.Detail
	}
	t.rec.Append(ledger.Event{Kind: ledger.KindUndelivered, Time: ok.Time, Method: ok.Method, Route: ok.Route, Subject: ok.Subject, Family: ok.Family,
		Token: jti, Detail: "the client had gone before the " + ok.Kind + " was answered: it never got these tokens"})
}
