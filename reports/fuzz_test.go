package reports

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// FuzzSummaryJSON reads arbitrary summary.json files the way `report DIR`
// does and renders summary.md from whatever decodes: an error or a report,
// never a panic.
func FuzzSummaryJSON(f *testing.F) {
	for _, failing := range []bool{true, false} {
		b, _ := json.Marshal(smallSample(failing))
		f.Add(b)
	}
	for _, s := range []string{`{}`, `null`, `[]`, `{"verdict":"<script>","client":"<img>"}`, `{"invariants":{"x":null}}`,
		`{"latency":{"p99":1e308}}`, `{"scenarios":[null]}`, `{"latency_hdr":{"hdr":"!!","max_ns":-1}}`, `{"protocol_errors":{"total":-1}}`,
		`{"per_device":[{}],"timeline":[{}],"series":[{}]}`} {
		f.Add([]byte(s))
	}
	// Decoded from memory: ReadFile is inputfile.Read (tested there) then
	// Decode, and a file write per exec cost most of each exec.
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := summary.Decode("summary.json", data)
		if err != nil {
			return
		}
		if s.Invariants == nil {
			s.Invariants = map[string]*summary.Invariant{}
		}
		for k, v := range s.Invariants {
			if v == nil {
				delete(s.Invariants, k) // report validates these first (schema)
			}
		}
		var buf bytes.Buffer
		if err := writeMarkdown(&buf, s); err != nil {
			return
		}
		if buf.Len() == 0 {
			t.Fatal("empty summary.md")
		}
	})
}

// smallSample is Sample with every list cut to two entries: each field is
// still there for the fuzzer to mutate, but a seed is a few KiB, not 70 KiB
// decoded and rendered on every exec.
func smallSample(failing bool) *summary.Summary {
	s := Sample(failing)
	s.Series, s.Timeline, s.PerDevice = first2(s.Series), first2(s.Timeline), first2(s.PerDevice)
	for _, inv := range s.Invariants {
		inv.Examples = first2(inv.Examples)
		for i := range inv.Examples {
			inv.Examples[i].Evidence = first2(inv.Examples[i].Evidence)
		}
	}
	return s
}

func first2[T any](xs []T) []T { return xs[:min(len(xs), 2)] }
