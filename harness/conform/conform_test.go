package conform

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	gherkin "github.com/cucumber/gherkin/go/v26"
	messages "github.com/cucumber/messages/go/v21"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/backend"
	"github.com/tokenstorm/tokenstorm/harness/clients"
	"github.com/tokenstorm/tokenstorm/harness/mutant"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/summary"
	"github.com/tokenstorm/tokenstorm/mockwechat"
)

func refOptions(t *testing.T) Options {
	t.Helper()
	f, err := clients.Parse(context.Background(), "ref")
	require.NoError(t, err)
	return Options{NewClient: f, ClientName: "ref"}
}

// TestSuite runs the whole embedded suite with the reference client, one
// subtest per scenario. SPEC §7: well under a minute in-process.
func TestSuite(t *testing.T) {
	opts := refOptions(t)
	var out bytes.Buffer
	opts.Output = &out
	opts.Format = "progress"
	opts.TestingT = t
	start := time.Now()
	res, err := Run(context.Background(), opts)
	require.NoError(t, err)
	took := time.Since(start)
	t.Logf("%d scenarios: %d passed, %d failed, %d skipped in %s", len(res.Scenarios), res.Passed, res.Failed, res.Skipped, took.Round(time.Millisecond))
	if !res.OK() {
		t.Logf("godog output:\n%s", out.String())
	}
	assert.True(t, res.OK())
	assert.GreaterOrEqual(t, len(res.Scenarios), 40, "SPEC §7: at least 40 scenarios")
	assert.Less(t, took, 60*time.Second, "the in-process suite must finish well under a minute")
	for _, s := range res.Scenarios {
		assert.Equal(t, "feature", s.Kind)
		if s.Verdict == summary.Skip {
			// Only scenarios written for one other style (@style:NAME).
			assert.Contains(t, s.Detail, "written for another backend style; this run uses bearer", s.Name)
		}
	}
	assert.LessOrEqual(t, res.Skipped, 3, "most of the suite runs in the default style")
}

// TestSuiteInEveryStyle runs the built-in suite with the reference client
// against the reference backend speaking each other built-in style: the
// features write /api/… paths and style-neutral assertions, so every
// scenario not tagged for one style passes in all of them.
func TestSuiteInEveryStyle(t *testing.T) {
	t.Parallel() // after the sequential tests: TestSuite times itself alone
	// The styles run at once, outside go test's -parallel slots: a run is
	// mostly real-time backoffs, not CPU.
	var wg sync.WaitGroup
	for _, name := range style.Names() {
		if name == style.Default {
			continue // TestSuite
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(name, func(t *testing.T) {
				opts := refOptions(t)
				opts.Style = name
				var out bytes.Buffer
				opts.Output = &out
				opts.Format = "progress"
				res, err := Run(context.Background(), opts)
				require.NoError(t, err)
				if !assert.True(t, res.OK(), "style %s", name) {
					t.Logf("godog output:\n%s", out.String())
				}
				assert.GreaterOrEqual(t, res.Passed, 40, "style %s: the client, WeChat and backend-check scenarios run", name)
				for _, s := range res.Scenarios {
					if s.Verdict == summary.Skip {
						assert.Contains(t, s.Detail, "written for another backend style; this run uses "+name, s.Name)
					}
				}
			})
		}()
	}
	wg.Wait()
}

// TestRefreshCountsReloginsWithoutRefreshRoute: in body-code a client renews
// an expired token by logging in again; "refresh" steps count those, so the
// style-neutral features catch a re-login storm too.
func TestRefreshCountsReloginsWithoutRefreshRoute(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relogin.feature")
	require.NoError(t, os.WriteFile(path, []byte(`@client @admin
Feature: re-login storm
  Scenario: storm
    Given 2 devices logged in
    When the access tokens expire
    And each device sends 6 concurrent GET /api/orders
    Then at most 1 refresh per device
`), 0o644))
	for client, ok := range map[string]bool{"ref": true, "mutant:storm": false} {
		f, err := clients.Parse(context.Background(), client)
		require.NoError(t, err)
		res, err := Run(context.Background(), Options{NewClient: f, ClientName: client, Paths: []string{path}, Style: "body-code"})
		require.NoError(t, err)
		require.Len(t, res.Scenarios, 1)
		assert.Equal(t, ok, res.OK(), "%s: %s", client, res.Scenarios[0].Detail)
		if !ok {
			assert.Contains(t, res.Scenarios[0].Detail, "at most 1 refresh per device")
		}
	}
}

