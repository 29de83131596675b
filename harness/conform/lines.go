package conform

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	messages "github.com/cucumber/messages/go/v21"
)

// Running scenarios by line, as godog and cucumber users expect:
// `conform features/x.feature:12` runs the scenario at line 12 (any line of
// it: its tags, title or steps), an Examples row's line runs that row only, and
// `x.feature:12:30` runs both. The other scenarios are blanked out of the text
// handed to godog, line for line, so every FILE:LINE in messages and reports
// still points into the author's file.

var lineSuffix = regexp.MustCompile(`^(.+?)((?::\d+)+)$`)

// splitLines splits "x.feature:12:30" into the path and its lines; a path
// without a line suffix has none.
func splitLines(p string) (string, []int) {
	m := lineSuffix.FindStringSubmatch(p)
	if m == nil {
		return p, nil
	}
	var lines []int
	for _, s := range strings.Split(strings.TrimPrefix(m[2], ":"), ":") {
		n, _ := strconv.Atoi(s)
		lines = append(lines, n)
	}
	return m[1], lines
}

// block is a scenario's extent in a file and, for an outline, its rows.
type block struct {
	first, last int // lines, inclusive (tags and title to the line before the next block)
	title       int
	rows        [][]int  // per Examples: the row lines (header excluded)
	exLines     [][2]int // per Examples: from its keyword (or tags) to its header
}

// selectLines keeps only the scenarios (or outline rows) at the file's
// requested lines. A line that selects nothing is a problem naming it.
func selectLines(f featureFile) (featureFile, []Problem) {
	if len(f.lines) == 0 {
		return f, nil
	}
	doc, probs := parseDocument(f, (&messages.Incrementing{}).NewId)
	if probs != nil {
		return f, nil // parseFeatures reports them
	}
	text := strings.Split(string(f.content), "\n")
	blocks := scenarioBlocks(doc, len(text))
	keepBlock := make([]bool, len(blocks))
	keepRows := make([]map[int]bool, len(blocks)) // nil = every row
	var problems []Problem
	for _, ln := range f.lines {
		i := slices.IndexFunc(blocks, func(b block) bool { return ln >= b.first && ln <= b.last })
		if i < 0 {
			var starts []string
			for _, b := range blocks {
				starts = append(starts, strconv.Itoa(b.title))
			}
			problems = append(problems, Problem{File: f.name, Line: ln,
				Msg: fmt.Sprintf("no scenario at line %d (scenarios start at lines %s)", ln, strings.Join(starts, ", "))})
			continue
		}
		b := blocks[i]
		row := -1
		for _, rs := range b.rows {
			if slices.Contains(rs, ln) {
				row = ln
			}
		}
		exRows := []int(nil)
		for k, ex := range b.exLines {
			if ln >= ex[0] && ln <= ex[1] {
				exRows = b.rows[k] // an Examples keyword or header: its rows
			}
		}
		wasKept := keepBlock[i]
		keepBlock[i] = true
		switch {
		case row < 0 && exRows == nil:
			keepRows[i] = nil // the whole scenario
		case wasKept && keepRows[i] == nil:
			// already selected whole
		default:
			if keepRows[i] == nil {
				keepRows[i] = map[int]bool{}
			}
			if row >= 0 {
				keepRows[i][row] = true
			}
			for _, r := range exRows {
				keepRows[i][r] = true
			}
		}
	}
	blank := func(from, to int) {
		for l := from; l <= to && l <= len(text); l++ {
			text[l-1] = ""
		}
	}
	for i, b := range blocks {
		switch {
		case !keepBlock[i]:
			blank(b.first, b.last)
		case keepRows[i] != nil:
			for _, rs := range b.rows {
				for _, r := range rs {
					if !keepRows[i][r] {
						blank(r, r)
					}
				}
			}
		}
	}
	f.content = []byte(strings.Join(text, "\n"))
	return f, problems
}

// scenarioBlocks lists the scenarios of a document with their extents: a
// scenario runs from its first tag to the line before whatever comes next
// (another scenario, a Background or a Rule).
func scenarioBlocks(doc *messages.GherkinDocument, nLines int) []block {
	var starts []int
	var blocks []block
	startOf := func(line int64, tags []*messages.Tag) int {
		s := int(line)
		for _, t := range tags {
			s = min(s, int(t.Location.Line))
		}
		return s
	}
	addScenario := func(sc *messages.Scenario) {
		b := block{first: startOf(sc.Location.Line, sc.Tags), title: int(sc.Location.Line)}
		for _, ex := range sc.Examples {
			var rows []int
			for _, r := range ex.TableBody {
				rows = append(rows, int(r.Location.Line))
			}
			end := int(ex.Location.Line)
			if ex.TableHeader != nil {
				end = int(ex.TableHeader.Location.Line)
			}
			b.rows = append(b.rows, rows)
			b.exLines = append(b.exLines, [2]int{startOf(ex.Location.Line, ex.Tags), end})
		}
		starts = append(starts, b.first)
		blocks = append(blocks, b)
	}
	for _, c := range doc.Feature.Children {
		switch {
		case c.Background != nil:
			starts = append(starts, int(c.Background.Location.Line))
		case c.Scenario != nil:
			addScenario(c.Scenario)
		case c.Rule != nil:
			starts = append(starts, startOf(c.Rule.Location.Line, c.Rule.Tags))
			for _, rc := range c.Rule.Children {
				if rc.Background != nil {
					starts = append(starts, int(rc.Background.Location.Line))
				}
				if rc.Scenario != nil {
					addScenario(rc.Scenario)
				}
			}
		}
	}
	slices.Sort(starts)
	for i := range blocks {
		blocks[i].last = nLines
		for _, s := range starts {
			if s > blocks[i].first {
				blocks[i].last = s - 1
				break
			}
		}
	}
	return blocks
}
