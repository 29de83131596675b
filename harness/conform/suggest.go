package conform

import (
	"fmt"
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
// word, then a dropped one, then an unrelated replacement.
func (e edit) cost() float64 {
	switch e.op {
	case 's':
		return 1 + 0.9*(1-e.closeness)
	case 'i':
		return 1.3
	}
	return 1.4
}

var (
	vocabOnce sync.Once
	vocab     [][]string // per library entry: the words its steps are made of
)

// stepVocab is every literal word of a step's syntax and example.
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
			for _, w := range strings.Fields(exampleText(s.Example)) {
				add(w)
			}
			for _, w := range strings.Fields(s.Syntax) {
				for _, alt := range strings.Split(w, "|") {
					add(alt)
				}
			}
			vocab[i] = ws
		}
	})
	return vocab
}

// closeness of two words in [0,1] by letters (1 = equal, ignoring case).
func closeness(a, b string) float64 {
	la, lb := strings.Split(strings.ToLower(a), ""), strings.Split(strings.ToLower(b), "")
	d := wordDistance(la, lb)
	c := 1 - float64(d)/float64(max(len(la), len(lb)))
	// Slips rarely hit a word's first letter: "seen" meant "saw" more likely
	// than "has" did.
	if len(la) > 0 && len(lb) > 0 && la[0] == lb[0] {
		c = min(1, c+0.2)
	}
	return c
}

// edits are the one-word edits of words with a step's vocabulary.
func edits(words, voc []string) []edit {
	var out []edit
	for i, w := range words {
		out = append(out, edit{op: 'd', at: i, old: w})
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

// repair finds the cheapest texts within maxEdits word edits that match
// library step i, and only it.
func repair(i int, words []string, maxEdits int) (candidate, bool) {
	s := &library[i]
	voc := stepVocab()[i]
	best := candidate{}
	found := false
	var walk func(ws []string, done []edit, cost float64)
	walk = func(ws []string, done []edit, cost float64) {
		for _, e := range edits(ws, voc) {
			c := cost + e.cost()
			if found && c >= best.cost {
				continue
			}
			next := e.apply(ws)
			text := strings.Join(next, " ")
			if s.re.MatchString(text) {
				if len(match(text)) == 1 {
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

	var best candidate
	found := false
	for _, r := range rank {
		if c, ok := repair(r.i, words, 1); ok && (!found || c.cost < best.cost) {
			best, found = c, true
		}
	}
	if !found {
		for _, r := range rank[:min(4, len(rank))] {
			if c, ok := repair(r.i, words, 2); ok && (!found || c.cost < best.cost) {
				best, found = c, true
			}
		}
	}
	if found {
		var why []string
		for _, e := range best.edits {
			why = append(why, e.describe())
		}
		return fmt.Sprintf(" (did you mean %q? %s)", keyword+" "+best.text, strings.Join(why, "; "))
	}
	if rank[0].score < 0.4 {
		return ""
	}
	s := library[rank[0].i]
	return fmt.Sprintf(" (closest step: %q, e.g. %q)", s.Syntax, strings.SplitN(s.Example, "\n", 2)[0])
}
