package reports

import (
	"bytes"
	"fmt"
	"html"
	"html/template"
	"image/color"
	"math"
	"regexp"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// chart is one rendered figure of report.html. Charts are drawn by
// gonum/plot into SVG and inlined, so the page needs no script and no
// network to show them.
type chart struct {
	ID      string        // DOM id of the <svg>; tests and links rely on it
	Title   string        // figure heading
	SVG     template.HTML // inline <svg>; empty when there is nothing to draw
	Empty   string        // shown instead of the chart ("no data")
	Caption string        // how to read the chart
}

// Chart DOM ids (stable: the browser test and deep links use them).
const (
	chartLatency      = "chart-latency"
	chartDistribution = "chart-distribution"
	chartRefreshes    = "chart-refreshes"
	chartThroughput   = "chart-throughput"
)

// Chart geometry. Width is the design width; CSS scales the SVG to the page.
const (
	chartW       = 9 * vg.Inch
	chartH       = 3.2 * vg.Inch
	legendW      = 1.9 * vg.Inch
	noData       = "no data"
	timeAxisText = "wall time since the run started (s)"
)

var (
	sansFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

	colP50     = rgb(0x1f, 0x77, 0xb4)
	colP99     = rgb(0xe6, 0x55, 0x0d)
	colMax     = rgb(0xfd, 0xc4, 0x94)
	colReq     = rgb(0x1f, 0x77, 0xb4)
	colReqFill = color.NRGBA{0x1f, 0x77, 0xb4, 0x30}
	// Red (colBad) is kept for violations: errors and expiry are facts of
	// a run, not failures of the client.
	colErr     = rgb(0x7b, 0x32, 0x94)
	colRefresh = rgb(0x2c, 0xa0, 0x2c)
	colLogin   = rgb(0x17, 0xbe, 0xcf)
	colOK      = rgb(0x2c, 0xa0, 0x2c)
	colBad     = rgb(0xd6, 0x27, 0x28)
	colExtra   = rgb(0x9e, 0x9a, 0xc8) // more than one call per episode, single-refresh held
	colBar     = rgb(0x6b, 0x8e, 0xc2)
	colGrid    = rgb(0xe3, 0xe3, 0xe3)
)

func rgb(r, g, b uint8) color.Color { return color.NRGBA{r, g, b, 0xff} }

// buildCharts renders every chart of the report. A chart that cannot be
// drawn says why; it never fails the report.
func buildCharts(s *summary.Summary) []chart {
	series := downsampleSeries(s.Series, maxChartPoints)
	scope := " — " + scopeOf(s)
	return []chart{
		safeChart(chartLatency, "Latency over time"+scope, func() chart { return latencyChart(s, series) }),
		safeChart(chartDistribution, "Latency distribution"+scope, func() chart { return distributionChart(s) }),
		safeChart(chartRefreshes, "Refresh and login calls per expiry episode, per device"+scope, func() chart { return refreshChart(s) }),
		safeChart(chartThroughput, "Throughput over time"+scope, func() chart { return throughputChart(s, series) }),
	}
}

// safeChart turns a panic inside the plotting library (it panics on some
// degenerate inputs) into a visible "chart unavailable" note.
func safeChart(id, title string, f func() chart) (c chart) {
	defer func() {
		if r := recover(); r != nil {
			c = chart{ID: id, Title: title, Empty: fmt.Sprintf("chart unavailable: %v", r)}
		}
	}()
	c = f()
	c.ID, c.Title = id, title
	return c
}

// newPlot returns a plot styled for the report: sans-serif text, light grid.
func newPlot(xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.X.Label.Text, p.Y.Label.Text = xLabel, yLabel
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sansFont, 11)
		a.Tick.Label.Font = font.From(sansFont, 10)
	}
	p.X.Tick.Marker = niceTicks{target: 10}
	p.Y.Tick.Marker = niceTicks{target: 5}
	g := plotter.NewGrid()
	g.Vertical.Color, g.Horizontal.Color = colGrid, colGrid
	p.Add(g)
	return p
}

