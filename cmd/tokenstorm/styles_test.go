package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/style"
)

func TestBrokenStyleFileIsAUsageErrorNamingFileLineField(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mine.yaml")
	require.NoError(t, os.WriteFile(p, []byte("name: mine\nroutes:\n  login: /l\n  resourse: /api/\n"), 0o600))
	for _, cmd := range []string{"run", "serve"} {
		_, errOut, code := runCLI(t, cmd, "--style", p)
		assert.Equal(t, 2, code, cmd)
		assert.Contains(t, errOut, p+`:4:3: routes.resourse: unknown field "resourse"`, cmd)
	}
	_, errOut, code := runCLI(t, "run", "--style", "no-such-style")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `no built-in style "no-such-style" (built in: bearer, body-code, cookie-session, oauth2, rotating, status-403)`)
}

func TestRunInABuiltinStyle(t *testing.T) {
	dir := t.TempDir()
	out, errOut, code := runCLI(t, "run", "--style", "body-code", "--probes", "one-at-expiry,non-token-401,backend-signals", "--devices", "3", "--out", dir)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, "expiry-signalled      PASS")
	assert.Contains(t, out, "verdict: PASS")
}

func TestStylesListsEveryBuiltinOnOneLine(t *testing.T) {
	out, _, code := runCLI(t, "styles")
	require.Equal(t, 0, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, len(style.Names()))
	for i, name := range style.Names() {
		assert.True(t, strings.HasPrefix(lines[i], name+" "), lines[i])
		assert.Contains(t, lines[i], style.MustLoad(name).Description)
	}
}

func TestStyleCheckPrintsTheResolvedStyle(t *testing.T) {
	out, errOut, code := runCLI(t, "style", "check", "../../examples/styles/code-header.yaml")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "login    POST /auth/wx, the wx.login code in header X-WX-Code, type=100 in query")
	assert.Contains(t, out, `expired                HTTP 401 {"error":"token_expired"} or HTTP 419`)

	out, _, code = runCLI(t, "style", "check", "oauth2", "--json")
	require.Equal(t, 0, code)
	var spec map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &spec))
	assert.Equal(t, "oauth2", spec["name"])
	assert.Contains(t, out, `"name": "grant_type"`)

	good, err := os.ReadFile("../../examples/styles/get-login.yaml")
	require.NoError(t, err)
	require.Contains(t, string(good), "    code: query:code\n")
	p := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(good), "code: query:code", "code: json:code", 1)), 0o600))
	_, errOut, code = runCLI(t, "style", "check", p)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, p+":7:5: routes.login.code: a GET request has no body")

	_, _, code = runCLI(t, "style", "lint", p)
	assert.Equal(t, 2, code, "unknown sub-command")
}

// The two new built-ins pass a whole run with the reference client: the
// probes and the suite, and the default storm's invariants (its latency
// threshold is about the machine, not the dialect, and is left out here).
func TestRunInTheOAuth2AndCookieSessionStyles(t *testing.T) {
	for _, name := range []string{"oauth2", "cookie-session"} {
		out, errOut, code := runCLI(t, "run", "--style", name, "--no-storm", "--out", t.TempDir())
		require.Equal(t, 0, code, "%s: stdout:\n%s\nstderr:\n%s", name, out, errOut)
		assert.Contains(t, out, "verdict: PASS", name)

		dir := t.TempDir()
		_, errOut, _ = runCLI(t, "storm", "synchronized-expiry", "--style", name, "--out", dir)
		b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
		require.NoError(t, err, errOut)
		var s struct {
			Invariants map[string]struct{ Verdict string } `json:"invariants"`
			Requests   struct{ Lost int }                  `json:"requests"`
			Refresh    struct{ Amplification float64 }     `json:"refresh"`
		}
		require.NoError(t, json.Unmarshal(b, &s))
		require.NotEmpty(t, s.Invariants)
		for inv, v := range s.Invariants {
			assert.Equal(t, "pass", v.Verdict, "%s storm: %s", name, inv)
		}
		assert.Zero(t, s.Requests.Lost, name)
		assert.LessOrEqual(t, s.Refresh.Amplification, 1.0, name)
	}
}

// A backend under test that cannot be reached is a configuration error:
// exit 2 and one line, before any probe runs.
func TestUnreachableBackendIsAConfigurationError(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--backend", "http://127.0.0.1:1"},
		{"conform", "--backend", "http://127.0.0.1:1"},
		{"storm", "synchronized-expiry", "--backend", "http://127.0.0.1:1"},
	} {
		out, errOut, code := runCLI(t, args...)
		assert.Equal(t, 2, code, "%v: %s", args, out)
		assert.Equal(t, 1, strings.Count(strings.TrimSpace(errOut), "\n")+1, "one line: %q", errOut)
		assert.Contains(t, errOut, "tokenstorm: --backend http://127.0.0.1:1 cannot be reached (", args)
	}
	_, errOut, code := runCLI(t, "run", "--backend", "127.0.0.1:8080")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `--backend "127.0.0.1:8080" is not an http(s) URL`)
}
