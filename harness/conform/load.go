package conform

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	gherkin "github.com/cucumber/gherkin/go/v26"
	messages "github.com/cucumber/messages/go/v21"

	"github.com/tokenstorm/tokenstorm/features"
	"github.com/tokenstorm/tokenstorm/harness/inputfile"
)

// Problem is one mistake in a feature file, found before anything runs.
type Problem struct {
	File   string
	Line   int
	Column int // 0 when unknown
	Msg    string
}

func (p Problem) String() string {
	if p.Column > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
}

// FeatureError lists every problem in the feature files: Gherkin syntax
// errors, undefined steps and ambiguous steps, each with file and line. A run
// with problems does not start (strict mode): the CLI exits 2.
type FeatureError struct{ Problems []Problem }

func (e *FeatureError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d problem(s) in the feature files:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n")
		b.WriteString(p.String())
	}
	b.WriteString("\n(tokenstorm steps lists every step with an example)")
	return b.String()
}

// featureFile is one .feature file: its display name (as it appears in every
// message and report) and its text.
type featureFile struct {
	name    string
	content []byte
	lines   []int // FILE:LINE selection: run only the scenarios at these lines
}

// loadFeatures reads the embedded suite (shown as features/NAME.feature)
// and/or the user's paths (files, or directories searched for .feature).
func loadFeatures(ctx context.Context, paths []string, builtin bool) ([]featureFile, error) {
	var out []featureFile
	if len(paths) == 0 || builtin {
		err := fs.WalkDir(features.FS(), ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".feature") {
				return err
			}
			b, err := fs.ReadFile(features.FS(), p)
			if err != nil {
				return err
			}
			out = append(out, featureFile{name: "features/" + p, content: b})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("embedded features: %w", err)
		}
	}
	for _, arg := range paths {
		p, lines := arg, []int(nil)
		st, err := os.Stat(p)
		if err != nil {
			// FILE:LINE[:LINE…] runs the scenarios at those lines.
			if q, ls := splitLines(arg); ls != nil {
				if qst, qerr := os.Stat(q); qerr == nil || embedded(q) != nil {
					p, lines, st, err = q, ls, qst, qerr
				}
			}
		}
		if err != nil {
			// features/NAME.feature names a file of the built-in suite from any directory.
			if b := embedded(p); b != nil {
				out = append(out, featureFile{name: p, content: b, lines: lines})
				continue
			}
			return nil, fmt.Errorf("feature path %s: %w", p, unwrapPathErr(err))
		}
		if !st.IsDir() {
			b, err := readFeature(ctx, p)
			if err != nil {
				return nil, fmt.Errorf("feature path %s: %w", p, unwrapPathErr(err))
			}
			out = append(out, featureFile{name: p, content: b, lines: lines})
			continue
		}
		if lines != nil {
			return nil, fmt.Errorf("feature path %s: a line number needs a .feature file, %s is a directory", arg, p)
		}
		var found []string
		err = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(q, ".feature") {
				found = append(found, q)
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("feature path %s: %w", p, err)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("feature path %s: no .feature files in this directory", p)
		}
		sort.Strings(found)
		for _, q := range found {
			b, err := readFeature(ctx, q)
			if err != nil {
				return nil, fmt.Errorf("feature path %s: %w", q, unwrapPathErr(err))
			}
			out = append(out, featureFile{name: q, content: b})
		}
	}
	// The same file named twice runs once (godog keeps the first too); its
	// line selections add up, and a mention without lines selects it all.
	at := map[string]int{}
	uniq := out[:0]
	for _, f := range out {
		i, ok := at[f.name]
		if !ok {
			at[f.name] = len(uniq)
			uniq = append(uniq, f)
			continue
		}
		if uniq[i].lines == nil || f.lines == nil {
			uniq[i].lines = nil
		} else {
			uniq[i].lines = append(uniq[i].lines, f.lines...)
		}
	}
	return uniq, nil
}

// MaxFeatureSize and MaxFeatureLine bound a feature file. The Gherkin
// scanner cannot read a line of 64 KiB or more (and used to crash on one), so
// longer lines are reported before it sees them.
const (
	MaxFeatureSize = 4 << 20
	MaxFeatureLine = 60 << 10
)

