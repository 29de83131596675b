package reports

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// Markdown limits. GitHub rejects comments over 65,536 characters; stay
// well below so a wrapper (a bot's header, a link to the artifacts) fits.
const (
	mdMaxBytes      = 60 << 10
	mdReserveBytes  = 2 << 10 // kept free for the trailing "N more" note
	mdMaxViolations = 20
	mdMaxEvidence   = 12
	mdMaxScenarios  = 50
)

// writeMarkdown renders summary.md for a PR comment: verdict, invariants,
// key numbers, failed scenarios and thresholds, then the first violations
// with evidence in collapsible blocks, cut to fit mdMaxBytes.
func writeMarkdown(buf *bytes.Buffer, s *summary.Summary) error {
	verdict := overallVerdict(s)
	fmt.Fprintf(buf, "## tokenstorm: %s\n\n", verdictLabel(verdict))
	// Names come from the command line and the client's hello: escaped
	// text, not code spans, so no byte of them reaches the file as HTML.
	fmt.Fprintf(buf, "**Verdict: %s** — client %s, backend %s", verdictLabel(verdict), mdName(s.Client), mdName(s.Backend))
	if s.Style != "" {
		fmt.Fprintf(buf, ", style %s", mdName(s.Style))
	}
	fmt.Fprintf(buf, ", duration %s.\n\n", fmtDuration(s.DurationMS))
	if verdict == summary.Interrupted {
		buf.WriteString("The run was **interrupted** before it finished: what ran is reported below, what did not run is skipped.\n\n")
	}
	if failed := s.FailedInvariants(); len(failed) > 0 {
		fmt.Fprintf(buf, "Failed invariants: %s.\n\n", mdText(strings.Join(failed, ", ")))
	}

	buf.WriteString("| invariant | verdict | violations | checked | note |\n|---|---|---:|---:|---|\n")
	for _, inv := range orderedInvariants(s) {
		fmt.Fprintf(buf, "| `%s` | %s | %d | %d | %s |\n", mdCode(inv.Name), mdVerdict(inv.Verdict), inv.Violations, inv.Checked, mdCell(inv.Reason))
	}
	buf.WriteString("\n")

	r, rf, l := s.Requests, s.Refresh, s.Latency
	fmt.Fprintf(buf, "Figures below cover %s.\n\n", mdText(scopeOf(s)))
	buf.WriteString("| requests | refresh | latency |\n|---|---|---|\n")
	fmt.Fprintf(buf, "| issued %d | expiry episodes %d | p50 %s |\n", r.Issued, rf.ExpiryEpisodes, fmtMS(l.P50))
	fmt.Fprintf(buf, "| succeeded %d | refreshes %d | p90 %s |\n", r.Succeeded, rf.Refreshes, fmtMS(l.P90))
	fmt.Fprintf(buf, "| failed %d | logins %d | p99 %s |\n", r.Failed, rf.Logins, fmtMS(l.P99))
	fmt.Fprintf(buf, "| **lost %d** | **amplification %s** | max %s |\n\n", r.Lost, fmtRatio(rf.Amplification), fmtMS(l.Max))

	if s.ProtocolErrors != nil {
		fmt.Fprintf(buf, "**Client protocol errors: %s** (gate with `protocol_errors.total == 0`).\n\n", mdText(s.ProtocolErrors.String()))
	}
	if sd := s.StoppedDevices; sd != nil {
		fmt.Fprintf(buf, "**Devices stopped by a limit: %s** — their later calls failed at once, the run went on (gate with `stopped_devices.total == 0`).\n\n", mdText(sd.String(5)))
	}
	writeMarkdownScenarios(buf, s)
	if rows := profileRows(s); rows != nil {
		buf.WriteString("| backend profile | |\n|---|---|\n")
		for _, r := range rows {
			fmt.Fprintf(buf, "| %s | %s |\n", mdCell(r[0]), mdCell(r[1]))
		}
		buf.WriteString("\n")
	}
	if len(s.Thresholds) > 0 {
		if s.Storm != nil {
			fmt.Fprintf(buf, "Thresholds of storm `%s` (its figures only):\n\n", mdCode(s.Storm.Scenario))
		}
		buf.WriteString("| threshold | actual | verdict |\n|---|---:|---|\n")
		for _, t := range s.Thresholds {
			fmt.Fprintf(buf, "| `%s` | %s | %s |\n", mdCode(t.Expr), fmtFloat(t.Actual), mdVerdict(t.Verdict))
		}
		buf.WriteString("\n")
	}
	writeMarkdownViolations(buf, s)
	buf.WriteString("_Full report: `report.html` (charts, every violation with its evidence); data: `summary.json`._\n")
	return nil
}

func writeMarkdownScenarios(buf *bytes.Buffer, s *summary.Summary) {
	var failed []summary.Scenario
	for _, sc := range s.Scenarios {
		if sc.Verdict == summary.Fail {
			failed = append(failed, sc)
		}
	}
	if len(s.Scenarios) == 0 {
		return
	}
	fmt.Fprintf(buf, "Scenarios: %d run, %d failed.\n\n", len(s.Scenarios), len(failed))
	if len(failed) == 0 {
		return
	}
	buf.WriteString("| failed scenario | kind | failed checks | detail |\n|---|---|---|---|\n")
	for i, sc := range failed {
		if i == mdMaxScenarios {
			fmt.Fprintf(buf, "\n… and %d more failed scenarios.\n", len(failed)-i)
			break
		}
		fmt.Fprintf(buf, "| %s | %s | %s | %s |\n", mdCell(sc.Name), mdCell(sc.Kind), mdCell(strings.Join(sc.Failed, ", ")), mdCell(truncate(sc.Detail, 300)))
	}
	buf.WriteString("\n")
}