// A client that logs in only when its first request is refused (no token
// yet: 401, outcome missing), as axios-auth-refresh wrappers do, and renews
// before expiry afterwards, never meets an expired token: the warm-up's
// token-less first attempts are its first login, not an expiry.
func TestNoExpiredAttemptIgnoresALazyFirstLogin(t *testing.T) {
	dir := t.TempDir()
	src := `let token = '', exp = 0, pending = null;
// wx.request returns a task; its answer comes to the callbacks.
const request = (o) => new Promise((resolve, reject) => wx.request(Object.assign({}, o, { success: resolve, fail: reject })));
function login() {
  if (!pending) {
    pending = wx.login()
      .then(({ code }) => request({ url: tokenstorm.backendURL + '/auth/login', method: 'POST', data: { code } }))
      .then((r) => { token = r.data.access_token; exp = Date.now() + r.data.expires_in * 1000; })
      .finally(() => { pending = null; });
  }
  return pending;
}
function send(req) {
  const header = Object.assign({}, req.header);
  if (token) header.Authorization = 'Bearer ' + token;
  return request({ url: req.url, method: req.method, header, data: req.body });
}
export async function call(req) {
  if (pending) await pending;
  if (token && Date.now() > exp - 30000) await login();
  let res = await send(req);
  if (res.statusCode === 401) { await login(); res = await send(req); }
  return res;
}
`
	path := filepath.Join(dir, "proactive.feature")
	require.NoError(t, os.WriteFile(path, []byte(`@client @admin
Feature: proactive
  Scenario: requests just before expiry refresh once, before the token expires
    Given 3 devices logged in
    When the clock is 10 seconds before the access tokens expire
    And each device sends 4 concurrent GET /api/orders
    Then every request succeeded
    And no request met an expired token
`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "adapter.js"), []byte(src), 0o644))
	f, err := clients.Parse(context.Background(), "js:"+filepath.Join(dir, "adapter.js"))
	require.NoError(t, err)
	res, err := Run(context.Background(), Options{NewClient: f, ClientName: "js", Paths: []string{path}})
	require.NoError(t, err)
	require.Len(t, res.Scenarios, 1)
	assert.True(t, res.OK(), res.Scenarios[0].Detail)

	// The same wrapper meets the expiry when the tokens expire early (the
	// admin API): its requests that carried one are counted.
	feature, err := os.ReadFile(path)
	require.NoError(t, err)
	expired := strings.Replace(string(feature), "the clock is 10 seconds before the access tokens expire", "the access tokens expire", 1)
	require.NoError(t, os.WriteFile(path, []byte(expired), 0o644))
	var out bytes.Buffer
	res, err = Run(context.Background(), Options{NewClient: f, ClientName: "js", Paths: []string{path}, Output: &out})
	require.NoError(t, err)
	assert.False(t, res.OK())
	assert.Contains(t, out.String(), "request attempt(s) carried an expired or invalid token")
	assert.NotContains(t, out.String(), "warmup", "the token-less first attempts are not evidence")
}

// TestMutantsFail runs the @client scenarios with every mutant: each must
// fail at least one scenario, or the suite cannot catch that defect.
func TestMutantsFail(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the client scenarios once per mutant")
	}
	t.Parallel() // alongside TestSuiteInEveryStyle: both mostly wait on real-time backoffs
	names := mutant.Names()
	require.NotEmpty(t, names)
	var mu sync.Mutex
	caught := map[string][]string{}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, err := clients.Parse(context.Background(), "mutant:"+name)
			require.NoError(t, err)
			res, err := Run(context.Background(), Options{
				// The default deadline, as in TestSuite: a shorter one would fail
				// the reference client's bounded retries too and catch nothing real.
				NewClient: f, ClientName: "mutant:" + name, Tags: "@client", StopOnFailure: true,
			})
			require.NoError(t, err)
			var failed []string
			for _, s := range res.Scenarios {
				if s.Verdict == summary.Fail {
					failed = append(failed, s.Name+" ["+strings.Join(s.Failed, ", ")+"]")
				}
			}
			mu.Lock()
			caught[name] = failed
			mu.Unlock()
			assert.NotEmpty(t, failed, "mutant:%s passed every @client scenario: the suite cannot catch it", name)
			t.Logf("mutant:%s caught by: %s", name, strings.Join(failed, "; "))
		})
	}
}

