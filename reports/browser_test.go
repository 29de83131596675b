package reports

import (
	"bytes"
	"context"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"
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
