package reports

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

func TestWriteAllWritesEveryFile(t *testing.T) {
	for _, failing := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "nested", "out") // created on demand
		require.NoError(t, WriteAll(dir, Sample(failing)))
		for _, name := range []string{SummaryFile, JUnitFile, MarkdownFile, HTMLFile} {
			assert.Positive(t, fileSize(t, dir, name), name)
		}
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		assert.Len(t, entries, 4, "no temporary files left behind")
	}
}

func TestWriteAllNilSummary(t *testing.T) {
	assert.Error(t, WriteAll(t.TempDir(), nil))
}

func TestWriteAllDoesNotModifySummary(t *testing.T) {
	s := Sample(true)
	before := *s.Invariants[summary.SingleRefresh]
	n := len(s.Series)
	render(t, s)
	assert.Equal(t, before.Violations, s.Invariants[summary.SingleRefresh].Violations)
	assert.Len(t, s.Series, n)
}

// Rerender rebuilds the same reports from summary.json alone.
func TestRerenderRoundTrip(t *testing.T) {
	dir := render(t, Sample(true))
	want := map[string]string{}
	for _, name := range []string{JUnitFile, MarkdownFile, HTMLFile} {
		want[name] = readFile(t, dir, name)
		require.NoError(t, os.Remove(filepath.Join(dir, name)))
	}
	summaryBefore := readFile(t, dir, SummaryFile)

	require.NoError(t, Rerender(context.Background(), dir))
	for name, content := range want {
		assert.Equal(t, content, readFile(t, dir, name), "%s identical after a round trip through summary.json", name)
	}
	assert.Equal(t, summaryBefore, readFile(t, dir, SummaryFile), "summary.json untouched")
}

func TestRerenderErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	err := Rerender(context.Background(), dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(dir, SummaryFile))

	require.NoError(t, os.WriteFile(filepath.Join(dir, SummaryFile), []byte(`{"verdict": "pass", "invariants": [`), 0o644))
	err = Rerender(context.Background(), dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(dir, SummaryFile))

	// A report file that cannot be replaced is named too.
	require.NoError(t, Sample(false).WriteFile(dir))
	require.NoError(t, os.Mkdir(filepath.Join(dir, HTMLFile), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, HTMLFile, "keep"), nil, 0o644))
	err = Rerender(context.Background(), dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(dir, HTMLFile))
}

func TestSampleIsRealistic(t *testing.T) {
	pass, fail := Sample(false), Sample(true)
	assert.Equal(t, summary.Pass, pass.Verdict)
	assert.Equal(t, summary.Fail, fail.Verdict)
	assert.Equal(t, []string{summary.SingleRefresh}, fail.FailedInvariants())
	assert.Equal(t, Sample(true), fail, "deterministic")

	for _, s := range []*summary.Summary{pass, fail} {
		assert.Len(t, s.Invariants, len(summary.InvariantNames))
		assert.Len(t, s.Series, 240, "60 s in 250 ms buckets")
		assert.Equal(t, 20000.0, s.Timeline[0].AtMS, "expiry at 20 s")
		assert.NotEmpty(t, s.Histogram)
		assert.Len(t, s.PerDevice, 50)
		refreshes := 0
		for _, m := range s.Timeline {
			if m.Kind == "refresh" {
				refreshes++
			}
		}
		assert.Equal(t, s.Refresh.Refreshes, refreshes)
	}
	assert.Equal(t, 1.0, pass.Refresh.Amplification)
	assert.Greater(t, fail.Refresh.Amplification, 1.0)
	ex := fail.Invariants[summary.SingleRefresh].Examples
	require.NotEmpty(t, ex)
	assert.NotEmpty(t, ex[0].Evidence)
	assert.NotEmpty(t, ex[0].Explanation)
}

func BenchmarkWriteAll(b *testing.B) {
	s := bigSummary(100_000, 10_000)
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteAll(dir, s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteAllSample(b *testing.B) {
	s := Sample(true)
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteAll(dir, s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHTMLBig isolates report.html rendering (charts, downsampling,
// template) from writing the 40 MB summary.json of BenchmarkWriteAll.
func BenchmarkHTMLBig(b *testing.B) {
	s := bigSummary(100_000, 10_000)
	b.ReportAllocs()
	for b.Loop() {
		var buf bytes.Buffer
		if err := writeHTML(&buf, s); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(buf.Len())/1024, "KB/op")
	}
}

// SPEC §12: no report carries a live wx.login code; the evidence keeps a
// hash, and the caller's summary is left as it was.
func TestReportsCarryNoLiveCodes(t *testing.T) {
	s := summary.New("ref", "embedded")
	s.Invariants[summary.CodeSingleUse] = &summary.Invariant{Verdict: summary.Fail, Violations: 1, Examples: []summary.Violation{{
		Invariant: summary.CodeSingleUse, Explanation: "code sent twice",
		Evidence: []ledger.Event{{Seq: 1, Source: ledger.SourceWechat, Kind: ledger.KindJSCode2Sess, Code: "live-code-0123456789"}},
	}}}
	s.Finalize()
	dir := t.TempDir()
	require.NoError(t, WriteAll(dir, s))
	for _, f := range []string{SummaryFile, HTMLFile, "summary.md", "junit.xml"} {
		assert.NotContains(t, readFile(t, dir, f), "live-code-0123456789", f)
	}
	assert.Contains(t, readFile(t, dir, SummaryFile), ledger.RedactSecret("live-code-0123456789"))
	assert.Equal(t, "live-code-0123456789", s.Invariants[summary.CodeSingleUse].Examples[0].Evidence[0].Code)
}

// The report shows what the terminal table and summary.md show: late
// requests, first logins, retries and the client's protocol errors.
func TestKeyNumbersShowLateRetriesAndProtocolErrors(t *testing.T) {
	s := summary.New("exec:x", "embedded")
	s.Requests.Late = 3
	s.Refresh.FirstLogins, s.Refresh.Retries = 7, 2
	s.AddProtocolErrors(map[string]int{"garbage_lines": 5})
	s.Finalize()
	html := readFile(t, render(t, s), HTMLFile)
	for _, want := range []string{"late", "first logins", "retries after a failure", "Client protocol errors", "garbage lines"} {
		assert.Contains(t, html, want)
	}
}
