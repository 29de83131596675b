package reports

import (
	"fmt"
	"image/color"
	"math"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// distributionChart: the latency histogram with p50/p90/p99 annotated.
func distributionChart(s *summary.Summary) chart {
	buckets := make([]summary.Bucket, 0, len(s.Histogram))
	total := 0
	for _, b := range s.Histogram {
		if finite(b.LEMS) && b.LEMS > 0 && b.LEMS < 1e12 && b.Count >= 0 {
			buckets = append(buckets, b)
			total += b.Count
		}
	}
	if len(buckets) == 0 || total == 0 {
		return chart{Empty: noData}
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].LEMS < buckets[j].LEMS })
	// Empty buckets at either end only push the data into a corner; the
	// bucket before the first non-empty one still gives its lower bound.
	first, last := 0, len(buckets)-1
	for buckets[first].Count == 0 {
		first++
	}
	for buckets[last].Count == 0 {
		last--
	}
	lower := math.NaN()
	if first > 0 {
		lower = buckets[first-1].LEMS
	}
	buckets = buckets[first : last+1]
	// Latency buckets are usually exponential; a log axis gives every
	// bucket the same width so the tail is as visible as the body.
	logX := len(buckets) > 1 && buckets[len(buckets)-1].LEMS/buckets[0].LEMS >= 20
	h := &plotter.Histogram{FillColor: colBar, LineStyle: draw.LineStyle{Color: color.White, Width: vg.Points(0.5)}}
	lowerOf := bucketLowerBounds(buckets, lower, logX)
	yMax := 0.0
	for i, b := range buckets {
		if lowerOf[i] >= b.LEMS {
			continue
		}
		h.Bins = append(h.Bins, plotter.HistogramBin{Min: lowerOf[i], Max: b.LEMS, Weight: float64(b.Count)})
		yMax = math.Max(yMax, float64(b.Count))
	}
	if len(h.Bins) == 0 {
		return chart{Empty: noData}
	}
	xlabel := "latency (ms)"
	p := newPlot(xlabel, "requests")
	if logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = logTicks125{}
		p.X.Label.Text = "latency (ms, log scale)"
	}
	p.Add(h)
	yMax = niceMax(yMax * 1.25)
	p.Y.Min, p.Y.Max = 0, yMax
	l := newLegend()
	l.add("requests per bucket", h)
	xmin, xmax := h.Bins[0].Min, h.Bins[len(h.Bins)-1].Max
	pcts := []struct {
		name string
		v    float64
		col  color.Color
	}{
		{"p50", s.Latency.P50, rgb(0x1f, 0x3b, 0x73)},
		{"p90", s.Latency.P90, rgb(0x8c, 0x56, 0x4b)},
		{"p99", s.Latency.P99, colP99},
	}
	var labels plotter.XYLabels
	for i, pc := range pcts {
		if !(pc.v > xmin && pc.v <= xmax) {
			continue
		}
		line := addVLine(p, pc.v, 0, yMax, pc.col, 1.5, []vg.Length{vg.Points(5), vg.Points(3)})
		text := fmt.Sprintf("%s %s", pc.name, fmtMS(pc.v))
		l.add(text, line)
		labels.XYs = append(labels.XYs, plotter.XY{X: pc.v, Y: yMax * (0.96 - 0.08*float64(i))})
		labels.Labels = append(labels.Labels, pc.name)
	}
	if len(labels.XYs) > 0 {
		lab, err := plotter.NewLabels(labels)
		if err == nil {
			for i := range lab.TextStyle {
				lab.TextStyle[i].Font = font.From(sansFont, 9)
			}
			lab.Offset = vg.Point{X: vg.Points(3)}
			p.Add(lab)
		}
	}
	p.X.Min, p.X.Max = xmin, xmax
	svg, err := renderSVG(p, l, chartDistribution, "Latency distribution with p50, p90 and p99")
	if err != nil {
		return chart{Empty: "chart unavailable: " + err.Error()}
	}
	c := chart{SVG: svg, Caption: fmt.Sprintf("How many of the %d measured requests fell in each latency bucket; dashed lines mark the run's p50, p90 and p99.", total)}
	if n := s.Requests.Issued; n > total {
		if n-total == s.Requests.Lost {
			c.Caption += fmt.Sprintf(" %d requests were issued: the %d lost ones have no latency.", n, n-total)
		} else {
			c.Caption += fmt.Sprintf(" %d requests were issued; %d have no latency recorded.", n, n-total)
		}
	}
	return c
}

