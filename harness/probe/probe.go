// Package probe is the built-in battery of short runs that provoke each
// failure of SPEC §1 against the embedded stack. Each probe starts a fresh
// stack, drives a client through one situation (expiry under load, a late
// 401, WeChat busy, …) and judges the ledger with the invariant checker.
package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/admingate"
	"github.com/tokenstorm/tokenstorm/harness/check"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/device"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/stack"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// Probe is one short, targeted run.
type Probe struct {
	Name     string
	Provokes string // the SPEC §1 failure it provokes, one line
	run      func(ctx context.Context, p *P) error
}

// Config is shared by every probe of a battery.
type Config struct {
	// NewClient builds the client under test for a probe's stack.
	NewClient   func(env client.Env) (client.Client, error)
	ClientName  string
	Devices     int           // devices in the multi-device probes; default 20
	Concurrency int           // requests in flight per device; default 8
	Deadline    time.Duration // per logical request; default 3s
	Stack       stack.Options // base stack options (style, external backend, …)
	// Global, when set, also sees every event (the run's aggregate verdict).
	Global *check.Checker
	// Progress gets one line per finished probe; may be nil.
	Progress io.Writer
	// LedgerDir, when set, receives ledger-<probe>.ndjson for every failed probe:
	// the full evidence, beyond the excerpts in the summary.
	LedgerDir string
	// MaxExpiryWait bounds how long the backend-signals probe waits in real
	// time for an access token of a backend under test to expire by its TTL
	// (see harness/backendcheck); default backendcheck.DefaultMaxWait.
	MaxExpiryWait time.Duration
	// AccessTTL is the access-token lifetime of a backend under test whose
	// login answer carries no expires_in (--access-ttl): the backend-signals
	// probe waits it out to see an expired token. 0: unknown.
	AccessTTL time.Duration
}

func (c *Config) defaults() {
	if c.Devices <= 0 {
		c.Devices = 20
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.Deadline <= 0 {
		c.Deadline = 3 * time.Second
	}
}

// P is what a probe's body works with.
type P struct {
	cfg    *Config
	name   string
	Stack  *stack.Stack
	Clock  *clock.Shifted
	Client client.Client
	Driver *device.Driver
	// Style is the backend's dialect: probes build resource paths with Path
	// and judge answers with its signals.
	Style *style.Style
	http  *http.Client
}

// Path is a protected resource of the style: Path("orders?delay_ms=400") is
// "/api/orders?delay_ms=400" in bearer and "/v1/orders?delay_ms=400" in
// body-code.
func (p *P) Path(rest string) string {
	return p.Style.ResourcePath(style.CanonicalResource + strings.TrimPrefix(rest, "/"))
}

// Get is a GET of a protected resource of the style.
func (p *P) Get(rest string) device.Request {
	return device.Request{Method: http.MethodGet, Path: p.Path(rest)}
}

// External reports whether the backend is a backend under test (--backend):
// it has no admin API, no ledger and no controllable clock of ours.
func (p *P) External() bool { return p.Stack.Backend == nil }

// Skip ends a probe that cannot run against this stack; the probe is
// reported as skipped with reason, neither passed nor failed.
func Skip(reason string) error { return &skipError{reason} }

type skipError struct{ reason string }

func (e *skipError) Error() string { return "skipped: " + e.reason }

// needsEmbedded skips the probe against a backend under test.
func (p *P) needsEmbedded(what string) error {
	if p.External() {
		return Skip("needs the reference backend's " + what + "; --backend points to " + p.Stack.BackendURL)
	}
	return nil
}

// Shift moves the harness clock the embedded backend and the client share;
// a backend under test keeps its own time, so the probe is skipped there.
func (p *P) Shift(d time.Duration) error {
	if err := p.needsEmbedded("controllable clock"); err != nil {
		return err
	}
	p.Clock.Shift(d)
	return nil
}

// Device names a device of this probe (unique across the battery, so one
// aggregate checker can see every probe).
func (p *P) Device(i int) string { return fmt.Sprintf("%s-d%d", p.name, i) }

// Devices returns the names of the first n devices.
func (p *P) Devices(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = p.Device(i + 1)
	}
	return out
}

// Do issues one logical request.
func (p *P) Do(ctx context.Context, dev string, r device.Request) device.Outcome {
	return p.Driver.Do(ctx, dev, r)
}

