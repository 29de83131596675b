package check

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tokenstorm/tokenstorm/harness/style"
)

// Answer is what a caller got for one logical request.
type Answer struct {
	Status int
	Body   []byte
	Err    error
	Lost   bool
}

// NotTokenRefusal judges what a caller got for a request the backend refused
// for a reason that is not the token (the style's not_token signal, e.g. 401
// password_required in bearer): the one rule both the non-token-401 probe
// and the feature step apply. The caller must get that refusal — the
// backend's answer itself, or an error that carries it (names its value or
// its status). Anything else (a success, another signal, a bare error such
// as "request:ok", nothing) is wrong. It returns "" when the rule holds, else
// the sentence that explains it.
func NotTokenRefusal(sty *style.Style, a Answer) string {
	sig := &sty.Signals.NotToken
	want := DescribeSignal(sig)
	var got string
	switch {
	case a.Lost:
		got = "no answer before its deadline (lost)"
	case a.Err != nil:
		if carries(a.Err.Error(), sig) {
			return ""
		}
		got = "the error " + strconv.Quote(a.Err.Error()) + ", which does not carry the refusal"
	default:
		s := sty.Classify(a.Status, a.Body)
		if s == style.SignalNotToken {
			return ""
		}
		if s == "" {
			s = style.SignalNone
		}
		got = fmt.Sprintf("HTTP %d %s, which is the style's %s signal", a.Status, shortText(a.Body), s)
	}
	return fmt.Sprintf("the caller should get the backend's refusal that is not about the token (%s in style %s), or an error that carries it, but got %s", want, sty.Name, got)
}

// carries reports whether an error text names the refusal: its value (as
// text, e.g. password_required or 10010) or its HTTP status.
func carries(text string, sig *style.Signal) bool {
	if sig.Field != "" && sig.Value != nil {
		if v := fmt.Sprint(sig.Value); v != "" && strings.Contains(text, v) {
			return true
		}
	}
	return sig.Status != 200 && strings.Contains(text, strconv.Itoa(sig.Status))
}

// DescribeSignal renders a signal for messages: HTTP 403 {"error":"forbidden"}.
func DescribeSignal(sig *style.Signal) string {
	if sig.Field == "" {
		return fmt.Sprintf("HTTP %d", sig.Status)
	}
	return fmt.Sprintf("HTTP %d {%q:%s}", sig.Status, sig.Field, sig.ValueJSON())
}

func shortText(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
