package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/reports"
)

// `report` refuses a summary the schema rejects: exit 2, every problem
// listed with where it is, and no report rendered from it.
func TestReportRejectsInvalidSummary(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "summary.json"), []byte(`{"verdict":"pass"}`), 0o644))
	out, errOut, code := runCLI(t, "report", dir)
	assert.Equal(t, exitUsage, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "does not match docs/summary.schema.json")
	for _, k := range []string{"'client'", "'backend'", "'invariants'", "'requests'", "'refresh'", "'latency'"} {
		assert.Contains(t, errOut, k)
	}
	assert.NoFileExists(t, filepath.Join(dir, "report.html"), "nothing is rendered from an invalid summary")

	// Unknown keys and wrong values are named by path.
	require.NoError(t, reports.WriteAll(dir, reports.Sample(false)))
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	require.NoError(t, err)
	bad := strings.Replace(string(b), `"issued":`, `"isued": 1, "issued":`, 1)
	bad = strings.Replace(bad, `"verdict": "pass"`, `"verdict": "PASS"`, 1)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "summary.json"), []byte(bad), 0o644))
	_, errOut, code = runCLI(t, "report", dir)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "at $.requests: additional properties 'isued' not allowed")
	assert.Contains(t, errOut, "at $.verdict: value must be one of")

	_, errOut, code = runCLI(t, "report", t.TempDir())
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "summary.json")
}

func TestReportRendersValidSummary(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, reports.WriteAll(dir, reports.Sample(true)))
	require.NoError(t, os.Remove(filepath.Join(dir, "report.html")))
	out, errOut, code := runCLI(t, "report", dir)
	assert.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, "re-rendered")
	assert.FileExists(t, filepath.Join(dir, "report.html"))
}