// Burst issues k concurrent copies of r on each device and waits for all.
func (p *P) Burst(ctx context.Context, devs []string, k int, r device.Request) []device.Outcome {
	var mu sync.Mutex
	var out []device.Outcome
	var wg sync.WaitGroup
	for _, d := range devs {
		for i := 0; i < k; i++ {
			wg.Add(1)
			go func(d string) {
				defer wg.Done()
				o := p.Driver.Do(ctx, d, r)
				mu.Lock()
				out = append(out, o)
				mu.Unlock()
			}(d)
		}
	}
	wg.Wait()
	return out
}

// Warm logs every device in with one request each.
func (p *P) Warm(ctx context.Context, devs []string) error {
	for _, o := range p.Burst(ctx, devs, 1, p.Get("profile")) {
		if err := p.wantOK(o); err != nil {
			return fmt.Errorf("warm-up of %s: %w", o.Device, err)
		}
	}
	return nil
}

// wantOK requires an answer with the style's success signal.
func (p *P) wantOK(o device.Outcome) error {
	if o.Err != nil {
		return fmt.Errorf("request %s failed: %v", o.RID, o.Err)
	}
	if sig := p.Style.Classify(o.Status, o.Body); sig != style.SignalSuccess {
		return fmt.Errorf("request %s answered HTTP %d %s, want the %s style's success signal", o.RID, o.Status, shortBody(o.Body), p.Style.Name)
	}
	return nil
}

