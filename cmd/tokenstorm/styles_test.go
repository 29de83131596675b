package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
