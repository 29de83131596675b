package reports

import (
	"bytes"
	"context"
	"image/color"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// chromiumPath finds a headless-capable Chromium, or "".
func chromiumPath() string {
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// runChromium loads url headless with networking extras disabled and returns
// stdout and stderr. The profile is per call so runs cannot share state.
func runChromium(t *testing.T, bin, url string, extra ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0",
	}, extra...)
	args = append(args, url)
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second // do not hang on a helper process keeping the pipes open
	err := cmd.Run()
	require.NoError(t, err, "chromium failed: %s", errb.String())
	return out.String(), errb.String()
}

// consoleLines returns Chromium log lines that report page console output or
// uncaught errors (logged as "INFO:CONSOLE… source: file://…").
func consoleLines(stderr string) []string {
	var out []string
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, ":CONSOLE") || strings.Contains(line, "Uncaught") || strings.Contains(line, "Refused to") {
			out = append(out, line)
		}
	}
	return out
}

func TestReportInBrowser(t *testing.T) {
	bin := chromiumPath()
	if bin == "" {
		t.Skip("chromium not installed; .ci/run installs it with apt-get install chromium")
	}

	// Canary: prove this Chromium reports console errors on stderr, so the
	// "no console errors" assertion below cannot pass vacuously.
	canary := filepath.Join(t.TempDir(), "canary.html")
	require.NoError(t, os.WriteFile(canary, []byte(`<!DOCTYPE html><p>canary</p><script>console.error("tokenstorm-canary")</script>`), 0o644))
	_, canaryErr := runChromium(t, bin, "file://"+canary, "--dump-dom")
	consoleVisible := strings.Contains(strings.Join(consoleLines(canaryErr), "\n"), "tokenstorm-canary")
	if !consoleVisible {
		t.Log("this chromium does not log console messages to stderr; the console check is weaker")
	}

	dir := render(t, Sample(true))
	url := "file://" + filepath.Join(dir, HTMLFile)

	// The DOM after load: charts and tables are there.
	dom, stderr := runChromium(t, bin, url, "--dump-dom")
	assert.Empty(t, consoleLines(stderr), "the page logs no console errors")
	doc, err := html.Parse(strings.NewReader(dom))
	require.NoError(t, err)
	for _, id := range chartIDs {
		n := byID(doc, id)
		if assert.NotNil(t, n, "chart %s in the rendered DOM", id) {
			assert.Equal(t, "svg", n.Data)
			paths := 0
			walk(n, func(c *html.Node) {
				if c.Type == html.ElementNode && c.Data == "path" {
					paths++
				}
			})
			assert.Greater(t, paths, 10, "chart %s has drawn content", id)
		}
	}
	for _, id := range []string{"verdict-table", "scenario-table", "threshold-table", "device-table", "event-table", "violation-1"} {
		assert.NotNil(t, byID(doc, id), "%s in the rendered DOM", id)
	}
	assert.Equal(t, "FAIL", textOf(byID(doc, "verdict-badge")))

	// The screenshot: the page paints, with its styles applied.
	shotDir := t.ArtifactDir()
	shot := filepath.Join(shotDir, "report.png")
	_, stderr = runChromium(t, bin, url, "--screenshot="+shot, "--window-size=1280,2000", "--hide-scrollbars")
	assert.Empty(t, consoleLines(stderr), "the page logs no console errors")
	f, err := os.Open(shot)
	require.NoError(t, err, "screenshot written")
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	assert.Equal(t, 1280, img.Bounds().Dx())
	// The banner of a failing run is tinted red (CSS --fail-bg #fdecea).
	r, g, b, _ := img.At(8, 8).RGBA()
	assert.InDelta(t, 0xfd, r>>8, 4, "banner colour")
	assert.InDelta(t, 0xec, g>>8, 4, "banner colour")
	assert.InDelta(t, 0xea, b>>8, 4, "banner colour")

	if artifacts := os.Getenv("TOKENSTORM_ARTIFACTS"); artifacts != "" {
		out := filepath.Join(artifacts, "reports")
		require.NoError(t, os.MkdirAll(out, 0o755))
		copyFile(t, shot, filepath.Join(out, "report.png"))
		copyFile(t, filepath.Join(dir, HTMLFile), filepath.Join(out, "report.html"))
		t.Logf("screenshot: %s", filepath.Join(out, "report.png"))
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.Create(to)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}

// violationReds are the colours that mean "violation" on the page: CSS
// --fail and --fail-bg, and the charts' colBad.
var violationReds = []color.NRGBA{{0xc6, 0x28, 0x28, 0xff}, {0xfd, 0xec, 0xea, 0xff}, {0xd6, 0x27, 0x28, 0xff}}

// redPixels counts screenshot pixels at (or, for the saturated reds, near)
// a violation colour.
func redPixels(t *testing.T, shot string) int {
	t.Helper()
	f, err := os.Open(shot)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			for i, red := range violationReds {
				tol := 40
				if i == 1 {
					tol = 3 // the pale background is near white: exact only
				}
				if absDiff(c.R, red.R)+absDiff(c.G, red.G)+absDiff(c.B, red.B) <= tol {
					n++
					break
				}
			}
		}
	}
	return n
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

