package style

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Classify names the signal an answer carries (SignalSuccess, SignalExpired,
// ...), or "" when it matches none. Shapes that name body members are tried
// first, so {status: 200, field: code, value: 10006} wins over a plain
// {status: 200} success. Clients and checkers use it to react to a dialect
// without knowing it. When invalid is the same as expired, a match is
// SignalExpired (named first).
func (s *Style) Classify(status int, body []byte) string {
	v := newBodyView(body)
	named := s.Signals.Named()
	for _, ns := range named {
		if ns.Signal.matchesView(status, v, true) {
			return ns.Name
		}
	}
	for _, ns := range named {
		if ns.Signal.matchesView(status, v, false) {
			return ns.Name
		}
	}
	return ""
}

// NeedsBody reports whether telling the signal of an answer with this status
// needs its body: some signal's shape at that status names body members.
// Otherwise Classify(status, nil) is the answer, and a proxy can leave the
// body streaming.
func (s *Style) NeedsBody(status int) bool {
	for _, ns := range s.Signals.Named() {
		alts := ns.Signal.alts
		if alts == nil {
			c := *ns.Signal
			if compileSignal(&c, "") != nil {
				continue
			}
			alts = c.alts
		}
		for i := range alts {
			if alts[i].status == status && len(alts[i].conds) > 0 {
				return true
			}
		}
	}
	return false
}

// Matches reports whether an answer (status and JSON body) carries this signal.
func (sig Signal) Matches(status int, body []byte) bool {
	v := newBodyView(body)
	return sig.matchesView(status, v, true) || sig.matchesView(status, v, false)
}

// matchesView tries the shapes with body members (withMembers) or the
// status-only shapes.
func (sig *Signal) matchesView(status int, v *bodyView, withMembers bool) bool {
	alts := sig.alts
	if alts == nil { // a Signal built in Go without Parse
		c := *sig
		if compileSignal(&c, "") != nil {
			return false
		}
		alts = c.alts
	}
	for i := range alts {
		a := &alts[i]
		if a.status != status || (len(a.conds) > 0) != withMembers {
			continue
		}
		ok := true
		for _, c := range a.conds {
			if !c.holds(v) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (c *cond) holds(v *bodyView) bool {
	got, ok := v.get(c.path)
	if !ok {
		return false
	}
	for _, want := range c.values {
		if sameJSON(got, want) {
			return true
		}
	}
	return false
}

// sameJSON compares two scalar JSON values; 10006 and 10006.0 are the same
// number to a JSON client.
func sameJSON(got, want []byte) bool {
	if bytes.Equal(got, want) {
		return true
	}
	a, errA := strconv.ParseFloat(string(got), 64)
	b, errB := strconv.ParseFloat(string(want), 64)
	return errA == nil && errB == nil && a == b
}

// bodyView decodes an answer's top level once for all the signals tried.
type bodyView struct {
	top map[string]json.RawMessage
}

func newBodyView(body []byte) *bodyView {
	v := &bodyView{}
	if len(body) > 0 && bytes.IndexByte(body, '{') >= 0 {
		_ = json.Unmarshal(body, &v.top) // not JSON: only status-only shapes can match
	}
	return v
}

func (v *bodyView) get(path []string) ([]byte, bool) {
	raw, ok := v.top[path[0]]
	if !ok {
		return nil, false
	}
	if len(path) == 1 {
		return bytes.TrimSpace(raw), true
	}
	return lookup(raw, path[1:])
}

// Ledger notes. A backend event or a harness observation records the signal
// an answer carried as one "; "-separated part of its Detail, for example
// "exp passed; signal=expired" or "signal=success". The checker's
// expiry-signalled judges the signal, not the HTTP status: in a body-code
// dialect an HTTP 200 with {"code":10006} IS the expiry signal, while an
// HTTP 200 success answer to an expired token is the failure.
const signalNotePrefix = "signal="

// SignalNote is the Detail part recording that an answer carried signal
// name ("" = no signal of the style: SignalNone).
func SignalNote(name string) string {
	if name == "" {
		name = SignalNone
	}
	return signalNotePrefix + name
}

// SignalNone is what SignalNote records for an answer that matches no
// signal of the style.
const SignalNone = "none"

// NotedSignal returns the signal recorded in a ledger Detail by SignalNote,
// and false when the Detail records none.
func NotedSignal(detail string) (string, bool) {
	for detail != "" {
		var part string
		part, detail, _ = strings.Cut(detail, ";")
		part = strings.TrimSpace(part)
		if name, ok := strings.CutPrefix(part, signalNotePrefix); ok {
			return name, true
		}
	}
	return "", false
}

// WithNote appends a "; "-separated part to a ledger Detail.
func WithNote(detail, note string) string {
	if detail == "" {
		return note
	}
	if note == "" {
		return detail
	}
	return detail + "; " + note
}
