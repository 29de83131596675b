package reports

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// FuzzSummaryJSON reads arbitrary summary.json files the way `report DIR`
// does and renders summary.md from whatever decodes: an error or a report,
// never a panic.
func FuzzSummaryJSON(f *testing.F) {
	b, _ := json.Marshal(Sample(true))
	f.Add(b)
	b, _ = json.Marshal(Sample(false))
	f.Add(b)
	for _, s := range []string{`{}`, `null`, `[]`, `{"verdict":"<script>","client":"<img>"}`, `{"invariants":{"x":null}}`,
		`{"latency":{"p99":1e308}}`, `{"scenarios":[null]}`, `{"latency_hdr":{"hdr":"!!","max_ns":-1}}`, `{"protocol_errors":{"total":-1}}`,
		`{"per_device":[{}],"timeline":[{}],"series":[{}]}`} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, "summary.json"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := summary.ReadFile(dir)
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
