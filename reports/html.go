package reports

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// HTML limits: the page must open quickly even for a million-request run.
const (
	htmlMaxViolations = 50  // shown with evidence; the rest are counted
	htmlOpenViolation = 5   // expanded on load; the rest collapsed
	htmlMaxEvidence   = 40  // ledger lines per violation
	htmlMaxEvents     = 100 // timeline events listed in the events table
	htmlMaxScenarios  = 500 // scenario rows
	htmlFoldScenarios = 15  // more scenarios than this: the passed ones fold away
	htmlTopDevices    = 10  // devices listed under the refresh chart
	htmlMaxNotes      = 50
)

//go:embed report.html.tmpl
var reportTemplateText string

// html/template escapes every user-controlled string (ledger details,
// device names, request ids) for its context.
var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"verdictLabel": verdictLabel,
	"duration":     fmtDuration,
}).Parse(reportTemplateText))

type htmlData struct {
	Verdict      string
	VerdictLabel string
	Headline     string
	Client       string
	Backend      string
	Style        string
	Started      string
	Duration     string
	Storm        *summary.Storm
	Profile      [][2]string // backend_profile, a backend under test's measured policy

	Invariants []namedInvariant
	Scenarios  []summary.Scenario
	// ScenariosAttention are shown; ScenariosPassed fold away (many runs).
	ScenariosAttention, ScenariosPassed []summary.Scenario
	ScenariosMore                       int
	Thresholds                          []thresholdRow
	Numbers                             []numberGroup
	StormNumbers                        []numberGroup     // the storm's own figures
	StormLine                           *summary.Scenario // the storm's line of the scenario table

	Latency, Distribution, Refreshes, Throughput chart

	TopDevices []deviceRow
	Events     []eventRow
	EventsMore int
	Routes     []routeRow

	VGroups         []violationGroup
	ViolationsTotal int
	Scope           string // what the whole-run figures cover

	Notes     []string
	NotesMore int
}

type thresholdRow struct {
	Expr, Actual, Verdict string
}

type numberGroup struct {
	Title string
	Items []numberItem
}

type numberItem struct {
	Label, Value string
	Bad          bool // highlighted: a value that alone means something is wrong
}

type deviceRow struct {
	Device, Scenario           string
	Episodes, Refreshes, Login int
	FirstLogin                 int // of Login: before the first token, in no episode
	PerEpisode                 string
	Bad                        bool
}

type eventRow struct {
	At, Kind, Scenario, Device, Detail string
	Clock                              string // a probe's simulated clock, as a note
}

type routeRow struct {
	Route              string
	P50, P90, P99, Max string
}

type violationRow struct {
	N            int
	Invariant    string
	Headline     string
	Explanation  string
	Scenario     string
	RIDs, Tokens []string
	Evidence     []evidenceRow
	EvidenceMore int
	Open         bool
}

// evidenceRow is one ledger event, its fields grouped into the columns a
// reader scans: who, which request, which token, what answer.
type evidenceRow struct {
	Seq                    uint64
	At, Event, Device      string
	Request, Token, Result string
	Detail                 string
}

// writeHTML renders report.html: one offline file, charts inlined as SVG.
func writeHTML(buf *bytes.Buffer, s *summary.Summary) error {
	return reportTemplate.Execute(buf, buildHTMLData(s))
}

func buildHTMLData(s *summary.Summary) htmlData {
	v := overallVerdict(s)
	d := htmlData{
		Verdict:      v,
		VerdictLabel: verdictLabel(v),
		Headline:     headline(s),
		Client:       s.Client,
		Backend:      s.Backend,
		Style:        s.Style,
		Duration:     fmtDuration(s.DurationMS),
		Storm:        s.Storm,
		Profile:      profileRows(s),
		Invariants:   failuresFirst(orderedInvariants(s)),
	}
	if !s.StartedAt.IsZero() {
		d.Started = s.StartedAt.UTC().Format("2006-01-02 15:04:05 MST")
	}
	scs := sortedScenarios(s.Scenarios) // failures first
	d.Scenarios = scs[:min(len(scs), htmlMaxScenarios)]
	d.ScenariosMore = len(s.Scenarios) - len(d.Scenarios)
	// A long table of passes hides the failures: passes fold away.
	for _, sc := range d.Scenarios {
		if sc.Verdict == summary.Pass && len(d.Scenarios) > htmlFoldScenarios {
			d.ScenariosPassed = append(d.ScenariosPassed, sc)
		} else {
			d.ScenariosAttention = append(d.ScenariosAttention, sc)
		}
	}
	for _, t := range s.Thresholds {
		d.Thresholds = append(d.Thresholds, thresholdRow{t.Expr, fmtFloat(t.Actual), t.Verdict})
	}
	d.Numbers = numbers(s)
	charts := buildCharts(s)
	d.Latency, d.Distribution, d.Refreshes, d.Throughput = charts[0], charts[1], charts[2], charts[3]
	d.TopDevices = topDevices(s.PerDevice, htmlTopDevices, failed(s, summary.SingleRefresh))
	if st := s.Storm; st != nil {
		d.StormNumbers = []numberGroup{stormNumbers(st)}
		for _, sc := range s.Scenarios {
			if sc.Kind == "storm" && sc.Name == st.Scenario {
				d.StormLine = &sc
			}
		}
	}
	d.Events, d.EventsMore = events(s, htmlMaxEvents)
	d.Routes = routes(s.PerRoute)
	d.VGroups, d.ViolationsTotal = violationGroups(s)
	d.Scope = scopeOf(s)
	d.Notes = s.Notes[:min(len(s.Notes), htmlMaxNotes)]
	d.NotesMore = len(s.Notes) - len(d.Notes)
	return d
}

