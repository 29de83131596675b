package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/check"
	"github.com/tokenstorm/tokenstorm/harness/clients"
	"github.com/tokenstorm/tokenstorm/harness/conform"
	"github.com/tokenstorm/tokenstorm/harness/summary"
	"github.com/tokenstorm/tokenstorm/reports"
)

func cmdConform(ctx context.Context, argv []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("conform", "[flags] [PATHS…]",
		"Run the Gherkin conformance scenarios with godog: by default the suite built into the binary\n"+
			"(features/), or the .feature files and directories given as PATHS (FILE:LINE runs the scenario at\n"+
			"that line). Every scenario gets a fresh embedded stack (mock WeChat + reference backend,\n"+
			"controllable clock) and the client under test.\n"+
			"The godog output goes to stdout (and for junit/cucumber also to --out), the reports to --out.\n"+
			"Steps are checked before anything runs: an undefined or ambiguous step, a Gherkin syntax error,\n"+
			"a value a step cannot use (duration, count, invariant name) or a request name used twice or never\n"+
			"sent is reported as FILE:LINE and exits 2. Exit 0 when every scenario passed, 1 when one failed, 130 when interrupted.\n"+
			"With --backend the built-in suite also measures the backend profile (when --tags selects @backend),\n"+
			"and its backend-login check gates the exit code as in run (docs/ci.md).\n"+
			"See docs/conform.md; tokenstorm steps lists every step.",
		stdout,
		"tokenstorm conform",
		"tokenstorm conform --tags '@client && ~@slow' --client mutant:storm",
		"tokenstorm conform my.feature --format junit --out /tmp/conform",
		"tokenstorm conform features/client_expiry.feature:17",
		"tokenstorm conform --backend http://127.0.0.1:8080 --wechat-addr 127.0.0.1:9400 --tags @backend")
	c := addCommonFlags(fs)
	tags := fs.String("tags", "", "godog tag expression selecting scenarios, e.g. '@client && ~@slow' or '@wechat,@backend'")
	format := fs.String("format", "pretty", "godog output: "+strings.Join(conform.Formats, " | "))
	builtin := fs.Bool("builtin", false, "with PATHS: also run the built-in suite")
	wechatAddr := fs.String("wechat-addr", "", "listen address of mock WeChat (default a free port; with --backend 127.0.0.1:9400, where your backend must send jscode2session)")
	deadline := fs.Duration("deadline", conform.DefaultDeadline, "per-request deadline: a request settled after it is late; one not settled although the client had every answer it needed is lost (docs/invariants.md)")
	stop := fs.Bool("stop-on-failure", false, "stop at the first failed scenario")
	noColor := fs.Bool("no-color", false, "no ANSI colours (the default when stdout is not a terminal)")
	onlyCheck := fs.Bool("check", false, "only check the feature files (syntax, undefined and ambiguous steps, step values, request names) and exit")
	paths, err := parse(fs, argv)
	if err != nil {
		return err
	}
	if !isOneOf(conform.Formats, *format) {
		return usagef("--format %q: want %s", *format, strings.Join(conform.Formats, ", "))
	}
	if *deadline <= 0 {
		return usagef("--deadline must be positive")
	}
	if err := checkBackend(ctx, c.backend); err != nil && !*onlyCheck {
		return err
	}
	if *wechatAddr == "" {
		*wechatAddr = conformWechatAddr(c.backend)
	}
	factory, err := clients.Parse(ctx, c.client)
	if err != nil {
		return usagef("%v", err)
	}
	opts := conform.Options{
		NewClient: factory, ClientName: c.client,
		BackendURL: c.backend, WechatAddr: *wechatAddr, AdminToken: c.adminToken, Style: c.style,
		Paths: paths, Builtin: *builtin, Tags: *tags,
		Format: *format, Color: !*noColor && isTerminal(stdout),
		Deadline: *deadline, StopOnFailure: *stop,
	}
	if *onlyCheck {
		if err := conform.CheckContext(ctx, opts); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "conform: the feature files are well-formed and every step is defined")
		return nil
	}

	// junit and cucumber are files a CI keeps: write them to --out as well.
	out := stdout
	if *format == "junit" || *format == "cucumber" {
		if err := os.MkdirAll(c.out, 0o755); err != nil {
			return fmt.Errorf("--out %s: %w", c.out, err)
		}
		name := map[string]string{"junit": "conform-junit.xml", "cucumber": "conform-cucumber.json"}[*format]
		f, err := os.Create(filepath.Join(c.out, name))
		if err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		defer f.Close()
		out = io.MultiWriter(stdout, f)
		// stdout is machine-readable now: progress goes to stderr.
		opts.Progress = stderr
	}
	opts.Output = out

	start := time.Now()
	s := summary.New(c.client, backendName(c.backend))
	s.Style = c.style
	global := check.New(check.Options{ExternalBackend: c.backend != "", BackendInLedger: c.backend == "", Start: start}) // the time axis starts with the run
	opts.Global = global
	res, err := conform.Run(ctx, opts)
	var fe *conform.FeatureError
	if errors.As(err, &fe) {
		return err // exit 2: the run did not start
	}
	if res == nil {
		return err
	}
	if len(res.Scenarios) == 0 && err == nil {
		return usagef("no scenario matches --tags %q in %s", *tags, describePaths(paths, *builtin))
	}
	s.Scenarios = res.Scenarios
	// The backend profile belongs to the built-in suite's backend checks: it
	// runs with it, as if tagged @backend, and its backend-login gates the
	// exit code as in run.
	if c.backend != "" && ctx.Err() == nil && err == nil && (len(paths) == 0 || *builtin) && conform.TagsSelect(*tags, "@backend") {
		fmt.Fprintf(stderr, "conform: backend profile of %s (its public routes)\n", c.backend)
		profileAndGate(ctx, c, *wechatAddr, 0, s, stderr)
	}
	global.Finish(s)
	s.DurationMS = float64(time.Since(start).Milliseconds())
	s.StartedAt = start
	if ctx.Err() != nil {
		s.MarkInterrupted(fmt.Sprintf("stopped after %s; the scenarios it cut short are skip", time.Since(start).Round(time.Millisecond)))
	}
	s.Finalize()
	if werr := reports.WriteAll(c.out, s); werr != nil {
		return fmt.Errorf("writing reports to %s: %w", c.out, werr)
	}
	fmt.Fprintf(stderr, "\nconform: %d scenarios: %d passed, %d failed, %d skipped (%s)\n",
		len(res.Scenarios), res.Passed, res.Failed, res.Skipped, time.Since(start).Round(time.Millisecond))
	printSkips(stderr, res.Scenarios)
	if bad := s.FailedInvariants(); len(bad) > 0 {
		fmt.Fprintf(stderr, "conform: invariants violated across the client scenarios: %s\n", strings.Join(bad, ", "))
	}
	fmt.Fprintf(stderr, "conform: verdict %s; reports in %s/\n", strings.ToUpper(s.Verdict), strings.TrimSuffix(c.out, "/"))
	if err != nil && ctx.Err() == nil {
		return err
	}
	return verdictOf(s)
}

func describePaths(paths []string, builtin bool) string {
	if len(paths) == 0 {
		return "the built-in suite"
	}
	d := strings.Join(paths, ", ")
	if builtin {
		d += " and the built-in suite"
	}
	return d
}

// conformWechatAddr is where mock WeChat listens for the suite: any free
// port for the embedded stack; against an external backend the address
// `tokenstorm serve` uses, since that backend must be configured with it.
func conformWechatAddr(backendURL string) string {
	if backendURL == "" {
		return ""
	}
	return "127.0.0.1:9400"
}

// printSkips groups skipped scenarios by reason, so a run against an
// external backend says plainly what it did not test and why.
func printSkips(w io.Writer, scs []summary.Scenario) {
	by := map[string]int{}
	for _, sc := range scs {
		if sc.Verdict != summary.Skip {
			continue
		}
		_, reason, ok := strings.Cut(sc.Detail, "skipped: ")
		if !ok {
			reason = "not run (the run stopped before it)"
		}
		by[reason]++
	}
	reasons := make([]string, 0, len(by))
	for r := range by {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		fmt.Fprintf(w, "conform: skipped %d: %s\n", by[r], r)
	}
}

// isTerminal reports whether w is a character device (colours make sense).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func isOneOf(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
