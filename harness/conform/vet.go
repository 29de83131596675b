package conform

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// Static checks of a scenario, made before anything runs (and by
// `conform --check`): a value a step cannot use (an unknown invariant, a
// duration that does not parse, a count out of range) or a request name that
// is used twice or never defined is a problem with FILE:LINE, like an
// undefined step, instead of a failure half-way through a run.

// vetScenario is what the checker knows of one scenario so far, step by step.
// It names requests the way the world does (reserve): explicit names, the
// warm-up's warmup-<device>, and r1, r2, … for the rest.
type vetScenario struct {
	devices []string
	names   map[string]bool
	guessed map[string]bool // automatic names given after exact was lost
	autoN   int
	// exact is false once a step declared devices the checker cannot count
	// (a direct call naming a new device before "each device sends"): then
	// automatic names are not known exactly and only explicit names are checked.
	exact bool
	// counting: a "counting starts" step came before.
	counting bool
}

func newVetScenario() *vetScenario {
	return &vetScenario{names: map[string]bool{}, guessed: map[string]bool{}, exact: true}
}

// vetStep is one step as the checker sees it: the pattern's capture groups
// and, for a table step, the table's cells.
type vetStep struct {
	args  []string
	table [][]string
}

// vetFn checks one step and records what it does to the scenario.
type vetFn func(v *vetScenario, s vetStep) error

func vets(fs ...vetFn) vetFn {
	return func(v *vetScenario, s vetStep) error {
		for _, f := range fs {
			if err := f(v, s); err != nil {
				return err
			}
		}
		return nil
	}
}

func (v *vetScenario) declare(dev string) {
	if !slices.Contains(v.devices, dev) {
		v.devices = append(v.devices, dev)
	}
}

// define records a request; "" is an automatic name.
func (v *vetScenario) define(name string) error {
	if name == "" {
		for {
			v.autoN++
			name = fmt.Sprintf("r%d", v.autoN)
			if !v.names[name] {
				break
			}
		}
		v.names[name] = true
		if !v.exact {
			v.guessed[name] = true
		}
		return nil
	}
	if v.names[name] && !v.guessed[name] {
		why := "an earlier step of this scenario already sends a request named " + name
		switch {
		case strings.HasPrefix(name, warmupPrefix):
			why = "it is the name of a warm-up request of \"Given N devices logged in\""
		case autoName.MatchString(name):
			why = "an earlier request without \"as request\" was named " + name + " automatically (requests are named r1, r2, … in order)"
		}
		return fmt.Errorf("request name %q is used twice: %s; pick another name", name, why)
	}
	v.names[name] = true
	return nil
}

func (v *vetScenario) known() string {
	var out []string
	for n := range v.names {
		out = append(out, n)
	}
	slices.Sort(out)
	if len(out) == 0 {
		return "none yet"
	}
	return strings.Join(out, ", ")
}

// spanAt: capture i is a duration.
func spanAt(i int) vetFn {
	return func(_ *vetScenario, s vetStep) error {
		_, err := parseSpan(s.args[i])
		return err
	}
}

// countAt: capture i is a whole number in [lo, hi].
func countAt(i int, what string, lo, hi int) vetFn {
	return func(_ *vetScenario, s vetStep) error {
		_, err := count(what, s.args[i], lo, hi)
		return err
	}
}

// invariantAt: capture i names an invariant of SPEC §5.
func invariantAt(i int) vetFn {
	return func(_ *vetScenario, s vetStep) error {
		name := s.args[i]
		if slices.Contains(summary.InvariantNames, name) {
			return nil
		}
		msg := fmt.Sprintf("unknown invariant %q", name)
		if best := closestWord(name, summary.InvariantNames); best != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", best)
		}
		return fmt.Errorf("%s; the invariants are %s", msg, strings.Join(summary.InvariantNames, ", "))
	}
}

// refAt: capture i names a request an earlier step sent.
func refAt(i int) vetFn {
	return func(v *vetScenario, s vetStep) error {
		name := s.args[i]
		if v.names[name] || !v.exact {
			return nil
		}
		return fmt.Errorf("no request named %q is sent before this step (requests so far: %s)", name, v.known())
	}
}