// headline is the one-sentence verdict explanation under the banner.
func headline(s *summary.Summary) string {
	count := func(n, total int, what string) string {
		return fmt.Sprintf("%d of %d %s failed", n, total, what)
	}
	var parts []string
	invs := orderedInvariants(s)
	failed := 0
	for _, inv := range invs {
		if inv.Verdict == summary.Fail {
			failed++
		}
	}
	if s.Verdict == summary.Interrupted {
		// Say it first: the counts below cover only what ran.
		parts = append(parts, "Interrupted before it finished: what ran is reported, what did not run is skipped")
	}
	parts = append(parts, count(failed, len(invs), "invariants"))
	if len(s.Scenarios) > 0 {
		n := 0
		for _, sc := range s.Scenarios {
			if sc.Verdict == summary.Fail {
				n++
			}
		}
		parts = append(parts, count(n, len(s.Scenarios), "scenarios"))
	}
	if len(s.Thresholds) > 0 {
		n := 0
		for _, t := range s.Thresholds {
			if t.Verdict == summary.Fail {
				n++
			}
		}
		parts = append(parts, count(n, len(s.Thresholds), "thresholds"))
	}
	return strings.Join(parts, " · ")
}

// failed says whether invariant name failed: only then is a figure tied
// to it shown as bad (red means a violation, nothing less).
func failed(s *summary.Summary, name string) bool {
	inv := s.Invariants[name]
	return inv != nil && inv.Verdict == summary.Fail
}

// failuresFirst orders invariants fail, pass, skip, keeping report order
// within each.
func failuresFirst(invs []namedInvariant) []namedInvariant {
	sort.SliceStable(invs, func(i, j int) bool { return verdictRank(invs[i].Verdict) < verdictRank(invs[j].Verdict) })
	return invs
}

// scopeOf says what the run-wide figures cover: "the whole run: 12 probes,
// 88 features, storm synchronized-expiry".
func scopeOf(s *summary.Summary) string {
	var kinds []string
	count := map[string]int{}
	var storms []string
	for _, sc := range s.Scenarios {
		if sc.Kind == "storm" {
			storms = append(storms, sc.Name)
			continue
		}
		if count[sc.Kind] == 0 {
			kinds = append(kinds, sc.Kind)
		}
		count[sc.Kind]++
	}
	var parts []string
	for _, k := range kinds {
		name := k
		if name == "" {
			name = "scenario"
		}
		if count[k] != 1 {
			name += "s"
		}
		parts = append(parts, strconv.Itoa(count[k])+" "+name)
	}
	for _, n := range storms {
		parts = append(parts, "storm "+n)
	}
	if len(parts) == 0 {
		return "the whole run"
	}
	if len(parts) == 1 && len(storms) == 1 {
		return "the whole run (storm " + storms[0] + ")"
	}
	return "the whole run: " + strings.Join(parts, ", ")
}