// bucketLowerBounds returns each bucket's lower bound. A bucket starts where
// the previous one ends, except across a gap: producers omit empty buckets
// (the checker keeps only non-empty 10% bins), and a bar stretched over the
// gap would overstate its bucket. The narrowest step between bounds is the
// bucket width (a ratio on a log axis); a step that is a whole multiple of
// it (2, 3, … buckets) is a gap. Schemes like 1-2-5 have no such multiple
// and are left contiguous. first is the bound below the first bucket, or NaN.
func bucketLowerBounds(buckets []summary.Bucket, first float64, logX bool) []float64 {
	dist := func(a, b float64) float64 { // distance between two bounds
		if logX {
			return math.Log(b / a)
		}
		return b - a
	}
	back := func(le, unit float64) float64 { // le minus one bucket width
		if logX {
			return le / math.Exp(unit)
		}
		return le - unit
	}
	unit := math.Inf(1)
	for i := 1; i < len(buckets); i++ {
		if d := dist(buckets[i-1].LEMS, buckets[i].LEMS); d > 0 {
			unit = math.Min(unit, d)
		}
	}
	out := make([]float64, len(buckets))
	for i, b := range buckets {
		switch {
		case i > 0:
			out[i] = buckets[i-1].LEMS
			if k := dist(out[i], b.LEMS) / unit; k >= 1.5 && math.Abs(k-math.Round(k)) < 0.1 {
				out[i] = back(b.LEMS, unit)
			}
		case !math.IsNaN(first):
			out[i] = first
		case math.IsInf(unit, 1):
			out[i] = b.LEMS / 2 // a single bucket: any visible width will do
			if !logX {
				out[i] = 0
			}
		default:
			out[i] = back(b.LEMS, unit)
			if !logX {
				out[i] = math.Max(0, out[i])
			}
		}
	}
	return out
}

// refreshChart: how many devices sent 0, 1, 2, … refresh+login calls per
// expiry episode. A correct client puts every device in the "1" bar; a
// refresh storm shows up as bars to the right, in red.
func refreshChart(s *summary.Summary) chart {
	const lastBin = 10 // "10+"
	counts := make([]float64, lastBin+1)
	devices, noEpisode := 0, 0
	for _, d := range s.PerDevice {
		calls := d.EpisodeCalls() // the first login belongs to no episode
		if d.Episodes <= 0 {
			if calls > 0 {
				noEpisode++ // proactive refreshes: no episode to divide by
			}
			continue
		}
		// ratio in (k-1, k] lands in bin k: 1.5 calls per episode is
		// already amplification and must not round down to 1.
		bin := int(math.Ceil(float64(calls)/float64(d.Episodes) - 1e-9))
		counts[min(max(bin, 0), lastBin)]++
		devices++
	}
	if devices == 0 {
		return chart{Empty: noData}
	}
	ok := make(plotter.Values, len(counts))
	bad := make(plotter.Values, len(counts))
	names := make([]string, len(counts))
	for i, c := range counts {
		if i <= 1 {
			ok[i] = c
		} else {
			bad[i] = c
		}
		names[i] = strconv.Itoa(i)
	}
	names[lastBin] = strconv.Itoa(lastBin) + "+"
	// More than one call per episode is red only when single-refresh
	// failed: retries after a failed refresh and re-logins after a dead
	// refresh token are correct, and fault probes provoke them on purpose.
	extra := struct {
		vals plotter.Values
		name string
		col  color.Color
	}{bad, "more than 1 (allowed)", colExtra}
	if failed(s, summary.SingleRefresh) {
		extra.name, extra.col = "more than 1 (violation)", colBad
	}
	p := newPlot("refresh + login calls per expiry episode", "devices")
	l := newLegend()
	width := (chartW - legendW) / vg.Length(len(counts)) * 0.55
	for _, b := range []struct {
		vals plotter.Values
		name string
		col  color.Color
	}{{ok, "at most 1", colOK}, extra} {
		bc, err := plotter.NewBarChart(b.vals, width)
		if err != nil {
			return chart{Empty: "chart unavailable: " + err.Error()}
		}
		bc.Color = b.col
		bc.LineStyle.Width = 0
		p.Add(bc)
		l.add(b.name, bc)
	}
	p.NominalX(names...)
	p.Y.Min, p.Y.Max = 0, niceMax(maxOf(counts)*1.15)
	svg, err := renderSVG(p, l, chartRefreshes, "Devices by refresh and login calls per expiry episode")
	if err != nil {
		return chart{Empty: "chart unavailable: " + err.Error()}
	}
	c := chart{SVG: svg, Caption: fmt.Sprintf("%d devices that met at least one expiry episode, by refresh+login calls sent per episode. A correct client puts every device at 1.", devices)}
	if !failed(s, summary.SingleRefresh) && sumValues(bad) > 0 {
		c.Caption += " single-refresh held: devices above 1 made bounded retries after a failed refresh, or logged in again after their refresh token died (the fault probes provoke both)."
	}
	if noEpisode > 0 {
		c.Caption += fmt.Sprintf(" %d devices refreshed without an expiry episode (proactive refresh) and are not shown.", noEpisode)
	}
	return c
}

func sumValues(vs plotter.Values) float64 {
	t := 0.0
	for _, v := range vs {
		t += v
	}
	return t
}
