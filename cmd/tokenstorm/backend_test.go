package main

import (
	"encoding/json"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/examples/backends/sessions"
	"github.com/tokenstorm/tokenstorm/harness/backendcheck"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

const goodStyle = "../../examples/backends/good/style.yaml"

// exampleBackend serves the sessions example (examples/backends/good) on
// loopback, configured with a mock WeChat address the run will listen on.
func exampleBackend(t *testing.T, loginBug string) (backendURL, wechatAddr string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	wechatAddr = ln.Addr().String()
	require.NoError(t, ln.Close())
	srv := httptest.NewServer(sessions.New(sessions.Config{WechatURL: "http://" + wechatAddr, AppID: "wx7e57570c3e5a1b2c",
		Secret: "tokenstorm-secret-0123456789abcdef", SessionTTL: 2 * time.Second, RenewTTL: time.Hour, LoginBug: loginBug}))
	t.Cleanup(srv.Close)
	return srv.URL, wechatAddr
}

func readSummary(t *testing.T, dir string) *summary.Summary {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	require.NoError(t, err)
	var s summary.Summary
	require.NoError(t, json.Unmarshal(b, &s))
	return &s
}

func scenarioNamed(s *summary.Summary, name string) (summary.Scenario, bool) {
	for _, sc := range s.Scenarios {
		if sc.Name == name {
			return sc, true
		}
	}
	return summary.Scenario{}, false
}

// A login route that takes a reused wx.login code fails both run and
// conform --backend (exit 1, backend-login failed, naming the check); the
// same backend without the bug passes both, profile included.
func TestRunAndConformAreGatedByTheBackendLogin(t *testing.T) {
	for _, c := range []struct {
		bug  string
		code int
	}{{"", 0}, {"reused-code-ok", 1}} {
		for _, cmd := range [][]string{
			{"run", "--probes", "backend-signals,concurrent-first-login", "--devices", "3"},
			{"conform", "--tags", "@backend", "--format", "progress"},
		} {
			t.Run(cmd[0]+" "+c.bug, func(t *testing.T) {
				url, wechat := exampleBackend(t, c.bug)
				dir := t.TempDir()
				args := append(cmd, "--backend", url, "--style", goodStyle, "--wechat-addr", wechat, "--out", dir)
				out, errOut, code := runCLI(t, args...)
				require.Equal(t, c.code, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
				s := readSummary(t, dir)
				require.NotNil(t, s.BackendProfile, "%v", s.Notes)
				assert.Equal(t, "rotates", s.BackendProfile.Rotation)
				assert.Equal(t, "strict", s.BackendProfile.Reuse)
				assert.Equal(t, int64(2), s.BackendProfile.AccessTTLSeconds)
				sc, ok := scenarioNamed(s, backendcheck.LoginProbe)
				require.True(t, ok, "%+v", s.Scenarios)
				assert.Contains(t, errOut, "probe "+backendcheck.LoginProbe)
				if c.bug == "" {
					assert.Equal(t, summary.Pass, sc.Verdict, sc.Detail)
					assert.Equal(t, summary.Pass, s.Verdict)
					return
				}
				assert.Equal(t, summary.Fail, sc.Verdict)
				assert.Contains(t, sc.Detail, "code used twice (WeChat 40163): HTTP 200, success signal (want invalid_code)")
				assert.Equal(t, summary.Fail, s.Verdict)
			})
		}
	}
}

// conform --backend follows --tags for the profile: a selection without
// @backend measures no profile.
func TestConformProfileFollowsTags(t *testing.T) {
	url, wechat := exampleBackend(t, "reused-code-ok")
	dir := t.TempDir()
	out, errOut, code := runCLI(t, "conform", "--tags", "@wechat", "--format", "progress", "--backend", url, "--style", goodStyle, "--wechat-addr", wechat, "--out", dir)
	require.Equal(t, 0, code, "the login bug is not looked at without @backend:\n%s\n%s", out, errOut)
	s := readSummary(t, dir)
	assert.Nil(t, s.BackendProfile)
	_, ok := scenarioNamed(s, backendcheck.LoginProbe)
	assert.False(t, ok)
}

// conform --tags @backend against a correct backend with no admin API:
// only the backend checks run and pass (the any-style backend check and
// backend-login); an @admin scenario is skipped naming the capability it
// needs, in summary.json and in junit.xml's skipped message.
func TestConformBackendSkipsSayWhatTheyNeed(t *testing.T) {
	url, wechat := exampleBackend(t, "")
	dir := t.TempDir()
	out, errOut, code := runCLI(t, "conform", "--tags", "@backend", "--format", "progress", "--backend", url, "--style", goodStyle, "--wechat-addr", wechat, "--out", dir)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	s := readSummary(t, dir)
	const expired = "a token expired by the admin API gets the same expiry signal"
	passed := 0
	for _, sc := range s.Scenarios {
		switch sc.Verdict {
		case summary.Pass:
			passed++
			assert.True(t, sc.Name == backendcheck.LoginProbe || strings.HasPrefix(sc.Detail, "features/backend_signals.feature:"),
				"only the backend checks run against a backend under test: %+v", sc)
		case summary.Skip:
			assert.Regexp(t, `skipped: (needs .*, which a backend under test does not offer \(tagged @admin\)|written for another backend style)`, sc.Detail)
		default:
			t.Errorf("%s: %s %s", sc.Name, sc.Verdict, sc.Detail)
		}
	}
	assert.GreaterOrEqual(t, passed, 2, "the backend check and backend-login")
	sc, ok := scenarioNamed(s, expired)
	require.True(t, ok)
	assert.Equal(t, summary.Skip, sc.Verdict)
	assert.Contains(t, sc.Detail, "skipped: needs the admin API (POST /__admin/expire)")
	junit, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	require.NoError(t, err)
	assert.Contains(t, string(junit), `<skipped message="features/backend_tokens.feature:`)
	assert.Regexp(t, `<testcase name="`+regexp.QuoteMeta(expired)+`"[^>]*>\s*<skipped message="[^"]*needs the admin API \(POST /__admin/expire\)`, string(junit))
	assert.Contains(t, errOut, "conform: skipped ")
}

// runBackend is `tokenstorm run --backend URL --style good/style.yaml` on
// the sessions example configured by cfg, with extra flags.
func runBackend(t *testing.T, cfg sessions.Config, extra ...string) (*summary.Summary, int, string) {
	t.Helper()
	return runBackendForgiving(t, true, cfg, extra...)
}

// runBackendForgiving is runBackend; forgive says whether a failure of the
// machine-bound latency threshold alone counts as a pass. A test that wants
// the storm to fail for its own reason says false: the summary line does not
// tell that reason from the threshold.
func runBackendForgiving(t *testing.T, forgive bool, cfg sessions.Config, extra ...string) (*summary.Summary, int, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	wechat := ln.Addr().String()
	require.NoError(t, ln.Close())
	cfg.WechatURL, cfg.AppID, cfg.Secret = "http://"+wechat, "wx7e57570c3e5a1b2c", "tokenstorm-secret-0123456789abcdef"
	cfg.SessionTTL, cfg.RenewTTL = 2*time.Second, time.Hour
	srv := httptest.NewServer(sessions.New(cfg))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	args := append([]string{"run", "--backend", srv.URL, "--style", goodStyle, "--wechat-addr", wechat, "--devices", "5", "--expiry-wait", "5s", "--out", dir}, extra...)
	out, errOut, code := runCLI(t, args...)
	s := readSummary(t, dir)
	require.NotNil(t, s.BackendProfile, "%v", s.Notes)
	if forgive {
		code = forgiveMachineBoundLatency(t, s, code, out)
	}
	return s, code, out + "\n" + errOut
}

// machineBound is the one failure a loaded test machine may cause on its
// own: the default storm's latency threshold.
var machineBound = regexp.MustCompile(`(?m)^failed:   storm synchronized-expiry; threshold latency\.p99 < 250ms \(actual [0-9.]+\)$`)

// forgiveMachineBoundLatency turns a run that failed only the storm's
// latency threshold (and no invariant) into the pass it is on a quiet
// machine, so that the verdicts the tests look at are the backend's.
func forgiveMachineBoundLatency(t *testing.T, s *summary.Summary, code int, stdout string) int {
	t.Helper()
	if code != 1 || !machineBound.MatchString(stdout) || strings.Contains(stdout, "FAIL     ") {
		return code
	}
	t.Log("only the storm's latency threshold failed (a loaded machine)")
	for i := range s.Scenarios {
		if s.Scenarios[i].Name == "synchronized-expiry" && s.Scenarios[i].Verdict == summary.Fail {
			s.Scenarios[i].Verdict = summary.Pass
		}
	}
	s.Verdict = summary.Pass
	return 0
}

func verdictOfScenario(t *testing.T, s *summary.Summary, name string) summary.Scenario {
	t.Helper()
	sc, ok := scenarioNamed(s, name)
	require.True(t, ok, "no scenario %q in %+v", name, s.Scenarios)
	return sc
}

// The list, as `tokenstorm run --backend` on the example backend
// (no admin API): each policy gets its verdicts and a profile that is its
// real policy.
func TestRunBackendVerdictsAndProfiles(t *testing.T) {
	t.Run("good passes everything, storm included", func(t *testing.T) {
		s, code, out := runBackend(t, sessions.Config{})
		require.Equal(t, 0, code, out)
		assert.Equal(t, summary.Pass, s.Verdict)
		for _, name := range []string{"backend-signals", "concurrent-first-login", backendcheck.LoginProbe, "synchronized-expiry", "tampered, garbage, missing and expired tokens never get a success"} {
			assert.Equal(t, summary.Pass, verdictOfScenario(t, s, name).Verdict, name)
		}
		assert.Equal(t, summary.Pass, s.Invariants[summary.ExpirySignalled].Verdict)
		assert.GreaterOrEqual(t, s.Invariants[summary.ExpirySignalled].Checked, 12, "the probe's and the suite's six bad tokens each")
		assert.Zero(t, s.Requests.Lost)
		assert.Positive(t, s.Requests.Succeeded)
		p := s.BackendProfile
		assert.Equal(t, int64(2), p.AccessTTLSeconds)
		assert.Equal(t, int64(3600), p.RefreshTTLSeconds)
		assert.Equal(t, "rotates", p.Rotation)
		assert.Equal(t, "strict", p.Reuse)
		assert.Zero(t, p.ReuseAccepted)
		require.NotNil(t, p.FamilyRevokedOnReuse)
		assert.True(t, *p.FamilyRevokedOnReuse)
		require.NotNil(t, p.FamilyStaysRevoked)
		assert.True(t, *p.FamilyStaysRevoked)
		assert.Equal(t, 1, p.ParallelSucceeded)
		assert.Len(t, p.Logins, 5)
		require.NotNil(t, p.RetryAfter)
		assert.False(t, *p.RetryAfter, "its 503 for an unreachable WeChat carries no Retry-After (only the errcode ones do)")
	})
	t.Run("broken fails only expiry-signalled", func(t *testing.T) {
		s, code, out := runBackend(t, sessions.Config{SwallowBadSessions: true}, "--no-conform")
		require.Equal(t, 1, code, out)
		assert.Equal(t, []string{summary.ExpirySignalled}, s.FailedInvariants())
		assert.Equal(t, summary.Fail, verdictOfScenario(t, s, "backend-signals").Verdict)
		assert.Equal(t, summary.Pass, verdictOfScenario(t, s, backendcheck.LoginProbe).Verdict)
		p := s.BackendProfile
		assert.Equal(t, "rotates", p.Rotation)
		assert.Equal(t, "strict", p.Reuse)
		assert.Equal(t, int64(2), p.AccessTTLSeconds)
		assert.Equal(t, 1, p.ParallelSucceeded)
	})
	t.Run("never rotates", func(t *testing.T) {
		s, code, out := runBackend(t, sessions.Config{Reuse: "never-rotates"}, "--no-conform")
		require.Equal(t, 0, code, out)
		assert.Equal(t, summary.Pass, verdictOfScenario(t, s, "backend-signals").Verdict)
		assert.Equal(t, summary.Pass, verdictOfScenario(t, s, "synchronized-expiry").Verdict)
		p := s.BackendProfile
		assert.Equal(t, "keeps", p.Rotation)
		assert.Empty(t, p.Reuse, "no rotation, no reuse policy")
		assert.Nil(t, p.FamilyRevokedOnReuse)
		assert.Equal(t, p.ParallelRefreshes, p.ParallelSucceeded, "every parallel refresh works")
	})
	t.Run("30 s grace window", func(t *testing.T) {
		s, code, out := runBackend(t, sessions.Config{Reuse: "grace:30s"}, "--no-conform")
		require.Equal(t, 0, code, out)
		assert.Equal(t, summary.Pass, verdictOfScenario(t, s, "backend-signals").Verdict)
		p := s.BackendProfile
		assert.Equal(t, "rotates", p.Rotation)
		assert.Equal(t, "tolerated", p.Reuse, "%v", p.Notes)
		assert.Equal(t, backendcheck.MaxReuseCount+1, p.ReuseAccepted)
		assert.Nil(t, p.FamilyRevokedOnReuse)
		assert.Equal(t, p.ParallelRefreshes, p.ParallelSucceeded, "inside the window every parallel refresh wins")
	})
	t.Run("no expires_in", func(t *testing.T) {
		s, code, out := runBackendForgiving(t, false, sessions.Config{OmitTTL: true}, "--no-conform")
		require.Equal(t, 1, code, "the storm cannot expire tokens by time: %s", out)
		sig := verdictOfScenario(t, s, "backend-signals")
		assert.Equal(t, summary.Skip, sig.Verdict, "never a pass: %s", sig.Detail)
		assert.Contains(t, sig.Detail, "the login answer does not say how long the access token lives")
		assert.Equal(t, summary.Fail, verdictOfScenario(t, s, "synchronized-expiry").Verdict)
		assert.Zero(t, s.BackendProfile.AccessTTLSeconds)
		assert.Contains(t, strings.Join(s.BackendProfile.Notes, "\n"), "does not say how long the access token lives (no expires_in)")

		s, code, out = runBackend(t, sessions.Config{OmitTTL: true}, "--no-conform", "--access-ttl", "2s")
		require.Equal(t, 0, code, "--access-ttl gives the lifetime: %s", out)
		assert.Equal(t, summary.Pass, verdictOfScenario(t, s, "backend-signals").Verdict)
		assert.Equal(t, summary.Pass, verdictOfScenario(t, s, "synchronized-expiry").Verdict)
	})
}
