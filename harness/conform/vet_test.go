package conform

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeFeature(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "x.feature")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

// checkProblems runs Check on paths and returns the problems it reports.
func checkProblems(t *testing.T, paths ...string) []string {
	t.Helper()
	opts := refOptions(t)
	opts.Paths = paths
	err := Check(opts)
	if err == nil {
		return nil
	}
	var fe *FeatureError
	require.ErrorAs(t, err, &fe)
	var out []string
	for _, p := range fe.Problems {
		out = append(out, p.String())
	}
	return out
}

// TestCheckCatchesLooseSteps: every mistake of issue 17 item 5 is a problem
// with FILE:LINE before anything runs, and correct steps around it are not.
func TestCheckCatchesLooseSteps(t *testing.T) {
	path := writeFeature(t, `Feature: mistakes
  Scenario: one of each
    Given 2 devices logged in
    When 2 hours passes
    And I wait 50 ms
    And device d1 sends GET /api/orders as request warmup-d1
    And device d1 sends GET /api/orders
    And device d2 sends GET /api/orders as request r1
    And device d1 sends GET /api/orders as request mine
    And device d2 sends GET /api/orders as request mine
    Then invariant single_refresh holds
    And invariant no-lost-requests holds
    And request r9 succeeded
    And request mine succeeded
    And request warmup-d2 succeeded
    And exactly 1 refresh for device d7

  Scenario: a device declared by a direct call joins "each device"
    Given device d1 is logged in to the backend
    When each device sends 2 concurrent GET /api/orders
    Then request r2 succeeded

  Scenario: an undefined step
    Given 1 device
    When the grace window passes
    Then request r1 succeeded
`)
	got := checkProblems(t, path)
	want := []string{
		path + `:6: And device d1 sends GET /api/orders as request warmup-d1: request name "warmup-d1" is used twice: it is the name of a warm-up request of "Given N devices logged in"; pick another name`,
		path + `:8: And device d2 sends GET /api/orders as request r1: request name "r1" is used twice: an earlier request without "as request" was named r1 automatically (requests are named r1, r2, … in order); pick another name`,
		path + `:10: And device d2 sends GET /api/orders as request mine: request name "mine" is used twice: an earlier step of this scenario already sends a request named mine; pick another name`,
		path + `:11: Then invariant single_refresh holds: unknown invariant "single_refresh" (did you mean "single-refresh"?)`,
		path + `:13: And request r9 succeeded: no request named "r9" is sent before this step (requests so far: mine, r1, warmup-d1, warmup-d2)`,
		path + `:16: And exactly 1 refresh for device d7: device d7 is not declared before this step (devices: d1, d2)`,
		// After an undefined step the checker cannot know what was sent:
		// "request r1" is not reported as well.
		path + `:25: undefined step: When the grace window passes`,
	}
	require.Len(t, got, len(want), "%q", got)
	for i := range want {
		assert.Contains(t, got[i], want[i])
	}
}

// TestTimeStepsAreStrict: durations match the time steps and nothing else
// does; a time step cannot swallow a sentence meant for another step.
func TestTimeStepsAreStrict(t *testing.T) {
	for text, syntax := range map[string]string{
		"2 hours passes":                        "<duration> pass",
		"2 hours pass":                          "<duration> pass",
		"1 hour 59 minutes and 50 seconds pass": "<duration> pass",
		"an hour passes":                        "<duration> pass",
		"1h30m pass":                            "<duration> pass",
		"I wait 50 ms":                          "I wait <duration>",
		"I wait 50ms":                           "I wait <duration>",
		"I wait 1.5 seconds":                    "I wait <duration>",
		"access tokens live 90 s":               "access tokens live <duration>",
	} {
		m := match(text)
		if assert.Len(t, m, 1, text) {
			assert.Equal(t, syntax, m[0].Syntax, text)
		}
	}
	for _, text := range []string{
		"the grace window passes", "the refresh token passes", "2 hourz pass", "I wait for the refresh",
		"I wait 50 ms and then 2 hours pass", "access tokens live forever",
	} {
		assert.Empty(t, match(text), text)
	}
}

