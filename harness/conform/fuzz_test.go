package conform

import (
	"io/fs"
	"strings"
	"testing"

	messages "github.com/cucumber/messages/go/v21"

	"github.com/tokenstorm/tokenstorm/features"
)

// FuzzFeature: any feature file is parsed or turned into problems with a
// line, never a panic (the seeds include the >64 KiB line that crashed the
// Gherkin parser).
func FuzzFeature(f *testing.F) {
	_ = fs.WalkDir(features.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".feature") {
			if b, err := fs.ReadFile(features.FS(), p); err == nil && len(b) < 8<<10 {
				f.Add(b)
			}
		}
		return nil
	})
	for _, s := range []string{"", "Feature:", "Feature: x\n  Scenario Outline: y\n    Given <a>\n    Examples:\n      | a |\n",
		"Feature: x\n  " + strings.Repeat("x", 70<<10) + "\n", "# language: xx\nFeature: x\n", "Feature: x\n  Rule: r\n    Background:\n      Given 1 device logged in\n",
		"Feature: x\n  Scenario: y\n    Given \"\"\"\n", "\xEF\xBB\xBFFeature: bom\n", "Feature: x\n  @\x00\n  Scenario: y\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, pickles, probs := parseGherkin(featureFile{name: "fuzz.feature", content: data}, (&messages.Incrementing{}).NewId)
		for _, p := range probs {
			if p.File != "fuzz.feature" || p.Line < 1 {
				t.Fatalf("problem without a location: %+v", p)
			}
		}
		if probs == nil && (doc == nil || doc.Feature == nil) {
			t.Fatalf("no problem and no feature (%d pickles)", len(pickles))
		}
	})
}