func numbers(s *summary.Summary) []numberGroup {
	r, rf, l := s.Requests, s.Refresh, s.Latency
	groups := []numberGroup{
		{"Requests", []numberItem{
			{"issued", strconv.Itoa(r.Issued), false},
			{"succeeded", strconv.Itoa(r.Succeeded), false},
			// Failed requests are expected where faults are injected on
			// purpose; they are not a violation by themselves.
			{"failed", strconv.Itoa(r.Failed), false},
			{"lost", strconv.Itoa(r.Lost), r.Lost > 0 && failed(s, summary.NoLostRequests)},
			// Late: settled after the deadline because the stack was slow;
			// a threshold gates it, no invariant.
			{"late", strconv.Itoa(r.Late), false},
		}},
		{"Refresh", []numberItem{
			{"expiry episodes", strconv.Itoa(rf.ExpiryEpisodes), false},
			{"refreshes", strconv.Itoa(rf.Refreshes), false},
			{"logins", strconv.Itoa(rf.Logins), false},
			{"first logins", strconv.Itoa(rf.FirstLogins), false},
			{"retries after a failure", strconv.Itoa(rf.Retries), false},
			{"amplification", fmtRatio(rf.Amplification), rf.Amplification > 1 && failed(s, summary.SingleRefresh)},
		}},
		{"Latency", []numberItem{
			{"p50", fmtMS(l.P50), false},
			{"p90", fmtMS(l.P90), false},
			{"p99", fmtMS(l.P99), false},
			{"max", fmtMS(l.Max), false},
		}},
	}
	if pe := s.ProtocolErrors; pe != nil {
		// What the client under test wrote that the protocol does not allow:
		// shown, and gated by a protocol_errors threshold when one is set.
		g := numberGroup{Title: "Client protocol errors", Items: []numberItem{{"total", strconv.Itoa(pe.Total), false}}}
		for _, k := range ledger.ProtocolKinds {
			if n := pe.ByKind[k]; n > 0 {
				g.Items = append(g.Items, numberItem{strings.ReplaceAll(k, "_", " "), strconv.Itoa(n), false})
			}
		}
		groups = append(groups, g)
	}
	if sd := s.StoppedDevices; sd != nil {
		// Runtimes the harness stopped at a limit (JS: time, memory): each
		// device named with the client's reason.
		g := numberGroup{Title: "Devices stopped by a limit", Items: []numberItem{{"total", strconv.Itoa(sd.Total), true}}}
		for _, d := range sd.Devices {
			g.Items = append(g.Items, numberItem{d.Device, d.Reason, false})
		}
		if more := sd.Total - len(sd.Devices); more > 0 {
			g.Items = append(g.Items, numberItem{"more", strconv.Itoa(more) + " (not listed)", false})
		}
		groups = append(groups, g)
	}
	return groups
}

// stormNumbers are the load figures of the storm: they cover the storm's
// attack only.
func stormNumbers(st *summary.Storm) numberGroup {
	g := numberGroup{Title: "Load", Items: []numberItem{
		{"devices", strconv.Itoa(st.Devices), false},
		{"throughput", fmtFloat(st.ThroughputRPS) + " req/s", false},
		{"send lag p99", fmtMS(st.SendLagP99MS), false},
		{"send lag max", fmtMS(st.SendLagMaxMS), false},
	}}
	if st.Overloaded {
		// Coordinated omission: the generator fell behind, so the latencies
		// understate; label the run, do not hide it. (Not red: red is for
		// violations, and a threshold on latency says whether it failed.)
		g.Items = append(g.Items, numberItem{"OVERLOADED: latency p99 corrected for send lag", fmtMS(st.CorrectedP99MS), false})
	}
	if st.PeakRSSMB > 0 {
		g.Items = append(g.Items, numberItem{"peak RSS (process)", fmtFloat(st.PeakRSSMB) + " MB", false})
	}
	return g
}

// topDevices lists the devices with the most refresh+login calls per
// episode: the ones to look at first in a storm.
//
// bad says whether single-refresh failed: only then is a device with more
// than one call per episode shown as a violation (fault probes make
// correct clients retry and log in again on purpose).
func topDevices(in []summary.DeviceStat, n int, bad bool) []deviceRow {
	type scored struct {
		summary.DeviceStat
		ratio float64
	}
	var all []scored
	for _, d := range in {
		calls := float64(d.EpisodeCalls())
		ratio := calls
		if d.Episodes > 0 {
			ratio = calls / float64(d.Episodes)
		}
		all = append(all, scored{d, ratio})
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].ratio != all[j].ratio {
			return all[i].ratio > all[j].ratio
		}
		return naturalLess(all[i].Device, all[j].Device)
	})
	var out []deviceRow
	for _, d := range all[:min(n, len(all))] {
		per := "–"
		if d.Episodes > 0 {
			per = fmtFloat(d.ratio)
		}
		out = append(out, deviceRow{d.Device, d.Scenario, d.Episodes, d.Refreshes, d.Logins, d.FirstLoginCalls, per, bad && d.Episodes > 0 && d.ratio > 1})
	}
	return out
}

