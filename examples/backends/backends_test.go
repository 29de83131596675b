package backends_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/backendcheck"
	"github.com/tokenstorm/tokenstorm/harness/check"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/conform"
	"github.com/tokenstorm/tokenstorm/harness/probe"
	"github.com/tokenstorm/tokenstorm/harness/refclient"
	"github.com/tokenstorm/tokenstorm/harness/stack"
	"github.com/tokenstorm/tokenstorm/harness/storm"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// build compiles one example backend into the test's temporary directory,
// the way a team builds its own backend in CI.
func build(t *testing.T, name string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not in PATH: cannot build the example backends")
	}
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(goTool, "build", "-o", bin, "./"+name)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./examples/backends/%s:\n%s", name, out)
	return bin
}

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// start runs a backend on a free port, configured with mock WeChat's address,
// and returns its URL; it is killed when the test ends.
func start(t *testing.T, bin, wechatAddr string) string {
	t.Helper()
	return startCmd(t, exec.Command(bin, "-addr", "127.0.0.1:0", "-wechat", "http://"+wechatAddr, "-session-ttl", "2s"))
}

// startCmd runs a backend command that prints "listening on URL" and
// returns the URL; it is killed when the test ends.
func startCmd(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	bin := cmd.Path
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	select {
	case u := <-urls:
		return u
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not print its URL", bin)
		return ""
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// runAgainst is `tokenstorm run --backend URL --style good/style.yaml
// --wechat-addr ADDR --no-conform --no-storm` in process.
func runAgainst(t *testing.T, backendURL, wechatAddr string) (*summary.Summary, map[string]summary.Scenario) {
	t.Helper()
	return runStyled(t, backendURL, wechatAddr, "good/style.yaml")
}

// runStyled is runAgainst with another style file.
func runStyled(t *testing.T, backendURL, wechatAddr, styleFile string) (*summary.Summary, map[string]summary.Scenario) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	global := check.New(check.Options{ExternalBackend: true}) // as run and conform do with --backend
	res, err := probe.Run(ctx, probe.Config{
		NewClient:  func(env client.Env) (client.Client, error) { return refclient.New(env, refclient.Options{}), nil },
		ClientName: "ref", Devices: 5, Concurrency: 4, Deadline: 3 * time.Second,
		Stack:         stack.Options{BackendURL: backendURL, Style: styleFile, WechatAddr: wechatAddr},
		Global:        global,
		MaxExpiryWait: 5 * time.Second,
	}, probe.All())
	require.NoError(t, err)
	s := summary.New("ref", backendURL)
	by := map[string]summary.Scenario{}
	for _, r := range res {
		s.Scenarios = append(s.Scenarios, r.Scenario)
		by[r.Probe.Name] = r.Scenario
	}
	global.Finish(s)
	s.Finalize()
	return s, by
}

// conformAgainst is `tokenstorm conform --backend URL --style
// good/style.yaml --wechat-addr ADDR` in process: the built-in suite, whose
// @admin scenarios and scenarios written for another style are skipped.
func conformAgainst(t *testing.T, backendURL, wechatAddr string) (*summary.Summary, *conform.Result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	global := check.New(check.Options{ExternalBackend: true}) // as run and conform do with --backend
	var out strings.Builder
	res, err := conform.Run(ctx, conform.Options{
		NewClient:  func(env client.Env) (client.Client, error) { return refclient.New(env, refclient.Options{}), nil },
		ClientName: "ref", BackendURL: backendURL, WechatAddr: wechatAddr, Style: "good/style.yaml",
		Format: "progress", Output: &out, Global: global,
	})
	require.NoError(t, err)
	s := summary.New("ref", backendURL)
	s.Scenarios = res.Scenarios
	global.Finish(s)
	s.Finalize()
	if t.Failed() {
		t.Log(out.String())
	}
	return s, res
}

// A backend someone else wrote, with its own routes, members and signals,
// is driven and judged through its style file alone; the same backend with
// the "swallowed expiry" bug fails expiry-signalled.
func TestExampleBackendsThroughTheirStyleFile(t *testing.T) {
	good, broken := build(t, "good"), build(t, "broken")

	t.Run("good passes", func(t *testing.T) {
		wechat := freeAddr(t)
		s, by := runAgainst(t, start(t, good, wechat), wechat)
		assert.Equal(t, summary.Pass, s.Verdict, "failed: %v %v", s.FailedInvariants(), by)
		inv := s.Invariants[summary.ExpirySignalled]
		assert.Equal(t, summary.Pass, inv.Verdict)
		assert.Equal(t, 6, inv.Checked, "tampered, garbage, unsigned, foreign-key, missing and expired (by its 2s TTL) tokens were checked")
		assert.Equal(t, summary.Pass, s.Invariants[summary.CodeSingleUse].Verdict)
		assert.Equal(t, summary.Pass, by["backend-signals"].Verdict, by["backend-signals"].Detail)
		assert.Equal(t, summary.Pass, by["concurrent-first-login"].Verdict, by["concurrent-first-login"].Detail)
		assert.Equal(t, summary.Skip, by["one-at-expiry"].Verdict)
		assert.Contains(t, by["one-at-expiry"].Detail, "skipped: needs the reference backend's admin API (POST /__admin/expire)")
		assert.Zero(t, s.Requests.Lost)
	})

	t.Run("broken fails expiry-signalled", func(t *testing.T) {
		wechat := freeAddr(t)
		s, by := runAgainst(t, start(t, broken, wechat), wechat)
		assert.Equal(t, summary.Fail, s.Verdict)
		inv := s.Invariants[summary.ExpirySignalled]
		require.Equal(t, summary.Fail, inv.Verdict)
		assert.Equal(t, 6, inv.Violations, "every bad token got an empty success")
		require.NotEmpty(t, inv.Examples)
		assert.Contains(t, inv.Examples[0].Explanation, "with HTTP 200 carrying the style's success signal instead of the expiry/invalid signal")
		assert.True(t, strings.Contains(inv.Examples[0].Evidence[0].Detail, `"items":[]`), inv.Examples[0].Evidence[0].Detail)
		assert.Equal(t, summary.Fail, by["backend-signals"].Verdict)
		assert.Equal(t, []string{summary.ExpirySignalled}, s.FailedInvariants())
	})

	// The conformance suite judges the same backends: its backend check
	// runs in their style, and only the swallowed expiry fails.
	t.Run("conform: good passes", func(t *testing.T) {
		wechat := freeAddr(t)
		s, res := conformAgainst(t, start(t, good, wechat), wechat)
		assert.Equal(t, summary.Pass, s.Verdict, "failed: %v", s.FailedInvariants())
		assert.True(t, res.OK())
		assert.Positive(t, res.Passed)
		sc := scenario(t, res, "tampered, garbage, missing and expired tokens never get a success")
		assert.Equal(t, summary.Pass, sc.Verdict, sc.Detail)
		inv := s.Invariants[summary.ExpirySignalled]
		assert.Equal(t, summary.Pass, inv.Verdict)
		assert.Equal(t, 6, inv.Checked, "tampered, garbage, unsigned, foreign-key, missing and expired (by its 2s TTL) tokens were checked")
		for _, sc := range res.Scenarios {
			if sc.Verdict == summary.Skip {
				assert.Regexp(t, `needs .*, which a backend under test does not offer \(tagged @admin\)|written for another backend style; this run uses sessions-example`, sc.Detail)
			}
		}
	})

	t.Run("conform: broken fails expiry-signalled", func(t *testing.T) {
		wechat := freeAddr(t)
		s, res := conformAgainst(t, start(t, broken, wechat), wechat)
		assert.Equal(t, summary.Fail, s.Verdict)
		assert.Equal(t, 1, res.Failed, "only the backend check fails; the WeChat scenarios pass")
		sc := scenario(t, res, "tampered, garbage, missing and expired tokens never get a success")
		assert.Equal(t, summary.Fail, sc.Verdict)
		assert.Equal(t, []string{summary.ExpirySignalled}, sc.Failed)
		assert.Contains(t, sc.Detail, "invariant expiry-signalled does not hold: 6 violation(s)")
		assert.Equal(t, []string{summary.ExpirySignalled}, s.FailedInvariants())
		inv := s.Invariants[summary.ExpirySignalled]
		assert.Equal(t, 6, inv.Violations, "every bad token got an empty success")
	})
}

func scenario(t *testing.T, res *conform.Result, name string) summary.Scenario {
	t.Helper()
	for _, sc := range res.Scenarios {
		if sc.Name == name {
			return sc
		}
	}
	require.Failf(t, "no such scenario", "%q is not in the conform result", name)
	return summary.Scenario{}
}

// The default storm against a backend without any admin API: expire_all
// happens by time (the devices log in so that their tokens, which live as
// long as the backend's expires_in says, expire together at the event), and
// a correct backend with the reference client passes it.
func TestStormExpiresByTimeWithoutAnAdminAPI(t *testing.T) {
	good := build(t, "good")
	wechat := freeAddr(t)
	url := start(t, good, wechat)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sc := storm.Default()
	sc.Devices = 20
	sc.Thresholds = nil // latency is about the machine; the invariants are the point
	// The backend under test writes no ledger: count the client's own
	// renewals on the wire instead.
	renewals := &countRoute{path: "/v1/session/renew"}
	s, err := storm.Run(ctx, sc, storm.Options{
		NewClient: func(env client.Env) (client.Client, error) {
			renewals.base = env.HTTP.Transport
			if renewals.base == nil {
				renewals.base = http.DefaultTransport
			}
			hc := *env.HTTP
			hc.Transport = renewals
			env.HTTP = &hc
			return refclient.New(env, refclient.Options{}), nil
		},
		BackendURL: url, Style: "good/style.yaml", WechatAddr: wechat,
	})
	require.NoError(t, err)
	assert.Equal(t, summary.Pass, s.Verdict, "failed %v; scenarios %+v; notes %v", s.FailedInvariants(), s.Scenarios, s.Notes)
	assert.Zero(t, s.Requests.Lost)
	n := renewals.n.Load()
	assert.GreaterOrEqual(t, n, int64(sc.Devices), "every device renewed as its tokens ran out (2s lifetimes in a 4s attack)")
	assert.Contains(t, strings.Join(s.Notes, "\n"), "tokens expire by time — its access tokens live 2s (the login answer's ttl)")
}

// countRoute counts the requests to one path.
type countRoute struct {
	path string
	base http.RoundTripper
	n    atomic.Int64
}

func (c *countRoute) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == c.path {
		c.n.Add(1)
	}
	return c.base.RoundTrip(r)
}

