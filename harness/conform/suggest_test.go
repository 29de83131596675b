package conform

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestSuggest: a misspelt step is answered with the closest step carrying the
// author's own values, and the message says which word differs.
func TestSuggest(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"device d1 send GET /api/orders",
			`(did you mean "When device d1 sends GET /api/orders"? "send" should be "sends")`},
		{"WeChat saw at most 4 jscode2session call made",
			`(did you mean "When WeChat saw at most 4 jscode2session call"? drop "made")`},
		{"WeChat has seen at most 4 jscode2session calls",
			`(did you mean "When WeChat saw at most 4 jscode2session calls"? drop "has"; "seen" should be "saw")`},
		{"each device sends 7 concurent PUT /api/cart",
			`(did you mean "When each device sends 7 concurrent PUT /api/cart"? "concurent" should be "concurrent")`},
		{"at most one refresh per device",
			`(did you mean "When at most 1 refresh per device"? "one" should be "1")`},
		{"12 devices loged in",
			`(did you mean "When 12 devices logged in"? "loged" should be "logged")`},
		{"3 hourz pass",
			`(did you mean "When 3 hours pass"? "hourz" should be "hours")`},
		{"device alice sends GET /api/cart as request c1 in background",
			`(did you mean "When device alice sends GET /api/cart as request c1 in the background"? "the" is missing after "in")`},
		{"request c1 reached backend at most 3 times",
			`(did you mean "When request c1 reached the backend at most 3 times"? "the" is missing after "reached")`},
		{"the access token of d4 expires",
			`(did you mean "When the access token of device d4 expires"? "device" is missing after "of")`},
		{"wechat answers jscode2session with errcode 45011 3 times",
			`(did you mean "When WeChat answers jscode2session with errcode 45011 3 times"? "wechat" should be "WeChat")`},
		{"exactly 2 logins per device since counting starts",
			`(did you mean "When exactly 2 logins per device since counting started"? "starts" should be "started")`},
		{"request r1 should succeed",
			`(did you mean "When request r1 succeeded"? drop "should"; "succeed" should be "succeeded")`},
		{"WeChat saw no jscode2session calls",
			`(did you mean "When WeChat saw 0 jscode2session calls"? "no" should be "0")`},
		{"wait 2 seconds",
			`(did you mean "When I wait 2 seconds"? "I" is missing at the start)`},
		{"jscode2sesion answered 40163 0 times",
			`(did you mean "When jscode2session answered 40163 0 times"? "jscode2sesion" should be "jscode2session")`},
		{"device d2 sends get /api/orders",
			`(did you mean "When device d2 sends GET /api/orders"? "get" should be "GET")`},
		// Two plausible fixes: both are offered, neither presented as certain,
		// and a fix that would turn a word into a value ("invariant is holds") is not.
		{"invariant single-refresh is held",
			`(did you mean "When invariant single-refresh is violated"? "held" should be "violated" or "When invariant single-refresh holds"? drop "is"; "held" should be "holds")`},
		// More than two words off: the nearest step's form and example.
		{"the device d1 clock runs 5 minutes ahead",
			`(closest step: "the device clocks run <duration> ahead|behind", e.g. "Given the device clocks run 10 minutes ahead")`},
		// Nothing close: no suggestion rather than a random one.
		{"the moon is made of cheese", ""},
	} {
		assert.Equal(t, tc.want, trimSpace(suggest("When", tc.in)), tc.in)
	}
}

func trimSpace(s string) string {
	if len(s) > 0 && s[0] == ' ' {
		return s[1:]
	}
	return s
}

// FuzzSuggest: any text gets an answer without a panic, and a "did you mean"
// always names a text that matches exactly one step.
func FuzzSuggest(f *testing.F) {
	for _, s := range []string{"device d1 send GET /api/orders", "2 hourz pass", "", "   ", "WeChat saw no jscode2session calls", "invariant x is held"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 200 || strings.ContainsAny(text, `"\`) {
			return // quoting in the message would blur the check
		}
		out := suggest("When", text)
		const lead = ` (did you mean "When `
		if rest, ok := strings.CutPrefix(out, lead); ok {
			end := strings.Index(rest, `"?`)
			if end < 0 {
				t.Fatalf("malformed suggestion %q", out)
			}
			if m := match(rest[:end]); len(m) != 1 {
				t.Fatalf("suggestion %q for %q matches %d steps", rest[:end], text, len(m))
			}
		}
	})
}

// BenchmarkSuggest: what one undefined step costs the check (a one-word slip,
// and a text two words off that needs the deeper search).
func BenchmarkSuggest(b *testing.B) {
	for _, text := range []string{"device d1 send GET /api/orders", "WeChat has seen at most 4 jscode2session calls"} {
		b.Run(strings.Fields(text)[1], func(b *testing.B) {
			for range b.N {
				suggest("When", text)
			}
		})
	}
}
