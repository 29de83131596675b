package reports

import (
	"fmt"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// markStyle is how a timeline event kind is drawn on time charts.
type markStyle struct {
	label string
	color color.Color
	dash  []vg.Length
}

// Vertical-line kinds. refresh and login are drawn as glyphs instead:
// there can be one per device, far too many for lines.
var markStyles = map[string]markStyle{
	"expire": {"token expiry", rgb(0x33, 0x33, 0x33), nil},
	"fault":  {"fault injected", rgb(0x8c, 0x56, 0x4b), []vg.Length{vg.Points(4), vg.Points(2)}},
	"revoke": {"family revoked", rgb(0x94, 0x67, 0xbd), []vg.Length{vg.Points(4), vg.Points(2)}},
	"skew":   {"clock skew", rgb(0xbc, 0xbd, 0x22), []vg.Length{vg.Points(2), vg.Points(2)}},
	"marker": {"marker", rgb(0x7f, 0x7f, 0x7f), []vg.Length{vg.Points(1), vg.Points(2)}},
}

var markOrder = []string{"expire", "fault", "revoke", "skew", "marker"}

// latencyChart: p50/p99 (and max) per time bucket, with the run's events.
func latencyChart(s *summary.Summary, series []summary.Point) chart {
	var p50, p99, pmax plotter.XYs
	var breaks []int // indexes where a line restarts after idle buckets
	idle := false
	for _, pt := range series {
		if pt.Requests == 0 && pt.P99MS == 0 && pt.P50MS == 0 {
			idle = true // an idle bucket has no latency, not a latency of 0
			continue
		}
		if idle && len(p50) > 0 {
			breaks = append(breaks, len(p50)) // do not draw across the gap
		}
		idle = false
		x := pt.AtMS / 1000
		p50 = append(p50, plotter.XY{X: x, Y: clean(pt.P50MS)})
		p99 = append(p99, plotter.XY{X: x, Y: clean(pt.P99MS)})
		pmax = append(pmax, plotter.XY{X: x, Y: clean(pt.MaxMS)})
	}
	if len(p50) == 0 {
		return chart{Empty: noData}
	}
	p := newPlot(timeAxisText, "latency (ms)")
	l := newLegend()
	yMax := 0.0
	for _, xy := range append(p99, p50...) {
		yMax = math.Max(yMax, xy.Y)
	}
	showMax := false
	for _, xy := range pmax {
		if xy.Y > 0 {
			showMax = true
			break
		}
	}
	if showMax {
		// Max is drawn faintly and is allowed to leave the frame: one
		// outlier must not flatten the p50/p99 lines a reader compares.
		addSegments(p, l, pmax, breaks, "max", colMax, 1)
	}
	addSegments(p, l, p99, breaks, "p99", colP99, 1.5)
	addSegments(p, l, p50, breaks, "p50", colP50, 1.5)
	yMax = niceMax(yMax * 1.15)
	p.Y.Min, p.Y.Max = 0, yMax
	xlo, xhi := xRange(s, series)
	addEventMarks(p, l, s, xlo, xhi, yMax, true)
	p.X.Min, p.X.Max = xlo/1000, xhi/1000
	svg, err := renderSVG(p, l, chartLatency, "Latency over time: p50 and p99 per time bucket with token expiry and refresh events")
	if err != nil {
		return chart{Empty: "chart unavailable: " + err.Error()}
	}
	c := chart{SVG: svg, Caption: "p50 and p99 latency of logical requests per time bucket. Vertical lines mark timeline events (token expiry, injected faults, revoked families); triangles along the top mark refreshes and logins sent to the backend."}
	if len(s.Series) > len(series) {
		c.Caption += fmt.Sprintf(" %d buckets merged into %d for display (p99 shows the worst merged bucket).", len(s.Series), len(series))
	}
	return c
}

// throughputChart: requests, errors and refreshes per second.
func throughputChart(s *summary.Summary, series []summary.Point) chart {
	if len(series) == 0 {
		return chart{Empty: noData}
	}
	widths := bucketWidths(series)
	if w := s.SeriesBucketMS; w > 0 && finite(w) {
		// The summary says how wide a bucket is; spacing between points
		// would be wrong across gaps.
		widths = make([]float64, len(series))
		for i := range widths {
			widths[i] = w * float64(mergedBy(s, series))
		}
	}
	unit := "per second"
	rate := func(i, n int) float64 {
		if widths == nil {
			return float64(n)
		}
		return float64(n) / (widths[i] / 1000)
	}
	if widths == nil {
		unit = "per bucket"
	}
	var req, errs, refr, warm plotter.XYs
	anyErr, anyRefresh := false, false
	warmFrom, warmTo := warmupWindow(s) // a storm's warm-up logs every device in first
	for i, pt := range series {
		x := pt.AtMS / 1000
		req = append(req, plotter.XY{X: x, Y: rate(i, pt.Requests)})
		errs = append(errs, plotter.XY{X: x, Y: rate(i, pt.Errors)})
		if pt.AtMS >= warmFrom && pt.AtMS < warmTo {
			warm = append(warm, plotter.XY{X: x, Y: rate(i, pt.Refreshes)})
			continue
		}
		refr = append(refr, plotter.XY{X: x, Y: rate(i, pt.Refreshes)})
		anyErr = anyErr || pt.Errors > 0
		anyRefresh = anyRefresh || pt.Refreshes > 0
	}
	p := newPlot(timeAxisText, "requests "+unit)
	l := newLegend()
	if line := addLine(p, l, req, "requests", colReq, 1.5); line != nil {
		line.FillColor = colReqFill
	}
	if anyErr {
		addLine(p, l, errs, "errors", colErr, 1.2)
	}
	yMax := 0.0
	for _, xy := range append(req, errs...) {
		yMax = math.Max(yMax, xy.Y)
	}
	yMax = niceMax(yMax * 1.1)
	if anyRefresh {
		// Refreshes share the axis but do not set its scale: a storm's
		// burst would flatten the request line. The legend gives the peak.
		peak := 0.0
		for _, xy := range refr {
			peak = math.Max(peak, xy.Y)
		}
		name := "refresh + login calls"
		if peak > yMax {
			name = fmt.Sprintf("refresh + login calls (peak %s %s)", fmtFloat(math.Round(peak)), strings.TrimPrefix(unit, "per "))
			if widths != nil {
				name = fmt.Sprintf("refresh + login calls (peak %s/s)", fmtFloat(math.Round(peak)))
			}
		}
		addLine(p, l, refr, name, colRefresh, 1.2)
	}
	if len(warm) > 0 {
		addLine(p, l, warm, "warm-up: first logins", colLogin, 1.2)
	}
	p.Y.Min, p.Y.Max = 0, yMax
	xlo, xhi := xRange(s, series)
	addEventMarks(p, l, s, xlo, xhi, yMax, false)
	p.X.Min, p.X.Max = xlo/1000, xhi/1000
	svg, err := renderSVG(p, l, chartThroughput, "Throughput over time: requests, errors and refreshes "+unit)
	if err != nil {
		return chart{Empty: "chart unavailable: " + err.Error()}
	}
	c := chart{SVG: svg, Caption: "Logical requests completed " + unit + ", with errors and refresh + login calls. A dip after an expiry line is the refresh pause; a flat zero means requests were stuck."}
	if len(warm) > 0 {
		c.Caption += " Before the attack, the storm's warm-up logs every device in once: those first logins are drawn apart."
	}
	return c
}

// addEventMarks draws timeline events: vertical lines for expiry, faults,
// revocations, skew and markers; glyphs along the top for refreshes and
// logins when glyphs is set.
func addEventMarks(p *plot.Plot, l *legend, s *summary.Summary, xlo, xhi, yMax float64, glyphs bool) {
	marks := s.Timeline
	if len(marks) == 0 {
		return
	}
	// One pass, no copy of the (possibly huge) timeline: refresh and login
	// marks are thinned to one glyph per slot as they are read.
	type dotStyle struct {
		kind, label string
		col         color.Color
		shape       draw.GlyphDrawer
		y           float64
		n           int
		xys         plotter.XYs
		seen        map[int]bool
	}
	dots := []*dotStyle{
		{kind: "refresh", label: "refresh", col: colRefresh, shape: draw.TriangleGlyph{}, y: 0.975, seen: map[int]bool{}},
		{kind: "login", label: "login", col: colLogin, shape: draw.SquareGlyph{}, y: 0.935, seen: map[int]bool{}},
	}
	span := xhi - xlo
	var lines []summary.Mark
	for _, m := range marks {
		// A mark outside the series range would stretch the time axis.
		if !finite(m.AtMS) || m.AtMS < xlo || m.AtMS > xhi {
			continue
		}
		if m.Kind != "refresh" && m.Kind != "login" {
			lines = append(lines, m)
			continue
		}
		if !glyphs {
			continue
		}
		for _, d := range dots {
			if d.kind != m.Kind {
				continue
			}
			d.n++
			slot := int((m.AtMS - xlo) / span * markSlots)
			if !d.seen[slot] {
				d.seen[slot] = true
				d.xys = append(d.xys, plotter.XY{X: m.AtMS / 1000, Y: yMax * d.y})
			}
		}
	}
	lines = thinMarks(lines, xlo, xhi, markSlots, maxVerticalMark)
	byKind := map[string][]summary.Mark{}
	for _, m := range lines {
		k := m.Kind
		if _, ok := markStyles[k]; !ok {
			k = "marker"
		}
		byKind[k] = append(byKind[k], m)
	}
	for _, kind := range markOrder {
		st := markStyles[kind]
		for i, m := range byKind[kind] {
			line := addVLine(p, m.AtMS/1000, 0, yMax, st.color, 1.2, st.dash)
			if i == 0 && line != nil {
				l.add(st.label, line)
			}
		}
	}
	for _, d := range dots {
		if d.n == 0 {
			continue
		}
		sc, err := plotter.NewScatter(d.xys)
		if err != nil {
			continue
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: d.col, Radius: vg.Points(2.5), Shape: d.shape}
		p.Add(sc)
		// The legend's count is the key numbers' count; when the timeline
		// holds fewer marks (capped), it says how many are drawn.
		total := s.Refresh.Refreshes
		if d.kind == "login" {
			total = s.Refresh.Logins
		}
		name := fmt.Sprintf("%s (%d)", d.label, d.n)
		if total > d.n {
			name = fmt.Sprintf("%s (%d of %d drawn)", d.label, d.n, total)
		}
		l.add(name, sc)
	}
}

// xRange is the time axis in ms: from the run's start to the end of its
// last bucket (the run's wall time), never empty.
func xRange(s *summary.Summary, pts []summary.Point) (lo, hi float64) {
	lo, hi = math.Min(0, pts[0].AtMS), pts[len(pts)-1].AtMS
	if w := s.SeriesBucketMS; w > 0 && finite(w) {
		hi += w * float64(mergedBy(s, pts))
	}
	if d := s.DurationMS; d > 0 && finite(d) && hi > d && pts[len(pts)-1].AtMS <= d {
		hi = d // the last bucket ends with the run
	}
	if hi <= lo {
		hi = lo + 1000
	}
	return lo, hi
}

// mergedBy is how many of the summary's buckets each displayed point holds.
func mergedBy(s *summary.Summary, pts []summary.Point) int {
	if len(pts) == 0 || len(s.Series) <= len(pts) {
		return 1
	}
	return (len(s.Series) + len(pts) - 1) / len(pts)
}

// warmupWindow is when a storm's warm-up ran (from its "warm-up:" marker
// to its "attack:" marker), in ms on the time axis; empty without one.
func warmupWindow(s *summary.Summary) (from, to float64) {
	from = math.NaN()
	for _, m := range s.Timeline {
		if m.Kind != "marker" {
			continue
		}
		if strings.Contains(m.Detail, ": warm-up:") {
			from = m.AtMS
		}
		if !math.IsNaN(from) && strings.Contains(m.Detail, ": attack:") {
			return from, m.AtMS
		}
	}
	return 0, 0
}

// addSegments draws xys as separate lines split at breaks (one legend entry):
// a line must not bridge a stretch with no requests.
func addSegments(p *plot.Plot, l *legend, xys plotter.XYs, breaks []int, name string, col color.Color, width float64) {
	from := 0
	for _, b := range append(breaks, len(xys)) {
		seg := xys[from:b]
		if len(seg) == 1 { // a lone bucket is a dot-length line
			seg = plotter.XYs{seg[0], {X: seg[0].X + 1e-3, Y: seg[0].Y}}
		}
		addLine(p, l, seg, name, col, width)
		name, from = "", b // legend once
	}
	// Dots on every bucket: a burst between idle stretches is one bucket,
	// which a line alone would not show.
	if len(breaks) > 0 {
		if sc, err := plotter.NewScatter(xys); err == nil {
			sc.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(width), Shape: draw.CircleGlyph{}}
			p.Add(sc)
		}
	}
}