// devicesN: capture i is a device count; declares d1..dN (and, logged in,
// their warm-up requests).
func devicesN(i int, warmup bool) vetFn {
	return func(v *vetScenario, s vetStep) error {
		n, err := count("device count", s.args[i], 1, 10000)
		if err != nil {
			return err
		}
		for k := 1; k <= n; k++ {
			d := fmt.Sprintf("d%d", k)
			v.declare(d)
			if warmup {
				if err := v.define(warmupName(d)); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// knownDeviceAt: capture i names a device an earlier step declared (an
// assertion about a device that does not exist would count nothing and pass).
func knownDeviceAt(i int) vetFn {
	return func(v *vetScenario, s vetStep) error {
		d := s.args[i]
		if d == "" || slices.Contains(v.devices, d) || !v.exact {
			return nil
		}
		known := strings.Join(v.devices, ", ")
		if known == "" {
			known = "none yet"
		}
		return fmt.Errorf("device %s is not declared before this step (devices: %s)", d, known)
	}
}

// deviceAt: capture i names a device the step declares.
func deviceAt(i int) vetFn {
	return func(v *vetScenario, s vetStep) error {
		v.declare(s.args[i])
		return nil
	}
}

// sendOne: one request from the device at capture dev, named by capture name
// (-1: always automatic).
func sendOne(dev, name int) vetFn {
	return func(v *vetScenario, s vetStep) error {
		v.declare(s.args[dev])
		n := ""
		if name >= 0 {
			n = s.args[name]
		}
		return v.define(n)
	}
}

// sendK: k automatic requests (capture k), from every declared device when
// each is set.
func sendK(k int, each bool) vetFn {
	return func(v *vetScenario, s vetStep) error {
		n, err := count("concurrency", s.args[k], 1, 10000)
		if err != nil {
			return err
		}
		if each {
			if len(v.devices) == 0 && v.exact {
				return fmt.Errorf("no devices declared before this step: start with e.g. \"Given 5 devices logged in\"")
			}
			n *= len(v.devices)
		}
		for range n {
			_ = v.define("")
		}
		return nil
	}
}

// sendRows: a request table; devCol is the device column ("" = the device
// at capture 0 sends every row).
func sendRows(devCol string) vetFn {
	return func(v *vetScenario, s vetStep) error {
		if len(s.table) < 2 {
			return fmt.Errorf("the request table needs a header row and at least one request")
		}
		col := map[string]int{}
		for i, c := range s.table[0] {
			col[strings.TrimSpace(c)] = i
		}
		cell := func(row []string, name string) string {
			if i, ok := col[name]; ok && i < len(row) {
				return strings.TrimSpace(row[i])
			}
			return ""
		}
		for r, row := range s.table[1:] {
			dev := ""
			if devCol != "" {
				dev = cell(row, devCol)
			} else if len(s.args) > 0 {
				dev = s.args[0]
			}
			if dev != "" {
				v.declare(dev)
			}
			if err := v.define(cell(row, "as")); err != nil {
				return fmt.Errorf("request row %d: %w", r+1, err)
			}
		}
		return nil
	}
}

// vetStepOf runs the static checks of one step of a scenario; a problem is
// reported at the step's line.
func vetStepOf(v *vetScenario, s *Step, text string, table [][]string) error {
	groups := s.re.FindStringSubmatch(text)
	if groups == nil {
		return nil
	}
	if s.vet == nil {
		// Direct calls may declare a device the checker does not model (the
		// backend check's own device too): from here on "each device" and
		// so automatic names are only a guess.
		if s.Group == gWechat || s.Group == gBackend {
			v.exact = false
		}
		return nil
	}
	return s.vet(v, vetStep{args: groups[1:], table: table})
}

// closestWord is the candidate nearest to w by edit distance over letters,
// if it is close enough to be what was meant.
func closestWord(w string, candidates []string) string {
	best, bestD := "", len(w)/2+2
	for _, c := range candidates {
		if d := wordDistance(strings.Split(strings.ToLower(w), ""), strings.Split(c, "")); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}
