package storm

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/tokenstorm/tokenstorm/scenarios"
)

// FuzzScenario: any bytes are a scenario or an error naming the file, never
// a panic or a blow-up (the seeds include the alias bomb of issue 15).
func FuzzScenario(f *testing.F) {
	ents, _ := fs.ReadDir(scenarios.FS, ".")
	for _, e := range ents {
		if b, err := fs.ReadFile(scenarios.FS, e.Name()); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		aliasBombScenario(), "\xEF\xBB\xBFname: bom\nmix: [{path: /api/x}]\n",
		"mix:\n  - {path: /a, body: &b {x: 1}}\n  - {path: /b, body: *b}\n",
		"mix: [{path: /a, body: {<<: *nope}}]\n", "mix: [{path: /a, body: *undefined}]\n",
		strings.Repeat("[", 300), "a: &a [*a]\n", "--- \n---\n", "\x00\xff", "devices: 1e400\n",
		"thresholds: [\"latency.p99 < 1e999ms\"]\n", "rate: {pacer: sine, mean: 1, amp: 5, period: 0s}\n",
		"timeline: [{at: -1s, action: expire_all}]\n", "mix: [{path: /a, body: {k: .inf}}]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if sc.Devices < 1 || sc.InFlight < 1 || sc.Duration <= 0 || len(sc.Mix) == 0 {
			t.Fatalf("accepted an unusable scenario: %+v", sc)
		}
	})
}

// FuzzThreshold: a parsed threshold prints as text that parses back to it.
func FuzzThreshold(f *testing.F) {
	for _, s := range []string{"latency.p99 < 250ms", "requests.lost == 0", "invariants: all", "refresh.amplification <= 1",
		"invariants.single-refresh.violations == 0", "protocol_errors.total == 0", "latency.p99 < 1e999ms", "x <", "invariants:", "latency.max >= -5s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		th, err := ParseThreshold(s)
		if err != nil {
			return
		}
		again, err := ParseThreshold(th.String())
		if err != nil {
			t.Fatalf("%q parsed, but its String %q does not: %v", s, th.String(), err)
		}
		if again.String() != th.String() {
			t.Fatalf("round trip changed %q into %q", th.String(), again.String())
		}
	})
}

// FuzzRate: a parsed rate is usable by vegeta (no negative or zero period).
func FuzzRate(f *testing.F) {
	for _, s := range []string{"500", "500/s", "500/1s", "50/100ms", "max", "0", "-1/s", "1/0s", "9999999999999/1ns", "1/-1s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			return
		}
		if r.Freq < 0 || r.Per <= 0 {
			t.Fatalf("%q gave an unusable rate %+v", s, r)
		}
	})
}