// The plain-Python example backend (docs/ci.md) passes the probes and the
// default storm through its style file, with no admin API: its expiry is
// waited out from the expires_in it sends.
func TestPythonExampleBackend(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not in PATH")
	}
	wechat := freeAddr(t)
	port := freeAddr(t)
	_, portNum, _ := net.SplitHostPort(port)
	cmd := exec.Command(py, "python/backend.py", "--port", portNum)
	cmd.Env = append(cmd.Environ(), "WECHAT_BASE_URL=http://"+wechat, "ACCESS_TOKEN_TTL=2")
	url := startCmd(t, cmd)

	s, by := runStyled(t, url, wechat, "python/style.yaml")
	assert.Equal(t, summary.Pass, s.Verdict, "failed: %v %v", s.FailedInvariants(), by)
	assert.Equal(t, summary.Pass, by["backend-signals"].Verdict, by["backend-signals"].Detail)
	assert.Equal(t, 6, s.Invariants[summary.ExpirySignalled].Checked, "tampered, garbage, unsigned, foreign-key, missing and expired (by its 2s TTL) tokens")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sc := storm.Default()
	sc.Devices, sc.Thresholds = 20, nil
	ss, err := storm.Run(ctx, sc, storm.Options{
		NewClient:  func(env client.Env) (client.Client, error) { return refclient.New(env, refclient.Options{}), nil },
		BackendURL: url, Style: "python/style.yaml", WechatAddr: wechat,
	})
	require.NoError(t, err)
	assert.Equal(t, summary.Pass, ss.Verdict, "failed %v; scenarios %+v", ss.FailedInvariants(), ss.Scenarios)
	assert.Zero(t, ss.Requests.Lost)
	assert.Contains(t, strings.Join(ss.Notes, "\n"), "tokens expire by time — its access tokens live 2s (the login answer's data.expires_in)")

	// Its profile, measured through its public routes, is its real policy.
	st, err := stack.Start(ctx, stack.Options{BackendURL: url, Style: "python/style.yaml", WechatAddr: wechat})
	require.NoError(t, err)
	defer st.Close()
	sty, err := style.Load("python/style.yaml")
	require.NoError(t, err)
	p, err := backendcheck.Profile(ctx, backendcheck.Config{BackendURL: url, WechatURL: st.WechatURL, AppID: st.AppID, Style: sty})
	require.NoError(t, err)
	assert.Equal(t, int64(2), p.AccessTTLSeconds)
	assert.Equal(t, "rotates", p.Rotation)
	assert.Equal(t, "strict", p.Reuse)
	require.NotNil(t, p.FamilyRevokedOnReuse)
	assert.True(t, *p.FamilyRevokedOnReuse, "backend.py revokes the family on reuse")
	require.NotNil(t, p.FamilyStaysRevoked)
	assert.True(t, *p.FamilyStaysRevoked, "and the revocation lasts")
	assert.Equal(t, 1, p.ParallelSucceeded, "strict: one of the parallel refreshes wins")
	lsc := backendcheck.LoginScenario(p)
	assert.Equal(t, summary.Pass, lsc.Verdict, "%s %+v", lsc.Detail, p.Logins)
	assert.Len(t, p.Logins, 5, "%v", p.Notes)
}

