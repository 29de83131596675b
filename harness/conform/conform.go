// Package conform runs the Gherkin conformance suite (SPEC §7) with godog:
// the embedded features/ (or the user's .feature files) against the embedded
// stack or an external backend, with any client under test.
//
// Every scenario gets a fresh world — its own ledger, clock (clock.Shifted, so
// "When 2 hours pass" is instant), mock WeChat, reference backend, client and
// simulated devices — so scenarios cannot leak into each other. Steps come
// from one documented library (Steps) that also prints `tokenstorm steps` and
// docs/steps.md. Runs are strict: before anything starts, every selected step
// is checked against the library and an undefined or ambiguous step is a
// *FeatureError naming file and line.
//
// A failed assertion says which invariant or check failed and shows the
// ledger lines that prove it, in the text output and as a godog attachment
// (embeddings in cucumber JSON).
package conform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cucumber/godog"
	messages "github.com/cucumber/messages/go/v21"

	"github.com/tokenstorm/tokenstorm/harness/check"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// Formats godog can write.
var Formats = []string{"pretty", "progress", "junit", "cucumber"}

// Options configure a conformance run.
type Options struct {
	// NewClient builds the client under test for each scenario's stack
	// (clients.Parse gives one). Required.
	NewClient  func(env client.Env) (client.Client, error)
	ClientName string // for reports, e.g. "ref" or "mutant:storm"

	// BackendURL is a backend under test; "" runs the embedded reference
	// backend. Scenarios tagged @admin need the reference backend and are
	// skipped against an external one.
	BackendURL string
	// WechatAddr is where mock WeChat listens; "" picks a free port. An
	// external backend must be configured with this address.
	WechatAddr string
	// AdminToken guards the admin APIs of the stack each scenario starts;
	// the steps' own admin calls carry it.
	AdminToken string
	// Style is the backend style, a built-in name or a YAML file ("" is
	// bearer). Request steps write resources under /api/ and are mapped to
	// the style's resource prefix; scenarios tagged @style:NAME run only when
	// the style's name is NAME.
	Style string

	Paths   []string // .feature files or directories; empty = the embedded suite
	Builtin bool     // also run the embedded suite when Paths are given
	Tags    string   // godog tag expression, e.g. "@client && ~@slow"

	Format string    // pretty (default), progress, junit or cucumber
	Output io.Writer // godog's output; nil discards it
	Color  bool      // ANSI colours in pretty/progress output

	// Deadline is the per-request deadline (default DefaultDeadline).
	Deadline time.Duration
	// StopOnFailure stops at the first failed scenario.
	StopOnFailure bool
	// Global, when set, also observes the ledger of every @client scenario:
	// `tokenstorm run` aggregates the suite's invariants with the probes'.
	Global *check.Checker
	// Progress gets one line per finished scenario; may be nil.
	Progress io.Writer
	// TestingT runs every scenario as a subtest (go test).
	TestingT *testing.T
}

// Result is what a run found.
type Result struct {
	// Scenarios has one entry per Gherkin scenario (each Examples row of an
	// outline is one), Kind "feature", in run order; skipped ones say why.
	Scenarios []summary.Scenario
	Passed    int
	Failed    int
	Skipped   int
}

// OK reports whether every scenario that ran passed.
func (r *Result) OK() bool { return r.Failed == 0 }

// runner is one Run's shared state.
type runner struct {
	ctx    context.Context // the run's: once it is done, failures are the interrupt's
	opts   Options
	parsed *parsed
	sty    *style.Style // the backend style the scenarios speak

	mu      sync.Mutex
	n       int
	results map[string]*summary.Scenario // by pickle id
	order   []string
	names   map[string]int
}

// Check loads and validates feature files without running them: the
// problems a run would refuse to start with.
func Check(opts Options) error { return CheckContext(context.Background(), opts) }

// CheckContext is Check that gives up when ctx ends (a feature file that is
// a FIFO nobody writes to).
func CheckContext(ctx context.Context, opts Options) error {
	_, _, _, err := prepare(ctx, opts)
	return err
}

func exclusions(opts Options, sty *style.Style) []exclusion {
	var ex []exclusion
	if opts.BackendURL != "" {
		ex = append(ex, exclusion{tag: "@admin", why: func(steps []*messages.PickleStep) string { return needsReason(steps, opts.BackendURL) }})
	}
	ex = append(ex, exclusion{tag: "@style:", except: sty.Name, reason: "written for another backend style; this run uses " + sty.Name})
	return ex
}