// legend collects entries drawn beside (not over) the data.
type legend struct {
	plot.Legend
	n int
}

func newLegend() *legend {
	l := &legend{Legend: plot.NewLegend()}
	l.TextStyle.Font = font.From(sansFont, 10)
	l.Top, l.Left = true, true
	l.Padding = vg.Points(3)
	l.ThumbnailWidth = vg.Points(22)
	return l
}

func (l *legend) add(name string, t plot.Thumbnailer) {
	l.Add(name, t)
	l.n++
}

// renderSVG draws p (and the legend in a strip on the right) and returns
// the SVG ready to inline in HTML.
func renderSVG(p *plot.Plot, l *legend, id, label string) (template.HTML, error) {
	c := vgsvg.New(chartW, chartH)
	dc := draw.New(c)
	if l != nil && l.n > 0 {
		p.Draw(draw.Crop(dc, 0, -legendW, 0, 0))
		l.Draw(draw.Crop(dc, chartW-legendW+vg.Points(8), 0, 0, -vg.Points(8)))
	} else {
		p.Draw(dc)
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", err
	}
	return inlineSVG(buf.String(), id, label)
}

var viewBoxRE = regexp.MustCompile(`viewBox="([^"]*)"`)

// inlineSVG turns a standalone SVG document into an element for an HTML
// page: no XML prolog, no namespace declarations (implied in HTML), an id
// and class for styling and tests, an accessible name, and a font stack
// that falls back to metric-compatible fonts where Liberation is missing.
func inlineSVG(doc, id, label string) (template.HTML, error) {
	start := strings.Index(doc, "<svg")
	if start < 0 {
		return "", fmt.Errorf("no <svg> element in plot output")
	}
	doc = doc[start:]
	end := strings.IndexByte(doc, '>')
	if end < 0 {
		return "", fmt.Errorf("unterminated <svg> tag in plot output")
	}
	m := viewBoxRE.FindStringSubmatch(doc[:end])
	if m == nil {
		return "", fmt.Errorf("no viewBox in plot output")
	}
	body := strings.ReplaceAll(doc[end+1:], "font-family:Liberation Sans;",
		"font-family:'Liberation Sans',Arial,Helvetica,sans-serif;")
	open := fmt.Sprintf(`<svg id="%s" class="ts-chart" viewBox="%s" role="img" aria-label="%s" preserveAspectRatio="xMidYMid meet"><title>%s</title>`,
		html.EscapeString(id), html.EscapeString(m[1]), html.EscapeString(label), html.EscapeString(label))
	// The SVG comes from gonum's writer, which escapes all text it draws
	// (html.EscapeString), so it is safe to mark as trusted HTML.
	return template.HTML(open + body), nil // #nosec G203 -- generated, escaped SVG
}

// addLine adds a polyline; it returns nil when the data cannot be drawn.
func addLine(p *plot.Plot, l *legend, xys plotter.XYs, name string, col color.Color, width float64) *plotter.Line {
	if len(xys) == 0 {
		return nil
	}
	line, err := plotter.NewLine(xys)
	if err != nil {
		return nil
	}
	line.Color = col
	line.Width = vg.Points(width)
	p.Add(line)
	if l != nil && name != "" {
		l.add(name, line)
	}
	return line
}

// addVLine draws a vertical line at x from y0 to y1 as a two-point plotter.Line.
func addVLine(p *plot.Plot, x, y0, y1 float64, col color.Color, width float64, dash []vg.Length) *plotter.Line {
	line, err := plotter.NewLine(plotter.XYs{{X: x, Y: y0}, {X: x, Y: y1}})
	if err != nil {
		return nil
	}
	line.Color = col
	line.Width = vg.Points(width)
	line.Dashes = dash
	p.Add(line)
	return line
}

func maxOf(vs []float64) float64 {
	m := 0.0
	for _, v := range vs {
		m = math.Max(m, v)
	}
	return m
}

// clean maps values the plotting library rejects (NaN, ±Inf, negatives) to 0.
func clean(v float64) float64 {
	if !finite(v) || v < 0 {
		return 0
	}
	return v
}
