package reports

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

var chartIDs = []string{chartLatency, chartDistribution, chartRefreshes, chartThroughput}

// parseHTML parses report.html as a browser would.
func parseHTML(t testing.TB, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	require.NoError(t, err)
	return doc
}

func walk(n *html.Node, fn func(*html.Node)) {
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func byID(doc *html.Node, id string) *html.Node {
	var found *html.Node
	walk(doc, func(n *html.Node) {
		if v, ok := attr(n, "id"); ok && v == id && found == nil {
			found = n
		}
	})
	return found
}

func textOf(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return b.String()
}

func TestHTMLHasChartsAndTables(t *testing.T) {
	s := Sample(true)
	page := readFile(t, render(t, s), HTMLFile)
	doc := parseHTML(t, page)

	for _, id := range chartIDs {
		n := byID(doc, id)
		require.NotNil(t, n, "chart %s", id)
		assert.Equal(t, "svg", n.Data, "chart %s is inline SVG", id)
		class, _ := attr(n, "class")
		assert.Equal(t, "ts-chart", class)
		_, hasViewBox := attr(n, "viewbox") // the HTML parser lower-cases; browsers fix the case for SVG
		if !hasViewBox {
			_, hasViewBox = attr(n, "viewBox")
		}
		assert.True(t, hasViewBox, "chart %s scales with the page", id)
	}
	assert.Equal(t, len(chartIDs), strings.Count(page, "<svg "), "one <svg> per chart")
	assert.NotContains(t, page, "<?xml", "XML prolog stripped")

	for _, id := range []string{"verdict-table", "scenario-table", "threshold-table", "device-table", "event-table", "route-table", "violations"} {
		assert.NotNil(t, byID(doc, id), "table/section %s", id)
	}
	assert.Equal(t, "FAIL", textOf(byID(doc, "verdict-badge")))
	assert.Equal(t, "mutant:storm", textOf(byID(doc, "meta-client")))
	assert.Equal(t, "embedded", textOf(byID(doc, "meta-backend")))
	assert.Equal(t, "60.0 s", textOf(byID(doc, "meta-duration")))

	verdicts := textOf(byID(doc, "verdict-table"))
	for _, name := range summary.InvariantNames {
		assert.Contains(t, verdicts, name)
	}

	// The violation: explanation and evidence table.
	v1 := byID(doc, "violation-1")
	require.NotNil(t, v1)
	ex := s.Invariants[summary.SingleRefresh].Examples[0]
	assert.Contains(t, textOf(v1), ex.Explanation)
	assert.Contains(t, textOf(v1), "rt-001-1 family=fam-001")
	assert.Contains(t, textOf(v1), "401 reused")
	_, open := attr(v1, "open")
	assert.True(t, open, "the first violations are expanded without script")

	// Time-axis events are drawn: an expiry line and refresh glyphs in the legend.
	latency := textOf(byID(doc, chartLatency))
	assert.Contains(t, latency, "token expiry")
	assert.Contains(t, latency, "refresh (")
	assert.Contains(t, textOf(byID(doc, chartDistribution)), "p99 488 ms")
}

// remoteRE matches attribute values and CSS that would load something from
// the network. Namespace URIs are not loads, but the report strips them anyway.
var remoteRE = regexp.MustCompile(`(?i)^\s*(https?:)?//`)

func TestHTMLIsSelfContained(t *testing.T) {
	page := readFile(t, render(t, Sample(true)), HTMLFile)
	doc := parseHTML(t, page)
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		for _, a := range n.Attr {
			switch strings.ToLower(a.Key) {
			case "src", "href", "xlink:href", "action", "poster", "data", "srcset":
				assert.False(t, remoteRE.MatchString(a.Val), "<%s %s=%q> loads from the network", n.Data, a.Key, a.Val)
			}
		}
		assert.NotEqual(t, "script", n.Data, "the page needs no script")
		assert.NotEqual(t, "iframe", n.Data)
		if n.Data == "link" {
			rel, _ := attr(n, "rel")
			assert.Equal(t, "icon", rel, "no external stylesheets")
		}
	})
	assert.NotRegexp(t, `(?i)url\(\s*['"]?(https?:)?//`, page, "no remote CSS resources")
	assert.NotRegexp(t, `(?i)@import|@font-face`, page)
	assert.NotContains(t, page, "http://")
	assert.NotContains(t, page, "https://")
	assert.Contains(t, page, `http-equiv="Content-Security-Policy" content="default-src 'none';`, "the browser blocks any load we missed")
}