func prepare(ctx context.Context, opts Options) ([]featureFile, *parsed, *style.Style, error) {
	if opts.Format == "" {
		opts.Format = "pretty"
	}
	if !contains(Formats, opts.Format) {
		return nil, nil, nil, fmt.Errorf("unknown format %q (want %s)", opts.Format, strings.Join(Formats, ", "))
	}
	sty, err := style.LoadContext(ctx, opts.Style)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("backend style: %w", err)
	}
	files, err := loadFeatures(ctx, opts.Paths, opts.Builtin)
	if err != nil {
		return nil, nil, nil, err
	}
	var lineProblems []Problem
	for i := range files {
		var probs []Problem
		files[i], probs = selectLines(files[i])
		lineProblems = append(lineProblems, probs...)
	}
	p := parseFeatures(files, opts.Tags, exclusions(opts, sty))
	if probs := append(lineProblems, p.problems...); len(probs) > 0 {
		return nil, nil, nil, &FeatureError{Problems: probs}
	}
	return files, p, sty, nil
}

// Run runs the suite. It returns an error (and runs nothing) when the
// options or the feature files are wrong — a *FeatureError for undefined,
// ambiguous or malformed steps — and otherwise a Result; failed scenarios
// are in the Result, not in the error.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.NewClient == nil {
		return nil, errors.New("conform: Options.NewClient is required")
	}
	if opts.Format == "" {
		opts.Format = "pretty"
	}
	if opts.ClientName == "" {
		opts.ClientName = "ref"
	}
	files, p, sty, err := prepare(ctx, opts)
	if err != nil {
		return nil, err
	}
	r := &runner{ctx: ctx, opts: opts, parsed: p, sty: sty, results: map[string]*summary.Scenario{}, names: map[string]int{}}
	res := &Result{}

	running := 0
	for _, s := range p.order {
		if s.skip == "" {
			running++
		}
	}
	if running > 0 {
		contents := make([]godog.Feature, len(files))
		for i, f := range files {
			contents[i] = godog.Feature{Name: f.name, Contents: f.content}
		}
		out := opts.Output
		if out == nil {
			out = io.Discard
		}
		var lf *lineFilter
		if opts.Format == "pretty" {
			lf = &lineFilter{w: out}
			out = lf
		}
		suite := godog.TestSuite{
			Name:                "tokenstorm",
			ScenarioInitializer: r.initScenario,
			Options: &godog.Options{
				Format:          opts.Format,
				Output:          out,
				NoColors:        !opts.Color,
				Strict:          true,
				Tags:            godogExpr(opts.Tags, p),
				FeatureContents: contents,
				Concurrency:     1,
				StopOnFailure:   opts.StopOnFailure,
				DefaultContext:  ctx,
				TestingT:        opts.TestingT,
			},
		}
		suite.Run()
		if lf != nil {
			lf.Flush()
		}
	}

	// Scenarios in file order: skipped ones where they stand.
	for _, s := range p.order {
		id := s.id
		if s.skip != "" {
			res.Scenarios = append(res.Scenarios, summary.Scenario{Name: s.name, Kind: "feature", Verdict: summary.Skip,
				Detail: fmt.Sprintf("%s:%d: skipped: %s", s.file, s.line, s.skip)})
			res.Skipped++
			continue
		}
		sc := r.results[id]
		if sc == nil {
			// Selected but never run: StopOnFailure, or the run was interrupted.
			res.Scenarios = append(res.Scenarios, summary.Scenario{Name: s.name, Kind: "feature", Verdict: summary.Skip,
				Detail: fmt.Sprintf("%s:%d: not run (the run stopped before it)", s.file, s.line)})
			res.Skipped++
			continue
		}
		res.Scenarios = append(res.Scenarios, *sc)
		switch sc.Verdict {
		case summary.Fail:
			res.Failed++
		case summary.Skip: // interrupted while it ran
			res.Skipped++
		default:
			res.Passed++
		}
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("interrupted: %w", err)
	}
	return res, nil
}

