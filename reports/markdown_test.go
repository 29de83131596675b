package reports

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

func TestMarkdownFailingRun(t *testing.T) {
	s := Sample(true)
	md := readFile(t, render(t, s), MarkdownFile)

	assert.True(t, strings.HasPrefix(md, "## tokenstorm: FAIL\n"), "verdict first, as a plain-text marker")
	assert.Contains(t, md, "client `mutant:storm`, backend `embedded`")
	assert.Contains(t, md, "| `single-refresh` | **FAIL** | 40 | 50 |")
	assert.Contains(t, md, "| `correct-replay` | PASS | 0 | 1240 |")
	assert.Contains(t, md, "| `bounded-retry` | SKIP |")
	assert.Contains(t, md, "**amplification 3.90**")
	assert.Contains(t, md, "p99 488 ms")
	assert.Contains(t, md, "| expiry-storm | storm |", "failed scenarios are listed")
	assert.Contains(t, md, "| `latency.p99 < 250ms` | 488 | **FAIL** |")

	ex := s.Invariants[summary.SingleRefresh].Examples[0]
	assert.Contains(t, md, ex.Explanation)
	assert.Contains(t, md, "<details><summary>evidence: 13 ledger line(s)</summary>\n\n```text\n")
	assert.Contains(t, md, "backend/refresh device=dev-001 token=rt-001-1 family=fam-001")
	assert.Contains(t, md, "### Violations (40)")
	assert.Contains(t, md, "more violation(s) not shown")
	assert.Equal(t, strings.Count(md, "<details>"), strings.Count(md, "</details>"))
}

func TestMarkdownPassingRun(t *testing.T) {
	md := readFile(t, render(t, Sample(false)), MarkdownFile)
	assert.True(t, strings.HasPrefix(md, "## tokenstorm: PASS\n"))
	assert.NotContains(t, md, "Violations")
	assert.NotContains(t, md, "**FAIL**")
	assert.Contains(t, md, "Scenarios: 4 run, 0 failed.")
	assert.Contains(t, md, "**amplification 1.00**", "a ratio keeps its decimals, as on stdout")
}

// A PR comment is capped (GitHub: 65,536 characters); a huge run must still
// produce a comment that fits, and say what it left out.
func TestMarkdownFitsPRComment(t *testing.T) {
	s := bigSummary(1000, 10000)
	for i := range s.Invariants[summary.SingleRefresh].Examples {
		ex := &s.Invariants[summary.SingleRefresh].Examples[i]
		ex.Explanation += strings.Repeat(" long explanation", 100)
	}
	for i := range 300 {
		s.Scenarios = append(s.Scenarios, summary.Scenario{Name: fmt.Sprintf("scenario %d", i), Kind: "feature", Verdict: summary.Fail, Detail: strings.Repeat("x", 400)})
	}
	var buf bytes.Buffer
	require.NoError(t, writeMarkdown(&buf, s))
	md := buf.String()
	assert.Less(t, len(md), mdMaxBytes)
	assert.Contains(t, md, "more failed scenarios")
	assert.Contains(t, md, "more violation(s) not shown")
	assert.Contains(t, md, "report.html")
	assert.Equal(t, strings.Count(md, "<details>"), strings.Count(md, "</details>"), "never cut inside a block")
}

func TestMarkdownEscapesUserStrings(t *testing.T) {
	s := Sample(true)
	ex := &s.Invariants[summary.SingleRefresh].Examples[0]
	ex.Explanation = hostile + "\n| fake | table |"
	ex.Evidence[0].Detail = "```\n" + hostile
	s.Scenarios[3].Detail = "pipe | and " + hostile
	md := readFile(t, render(t, s), MarkdownFile)

	// Outside code blocks, markup is escaped.
	outside := md
	for {
		i := strings.Index(outside, "````text")
		if i < 0 {
			break
		}
		j := strings.Index(outside[i+8:], "````")
		require.GreaterOrEqual(t, j, 0, "the longer fence closes the block")
		outside = outside[:i] + outside[i+8+j+4:]
	}
	assert.NotContains(t, outside, "<script>")
	assert.Contains(t, md, "&lt;script&gt;")
	assert.NotContains(t, md, "\n| fake | table |", "explanations stay one paragraph")
	assert.Contains(t, md, `pipe \| and`)
	assert.Contains(t, md, "````text\n", "evidence containing ``` gets a longer fence")
}

func TestCodeFence(t *testing.T) {
	assert.Equal(t, "```", codeFence("plain"))
	assert.Equal(t, "````", codeFence("a ``` b"))
	assert.Equal(t, "``````", codeFence("`````"))
}

func TestMarkdownEscapesHTMLInNames(t *testing.T) {
	s := Sample(false)
	s.Client = `exec:'<img src=x onerror=alert(1)>'`
	s.Backend = "http://x/<script>alert(1)</script>"
	var buf bytes.Buffer
	require.NoError(t, writeMarkdown(&buf, s))
	out := buf.String()
	assert.NotContains(t, out, "<img")
	assert.NotContains(t, out, "<script")
	assert.Contains(t, out, "client **exec:'&lt;img src=x onerror=alert(1)&gt;'**")
}