// Ledger evidence, device names, marks and explanations are user-controlled;
// html/template must escape them everywhere.
func TestHTMLEscapesUserStrings(t *testing.T) {
	s := Sample(true)
	inv := s.Invariants[summary.SingleRefresh]
	ex := &inv.Examples[0]
	ex.Evidence[1].Detail = hostile
	ex.Evidence[2].Route = hostile
	ex.Explanation = "explained " + hostile
	ex.RIDs = append(ex.RIDs, hostile)
	inv.Reason = hostile
	s.Client = hostile
	s.Timeline = append(s.Timeline, summary.Mark{AtMS: 30000, Kind: "fault", Detail: hostile})
	s.Timeline = append(s.Timeline, summary.Mark{AtMS: 31000, Kind: hostile})
	s.PerDevice[0].Device = hostile
	s.PerDevice[0].Refreshes = 99 // listed first in the device table
	s.Scenarios[0].Detail = hostile
	s.Notes = append(s.Notes, hostile)
	s.PerRoute[hostile] = summary.Latency{P50: 1}

	page := readFile(t, render(t, s), HTMLFile)
	assert.NotContains(t, page, "<script")
	assert.NotContains(t, page, "<img")
	assert.Contains(t, page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;")

	doc := parseHTML(t, page)
	walk(doc, func(n *html.Node) {
		if n.Type == html.ElementNode {
			assert.NotContains(t, []string{"script", "img"}, n.Data)
			for _, a := range n.Attr {
				assert.False(t, strings.HasPrefix(strings.ToLower(a.Key), "on"), "event handler attribute %s", a.Key)
			}
		}
	})
	// The text survives, as text.
	assert.Contains(t, textOf(byID(doc, "violation-1")), hostile)
	assert.Contains(t, textOf(byID(doc, "meta-client")), hostile)
	assert.Contains(t, textOf(byID(doc, "event-table")), hostile)
}

// A run without series, histogram or per-device data still renders, and
// every chart says "no data" instead of failing.
func TestHTMLEmptySummary(t *testing.T) {
	s := summary.New("ref", "embedded")
	s.Finalize()
	page := readFile(t, render(t, s), HTMLFile)
	doc := parseHTML(t, page)
	for _, id := range chartIDs {
		assert.Nil(t, byID(doc, id), "no svg for %s", id)
		n := byID(doc, id+"-nodata")
		require.NotNil(t, n, "placeholder for %s", id)
		assert.Equal(t, "no data", textOf(n))
	}
	assert.NotNil(t, byID(doc, "no-violations"))
	assert.Equal(t, "PASS", textOf(byID(doc, "verdict-badge")))
}

// Degenerate inputs must not break a chart, let alone the report.
func TestHTMLDegenerateData(t *testing.T) {
	cases := map[string]func(*summary.Summary){
		"one point": func(s *summary.Summary) { s.Series = s.Series[:1] },
		"NaN and Inf": func(s *summary.Summary) {
			s.Series[3].P99MS = math.NaN()
			s.Series[4].P50MS = math.Inf(1)
			s.Series[5].AtMS = math.NaN()
			s.Timeline = append(s.Timeline, summary.Mark{AtMS: math.Inf(1), Kind: "expire"})
			s.Histogram = append(s.Histogram, summary.Bucket{LEMS: math.Inf(1), Count: 3})
		},
		"negative values": func(s *summary.Summary) {
			s.Series[2].P99MS = -5
			s.Histogram[0].Count = -1
		},
		"duplicate timestamps": func(s *summary.Summary) {
			for i := range s.Series {
				s.Series[i].AtMS = 1000
			}
		},
		"unsorted series": func(s *summary.Summary) {
			s.Series[0], s.Series[len(s.Series)-1] = s.Series[len(s.Series)-1], s.Series[0]
		},
		"all idle": func(s *summary.Summary) {
			for i := range s.Series {
				s.Series[i] = summary.Point{AtMS: s.Series[i].AtMS}
			}
		},
		"single histogram bucket": func(s *summary.Summary) {
			s.Histogram = []summary.Bucket{{LEMS: 10, Count: 5}}
		},
		"histogram all zero": func(s *summary.Summary) {
			for i := range s.Histogram {
				s.Histogram[i].Count = 0
			}
		},
		"devices without episodes": func(s *summary.Summary) {
			for i := range s.PerDevice {
				s.PerDevice[i].Episodes = 0
			}
		},
		"marks outside the series": func(s *summary.Summary) {
			s.Timeline = append(s.Timeline, summary.Mark{AtMS: -5000, Kind: "expire"}, summary.Mark{AtMS: 1e9, Kind: "refresh"})
		},
		"nil invariant": func(s *summary.Summary) { s.Invariants["custom-check"] = nil },
		"empty verdict": func(s *summary.Summary) { s.Verdict = "" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			s := Sample(true)
			mutate(s)
			// Rendered directly: summary.json cannot hold NaN or Inf, but a
			// producer's bug must not take the HTML report down with it.
			var buf bytes.Buffer
			require.NoError(t, writeHTML(&buf, s))
			page := buf.String()
			assert.NotContains(t, page, "chart unavailable")
			parseHTML(t, page)
			buf.Reset()
			require.NoError(t, writeJUnit(&buf, s))
			buf.Reset()
			require.NoError(t, writeMarkdown(&buf, s))
		})
	}
}