// wantAll requires every outcome to be the style's success: the probe's
// required outcome, so that a probe never passes while nothing works (a
// client that settles every request with an error breaks no invariant).
func (p *P) wantAll(outs []device.Outcome) error {
	var first error
	bad := 0
	for _, o := range outs {
		if err := p.wantOK(o); err != nil {
			bad++
			if first == nil {
				first = err
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d requests succeeded; the probe requires every one to (first failure: %v)", len(outs)-bad, len(outs), first)
	}
	if len(outs) == 0 {
		return errors.New("no request was issued")
	}
	return nil
}

func shortBody(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// Mark writes a named moment into the ledger (shown on the report's timeline).
func (p *P) Mark(what string) {
	p.Stack.Ledger.Append(ledger.Event{Source: ledger.SourceHarness, Kind: ledger.KindEpisodeMarker, Detail: p.name + ": " + what})
}

// ExpireAll expires every access token issued so far (the storm trigger).
func (p *P) ExpireAll(ctx context.Context) error {
	return p.backendAdmin(ctx, "expire", map[string]any{"all": true})
}

// Fault adds a mock WeChat fault rule (JSON of docs/mockwechat.md).
func (p *P) Fault(ctx context.Context, rule map[string]any) error {
	return p.admin(ctx, p.Stack.WechatURL+"/__admin/faults", rule)
}

// Revoke revokes every refresh token family (refresh tokens become dead).
func (p *P) Revoke(ctx context.Context) error {
	return p.backendAdmin(ctx, "revoke", map[string]any{"all": true})
}

// backendAdmin calls the reference backend's admin API. A backend under test
// may offer the same API; when it does not (the call fails) the probe is
// skipped, not failed: the backend is not at fault for lacking our hooks.
func (p *P) backendAdmin(ctx context.Context, what string, body any) error {
	url := p.Stack.BackendURL + style.AdminPrefix + what
	err := p.admin(ctx, url, body)
	if err != nil && p.External() {
		return Skip(fmt.Sprintf("needs the reference backend's admin API (POST %s%s), which the backend under test does not offer: %v", style.AdminPrefix, what, err))
	}
	return err
}

func (p *P) admin(ctx context.Context, url string, body any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	admingate.Header(req, p.Stack.AdminToken)
	resp, err := p.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin %s: %w", url, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("admin %s answered %d: %s", url, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

// Result is one probe's outcome.
type Result struct {
	Probe    Probe
	Summary  *summary.Summary // this probe alone
	Scenario summary.Scenario
}

// Run runs probes one after another, each on a fresh stack.
func Run(ctx context.Context, cfg Config, probes []Probe) ([]Result, error) {
	cfg.defaults()
	sty, err := style.LoadContext(ctx, cfg.Stack.Style)
	if err != nil {
		return nil, err
	}
	var out []Result
	seen := map[string]int{}
	for _, pr := range probes {
		// A probe run twice gets distinct device names, so the aggregate
		// checker never mistakes the second run for the first one's devices.
		seen[pr.Name]++
		if n := seen[pr.Name]; n > 1 {
			pr.Name = fmt.Sprintf("%s#%d", pr.Name, n)
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		r, err := runOne(ctx, &cfg, sty, pr)
		if ctx.Err() != nil {
			// Cut short by the interrupt: what it found is not a verdict.
			if err != nil || r.Scenario.Verdict != summary.Pass {
				r.Scenario = summary.InterruptedScenario(r.Scenario)
				if r.Scenario.Name == "" {
					r.Scenario.Name, r.Scenario.Kind = pr.Name, "probe"
				}
			}
			err = nil
		}
		if err != nil {
			return out, fmt.Errorf("probe %s: %w", pr.Name, err)
		}
		if cfg.Progress != nil {
			mark := "ok  "
			switch r.Scenario.Verdict {
			case summary.Fail:
				mark = "FAIL"
			case summary.Skip:
				mark = "skip"
			}
			fmt.Fprintf(cfg.Progress, "  probe %-26s %s %6.0f ms  %s\n", pr.Name, mark, r.Scenario.DurationMS, r.Scenario.Detail)
		}
		out = append(out, r)
	}
	return out, nil
}

func runOne(ctx context.Context, cfg *Config, sty *style.Style, pr Probe) (Result, error) {
	start := time.Now()
	clk := clock.NewShifted()
	led := ledger.New(ledger.Options{Clock: clk, Memory: true})
	defer led.Close()
	local := check.New(check.Options{Scenario: pr.Name, ExternalBackend: cfg.Stack.BackendURL != "", BackendInLedger: cfg.Stack.BackendURL == ""})
	unsubs := []func(){led.Subscribe(local.Observe)}
	// The checkers stop listening before they are finished: a backend
	// handler still answering a straggler must not feed a checker while its
	// summary is read (Observe and Finish are not concurrent-safe).
	stopListening := func() {
		for _, u := range unsubs {
			u()
		}
	}
	defer stopListening()
	if cfg.Global != nil {
		cfg.Global.SetScenario(pr.Name)
		unsubs = append(unsubs, led.Subscribe(cfg.Global.Observe))
	}
	so := cfg.Stack
	so.Clock = clk
	so.Ledger = led
	st, err := stack.Start(ctx, so)
	if err != nil {
		return Result{}, err
	}
	defer st.Close()
	env := st.Env()
	env.HTTP = &http.Client{Timeout: 30 * time.Second}
	cl, err := cfg.NewClient(env)
	if err != nil {
		return Result{}, err
	}
	p := &P{cfg: cfg, name: pr.Name, Stack: st, Clock: clk, Client: cl, Style: sty,
		Driver: &device.Driver{Client: cl, Ledger: led, Deadline: cfg.Deadline, Prefix: pr.Name + "-", Busy: st.Busy, Answered: st.Answered, Pending: st.Pending},
		http:   &http.Client{Timeout: 10 * time.Second}}

	runErr := pr.run(ctx, p)
	closeClient(cl)
	stopListening()

	s := summary.New(cfg.ClientName, st.BackendURL)
	local.Finish(s)
	s.Finalize()
	sc := summary.Scenario{Name: pr.Name, Kind: "probe", Verdict: s.Verdict, DurationMS: float64(time.Since(start).Milliseconds()), Failed: s.FailedInvariants()}
	var skip *skipError
	switch {
	case errors.As(runErr, &skip):
		sc.Verdict = summary.Skip
		sc.Detail = runErr.Error()
		sc.Failed = nil
	case runErr != nil:
		sc.Verdict = summary.Fail
		sc.Detail = runErr.Error()
		sc.Failed = append(sc.Failed, "probe")
	case len(sc.Failed) > 0:
		sc.Detail = "violated: " + join(sc.Failed)
	default:
		sc.Detail = pr.Provokes
	}
	if sc.Verdict == summary.Fail && cfg.LedgerDir != "" {
		if err := saveLedger(led, filepath.Join(cfg.LedgerDir, "ledger-"+pr.Name+".ndjson")); err != nil {
			sc.Detail += " (ledger not saved: " + err.Error() + ")"
		}
	}
	return Result{Probe: pr, Summary: s, Scenario: sc}, nil
}

func saveLedger(l *ledger.Ledger, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := l.WriteRedactedNDJSON(f); err != nil { // a report file: no live codes
		f.Close()
		return err
	}
	return f.Close()
}

// closeClient closes the client but never lets a stuck client hang the run.
func closeClient(cl client.Client) {
	done := make(chan struct{})
	go func() { _ = cl.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

func join(xs []string) string {
	var b bytes.Buffer
	for i, x := range xs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(x)
	}
	return b.String()
}