// TestUndefinedStepNamesFileAndLine: a typo'd step stops the run before it
// starts with file:line and a suggestion.
func TestUndefinedStepNamesFileAndLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "typo.feature")
	require.NoError(t, os.WriteFile(path, []byte(`Feature: typo
  Scenario: a typo
    Given 5 devices loged in
    When the access tokens expire
    Then every request setled
`), 0o644))
	opts := refOptions(t)
	opts.Paths = []string{path}
	res, err := Run(context.Background(), opts)
	require.Error(t, err)
	assert.Nil(t, res)
	var fe *FeatureError
	require.ErrorAs(t, err, &fe)
	require.Len(t, fe.Problems, 2)
	assert.Contains(t, err.Error(), path+":3: undefined step: Given 5 devices loged in")
	assert.Contains(t, err.Error(), `did you mean "Given 5 devices logged in"`)
	assert.Contains(t, err.Error(), path+":5: undefined step: Then every request setled")
}

func TestSyntaxErrorNamesFileAndLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.feature")
	require.NoError(t, os.WriteFile(path, []byte("Feature: bad\n  Scenario: x\n    Given 1 device\n  | a | b |\n  Oops: what\n"), 0o644))
	opts := refOptions(t)
	opts.Paths = []string{path}
	_, err := Run(context.Background(), opts)
	require.Error(t, err)
	assert.Regexp(t, regexp.QuoteMeta(path)+`:\d+:\d+: Gherkin syntax: `, err.Error())
}

// TestStepsDocIsCurrent fails when docs/steps.md is not what
// `tokenstorm steps --format markdown` prints (run make docs).
func TestStepsDocIsCurrent(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteMarkdown(&buf))
	have, err := os.ReadFile("../../docs/steps.md")
	require.NoError(t, err, "docs/steps.md is missing: run make docs")
	assert.True(t, bytes.Equal(have, buf.Bytes()), "docs/steps.md is stale: run make docs")
}

// TestLibrary: every example matches exactly its own step, handlers take as
// many arguments as the pattern captures (plus a doc string or table), and
// the features use every step at least once (an unused step is untested).
func TestLibrary(t *testing.T) {
	for _, s := range library {
		text := exampleText(s.Example)
		m := match(text)
		if assert.Len(t, m, 1, "example %q of %s", text, s.Pattern) {
			assert.Equal(t, s.Pattern, m[0].Pattern)
		}
		groups := s.re.NumSubexp()
		args := handlerArgs(s.fn)
		extra := 0
		if strings.HasSuffix(s.Pattern, ":$") {
			extra = 1
		}
		assert.Equal(t, groups+extra, args, "handler of %s", s.Pattern)
		assert.NotEmpty(t, s.Help)
		assert.NotEmpty(t, s.Syntax)
		assert.Contains(t, groupOrder, s.Group)
	}
	files, err := loadFeatures(context.Background(), nil, false)
	require.NoError(t, err)
	used := map[string]bool{}
	newID := (&messages.Incrementing{}).NewId
	for _, f := range files {
		doc, err := gherkin.ParseGherkinDocument(bytes.NewReader(f.content), newID)
		require.NoError(t, err, f.name)
		for _, p := range gherkin.Pickles(*doc, f.name, newID) {
			for _, st := range p.Steps {
				for _, s := range match(st.Text) {
					used[s.Pattern] = true
				}
			}
		}
	}
	for _, s := range library {
		assert.True(t, used[s.Pattern], "no built-in scenario uses the step %q: add one, so every step is exercised", s.Syntax)
	}
}

func handlerArgs(fn any) int { return reflect.TypeOf(fn).NumIn() - 2 }

func TestParseSpan(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"2 hours": 2 * time.Hour, "1 hour 59 minutes and 50 seconds": time.Hour + 59*time.Minute + 50*time.Second,
		"90s": 90 * time.Second, "1h30m": 90 * time.Minute, "50ms": 50 * time.Millisecond, "an hour": time.Hour,
		"5 minutes 1 second": 5*time.Minute + time.Second, "500 ms": 500 * time.Millisecond,
	} {
		got, err := parseSpan(in)
		if assert.NoError(t, err, in) {
			assert.Equal(t, want, got, in)
		}
	}
	for _, bad := range []string{"two hours", "5", "3 fortnights", ""} {
		_, err := parseSpan(bad)
		assert.Error(t, err, bad)
	}
}