// readFeature reads a user's feature file within MaxFeatureSize, without a
// BOM, giving up when ctx ends (a FIFO nobody writes to).
func readFeature(ctx context.Context, path string) ([]byte, error) {
	b, err := inputfile.Read(ctx, path, MaxFeatureSize)
	if inputfile.IsTooLarge(err) {
		return nil, fmt.Errorf("larger than %d bytes", MaxFeatureSize)
	}
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("reading stopped: %w", ctx.Err()) // the caller names the file
	}
	return b, err
}

// longLine returns the 1-based number of the first line longer than
// MaxFeatureLine, or 0.
func longLine(b []byte) int {
	for n := 1; len(b) > 0; n++ {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			i = len(b)
		}
		if i > MaxFeatureLine {
			return n
		}
		b = b[min(i+1, len(b)):]
	}
	return 0
}

// gherkinParse and gherkinPickles are the Gherkin parser and compiler every
// feature file goes through. They are variables only so a test can make them
// panic (no known input does since the long-line check) and show the
// recovers below still turn that into a FILE:LINE problem; nothing else sets
// them.
var (
	gherkinParse   = gherkin.ParseGherkinDocument
	gherkinPickles = gherkin.Pickles
)

// parseGherkin is parseDocument plus gherkin.Pickles, whose panics also
// become a Problem naming the file.
func parseGherkin(f featureFile, newID func() string) (doc *messages.GherkinDocument, pickles []*messages.Pickle, probs []Problem) {
	defer func() {
		if v := recover(); v != nil {
			doc, pickles, probs = nil, nil, []Problem{parserPanic(f, v)}
		}
	}()
	if doc, probs = parseDocument(f, newID); probs != nil {
		return nil, nil, probs
	}
	return doc, gherkinPickles(*doc, f.name, newID), nil
}

// parseDocument is the only way a feature file reaches the Gherkin parser:
// a line it cannot read and any panic of it are Problems naming the file, so
// hostile input is a FILE:LINE error and exit 2, not a crash.
func parseDocument(f featureFile, newID func() string) (doc *messages.GherkinDocument, probs []Problem) {
	if n := longLine(f.content); n > 0 {
		return nil, []Problem{{File: f.name, Line: n, Msg: fmt.Sprintf("line longer than %d bytes (Gherkin cannot read it)", MaxFeatureLine)}}
	}
	defer func() {
		if v := recover(); v != nil {
			doc, probs = nil, []Problem{parserPanic(f, v)}
		}
	}()
	doc, err := gherkinParse(bytes.NewReader(f.content), newID)
	if err != nil {
		return nil, syntaxProblems(f.name, err)
	}
	if doc == nil || doc.Feature == nil {
		return nil, []Problem{{File: f.name, Line: 1, Msg: "no Feature in this file"}}
	}
	return doc, nil
}

// parserPanic names the file at line 1: a panic has no position.
func parserPanic(f featureFile, v any) Problem {
	return Problem{File: f.name, Line: 1, Msg: fmt.Sprintf("the Gherkin parser failed on this file (%v)", v)}
}