// The profile of a backend run matches the backend's real policy, whatever
// it is: strict, never rotating, a 30 s grace window; and a backend that
// does not announce its lifetime is said to, its expiry check skipped
// (never passed) until --access-ttl gives the lifetime.
func TestProfilesOfTheExampleBackendPolicies(t *testing.T) {
	good := build(t, "good")
	sty, err := style.Load("good/style.yaml")
	require.NoError(t, err)
	profile := func(t *testing.T, args ...string) (*summary.BackendProfile, string, string) {
		wechat := freeAddr(t)
		url := startCmd(t, exec.Command(good, append([]string{"-addr", "127.0.0.1:0", "-wechat", "http://" + wechat, "-session-ttl", "2s"}, args...)...))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := stack.Start(ctx, stack.Options{BackendURL: url, Style: "good/style.yaml", WechatAddr: wechat})
		require.NoError(t, err)
		defer st.Close()
		p, err := backendcheck.Profile(ctx, backendcheck.Config{BackendURL: url, WechatURL: st.WechatURL, AppID: st.AppID, Style: sty})
		require.NoError(t, err)
		return p, url, wechat
	}
	t.Run("strict", func(t *testing.T) {
		p, _, _ := profile(t)
		assert.Equal(t, "rotates", p.Rotation)
		assert.Equal(t, "strict", p.Reuse)
		require.NotNil(t, p.FamilyRevokedOnReuse)
		assert.True(t, *p.FamilyRevokedOnReuse)
		assert.Equal(t, 1, p.ParallelSucceeded)
		assert.Equal(t, int64(2), p.AccessTTLSeconds)
		require.Len(t, p.Logins, 5, "%v", p.Notes)
		lsc := backendcheck.LoginScenario(p)
		assert.Equal(t, summary.Pass, lsc.Verdict, "%s %+v", lsc.Detail, p.Logins)
	})
	// A login route that takes a reused code or turns WeChat's trouble into
	// a 500 fails backend-login, naming the checks.
	t.Run("login bug: reused code accepted", func(t *testing.T) {
		p, _, _ := profile(t, "-login-bug", "reused-code-ok")
		lsc := backendcheck.LoginScenario(p)
		assert.Equal(t, summary.Fail, lsc.Verdict, lsc.Detail)
		assert.Equal(t, []string{backendcheck.CheckReusedCode, backendcheck.CheckUnknownCode}, lsc.Failed)
		assert.Contains(t, lsc.Detail, "code used twice (WeChat 40163): HTTP 200, success signal (want invalid_code)")
	})
	t.Run("login bug: WeChat trouble answered 500", func(t *testing.T) {
		p, _, _ := profile(t, "-login-bug", "wechat-500")
		lsc := backendcheck.LoginScenario(p)
		assert.Equal(t, summary.Fail, lsc.Verdict, lsc.Detail)
		assert.Equal(t, []string{"WeChat busy (-1)", "WeChat rate limit (45011)", "WeChat unreachable (connection reset)"}, lsc.Failed)
		assert.Contains(t, lsc.Detail, "WeChat busy (-1): HTTP 500")
	})
	t.Run("never rotates", func(t *testing.T) {
		p, _, _ := profile(t, "-reuse", "never-rotates")
		assert.Equal(t, "keeps", p.Rotation)
		assert.Empty(t, p.Reuse, "no rotation: no reuse to measure")
		assert.Equal(t, backendcheck.ParallelRefreshes, p.ParallelSucceeded, "every parallel refresh works")
	})
	t.Run("grace 30s", func(t *testing.T) {
		p, _, _ := profile(t, "-reuse", "grace:30s")
		assert.Equal(t, "rotates", p.Rotation)
		assert.Equal(t, "tolerated", p.Reuse, "accepted at every delay up to the bound: %v", p.Notes)
		assert.Equal(t, backendcheck.MaxReuseCount+1, p.ReuseAccepted, "every presentation of the burst")
		assert.Contains(t, strings.Join(p.Notes, "\n"), "times in a row and still 4s after its rotation")
		assert.Equal(t, backendcheck.ParallelRefreshes, p.ParallelSucceeded)
	})
	t.Run("reuse count 5", func(t *testing.T) {
		p, _, _ := profile(t, "-reuse", "reuse:5")
		assert.Equal(t, "count", p.Reuse, "%v", p.Notes)
		assert.Equal(t, 5, p.ReuseAccepted, "%v", p.Notes)
		assert.Zero(t, p.ReuseGraceSeconds)
	})
	t.Run("grace 2s", func(t *testing.T) {
		p, _, _ := profile(t, "-reuse", "grace:2s")
		assert.Equal(t, "grace", p.Reuse, "%v", p.Notes)
		assert.GreaterOrEqual(t, p.ReuseGraceSeconds, 1.5, "%v", p.Notes)
		assert.LessOrEqual(t, p.ReuseGraceSeconds, 2.0, "%v", p.Notes)
	})
	t.Run("no expires_in", func(t *testing.T) {
		p, url, wechat := profile(t, "-omit-ttl")
		assert.Zero(t, p.AccessTTLSeconds)
		assert.Contains(t, strings.Join(p.Notes, "\n"), "does not say how long the access token lives")
		_, by := runStyled(t, url, wechat, "good/style.yaml")
		assert.Equal(t, summary.Skip, by["backend-signals"].Verdict, "never a pass: %s", by["backend-signals"].Detail)
		assert.Contains(t, by["backend-signals"].Detail, "the login answer does not say how long the access token lives")
	})
}