// writeMarkdownViolations appends violation blocks while they fit the size
// budget, then a count of what was left out.
func writeMarkdownViolations(buf *bytes.Buffer, s *summary.Summary) {
	picked, total := pickViolations(s, mdMaxViolations)
	if total == 0 {
		return
	}
	fmt.Fprintf(buf, "### Violations (%d)\n\n", total)
	// Where they are: one line per scenario and invariant, failures first.
	groups, _ := violationGroups(s)
	buf.WriteString("| scenario | invariant | violations |\n|---|---|---:|\n")
	listed := 0
	for _, g := range groups {
		if g.Invariant == "" {
			continue
		}
		if listed == mdMaxScenarios {
			buf.WriteString("| … | | |\n")
			break
		}
		name := g.Scenario
		if g.Kind != "" {
			name = g.Kind + " " + name
		}
		fmt.Fprintf(buf, "| %s | `%s` | %d |\n", mdCell(name), mdCode(g.Invariant), g.Count)
		listed++
	}
	buf.WriteString("\n")
	shown := 0
	for _, v := range picked {
		block := markdownViolation(s, v)
		if buf.Len()+len(block) > mdMaxBytes-mdReserveBytes {
			break
		}
		buf.WriteString(block)
		shown++
	}
	if more := total - shown; more > 0 {
		fmt.Fprintf(buf, "… %d more violation(s) not shown here.\n\n", more)
	}
}

func markdownViolation(s *summary.Summary, v pickedViolation) string {
	var b strings.Builder
	// Headline and explanation stay visible; only the evidence is folded,
	// since it is long and only needed by whoever fixes the bug.
	fmt.Fprintf(&b, "**%s**  \n%s\n", mdText(violationHeadline(s.StartedAt, v)), mdText(oneParagraph(v.Explanation)))
	if len(v.RIDs) > 0 {
		fmt.Fprintf(&b, "Requests: %s  \n", mdList(v.RIDs))
	}
	if len(v.Tokens) > 0 {
		fmt.Fprintf(&b, "Tokens: %s\n", mdList(v.Tokens))
	}
	if len(v.Evidence) > 0 {
		var lines []string
		for _, e := range v.Evidence[:min(len(v.Evidence), mdMaxEvidence)] {
			lines = append(lines, evidenceLine(s.StartedAt, e))
		}
		if n := len(v.Evidence) - mdMaxEvidence; n > 0 {
			lines = append(lines, fmt.Sprintf("… %d more evidence line(s) in report.html", n))
		}
		body := strings.Join(lines, "\n")
		fence := codeFence(body)
		// GitHub and GitLab render Markdown inside <details> only after a
		// blank line.
		fmt.Fprintf(&b, "\n<details><summary>evidence: %d ledger line(s)</summary>\n\n%stext\n%s\n%s\n\n</details>\n", len(v.Evidence), fence, body, fence)
	}
	b.WriteString("\n")
	return b.String()
}

// oneParagraph joins lines so an explanation cannot break the layout of the
// surrounding Markdown (a line starting with "#" or "|" would).
func oneParagraph(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// codeFence returns a backtick fence longer than any backtick run in body,
// so evidence cannot close its own code block.
func codeFence(body string) string {
	longest, run := 0, 0
	for _, r := range body {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

func mdVerdict(v string) string {
	if v == summary.Fail {
		return "**FAIL**"
	}
	return verdictLabel(v)
}

// mdText neutralises what would turn user-controlled text into markup:
// raw HTML and line breaks. Markdown emphasis characters are left alone;
// at worst they change emphasis, never structure.
func mdText(s string) string {
	return htmlEscape(s)
}

// mdName shows a user-supplied name: a code span as usual, but escaped
// text when it holds HTML, which then never reaches the file raw.
func mdName(s string) string {
	if !strings.ContainsAny(s, "<>&") {
		return "`" + mdCode(s) + "`"
	}
	s = strings.NewReplacer("\\", "\\\\", "*", "\\*", "_", "\\_", "`", "\\`", "[", "\\[", "]", "\\]").Replace(s)
	return "**" + mdCell(s) + "**"
}

// mdCell is mdText for a table cell: one line, no pipes.
func mdCell(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "|", `\|`).Replace(s)
	return mdText(s)
}

// mdCode makes s safe inside a single-backtick code span in a table.
func mdCode(s string) string {
	return strings.NewReplacer("`", "'", "|", `\|`, "\n", " ", "\r", " ").Replace(s)
}

func mdList(items []string) string {
	const maxItems = 10
	var parts []string
	for _, it := range items[:min(len(items), maxItems)] {
		parts = append(parts, "`"+mdCode(it)+"`")
	}
	if len(items) > maxItems {
		parts = append(parts, fmt.Sprintf("… %d more", len(items)-maxItems))
	}
	return strings.Join(parts, ", ")
}

var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

func htmlEscape(s string) string { return htmlEscaper.Replace(s) }

// truncate shortens s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
