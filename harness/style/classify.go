package style

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Classify names the signal an answer carries (SignalSuccess, SignalExpired,
// ...), or "" when it matches none. Signals that name a body field are tried
// first, so {status: 200, field: code, value: 10006} wins over a plain
// {status: 200} success. Clients and checkers use it to react to a dialect
// without knowing it.
func (s *Style) Classify(status int, body []byte) string {
	var members map[string]json.RawMessage
	if len(body) > 0 && bytes.IndexByte(body, '{') >= 0 {
		_ = json.Unmarshal(body, &members) // not JSON: only status-only signals can match
	}
	named := s.Signals.Named()
	for _, ns := range named {
		if ns.Signal.Field != "" && ns.Signal.matches(status, members) {
			return ns.Name
		}
	}
	for _, ns := range named {
		if ns.Signal.Field == "" && ns.Signal.Status == status {
			return ns.Name
		}
	}
	return ""
}

// Matches reports whether an answer (status and JSON body) carries this signal.
func (sig Signal) Matches(status int, body []byte) bool {
	var members map[string]json.RawMessage
	_ = json.Unmarshal(body, &members)
	return sig.matches(status, members)
}

func (sig *Signal) matches(status int, members map[string]json.RawMessage) bool {
	if status != sig.Status {
		return false
	}
	if sig.Field == "" {
		return true
	}
	got, ok := members[sig.Field]
	if !ok {
		return false
	}
	want := sig.valueJSON
	if want == nil { // a Signal built in Go without Parse
		want, _ = json.Marshal(sig.Value)
	}
	got = bytes.TrimSpace(got)
	if bytes.Equal(got, want) {
		return true
	}
	// 10006 and 10006.0 are the same number to a JSON client.
	a, errA := strconv.ParseFloat(string(got), 64)
	b, errB := strconv.ParseFloat(string(want), 64)
	return errA == nil && errB == nil && a == b
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