// TestRunByLine: FILE:LINE runs the scenario at that line (any line of it),
// an Examples row runs that row, and a line outside every scenario is a
// problem naming it; line numbers in messages stay the file's.
func TestRunByLine(t *testing.T) {
	path := writeFeature(t, `Feature: lines
  Background:
    Given 1 device

  @client
  Scenario: first
    When 1 minute passes

  Scenario: second
    When 2 minutes pass
    And every request settle

  Scenario Outline: third <n>
    When <n> minutes pass

    Examples:
      | n |
      | 3 |
      | 4 |
`)
	names := func(paths ...string) []string {
		opts := refOptions(t)
		opts.Paths = paths
		_, p, _, err := prepare(context.Background(), opts)
		require.NoError(t, err)
		var out []string
		for _, s := range p.order {
			out = append(out, s.name)
		}
		return out
	}
	assert.Equal(t, []string{"first"}, names(path+":6"))
	assert.Equal(t, []string{"first"}, names(path+":5"), "a tag line selects its scenario")
	assert.Equal(t, []string{"first"}, names(path+":7"), "a step line selects its scenario")
	assert.Equal(t, []string{"third 4"}, names(path+":19"))
	assert.Equal(t, []string{"first", "third 3", "third 4"}, names(path+":6:13"))
	assert.Equal(t, []string{"third 3", "third 4"}, names(path+":16"), "an Examples keyword selects its rows")

	// The undefined step of "second" is reported with its own line only when
	// that scenario is selected.
	assert.Empty(t, checkProblems(t, path+":6"))
	assert.Equal(t, []string{path + ":11: undefined step: And every request settle (did you mean \"And every request settled\"? \"settle\" should be \"settled\")"},
		checkProblems(t, path+":9"))
	assert.Equal(t, []string{path + ":3: no scenario at line 3 (scenarios start at lines 6, 9, 13)"}, checkProblems(t, path+":3"))

	// The built-in suite by its name, from any directory.
	opts := refOptions(t)
	opts.Paths = []string{"features/client_expiry.feature:8"}
	wd, err := os.Getwd()
	require.NoError(t, err)
	require.NoError(t, os.Chdir(t.TempDir()))
	defer func() { require.NoError(t, os.Chdir(wd)) }()
	res, err := Run(context.Background(), opts)
	require.NoError(t, err)
	require.Len(t, res.Scenarios, 1)
	assert.Equal(t, "one request meets an expired token: one refresh, one replay", res.Scenarios[0].Name)
	assert.True(t, res.OK(), res.Scenarios[0].Detail)
}

// FuzzSelectLines: any feature text and line selection gives a text of the
// same number of lines (so FILE:LINE stays true) or problems, never a panic.
func FuzzSelectLines(f *testing.F) {
	f.Add("Feature: f\n  Scenario: a\n    Given 1 device\n\n  Scenario Outline: b <n>\n    When <n> minutes pass\n    Examples:\n      | n |\n      | 1 |\n", 2, 9)
	f.Add("Feature: f\n  Rule: r\n    Background:\n      Given 1 device\n    @t\n    Scenario: a\n      Given 1 device\n", 5, 1)
	f.Fuzz(func(t *testing.T, text string, l1, l2 int) {
		in := featureFile{name: "x.feature", content: []byte(text), lines: []int{l1, l2}}
		out, _ := selectLines(in)
		if got, want := strings.Count(string(out.content), "\n"), strings.Count(text, "\n"); got != want {
			t.Fatalf("selection changed the line count from %d to %d", want, got)
		}
	})
}

// TestNewStepsCanFail: the timing and counting steps fail when what they
// claim is false, with a message saying what they counted.
func TestNewStepsCanFail(t *testing.T) {
	path := writeFeature(t, `@client @admin
Feature: claims that are false
  Scenario: a slow answer is not within 100 ms
    Given 1 device logged in
    When device d1 sends GET /api/orders?delay_ms=400 as request slow
    Then request slow settled within 100 ms

  Scenario: the re-login after a revocation is counted since counting started
    Given 2 devices logged in
    When counting starts
    And every refresh token family is revoked
    And the access tokens expire
    And each device sends 2 concurrent GET /api/orders
    Then exactly 0 logins per device since counting started

  Scenario: without "since", the warm-up is counted
    Given 1 device logged in
    Then WeChat saw 0 jscode2session calls

  Scenario: at most is a bound
    Given 1 device logged in
    When the access tokens expire
    And device d1 sends POST /api/orders as request p with body:
      """
      {"item":"x"}
      """
    Then request p reached the backend at most once
`)
	opts := refOptions(t)
	opts.Paths = []string{path}
	res, err := Run(context.Background(), opts)
	require.NoError(t, err)
	require.Len(t, res.Scenarios, 4)
	for i, want := range []string{
		"request slow should settle within 100ms, but took",
		"exactly 0 logins per device since counting started: 2 of 2 devices differ (d1: 1, d2: 1) since counting started",
		"WeChat saw 0 jscode2session calls: it saw 1 since the scenario started (warm-up logins included)",
		"request p reached the backend 2 time(s), want at most 1",
	} {
		assert.Equal(t, "fail", string(res.Scenarios[i].Verdict), res.Scenarios[i].Name)
		assert.Contains(t, res.Scenarios[i].Detail, want, res.Scenarios[i].Name)
	}
}
