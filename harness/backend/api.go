package backend

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/style"

	"github.com/tokenstorm/tokenstorm/harness/jsonw"
)

// handleVerify answers whether the carried access token is valid.
func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request, set *settings) string {
	st := set.style
	var tc tokenCheck
	if rq := &st.Requests.Verify; rq.Value.In == style.InToken {
		tc = s.checkAccess(r.Header, st)
	} else {
		// The token travels in the body, the query, … (POST {"token":…}).
		raw, rerr := callValue(w, r, st, rq)
		if rerr != nil && rerr.field != rq.Value.String() {
			writeReqError(w, rerr, "") // a broken call, not a bad token
			return rerr.code
		}
		if rerr != nil {
			tc = s.checkToken("", style.ErrNoToken)
		} else {
			tc = s.checkToken(raw, nil)
		}
	}
	ev := ledger.Event{Kind: ledger.KindVerify, Method: r.Method, Route: r.URL.Path, Token: tc.jti, Subject: tc.subject, Family: tc.fam, Outcome: tc.outcome, Detail: tc.detail}
	s.stats.verify.inc(tc.outcome)
	if tc.outcome != ledger.OutcomeOK {
		sig := tokenSignal(st, tc)
		ev.Status = sig.Status
		ev.Detail = style.WithNote(tc.detail, style.SignalNote(tokenSignalName(tc)))
		s.rec.Append(ev)
		sendSignal(w, sig, signalObj(sig))
		return tc.outcome
	}
	ev.Status = st.Signals.Success.Status
	s.rec.Append(ev)
	left := max(tc.exp.Sub(s.clock.Now()), 0)
	sendSignal(w, &st.Signals.Success, signalObj(&st.Signals.Success).boolean(jsonName(st.Answers.Valid), true).num(jsonName(st.Answers.ExpiresIn), seconds(left)))
	return ledger.OutcomeOK
}