// xTicks returns the numbers labelling the time axis of chart id: the
// texts after the axis title, up to the next non-number.
func xTicks(t *testing.T, doc *html.Node, id string) []float64 {
	t.Helper()
	svg := byID(doc, id)
	require.NotNil(t, svg, id)
	var texts []string
	walk(svg, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "text" {
			texts = append(texts, strings.TrimSpace(textOf(n)))
		}
	})
	var ticks []float64
	for i, tx := range texts {
		if !strings.HasPrefix(tx, "wall time") {
			continue
		}
		for _, v := range texts[i+1:] {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				break
			}
			ticks = append(ticks, f)
		}
	}
	require.NotEmpty(t, ticks, "%s has a labelled time axis", id)
	return ticks
}

// A new user opens three reports: a PASS run whose probes moved the stack's
// clock by two hours, a failing run and a storm. The time axes end within
// the run's wall duration, the PASS shows nothing styled as a violation,
// and the failing one has a violation group for every failed scenario.
func TestReportsReadRightInBrowser(t *testing.T) {
	bin := chromiumPath()
	if bin == "" {
		t.Skip("chromium not installed; .ci/run installs it with apt-get install chromium")
	}
	shots := t.ArtifactDir()

	// PASS, with what made a real PASS report red: an amplification above
	// 1 from bounded retries, failed requests from fault probes, a device
	// that refreshed then logged in, and events stamped by a clock two
	// hours ahead.
	pass := Sample(false)
	pass.Refresh.Amplification = 1.16
	pass.Requests.Failed, pass.Requests.Succeeded = 36, pass.Requests.Issued-36
	pass.PerDevice[5].Refreshes, pass.PerDevice[5].Logins = 2, 1
	pass.Timeline = append(pass.Timeline, summary.Mark{AtMS: 30000, Kind: "expire", Detail: "probe: clock past expiry", ClockOffsetMS: 7.2e6, Scenario: "stored-expired-token"})
	pass.SeriesBucketMS = 250
	require.Equal(t, summary.Pass, pass.Verdict)
	dir := render(t, pass)
	url := "file://" + filepath.Join(dir, HTMLFile)
	dom, _ := runChromium(t, bin, url, "--dump-dom")
	doc, err := html.Parse(strings.NewReader(dom))
	require.NoError(t, err)
	for _, id := range []string{chartLatency, chartThroughput} {
		ticks := xTicks(t, doc, id)
		assert.LessOrEqual(t, slices.Max(ticks), pass.DurationMS/1000, "%s: the time axis ends within the run's %v s", id, pass.DurationMS/1000)
		assert.GreaterOrEqual(t, slices.Max(ticks), pass.DurationMS/1000*0.75, "%s: and spans the run", id)
	}
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		class, _ := attr(n, "class")
		for _, c := range strings.Fields(class) {
			assert.NotContains(t, []string{"fail", "row-fail", "v-fail", "bad", "vgroup", "violation"}, c,
				"PASS report: <%s class=%q> %q is styled as a violation", n.Data, class, clip(textOf(n), 80))
		}
	})
	assert.Contains(t, textOf(byID(doc, "event-table")), "stack clock +2h0m0s (simulated)", "the simulated clock is a note")
	shot := filepath.Join(shots, "pass.png")
	runChromium(t, bin, url, "--screenshot="+shot, "--window-size=1280,4000", "--hide-scrollbars")
	assert.Zero(t, redPixels(t, shot), "PASS report: no pixel in a violation colour")

	// FAIL: the same check finds red (so it can fail), and every failed
	// scenario has its violation group.
	fail := Sample(true)
	dir = render(t, fail)
	url = "file://" + filepath.Join(dir, HTMLFile)
	dom, _ = runChromium(t, bin, url, "--dump-dom")
	doc, err = html.Parse(strings.NewReader(dom))
	require.NoError(t, err)
	groups := map[string]bool{}
	walk(doc, func(n *html.Node) {
		if class, _ := attr(n, "class"); n.Type == html.ElementNode && class == "vgroup" {
			sc, _ := attr(n, "data-scenario")
			groups[sc] = true
		}
	})
	failedScenarios := 0
	for _, sc := range fail.Scenarios {
		if sc.Verdict == summary.Fail {
			failedScenarios++
			assert.True(t, groups[sc.Name], "a violation group for failed scenario %q (groups: %v)", sc.Name, groups)
		}
	}
	require.Positive(t, failedScenarios)
	first := byID(doc, "vgroup-1")
	require.NotNil(t, first)
	firstScenario, _ := attr(first, "data-scenario")
	assert.Contains(t, []string{fail.Scenarios[0].Name, fail.Scenarios[1].Name, "expiry-storm"}, firstScenario, "failed scenarios first")
	shot = filepath.Join(shots, "fail.png")
	runChromium(t, bin, url, "--screenshot="+shot, "--window-size=1280,4000", "--hide-scrollbars")
	assert.Positive(t, redPixels(t, shot), "a failing report is red somewhere (the check can fail)")

	if artifacts := os.Getenv("TOKENSTORM_ARTIFACTS"); artifacts != "" {
		out := filepath.Join(artifacts, "reports")
		require.NoError(t, os.MkdirAll(out, 0o755))
		copyFile(t, filepath.Join(shots, "pass.png"), filepath.Join(out, "pass.png"))
		copyFile(t, shot, filepath.Join(out, "fail.png"))
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