// embedded returns a built-in feature named features/NAME.feature, or nil.
func embedded(p string) []byte {
	name, ok := strings.CutPrefix(filepath.ToSlash(p), "features/")
	if !ok || !strings.HasSuffix(name, ".feature") {
		return nil
	}
	b, err := fs.ReadFile(features.FS(), name)
	if err != nil {
		return nil
	}
	return b
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// scenarioInfo is what the runner knows about one pickle before godog runs it.
type scenarioInfo struct {
	id   string // pickle id
	file string
	line int // the Scenario line, or the Examples row of an outline
	name string
	tags []string
	skip string // why it is not run ("" = it runs)
}

// parsed is the suite as the runner sees it.
type parsed struct {
	byID     map[string]*scenarioInfo // pickle id → info (godog assigns the same ids)
	order    []*scenarioInfo
	problems []Problem
}

var gherkinErr = regexp.MustCompile(`^\((\d+):(\d+)\): (.*)$`)

// parseFeatures parses every file like godog will (same id sequence, so the
// pickle ids agree), selects pickles with the tag expression and exclusions,
// and checks every selected step against the step library.
func parseFeatures(files []featureFile, tags string, excl []exclusion) *parsed {
	p := &parsed{byID: map[string]*scenarioInfo{}}
	newID := (&messages.Incrementing{}).NewId
	for _, f := range files {
		doc, pickles, probs := parseGherkin(f, newID)
		if probs != nil {
			p.problems = append(p.problems, probs...)
			continue
		}
		ast := indexAST(doc)
		for _, pk := range pickles {
			info := &scenarioInfo{id: pk.Id, file: f.name, name: pk.Name}
			for _, t := range pk.Tags {
				info.tags = append(info.tags, t.Name)
			}
			info.line = ast.line[pk.AstNodeIds[0]]
			if len(pk.AstNodeIds) > 1 {
				info.line = ast.line[pk.AstNodeIds[len(pk.AstNodeIds)-1]]
			}
			if !tagMatch(tags, info.tags) {
				continue
			}
			for _, x := range excl {
				if x.applies(info.tags) {
					info.skip = x.reason
					if x.why != nil {
						info.skip = x.why(pk.Steps)
					}
					break
				}
			}
			p.byID[pk.Id] = info
			p.order = append(p.order, info)
			if info.skip != "" {
				continue
			}
			if len(pk.Steps) == 0 {
				p.problems = append(p.problems, Problem{File: f.name, Line: info.line, Msg: fmt.Sprintf("scenario %q has no steps", pk.Name)})
			}
			vs := newVetScenario()
			for _, st := range pk.Steps {
				id := st.AstNodeIds[0]
				where := Problem{File: f.name, Line: ast.line[id]}
				kw := strings.TrimSpace(ast.keyword[id])
				switch m := match(st.Text); len(m) {
				case 1:
					if err := vetStepOf(vs, m[0], st.Text, tableOf(st)); err != nil {
						where.Msg = fmt.Sprintf("%s %s: %v", kw, st.Text, err)
						p.problems = append(p.problems, where)
					}
				case 0:
					vs.exact = false // what the step meant to send is unknown
					where.Msg = fmt.Sprintf("undefined step: %s %s%s", kw, st.Text, suggest(kw, st.Text))
					p.problems = append(p.problems, where)
				default:
					vs.exact = false
					var pats []string
					for _, s := range m {
						pats = append(pats, s.Pattern)
					}
					where.Msg = fmt.Sprintf("ambiguous step: %s %s matches %s", kw, st.Text, strings.Join(pats, " and "))
					p.problems = append(p.problems, where)
				}
			}
		}
	}
	// An outline's steps are reported once per example row; keep one.
	p.problems = dedupProblems(p.problems)
	return p
}

// tableOf is a pickle step's data table as cells, nil without one.
func tableOf(st *messages.PickleStep) [][]string {
	if st.Argument == nil || st.Argument.DataTable == nil {
		return nil
	}
	var out [][]string
	for _, r := range st.Argument.DataTable.Rows {
		var row []string
		for _, c := range r.Cells {
			row = append(row, c.Value)
		}
		out = append(out, row)
	}
	return out
}

func dedupProblems(ps []Problem) []Problem {
	seen := map[string]bool{}
	out := ps[:0]
	for _, q := range ps {
		k := q.String()
		if !seen[k] {
			seen[k] = true
			out = append(out, q)
		}
	}
	return out
}

func syntaxProblems(file string, err error) []Problem {
	var out []Problem
	for _, line := range strings.Split(err.Error(), "\n") {
		if m := gherkinErr.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			l, _ := strconv.Atoi(m[1])
			c, _ := strconv.Atoi(m[2])
			out = append(out, Problem{File: file, Line: l, Column: c, Msg: "Gherkin syntax: " + m[3]})
		}
	}
	if len(out) == 0 {
		out = append(out, Problem{File: file, Line: 1, Msg: "Gherkin syntax: " + err.Error()})
	}
	return out
}

type astIndex struct {
	line    map[string]int
	keyword map[string]string
}