func TestTagMatch(t *testing.T) {
	tags := []string{"@client", "@admin"}
	assert.True(t, tagMatch("", tags))
	assert.True(t, tagMatch("@client", tags))
	assert.False(t, tagMatch("@wechat", tags))
	assert.True(t, tagMatch("@wechat,@client", tags))
	assert.False(t, tagMatch("@client && ~@admin", tags))
	assert.True(t, tagMatch("~@slow", tags))
}

// TestExternalBackendSkipsAdmin: against another backend, @admin scenarios
// are reported skipped with the reason, and nothing else needs the admin API.
func TestExternalBackendSkipsAdmin(t *testing.T) {
	opts := refOptions(t)
	opts.BackendURL = "http://127.0.0.1:1"
	opts.Tags = "@admin"
	files, p, _, err := prepare(context.Background(), opts)
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, s := range p.order {
		assert.Contains(t, s.skip, "--backend points to http://127.0.0.1:1", s.name)
	}
	assert.Contains(t, godogExpr(opts.Tags, p), "~@admin")
}

// TestFailureShowsEvidence: a failed assertion names the invariant and shows
// the ledger; cucumber JSON carries it as an embedding.
func TestFailureShowsEvidence(t *testing.T) {
	f, err := clients.Parse(context.Background(), "mutant:storm")
	require.NoError(t, err)
	dir := t.TempDir()
	path := filepath.Join(dir, "storm.feature")
	require.NoError(t, os.WriteFile(path, []byte(`@client @admin
Feature: storm
  Scenario: storm
    Given 2 devices logged in
    When the access tokens expire
    And each device sends 6 concurrent GET /api/orders
    Then invariant single-refresh holds
`), 0o644))
	var out bytes.Buffer
	res, err := Run(context.Background(), Options{NewClient: f, ClientName: "mutant:storm", Paths: []string{path}, Format: "cucumber", Output: &out})
	require.NoError(t, err)
	require.Len(t, res.Scenarios, 1)
	sc := res.Scenarios[0]
	assert.Equal(t, summary.Fail, sc.Verdict)
	assert.Equal(t, []string{"single-refresh"}, sc.Failed)
	assert.Contains(t, sc.Detail, "invariant single-refresh does not hold")

	var doc []struct {
		Elements []struct {
			Steps []struct {
				Result struct {
					Status       string `json:"status"`
					ErrorMessage string `json:"error_message"`
				} `json:"result"`
				Embeddings []struct {
					MimeType string `json:"mime_type"`
					Data     string `json:"data"`
					Name     string `json:"name"`
				} `json:"embeddings"`
			} `json:"steps"`
		} `json:"elements"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &doc), out.String())
	steps := doc[0].Elements[0].Steps
	last := steps[len(steps)-1]
	assert.Contains(t, last.Result.ErrorMessage, "ledger evidence:")
	assert.Contains(t, last.Result.ErrorMessage, "backend  refresh")
	require.NotEmpty(t, last.Embeddings, "the evidence is attached to the failing step")
	assert.Equal(t, "text/plain", last.Embeddings[0].MimeType)
}

// TestExternalBackend runs the backend and WeChat scenarios against a backend
// the suite does not own (a reference backend on its own port, pointed at the
// mock WeChat address the suite listens on): @admin scenarios are skipped
// with the reason, the others pass.
func TestExternalBackend(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	wechatAddr := ln.Addr().String()
	require.NoError(t, ln.Close())

	be, err := backend.New(backend.Config{WechatURL: "http://" + wechatAddr, AppID: mockwechat.DefaultAppID, Secret: mockwechat.DefaultSecret})
	require.NoError(t, err)
	srv := httptest.NewServer(be)
	defer srv.Close()
	defer be.Close()

	opts := refOptions(t)
	opts.BackendURL = srv.URL
	opts.WechatAddr = wechatAddr
	opts.Tags = "@backend,@wechat"
	var out bytes.Buffer
	opts.Output = &out
	res, err := Run(context.Background(), opts)
	require.NoError(t, err)
	if !assert.True(t, res.OK()) {
		t.Log(out.String())
	}
	assert.Positive(t, res.Passed)
	assert.Positive(t, res.Skipped)
	for _, s := range res.Scenarios {
		if s.Verdict == summary.Skip {
			assert.Regexp(t, `skipped: needs .*, which a backend under test does not offer \(tagged @admin\)`, s.Detail)
		}
	}
}