// events lists timeline marks other than refresh/login (those are counted
// in the charts): expiry, faults, revocations, skew, markers.
func events(s *summary.Summary, limit int) ([]eventRow, int) {
	var out []eventRow
	more := 0
	marks := slices.Clone(s.Timeline)
	sort.SliceStable(marks, func(i, j int) bool { return marks[i].AtMS < marks[j].AtMS })
	for _, m := range marks {
		if m.Kind == "refresh" || m.Kind == "login" {
			continue
		}
		if len(out) == limit {
			more++
			continue
		}
		at := ""
		if finite(m.AtMS) {
			at = relTime(time.Unix(0, 0), time.Unix(0, 0).Add(time.Duration(m.AtMS*float64(time.Millisecond))))
		}
		// Markers repeat their scenario's name; the column already says it.
		detail := strings.TrimPrefix(m.Detail, m.Scenario+": ")
		row := eventRow{At: at, Kind: m.Kind, Scenario: m.Scenario, Device: m.Device, Detail: detail}
		if m.ClockOffsetMS != 0 && finite(m.ClockOffsetMS) {
			row.Clock = "stack clock " + signedDuration(m.ClockOffsetMS) + " (simulated)"
		}
		out = append(out, row)
	}
	return out, more
}

func routes(in map[string]summary.Latency) []routeRow {
	var out []routeRow
	for r, l := range in {
		out = append(out, routeRow{r, fmtMS(l.P50), fmtMS(l.P90), fmtMS(l.P99), fmtMS(l.Max)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Route < out[j].Route })
	return out
}

// violationRowOf is one violation with its evidence, numbered n in the page.
func violationRowOf(s *summary.Summary, v pickedViolation, n int) violationRow {
	if d := v.At.Sub(s.StartedAt); d < 0 || (s.DurationMS > 0 && d > time.Duration(s.DurationMS)*time.Millisecond) {
		v.At = time.Time{} // stamped by a probe's simulated clock: no place on the run's time
	}
	row := violationRow{
		N:           n,
		Invariant:   v.Invariant,
		Headline:    violationHeadline(s.StartedAt, v),
		Explanation: v.Explanation,
		Scenario:    v.Scenario,
		RIDs:        v.RIDs,
		Tokens:      v.Tokens,
	}
	ev := v.Evidence
	// Evidence times are the stack's clock, which a probe shifts by hours:
	// shown relative to the violation's first line, they read the same.
	var origin time.Time
	if len(ev) > 0 {
		origin = ev[0].Time
	}
	for _, e := range ev[:min(len(ev), htmlMaxEvidence)] {
		row.Evidence = append(row.Evidence, evidenceRowOf(origin, e))
	}
	row.EvidenceMore = len(ev) - len(row.Evidence)
	return row
}

func evidenceRowOf(start time.Time, e ledger.Event) evidenceRow {
	join := func(parts ...string) string {
		var out []string
		for _, p := range parts {
			if p != "" && !strings.HasSuffix(p, "=") {
				out = append(out, p)
			}
		}
		return strings.Join(out, " ")
	}
	num := func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	expires, waited := "", ""
	if !e.Expires.IsZero() {
		expires = relTime(start, e.Expires)
	}
	if e.LatencyNS > 0 {
		waited = "after " + fmtMS(float64(e.LatencyNS)/1e6)
	}
	device := e.Device
	if e.Subject != "" {
		device = join(e.Device, "("+e.Subject+")")
	}
	return evidenceRow{
		Seq:     e.Seq,
		At:      relTime(start, e.Time),
		Event:   e.Source + "/" + e.Kind,
		Device:  device,
		Request: join(e.Method, e.Route, "rid="+e.RID, "attempt="+num(e.Attempt), "body="+e.BodyHash),
		Token:   join(e.Token, "family="+e.Family, "code="+e.Code, "expires="+expires),
		Result:  join(num(e.Status), e.Outcome, "errcode="+num(e.Errcode), waited),
		Detail:  e.Detail,
	}
}

// signedDuration is "+2h0m0s" for a millisecond offset.
func signedDuration(ms float64) string {
	d := time.Duration(ms * float64(time.Millisecond)).Round(time.Second)
	if d >= 0 {
		return "+" + d.String()
	}
	return d.String()
}

// naturalLess orders names with numbers by value: d2 before d10.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitsPrefix(a), digitsPrefix(b)
		if da != "" && db != "" {
			na, nb := strings.TrimLeft(da, "0"), strings.TrimLeft(db, "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitsPrefix(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}