// indexAST maps AST node ids (steps, scenarios, example rows) to lines.
func indexAST(doc *messages.GherkinDocument) astIndex {
	ix := astIndex{line: map[string]int{}, keyword: map[string]string{}}
	steps := func(ss []*messages.Step) {
		for _, s := range ss {
			ix.line[s.Id] = int(s.Location.Line)
			ix.keyword[s.Id] = s.Keyword
		}
	}
	scenario := func(sc *messages.Scenario) {
		ix.line[sc.Id] = int(sc.Location.Line)
		steps(sc.Steps)
		for _, ex := range sc.Examples {
			for _, row := range ex.TableBody {
				ix.line[row.Id] = int(row.Location.Line)
			}
		}
	}
	for _, c := range doc.Feature.Children {
		switch {
		case c.Background != nil:
			steps(c.Background.Steps)
		case c.Scenario != nil:
			scenario(c.Scenario)
		case c.Rule != nil:
			for _, rc := range c.Rule.Children {
				if rc.Background != nil {
					steps(rc.Background.Steps)
				}
				if rc.Scenario != nil {
					scenario(rc.Scenario)
				}
			}
		}
	}
	return ix
}

// tagMatch evaluates a godog tag expression the way godog does (so the
// runner's pre-check selects the same pickles): "&&" separates clauses that
// must all hold, "," separates alternatives, "~" negates, "@" is optional.
// TagsSelect reports whether the tag expression (the --tags syntax)
// selects a scenario with these tags: how a check that is not a Gherkin
// scenario, such as the backend profile of conform --backend, follows
// --tags as if it were one.
func TagsSelect(expr string, tags ...string) bool { return tagMatch(expr, tags) }

func tagMatch(expr string, tags []string) bool {
	if strings.TrimSpace(expr) == "" {
		return true
	}
	has := func(t string) bool {
		for _, x := range tags {
			if strings.ReplaceAll(x, "@", "") == t {
				return true
			}
		}
		return false
	}
	for _, clause := range strings.Split(expr, "&&") {
		ok := false
		for _, t := range strings.Split(clause, ",") {
			t = strings.ReplaceAll(strings.TrimSpace(t), "@", "")
			if t == "" {
				continue
			}
			if strings.HasPrefix(t, "~") {
				ok = ok || !has(t[1:])
			} else {
				ok = ok || has(t)
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// exclusion skips scenarios with a tag the current target cannot serve.
type exclusion struct {
	tag    string // "@admin", or "@style:" for every style but the current one
	except string // with "@style:": the style that runs
	reason string
	// why, when set, gives the reason from the scenario's steps instead.
	why func(steps []*messages.PickleStep) string
}

func (x exclusion) applies(tags []string) bool {
	for _, t := range tags {
		if x.except != "" {
			if strings.HasPrefix(t, x.tag) && t != x.tag+x.except {
				return true
			}
		} else if t == x.tag {
			return true
		}
	}
	return false
}

// godogExpr is the tag expression godog runs with: the user's, minus the
// excluded scenarios (they are reported as skipped with their reason).
func godogExpr(user string, p *parsed) string {
	var clauses []string
	if strings.TrimSpace(user) != "" {
		clauses = append(clauses, user)
	}
	excluded := map[string]bool{}
	for _, s := range p.order {
		if s.skip == "" {
			continue
		}
		// Negate every tag that made it skip; a scenario with a skipped tag never runs.
		for _, t := range s.tags {
			if t == "@admin" || strings.HasPrefix(t, "@style:") {
				excluded[t] = true
			}
		}
	}
	for _, t := range sortedKeys(excluded) {
		// Only tags that actually excluded something are negated; a style
		// tag of the current style never is.
		if anyRunningHas(p, t) {
			continue
		}
		clauses = append(clauses, "~"+t)
	}
	return strings.Join(clauses, " && ")
}

func anyRunningHas(p *parsed, tag string) bool {
	for _, s := range p.order {
		if s.skip == "" {
			for _, t := range s.tags {
				if t == tag {
					return true
				}
			}
		}
	}
	return false
}

// wordDistance is the Levenshtein distance over words.
func wordDistance(a, b []string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
