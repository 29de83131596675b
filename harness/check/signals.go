// Signals: expiry-signalled.
//
// SPEC §5: (backend) an expired or invalid token always gets the style's
// expiry/invalid signal, never an empty success. Judged on every answer to a
// token problem the ledger holds: the reference backend's api and verify
// answers, and the harness's own look at a backend under test.
// docs/invariants.md#expiry-signalled.
package check

import (
	"fmt"
	"strings"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// judgeSignal judges expiry-signalled on one answer to an expired, invalid,
// revoked or missing token: it must carry the style's expired or invalid
// signal. Whoever recorded the answer notes the signal it carried in Detail
// (style.SignalNote): the reference backend the one it sent, the harness the
// one it saw from a backend under test. That, not the status, is judged — in
// a body-code style HTTP 200 {"code":10006} is the expiry signal. An event
// without a note is judged by its status: a 2xx is taken for a success.
func (c *Checker) judgeSignal(e ledger.Event, device string) {
	if !tokenProblem(e.Outcome) {
		return
	}
	inv := c.inv[summary.ExpirySignalled]
	inv.Checked++
	var what string
	if noted, ok := style.NotedSignal(e.Detail); ok {
		if noted == style.SignalExpired || noted == style.SignalInvalid {
			return
		}
		what = fmt.Sprintf("HTTP %d carrying the style's %s signal", e.Status, noted)
		if noted == style.SignalNone {
			what = fmt.Sprintf("HTTP %d matching no signal of the style", e.Status)
		}
	} else {
		if e.Status < 200 || e.Status >= 300 {
			return
		}
		what = fmt.Sprintf("HTTP %d (a success)", e.Status)
	}
	c.violate(summary.ExpirySignalled, summary.Violation{
		Device: device, At: e.Time, RIDs: nonEmpty(e.RID), Tokens: nonEmpty(e.Token),
		Explanation: fmt.Sprintf("the backend answered a request with %s %s token with %s instead of the expiry/invalid signal: the client cannot know it must refresh", article(e.Outcome), e.Outcome, what),
		Evidence:    []ledger.Event{e},
	})
}

// article is "an" before a vowel ("an expired token"), "a" otherwise.
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// notTokenRefusal reports whether an api event's Detail says the backend
// answered with its style's not_token signal (a "not_token" part, as the
// reference backend records it): a refusal that is not about the token,
// whatever its status — HTTP 200 {"code":10010} in body-code.
func notTokenRefusal(detail string) bool {
	for detail != "" {
		var part string
		part, detail, _ = strings.Cut(detail, ";")
		if strings.TrimSpace(part) == style.SignalNotToken {
			return true
		}
	}
	return false
}

// nextToken is the access token an answer handed over ("next <jti>" part of
// the Detail of an api event in a rotating style), or "".
func nextToken(detail string) string {
	for detail != "" {
		var part string
		part, detail, _ = strings.Cut(detail, ";")
		if jti, ok := strings.CutPrefix(strings.TrimSpace(part), "next "); ok {
			return jti
		}
	}
	return ""
}