func TestSafeChartRecovers(t *testing.T) {
	c := safeChart("x", "X", func() chart { panic("boom") })
	assert.Equal(t, "x", c.ID)
	assert.Equal(t, "chart unavailable: boom", c.Empty)
	assert.Empty(t, c.SVG)
}

// A million-request run: 100k series points and 10k violations still make
// a page that opens quickly.
func TestHTMLBigSummary(t *testing.T) {
	if testing.Short() {
		t.Skip("renders a large summary")
	}
	s := bigSummary(100_000, 10_000)
	dir := render(t, s)
	info, err := os.Stat(filepath.Join(dir, HTMLFile))
	require.NoError(t, err)
	assert.Less(t, info.Size(), int64(5<<20), "report.html stays under 5 MB")
	t.Logf("report.html: %d KB, summary.json: %d KB", info.Size()>>10, fileSize(t, dir, SummaryFile)>>10)

	page := readFile(t, dir, HTMLFile)
	doc := parseHTML(t, page)
	for _, id := range chartIDs {
		assert.NotNil(t, byID(doc, id), "chart %s", id)
	}
	// Polylines are downsampled: no path has more than maxChartPoints vertices.
	for _, d := range regexp.MustCompile(`<path d="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		assert.LessOrEqual(t, strings.Count(d[1], "L"), maxChartPoints+3, "a filled area adds its baseline corners")
	}
	// Violations come in groups (scenario × invariant) of a few examples
	// each, at most htmlMaxViolations with evidence; every group says how
	// many it holds.
	assert.Nil(t, byID(doc, fmt.Sprintf("violation-%d", htmlMaxViolations+1)), "at most 50 violations with evidence")
	var g *html.Node
	for i := 1; byID(doc, fmt.Sprintf("vgroup-%d", i)) != nil; i++ {
		if n := byID(doc, fmt.Sprintf("vgroup-%d", i)); strings.Contains(textOf(n), "single-refresh") && strings.Contains(textOf(n), "violations") {
			g = n
		}
	}
	require.NotNil(t, g, "a group holds the single-refresh violations")
	assert.Contains(t, textOf(g), "10000 violations")
	assert.Contains(t, textOf(g), fmt.Sprintf("and %d more violations in this group", 10000-groupExamples))
	assert.Contains(t, textOf(byID(doc, "fig-"+chartLatency)), "100000 buckets merged into")
}

func fileSize(t testing.TB, dir, name string) int64 {
	t.Helper()
	info, err := os.Stat(filepath.Join(dir, name))
	require.NoError(t, err)
	return info.Size()
}

func TestInterruptedRunReadsAsInterrupted(t *testing.T) {
	s := Sample(false)
	s.Scenarios = append(s.Scenarios, summary.Scenario{Name: "conformance suite (features/)", Kind: "feature", Verdict: summary.Skip, Detail: "not run: the run was interrupted"})
	s.MarkInterrupted("stopped after 3s")
	s.Finalize()
	require.Equal(t, summary.Interrupted, s.Verdict, "Finalize keeps an interrupted verdict")
	dir := render(t, s)
	doc := parseHTML(t, readFile(t, dir, HTMLFile))
	banner := byID(doc, "verdict")
	require.NotNil(t, banner)
	class, _ := attr(banner, "class")
	assert.Contains(t, class, "interrupted")
	assert.NotContains(t, class, "pass")
	assert.Equal(t, "INTERRUPTED", textOf(byID(doc, "verdict-badge")))
	assert.Contains(t, textOf(banner), "Interrupted before it finished")
	md := readFile(t, dir, MarkdownFile)
	assert.Contains(t, md, "## tokenstorm: INTERRUPTED")
	assert.Contains(t, md, "**interrupted**")
	assert.Contains(t, readFile(t, dir, JUnitFile), `name="verdict" value="interrupted"`)
}

// A ratio keeps its decimals: a passing run reads "amplification 1.00",
// as stdout and summary.md do, not "1".
func TestHTMLAmplificationHasTwoDecimals(t *testing.T) {
	page := readFile(t, render(t, Sample(false)), HTMLFile)
	assert.Contains(t, page, "<dt>amplification</dt><dd>1.00</dd>")
	page = readFile(t, render(t, Sample(true)), HTMLFile)
	assert.Contains(t, page, `<dt>amplification</dt><dd class="bad">3.90</dd>`)
}
