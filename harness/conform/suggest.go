package conform

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Suggestions for an undefined step. The closest step is found by editing
// the author's own words — replacing, adding or dropping a word or two with
// words of the library's steps — until the text matches a step, so the
// suggestion keeps the author's devices, numbers and paths, and the message
// says which word differs. When no step is two word edits away, the step
// whose example reads most like the text is offered instead.

// edit is one word change.
type edit struct {
	op        byte // 's' substitute, 'i' insert, 'd' delete
	at        int  // word index in the text being edited
	word      string
	old       string
	after     string // for an insertion: the word before it ("" at the start)
	closeness float64
}

func (e edit) describe() string {
	switch e.op {
	case 's':
		return fmt.Sprintf("%q should be %q", e.old, e.word)
	case 'd':
		return fmt.Sprintf("drop %q", e.old)
	}
	if e.after == "" {
		return fmt.Sprintf("%q is missing at the start", e.word)
	}
	return fmt.Sprintf("%q is missing after %q", e.word, e.after)
}

func (e edit) apply(words []string) []string {
	out := make([]string, 0, len(words)+1)
	switch e.op {
	case 's':
		out = append(append(append(out, words[:e.at]...), e.word), words[e.at+1:]...)
	case 'd':
		out = append(append(out, words[:e.at]...), words[e.at+1:]...)
	default:
		out = append(append(append(out, words[:e.at]...), e.word), words[e.at:]...)
	}
	return out
}

// cost orders edits: a near-miss spelling is the likeliest, then a missing
// word, then a dropped one, then an unrelated replacement. Dropping what looks
// like one of the author's values (a number, a path, a name with a digit) is
// the least likely fix of all.
func (e edit) cost() float64 {
	switch e.op {
	case 's':
		return 0.6 + 2*(1-e.closeness)
	case 'i':
		return 1.3
	}
	if strings.ContainsAny(e.old, "0123456789/-_") {
		return 1.8
	}
	return 1.4
}

var (
	vocabOnce sync.Once
	vocab     [][]string // per library entry: the words its steps are made of
)

// alternation is a capture group of literal alternatives in a pattern:
// (GET|POST|…), (exactly|at most|at least), (jscode2session|cgi-bin/token|…).
var alternation = regexp.MustCompile(`\(([\w./ -]+(?:\|[\w./ -]+)+)\)`)

// stepVocab is every literal word of a step: the words of its example that
// are not values (values are the author's to choose, never the example's),
// of its syntax, and of the alternatives its pattern lists.
func stepVocab() [][]string {
	vocabOnce.Do(func() {
		vocab = make([][]string, len(library))
		for i, s := range library {
			var ws []string
			add := func(w string) {
				w = strings.Trim(w, "[]")
				if w != "" && !strings.ContainsAny(w, "<>()…") && !slices.Contains(ws, w) {
					ws = append(ws, w)
				}
			}
			ex := exampleText(s.Example)
			values := s.re.FindStringSubmatchIndex(ex)
			inValue := func(from, to int) bool {
				for g := 2; g+1 < len(values); g += 2 {
					if values[g] >= 0 && from >= values[g] && to <= values[g+1] {
						return true
					}
				}
				return false
			}
			pos := 0
			for _, w := range strings.Fields(ex) {
				at := pos + strings.Index(ex[pos:], w)
				pos = at + len(w)
				if !inValue(at, pos) {
					add(w)
				}
			}
			for _, w := range strings.Fields(s.Syntax) {
				for _, alt := range strings.Split(w, "|") {
					add(alt)
				}
			}
			if strings.Contains(s.Pattern, "{span}") {
				for _, u := range sortedKeys(spanUnits) {
					add(u)
				}
			}
			for _, m := range alternation.FindAllStringSubmatch(s.Pattern, -1) {
				for _, alt := range strings.Split(m[1], "|") {
					for _, w := range strings.Fields(alt) {
						add(w)
					}
				}
			}
			vocab[i] = ws
		}
	})
	return vocab
}

