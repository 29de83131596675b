package reports

import (
	"sort"
	"strconv"
	"strings"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// violationGroup is the violations of one invariant found by one scenario
// (or, for a scenario that failed without breaking an invariant, what it
// failed on): the unit a reader triages.
type violationGroup struct {
	N         int
	Scenario  string // "" when the producer did not say
	Kind      string // probe, feature, storm, or ""
	Failed    bool   // the scenario's verdict is fail
	Invariant string // "" for a failure that is not an invariant's
	Count     int
	Checks    []string // a failure that is not an invariant's: what failed
	Detail    string
	Examples  []violationRow
	More      int // violations of the group not shown as examples
	Open      bool
}

// Group limits: a few examples of every group rather than many of one.
const (
	groupExamples     = 3
	groupOpenExamples = 1 // examples expanded on load, in the first groups
	groupsOpen        = 3
)

// violationGroups groups every violation by scenario and invariant, failed
// scenarios first (in scenario-table order), and adds a group for each
// failed scenario whose failure is not an invariant's (an assertion, a
// threshold), so every failure of the run is listed. total is the number
// of violations.
func violationGroups(s *summary.Summary) (groups []violationGroup, total int) {
	invs := orderedInvariants(s)
	// counts[scenario][invariant]; examples likewise.
	counts := map[string]map[string]int{}
	examples := map[string]map[string][]summary.Violation{}
	add := func(sc, inv string, n int) {
		if counts[sc] == nil {
			counts[sc] = map[string]int{}
		}
		counts[sc][inv] += n
	}
	for _, inv := range invs {
		total += max(inv.Violations, len(inv.Examples))
		perScenario := map[string]int{}
		for _, v := range inv.Examples {
			if examples[v.Scenario] == nil {
				examples[v.Scenario] = map[string][]summary.Violation{}
			}
			examples[v.Scenario][inv.Name] = append(examples[v.Scenario][inv.Name], v)
			perScenario[v.Scenario]++
		}
		counted := 0
		if len(inv.ByScenario) > 0 {
			for sc, n := range inv.ByScenario {
				add(sc, inv.Name, max(n, perScenario[sc]))
				counted += max(n, perScenario[sc])
			}
			for sc, n := range perScenario { // examples of scenarios the counts miss
				if _, ok := inv.ByScenario[sc]; !ok {
					add(sc, inv.Name, n)
					counted += n
				}
			}
		} else {
			for sc, n := range perScenario {
				add(sc, inv.Name, n)
				counted += n
			}
		}
		if rest := max(inv.Violations, len(inv.Examples)) - counted; rest > 0 {
			add("", inv.Name, rest) // counted, not attributed to a scenario
		}
	}

	// Scenario order: failed ones first, then the rest, as in the table.
	type scen struct {
		name, kind string
		failed     bool
		sc         summary.Scenario
	}
	var order []scen
	seen := map[string]bool{}
	for _, sc := range sortedScenarios(s.Scenarios) {
		if seen[sc.Name] {
			continue
		}
		seen[sc.Name] = true
		order = append(order, scen{sc.Name, sc.Kind, sc.Verdict == summary.Fail, sc})
	}
	var unknown []string
	for name := range counts {
		if !seen[name] {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown) // "" (unattributed) sorts first; put it last below
	for _, name := range unknown {
		if name != "" {
			order = append(order, scen{name: name})
		}
	}
	if counts[""] != nil {
		order = append(order, scen{})
	}

	shown := 0
	for _, sc := range order {
		any := false
		for _, inv := range invs {
			n := counts[sc.name][inv.Name]
			if n == 0 {
				continue
			}
			any = true
			g := violationGroup{Scenario: sc.name, Kind: sc.kind, Failed: sc.failed, Invariant: inv.Name, Count: n}
			ex := examples[sc.name][inv.Name]
			for _, v := range ex[:min(len(ex), groupExamples, max(htmlMaxViolations-shown, 0))] {
				if v.Invariant == "" {
					v.Invariant = inv.Name
				}
				shown++
				g.Examples = append(g.Examples, violationRowOf(s, pickedViolation{Invariant: inv.Name, Violation: v}, shown))
			}
			g.More = n - len(g.Examples)
			groups = append(groups, g)
		}
		if !any && sc.failed {
			groups = append(groups, violationGroup{Scenario: sc.name, Kind: sc.kind, Failed: true,
				Checks: sc.sc.Failed, Detail: sc.sc.Detail})
		}
	}
	for i := range groups {
		groups[i].N = i + 1
		groups[i].Open = i < groupsOpen
		for j := range groups[i].Examples {
			groups[i].Examples[j].Open = groups[i].Open && j < groupOpenExamples
		}
	}
	return groups, total
}

// sortedScenarios returns the scenarios failures first, otherwise in the
// order they ran.
func sortedScenarios(in []summary.Scenario) []summary.Scenario {
	out := append([]summary.Scenario(nil), in...)
	sort.SliceStable(out, func(i, j int) bool {
		return verdictRank(out[i].Verdict) < verdictRank(out[j].Verdict)
	})
	return out
}

// verdictRank orders verdicts for "failures first": fail, pass, skip.
func verdictRank(v string) int {
	switch v {
	case summary.Fail:
		return 0
	case summary.Pass:
		return 1
	}
	return 2
}

// groupTitle is "probe concurrent-expiry · no-lost-requests".
func (g violationGroup) Title() string {
	name := g.Scenario
	if name == "" {
		name = "(no scenario recorded)"
	}
	if g.Kind != "" {
		name = g.Kind + " " + name
	}
	if g.Invariant == "" {
		return name
	}
	return name + " · " + g.Invariant
}

// CountText is "73 violations" or, for a non-invariant failure, what failed.
func (g violationGroup) CountText() string {
	if g.Invariant == "" {
		if len(g.Checks) > 0 {
			return "failed: " + strings.Join(g.Checks, ", ")
		}
		return "failed"
	}
	if g.Count == 1 {
		return "1 violation"
	}
	return strconv.Itoa(g.Count) + " violations"
}