// handleAPI serves protected resources: the token is checked first, then GET
// answers deterministic JSON and other methods execute a recorded side
// effect, so a double execution is visible in the ledger.
func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request, set *settings) string {
	st := set.style
	ev := ledger.Event{Kind: ledger.KindAPI, Method: r.Method, Route: r.URL.Path}
	rid, rerr := requestID(r)
	var delay time.Duration
	if rerr == nil {
		delay, rerr = delayParam(r.URL.RawQuery)
	}
	if rerr != nil {
		ev.RID, ev.Outcome, ev.Status, ev.Detail = rid, ledger.OutcomeError, rerr.status, rerr.desc
		s.rec.Append(ev)
		s.stats.api.inc(ledger.OutcomeError)
		writeReqError(w, rerr, rid)
		return rerr.code
	}
	ev.RID = rid
	if rid != "" {
		w.Header()["X-Request-Id"] = []string{rid} // Set("X-Request-ID", rid) without canonicalising the key
	}

	tc := s.checkAccess(r.Header, st)
	if tc.outcome == ledger.OutcomeOK && st.Token.SingleUse && !s.store.consume(tc.jti, tc.exp, s.clock.Now()) {
		tc.outcome, tc.detail = ledger.OutcomeInvalid, "single-use token already used"
	}
	ev.Token, ev.Subject, ev.Family = tc.jti, tc.subject, tc.fam
	effect := r.Method != http.MethodGet && r.Method != http.MethodHead
	if tc.outcome != ledger.OutcomeOK {
		if effect {
			// Hash the refused body too, so the checker can compare the
			// attempt that met the expiry with its replay byte for byte.
			if b, e := readBody(w, r); e == nil {
				ev.BodyHash = ledger.HashBody(b)
			}
		}
		sig := tokenSignal(st, tc)
		// The signal sent is noted in Detail: the checker judges
		// expiry-signalled by it, since in a body-code style an HTTP 200
		// is the expiry signal.
		ev.Outcome, ev.Status = tc.outcome, sig.Status
		ev.Detail = style.WithNote(tc.detail, style.SignalNote(tokenSignalName(tc)))
		s.rec.Append(ev)
		s.stats.api.inc(tc.outcome)
		if stop, ok := s.wait(w, r, delay); !ok {
			return stop
		}
		sendSignal(w, sig, signalObj(sig).opt("rid", rid))
		return tc.outcome
	}

	// The presented token is used up from here on (single use), so every
	// answer below hands over the next one, whatever it says.
	var next string
	if st.Token.NextHeader != "" {
		acc, err := s.issueAccess(tc.subject, tc.fam, s.clock.Now(), set.accessTTL)
		if err != nil {
			panic(err)
		}
		w.Header().Set(st.Token.NextHeader, acc.token)
		next = "next " + acc.jti
	}

	// A refusal that is not about the token: the token is fine, so the
	// ledger outcome is ok and the client must not refresh.
	if r.URL.Path == st.Routes.Resource+"reauth" {
		sig := &st.Signals.NotToken
		ev.Outcome, ev.Status, ev.Detail = ledger.OutcomeOK, sig.Status, style.WithNote("not_token", next)
		s.rec.Append(ev)
		s.stats.api.inc(ledger.OutcomeOK)
		if stop, ok := s.wait(w, r, delay); !ok {
			return stop
		}
		sendSignal(w, sig, signalObj(sig).opt("rid", rid))
		return "not_token"
	}

	var body []byte
	if effect {
		body, rerr = readBody(w, r)
		if rerr != nil {
			ev.Outcome, ev.Status, ev.Detail = ledger.OutcomeError, rerr.status, style.WithNote(rerr.desc, next)
			s.rec.Append(ev)
			s.stats.api.inc(ledger.OutcomeError)
			writeReqError(w, rerr, rid)
			return rerr.code
		}
		ev.BodyHash = ledger.HashBody(body)
	}
	ev.Detail = next
	ev.Outcome, ev.Status = ledger.OutcomeOK, st.Signals.Success.Status
	s.rec.Append(ev)
	s.stats.api.inc(ledger.OutcomeOK)

	o := signalObj(&st.Signals.Success).str("rid", rid)
	if effect {
		n := s.effects.Add(1)
		s.rec.Append(ledger.Event{Kind: ledger.KindEffect, RID: rid, Method: r.Method, Route: r.URL.Path, BodyHash: ev.BodyHash, Token: tc.jti, Subject: tc.subject})
		o.boolean("ok", true).num("effect", n)
	} else {
		o.str("path", r.URL.Path).str("user", tc.subject).raw("items", items(r.URL.Path))
	}
	if stop, ok := s.wait(w, r, delay); !ok {
		return stop
	}
	sendSignal(w, &st.Signals.Success, o)
	return ledger.OutcomeOK
}

// wait holds an answer for delay (real time: the point is to let a refresh
// happen meanwhile). It reports false, with the outcome to record, when the
// answer must not be written: the client gave up (the wait is cancelled), or
// Close interrupted it (then it answers 503 itself, never an empty 200).
func (s *Server) wait(w http.ResponseWriter, r *http.Request, delay time.Duration) (string, bool) {
	if delay <= 0 {
		return "", true
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return "", true
	case <-r.Context().Done():
		return "canceled", false
	case <-s.closing.Done():
		writeReqError(w, &reqError{status: http.StatusServiceUnavailable, code: "shutting_down", desc: "the backend is closing"}, "")
		return "shutting_down", false
	}
}

// delayParam reads delay_ms (0..10000).
func delayParam(rawQuery string) (time.Duration, *reqError) {
	v, ok, rerr := queryParam(rawQuery, "delay_ms")
	if rerr != nil || !ok {
		return 0, rerr
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || time.Duration(n)*time.Millisecond > MaxDelay {
		return 0, &reqError{status: http.StatusBadRequest, code: "invalid_request",
			desc: "delay_ms must be an integer from 0 to " + strconv.Itoa(int(MaxDelay/time.Millisecond)), field: "delay_ms"}
	}
	return time.Duration(n) * time.Millisecond, nil
}

// items is the deterministic payload of a GET: three items named after the
// last path segment, so that answers to different paths differ and a stale
// or misrouted replay is visible.
func items(path string) []byte {
	name := strings.TrimRight(path, "/")
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	b := make([]byte, 0, 64+3*len(name))
	b = append(b, '[')
	for i := 1; i <= 3; i++ {
		if i > 1 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"name":`...)
		b = jsonw.AppendString(b, name+" "+strconv.Itoa(i))
		b = append(b, '}')
	}
	return append(b, ']')
}
