package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(""), &o, &e)
	code = exitCode(err, &e)
	return o.String(), e.String(), code
}

func TestHelpAndUsageErrors(t *testing.T) {
	out, _, code := runCLI(t, "--help")
	assert.Equal(t, 0, code)
	for _, c := range []string{"run", "conform", "storm", "serve", "report", "steps", "clients", "version"} {
		assert.Contains(t, out, "  "+c+" ")
	}
	_, errOut, code := runCLI(t, "frobnicate")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `unknown command "frobnicate"`)

	_, _, code = runCLI(t)
	assert.Equal(t, 2, code)

	for _, c := range []string{"run", "serve", "report", "clients", "version"} {
		out, _, code := runCLI(t, c, "--help")
		assert.Equal(t, 0, code, c)
		assert.Contains(t, out, "Usage: tokenstorm "+c, c)
	}
}

func TestRunRejectsBadFlagsWithExit2(t *testing.T) {
	cases := map[string][]string{
		"unknown client kind":  {"run", "--client", "bogus"},
		"unknown mutant":       {"run", "--client", "mutant:nope"},
		"empty exec":           {"run", "--client", "exec:"},
		"unknown probe":        {"run", "--probes", "no-such-probe"},
		"bad devices":          {"run", "--devices", "0"},
		"unknown flag":         {"run", "--frob"},
		"missing js adapter":   {"run", "--client", "js:/nonexistent/adapter.js"},
		"serve bad reuse":      {"serve", "--reuse", "sometimes"},
		"report without a dir": {"report"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			_, errOut, code := runCLI(t, args...)
			assert.Equal(t, 2, code, errOut)
			assert.NotEmpty(t, errOut)
		})
	}
}

func TestClientsListsEveryMutant(t *testing.T) {
	out, _, code := runCLI(t, "clients")
	require.Equal(t, 0, code)
	for _, m := range []string{"ref", "mutant:storm", "mutant:single-slot", "mutant:code-reuse", "exec:", "js:"} {
		assert.Contains(t, out, m)
	}
}

func TestRunPassesWithRefAndFailsWithAMutant(t *testing.T) {
	dir := t.TempDir()
	out, errOut, code := runCLI(t, "run", "--probes", "one-at-expiry,concurrent-expiry", "--devices", "5", "--out", dir)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, "verdict: PASS")
	for _, f := range []string{"summary.json", "junit.xml", "summary.md", "report.html"} {
		assert.FileExists(t, filepath.Join(dir, f))
	}
	var s map[string]any
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &s))
	assert.Equal(t, "pass", s["verdict"])
	for _, k := range []string{"invariants", "requests", "refresh", "latency", "client", "backend"} {
		assert.Contains(t, s, k)
	}

	dir2 := t.TempDir()
	out, _, code = runCLI(t, "run", "--client", "mutant:storm", "--probes", "concurrent-expiry", "--devices", "5", "--out", dir2)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "single-refresh        FAIL")
	assert.Contains(t, out, "verdict: FAIL")

	// report re-renders from summary.json alone.
	require.NoError(t, os.Remove(filepath.Join(dir2, "report.html")))
	_, _, code = runCLI(t, "report", dir2)
	assert.Equal(t, 0, code)
	assert.FileExists(t, filepath.Join(dir2, "report.html"))
}

func TestHelpCommandAndVersion(t *testing.T) {
	for _, c := range commands() {
		out, errOut, code := runCLI(t, "help", c.name)
		assert.Equal(t, 0, code, "%s: %s", c.name, errOut)
		assert.Contains(t, out, "Usage: tokenstorm "+c.name, "help %s shows that command's help", c.name)
		assert.NotContains(t, out, "Commands:", "help %s is not the general help", c.name)
		if strings.Contains(out, "Flags:") {
			assert.Regexp(t, `Flags:\n  --[a-z]`, out, "%s: a Flags section is never empty", c.name)
		}
		assert.NotRegexp(t, `(?m)^  -[a-z]`, out, "%s: flags are shown as --flag", c.name)
	}
	out, _, code := runCLI(t, "help", "storm")
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "  --client string")
	assert.Contains(t, out, "  --duration duration")
	for _, c := range []string{"report", "clients", "version"} {
		out, _, _ := runCLI(t, c, "--help")
		assert.NotContains(t, out, "Flags:", "%s has no flags: no Flags section", c)
	}
	_, errOut, code := runCLI(t, "help", "nope")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `unknown command "nope"`)

	v1, _, code := runCLI(t, "--version")
	assert.Equal(t, 0, code)
	v2, _, _ := runCLI(t, "version")
	assert.Equal(t, v1, v2)
	assert.Regexp(t, `^tokenstorm \S+ \(go1\.\d+`, v1)
}

func TestVersionLineFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.2"}}
	assert.Regexp(t, `^tokenstorm v1\.4\.2 \(go1\.26\.8, \w+/\w+\)$`, versionLine("", bi))
	assert.Contains(t, versionLine("v9.9.9", bi), "tokenstorm v9.9.9 ", "-ldflags wins")
	dev := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-02T15:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	assert.Regexp(t, `^tokenstorm devel \(go1\.26\.8, \w+/\w+, commit 0123456789ab modified, 2026-12-02T15:00:00Z\)$`, versionLine("", dev))
	assert.Contains(t, versionLine("", nil), "tokenstorm devel (go")
}

// A flag error is one line naming the flag as typed (--flag), then the
// usage line and where the help is: never the whole help.
func TestFlagErrorIsShort(t *testing.T) {
	out, errOut, code := runCLI(t, "storm", "--frob")
	assert.Equal(t, 2, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "flag provided but not defined: --frob")
	assert.Contains(t, errOut, "usage: tokenstorm storm FILE|NAME [flags] (see tokenstorm storm --help)")
	assert.LessOrEqual(t, strings.Count(errOut, "\n"), 2, errOut)
	_, errOut, _ = runCLI(t, "run", "--devices", "many")
	assert.Contains(t, errOut, `invalid value "many" for flag --devices`)
}
