package reports

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
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

	Invariants    []namedInvariant
	Scenarios     []summary.Scenario
	ScenariosMore int
	Thresholds    []thresholdRow
	Numbers       []numberGroup

	Latency, Distribution, Refreshes, Throughput chart

	TopDevices []deviceRow
	Events     []eventRow
	EventsMore int
	Routes     []routeRow

	Violations       []violationRow
	ViolationsTotal  int
	ViolationsHidden int
	HiddenBy         string

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
	Device                     string
	Episodes, Refreshes, Login int
	PerEpisode                 string
	Bad                        bool
}

type eventRow struct {
	At, Kind, Device, Detail string
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
		Profile:      profileRows(s.BackendProfile),
		Invariants:   orderedInvariants(s),
	}
	if !s.StartedAt.IsZero() {
		d.Started = s.StartedAt.UTC().Format("2006-01-02 15:04:05 MST")
	}
	d.Scenarios = s.Scenarios[:min(len(s.Scenarios), htmlMaxScenarios)]
	d.ScenariosMore = len(s.Scenarios) - len(d.Scenarios)
	for _, t := range s.Thresholds {
		d.Thresholds = append(d.Thresholds, thresholdRow{t.Expr, fmtFloat(t.Actual), t.Verdict})
	}
	d.Numbers = numbers(s)
	charts := buildCharts(s)
	d.Latency, d.Distribution, d.Refreshes, d.Throughput = charts[0], charts[1], charts[2], charts[3]
	d.TopDevices = topDevices(s.PerDevice, htmlTopDevices)
	d.Events, d.EventsMore = events(s, htmlMaxEvents)
	d.Routes = routes(s.PerRoute)
	d.Violations, d.ViolationsTotal = violationRows(s)
	d.ViolationsHidden = d.ViolationsTotal - len(d.Violations)
	if d.ViolationsHidden > 0 {
		d.HiddenBy = hiddenByInvariant(s, d.Violations)
	}
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

func numbers(s *summary.Summary) []numberGroup {
	r, rf, l := s.Requests, s.Refresh, s.Latency
	groups := []numberGroup{
		{"Requests", []numberItem{
			{"issued", strconv.Itoa(r.Issued), false},
			{"succeeded", strconv.Itoa(r.Succeeded), false},
			{"failed", strconv.Itoa(r.Failed), r.Failed > 0},
			{"lost", strconv.Itoa(r.Lost), r.Lost > 0},
		}},
		{"Refresh", []numberItem{
			{"expiry episodes", strconv.Itoa(rf.ExpiryEpisodes), false},
			{"refreshes", strconv.Itoa(rf.Refreshes), false},
			{"logins", strconv.Itoa(rf.Logins), false},
			{"amplification", fmtFloat(rf.Amplification), rf.Amplification > 1},
		}},
		{"Latency", []numberItem{
			{"p50", fmtMS(l.P50), false},
			{"p90", fmtMS(l.P90), false},
			{"p99", fmtMS(l.P99), false},
			{"max", fmtMS(l.Max), false},
		}},
	}
	if st := s.Storm; st != nil {
		g := numberGroup{Title: "Load", Items: []numberItem{
			{"devices", strconv.Itoa(st.Devices), false},
			{"throughput", fmtFloat(st.ThroughputRPS) + " req/s", false},
			{"send lag p99", fmtMS(st.SendLagP99MS), false},
			{"send lag max", fmtMS(st.SendLagMaxMS), false},
		}}
		if st.PeakRSSMB > 0 {
			g.Items = append(g.Items, numberItem{"peak RSS", fmtFloat(st.PeakRSSMB) + " MB", false})
		}
		groups = append(groups, g)
	}
	return groups
}

// topDevices lists the devices with the most refresh+login calls per
// episode: the ones to look at first in a storm.
func topDevices(in []summary.DeviceStat, n int) []deviceRow {
	type scored struct {
		summary.DeviceStat
		ratio float64
	}
	var all []scored
	for _, d := range in {
		calls := float64(d.Refreshes + d.Logins)
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
		return all[i].Device < all[j].Device
	})
	var out []deviceRow
	for _, d := range all[:min(n, len(all))] {
		per := "–"
		if d.Episodes > 0 {
			per = fmtFloat(d.ratio)
		}
		out = append(out, deviceRow{d.Device, d.Episodes, d.Refreshes, d.Logins, per, d.Episodes > 0 && d.ratio > 1})
	}
	return out
}

// events lists timeline marks other than refresh/login (those are counted
// in the charts): expiry, faults, revocations, skew, markers.
func events(s *summary.Summary, limit int) ([]eventRow, int) {
	var out []eventRow
	more := 0
	for _, m := range s.Timeline {
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
		out = append(out, eventRow{at, m.Kind, m.Device, m.Detail})
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

func violationRows(s *summary.Summary) ([]violationRow, int) {
	picked, total := pickViolations(s, htmlMaxViolations)
	rows := make([]violationRow, 0, len(picked))
	for i, v := range picked {
		row := violationRow{
			N:           i + 1,
			Invariant:   v.Invariant,
			Headline:    violationHeadline(s.StartedAt, v),
			Explanation: v.Explanation,
			Scenario:    v.Scenario,
			RIDs:        v.RIDs,
			Tokens:      v.Tokens,
			Open:        i < htmlOpenViolation,
		}
		ev := v.Evidence
		for _, e := range ev[:min(len(ev), htmlMaxEvidence)] {
			row.Evidence = append(row.Evidence, evidenceRowOf(s.StartedAt, e))
		}
		row.EvidenceMore = len(ev) - len(row.Evidence)
		rows = append(rows, row)
	}
	return rows, total
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

// hiddenByInvariant says which invariants the violations not listed belong to.
func hiddenByInvariant(s *summary.Summary, shown []violationRow) string {
	shownBy := map[string]int{}
	for _, v := range shown {
		shownBy[v.Invariant]++
	}
	var parts []string
	for _, inv := range orderedInvariants(s) {
		if n := max(inv.Violations, len(inv.Examples)) - shownBy[inv.Name]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d", inv.Name, n))
		}
	}
	return strings.Join(parts, ", ")
}