// initScenario is called by godog once per scenario with a fresh context:
// it registers the library and the hooks that build and tear down the world.
func (r *runner) initScenario(sc *godog.ScenarioContext) {
	for i := range library {
		sc.Step(library[i].re, library[i].handler)
	}
	sc.Before(func(ctx context.Context, p *godog.Scenario) (context.Context, error) {
		w := r.begin(p)
		return withWorld(ctx, w), nil
	})
	sc.StepContext().After(func(ctx context.Context, _ *godog.Step, _ godog.StepResultStatus, err error) (context.Context, error) {
		w := worldFrom(ctx)
		if w != nil && w.skipped == nil && errors.Is(err, godog.ErrSkip) {
			// godog hands the scenario hook the last step's error, which
			// is nil after an earlier step skipped: keep the reason here.
			w.skipped = err
		}
		if w != nil && len(w.attach) > 0 {
			ctx = godog.Attach(ctx, w.attach...)
			w.attach = nil
		}
		return ctx, nil
	})
	sc.After(func(ctx context.Context, p *godog.Scenario, err error) (context.Context, error) {
		if w := worldFrom(ctx); w != nil {
			if err == nil && w.skipped != nil {
				err = w.skipped
			}
			r.end(w, p, err)
		}
		return ctx, nil
	})
}

func (r *runner) begin(p *godog.Scenario) *world {
	r.mu.Lock()
	r.n++
	id := fmt.Sprintf("s%02d", r.n)
	name := p.Name
	r.names[name]++
	if k := r.names[name]; k > 1 {
		name = fmt.Sprintf("%s #%d", name, k)
	}
	r.mu.Unlock()
	var tags []string
	for _, t := range p.Tags {
		tags = append(tags, t.Name)
	}
	w := newWorld(r, id, name, tags)
	if r.opts.Global != nil && w.tags["@client"] {
		r.opts.Global.SetScenario(name)
		w.unsub = w.led.Subscribe(r.opts.Global.Observe)
	}
	return w
}

func (r *runner) end(w *world, p *godog.Scenario, err error) {
	w.close()
	loc := ""
	if info := r.parsed.byID[p.Id]; info != nil {
		loc = fmt.Sprintf("%s:%d", info.file, info.line)
	}
	sc := summary.Scenario{Name: w.name, Kind: "feature", Verdict: summary.Pass, DurationMS: float64(time.Since(w.start).Milliseconds()), Detail: loc}
	if errors.Is(err, godog.ErrSkip) {
		// A step that cannot reach this client kind says so: skip, never a
		// silent pass (SPEC §6).
		sc.Verdict = summary.Skip
		sc.Detail = strings.TrimSpace(loc + ": " + err.Error())
	}
	if err != nil && !errors.Is(err, godog.ErrSkip) {
		sc.Verdict = summary.Fail
		sc.Failed = w.failed
		if len(sc.Failed) == 0 {
			sc.Failed = []string{"step error"}
		}
		first, _, _ := strings.Cut(err.Error(), "\n")
		if len(first) > 300 {
			first = first[:300] + "…"
		}
		sc.Detail = strings.TrimSpace(loc + ": " + first)
		if r.ctx != nil && r.ctx.Err() != nil {
			sc = summary.InterruptedScenario(sc)
		}
	}
	r.mu.Lock()
	r.results[p.Id] = &sc
	r.mu.Unlock()
	if r.opts.Progress != nil {
		mark := "ok  "
		detail := loc
		switch sc.Verdict {
		case summary.Fail:
			mark, detail = "FAIL", sc.Detail
		case summary.Skip:
			mark, detail = "skip", sc.Detail
		}
		fmt.Fprintf(r.opts.Progress, "  feature %-58s %s %6.0f ms  %s\n", clipName(w.name, 58), mark, sc.DurationMS, detail)
	}
}

func clipName(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// stepLocation is the "# file:line -> func" comment godog's pretty format
// prints after each step. Steps are registered through one adapter, so it
// would always read "conform.go:NNN -> reflect.makeFuncStub": noise for the
// reader of a feature file, removed from the output.
var stepLocation = regexp.MustCompile(`[ \t]*(\x1b\[[0-9;]*m)*# [^ ]+:\d+ -> reflect\.makeFuncStub(\x1b\[[0-9;]*m)*`)

// lineFilter rewrites whole lines of godog's output.
type lineFilter struct {
	w   io.Writer
	buf []byte
}

func (f *lineFilter) Write(p []byte) (int, error) {
	f.buf = append(f.buf, p...)
	for {
		i := bytes.IndexByte(f.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := stepLocation.ReplaceAll(f.buf[:i+1], nil)
		if _, err := f.w.Write(line); err != nil {
			return len(p), err
		}
		f.buf = f.buf[i+1:]
	}
}

// Flush writes what is left of an unfinished line.
func (f *lineFilter) Flush() {
	if len(f.buf) > 0 {
		_, _ = f.w.Write(stepLocation.ReplaceAll(f.buf, nil))
		f.buf = nil
	}
}