// numberWords are counts as people write them; the suggestion turns them
// into the digits the steps take.
var numberWords = map[string]string{
	"no": "0", "zero": "0", "none": "0", "one": "1", "a": "1", "an": "1", "two": "2", "three": "3", "four": "4",
	"five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}

// closeness of two words in [0,1] by letters (1 = equal, ignoring case).
func closeness(a, b string) float64 {
	la, lb := strings.Split(strings.ToLower(a), ""), strings.Split(strings.ToLower(b), "")
	d := wordDistance(la, lb)
	c := 1 - float64(d)/float64(max(len(la), len(lb)))
	if d == 0 {
		return c
	}
	// Slips rarely hit a word's first letter ("seen" meant "saw" more likely
	// than "has" did), and replace a letter more often than they add or drop
	// one ("hourz" is "hours" rather than "hour").
	if la[0] == lb[0] {
		c += (1 - c) / 2
	}
	if len(la) == len(lb) {
		c += (1 - c) / 10
	}
	return c
}

// edits are the one-word edits of words with a step's vocabulary.
func edits(words, voc []string) []edit {
	var out []edit
	for i, w := range words {
		out = append(out, edit{op: 'd', at: i, old: w})
		if n, ok := numberWords[strings.ToLower(w)]; ok {
			out = append(out, edit{op: 's', at: i, word: n, old: w, closeness: 1})
		}
		for _, v := range voc {
			if v != w {
				out = append(out, edit{op: 's', at: i, word: v, old: w, closeness: closeness(w, v)})
			}
		}
	}
	for i := 0; i <= len(words); i++ {
		after := ""
		if i > 0 {
			after = words[i-1]
		}
		for _, v := range voc {
			out = append(out, edit{op: 'i', at: i, word: v, after: after})
		}
	}
	return out
}

type candidate struct {
	text  string
	edits []edit
	cost  float64
}

func (c candidate) render(keyword string) string {
	var why []string
	for _, e := range c.edits {
		why = append(why, e.describe())
	}
	return fmt.Sprintf("%q? %s", keyword+" "+c.text, strings.Join(why, "; "))
}

// repair finds the cheapest texts within maxEdits word edits that match
// library step i, and only it.
func repair(i int, words []string, maxEdits int) (candidate, bool) {
	s := &library[i]
	voc := stepVocab()[i]
	need := requiredWords()[i]
	best := candidate{}
	found := false
	var walk func(ws []string, done []edit, cost float64)
	walk = func(ws []string, done []edit, cost float64) {
		// Each edit brings at most one missing word: prune what cannot match.
		if missing(need, ws) > maxEdits-len(done) {
			return
		}
		for _, e := range edits(ws, voc) {
			c := cost + e.cost()
			if found && c >= best.cost {
				continue
			}
			next := e.apply(ws)
			text := strings.Join(next, " ")
			if s.re.MatchString(text) {
				if len(match(text)) == 1 && usable(s, text) {
					best, found = candidate{text: text, edits: append(slices.Clone(done), e), cost: c}, true
				}
				continue
			}
			if len(done)+1 < maxEdits {
				walk(next, append(done, e), c)
			}
		}
	}
	walk(words, nil, 0)
	return best, found
}

var (
	requiredOnce sync.Once
	required     [][]string
)

// requiredWords are, per library entry, the whole words every match of its
// pattern contains: the literal text of the pattern's top level, outside
// groups, alternatives and optional parts.
func requiredWords() [][]string {
	requiredOnce.Do(func() {
		required = make([][]string, len(library))
		for i, s := range library {
			re, err := syntax.Parse(s.re.String(), syntax.Perl)
			if err != nil || re.Op != syntax.OpConcat {
				continue
			}
			var ws []string
			for k, sub := range re.Sub {
				if sub.Op != syntax.OpLiteral {
					continue
				}
				lit := string(sub.Rune)
				words := strings.Split(lit, " ")
				// A word touching a placeholder may be part of a longer one.
				from, to := 0, len(words)
				if k > 0 && re.Sub[k-1].Op != syntax.OpBeginText && !strings.HasPrefix(lit, " ") {
					from = 1
				}
				if k+1 < len(re.Sub) && re.Sub[k+1].Op != syntax.OpEndText && !strings.HasSuffix(lit, " ") {
					to--
				}
				for _, w := range words[from:max(from, to)] {
					if w != "" {
						ws = append(ws, w)
					}
				}
			}
			required[i] = ws
		}
	})
	return required
}

// missing counts the words of need that ws lacks.
func missing(need, ws []string) int {
	n := 0
	for _, w := range need {
		if !slices.Contains(ws, w) {
			n++
		}
	}
	return n
}

// usable: the step's own checks accept the values the edits left in its
// placeholders ("invariant is holds" names no invariant).
func usable(s *Step, text string) bool {
	if s.vet == nil {
		return true
	}
	v := newVetScenario()
	v.exact, v.counting = false, true
	v.devices = []string{"d1"}
	return s.vet(v, vetStep{args: s.re.FindStringSubmatch(text)[1:], table: [][]string{{"method", "path"}, {"GET", "/"}}}) == nil
}

// suggest is the "did you mean" part of an undefined step's message.
func suggest(keyword, text string) string {
	words := strings.Fields(text)
	if len(words) == 0 {
		return ""
	}
	// Rank the steps by how their example reads, to spend the deeper search
	// on the few that are plausibly meant.
	type ranked struct {
		i     int
		score float64
	}
	var rank []ranked
	lw := strings.Fields(strings.ToLower(text))
	for i, s := range library {
		ew := strings.Fields(strings.ToLower(exampleText(s.Example)))
		d := wordDistance(lw, ew)
		rank = append(rank, ranked{i, 1 - float64(d)/float64(max(len(lw), len(ew)))})
	}
	sort.SliceStable(rank, func(a, b int) bool { return rank[a].score > rank[b].score })

	// One word edit against every step; two against the steps that read
	// most alike (a weak one-word fix must not hide the two-word one meant:
	// "is held" is "holds", not "is violated").
	var cands []candidate
	add := func(c candidate) {
		for k := range cands {
			if cands[k].text == c.text {
				if c.cost < cands[k].cost {
					cands[k] = c
				}
				return
			}
		}
		cands = append(cands, c)
	}
	for _, r := range rank {
		if c, ok := repair(r.i, words, 1); ok {
			add(c)
		}
	}
	sort.SliceStable(cands, func(a, b int) bool { return cands[a].cost < cands[b].cost })
	if len(cands) == 0 || cands[0].cost > 1.3 {
		for _, r := range rank[:min(4, len(rank))] {
			if c, ok := repair(r.i, words, 2); ok {
				add(c)
			}
		}
	}
	sort.SliceStable(cands, func(a, b int) bool { return cands[a].cost < cands[b].cost })
	if len(cands) > 0 {
		out := " (did you mean " + cands[0].render(keyword)
		// A close second is offered too, rather than a guess presented as certain.
		if len(cands) > 1 && cands[1].text != cands[0].text && cands[1].cost <= cands[0].cost+0.5 {
			out += " or " + cands[1].render(keyword)
		}
		return out + ")"
	}
	if rank[0].score < 0.4 {
		return ""
	}
	s := library[rank[0].i]
	return fmt.Sprintf(" (closest step: %q, e.g. %q)", s.Syntax, strings.SplitN(s.Example, "\n", 2)[0])
}
