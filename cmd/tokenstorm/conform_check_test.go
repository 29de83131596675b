package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConformCheckCatchesAuthoringMistakes: `conform --check` exits 2 and
// names FILE:LINE for each loose or silent acceptance of issue 17, and 0 for
// the same file with the mistakes corrected; FILE:LINE selects one scenario.
func TestConformCheckCatchesAuthoringMistakes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.feature")
	require.NoError(t, os.WriteFile(bad, []byte(`@client @admin
Feature: first try
  Scenario: mistakes
    Given 2 devices logged in
    When device d1 sends GET /api/orders as request warmup-d2
    And device d1 sends GET /api/orders
    And device d2 sends GET /api/orders as request r1
    And the grace period passes
    Then invariant single_refresh holds
    And exactly 1 refresh per device since counting started
`), 0o644))
	_, stderr, code := runCLI(t, "conform", "--check", bad)
	assert.Equal(t, 2, code, stderr)
	for _, line := range []string{
		bad + `:5: When device d1 sends GET /api/orders as request warmup-d2: request name "warmup-d2" is used twice`,
		bad + `:7: And device d2 sends GET /api/orders as request r1: request name "r1" is used twice`,
		bad + ":8: undefined step: And the grace period passes",
		bad + `:9: Then invariant single_refresh holds: unknown invariant "single_refresh" (did you mean "single-refresh"?)`,
		bad + `:10: And exactly 1 refresh per device since counting started: "since counting started" needs an earlier "When counting starts" step`,
	} {
		assert.Contains(t, stderr, line)
	}

	good := filepath.Join(dir, "good.feature")
	require.NoError(t, os.WriteFile(good, []byte(`@client @admin
Feature: fixed
  Scenario: corrected
    Given 2 devices logged in
    When counting starts
    And 2 hours passes
    And I wait 50 ms
    And device d1 sends GET /api/orders as request mine
    And device d1 sends GET /api/orders
    Then invariant single-refresh holds
    And request r1 succeeded
    And exactly 1 refresh per device since counting started

  Scenario: another
    Given 1 device
    When 1 minute passes
`), 0o644))
	stdout, stderr, code := runCLI(t, "conform", "--check", good)
	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "well-formed")

	_, stderr, code = runCLI(t, "conform", "--check", good+":2")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, good+":2: no scenario at line 2 (scenarios start at lines 3, 14)")

	// A real run of one scenario by line: the other one is not run.
	out := filepath.Join(dir, "report")
	_, stderr, code = runCLI(t, "conform", "--format", "progress", "--out", out, good+":15")
	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "conform: 1 scenarios: 1 passed")
}

// TestStepsFilter: `tokenstorm steps WORD…` lists only the steps mentioning
// every word, and a word no step mentions is a usage error.
func TestStepsFilter(t *testing.T) {
	stdout, stderr, code := runCLI(t, "steps", "background", "body")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "in the background with body:")
	assert.NotContains(t, stdout, "the access tokens expire\n")
	assert.Contains(t, stdout, "steps mention \"background body\"")

	_, stderr, code = runCLI(t, "steps", "zebra")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `no step mentions "zebra"`)
}
