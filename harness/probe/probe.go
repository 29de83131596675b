// Package probe is the built-in battery of short runs that provoke each
// failure of SPEC §1 against the embedded stack. Each probe starts a fresh
// stack, drives a client through one situation (expiry under load, a late
// 401, WeChat busy, …) and judges the ledger with the invariant checker.
package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/check"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/device"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/stack"
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
	http   *http.Client
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
	for _, o := range p.Burst(ctx, devs, 1, device.Request{Method: "GET", Path: "/api/profile"}) {
		if o.Err != nil || o.Status != 200 {
			return fmt.Errorf("warm-up request of %s failed: status %d, %v", o.Device, o.Status, o.Err)
		}
	}
	return nil
}

// Mark writes a named moment into the ledger (shown on the report's timeline).
func (p *P) Mark(what string) {
	p.Stack.Ledger.Append(ledger.Event{Source: ledger.SourceHarness, Kind: ledger.KindEpisodeMarker, Detail: p.name + ": " + what})
}

// ExpireAll expires every access token issued so far (the storm trigger).
func (p *P) ExpireAll(ctx context.Context) error {
	return p.admin(ctx, p.Stack.BackendURL+"/__admin/expire", map[string]any{"all": true})
}

// Fault adds a mock WeChat fault rule (JSON of docs/mockwechat.md).
func (p *P) Fault(ctx context.Context, rule map[string]any) error {
	return p.admin(ctx, p.Stack.WechatURL+"/__admin/faults", rule)
}

// Revoke revokes every refresh token family (refresh tokens become dead).
func (p *P) Revoke(ctx context.Context) error {
	return p.admin(ctx, p.Stack.BackendURL+"/__admin/revoke", map[string]any{"all": true})
}

func (p *P) admin(ctx context.Context, url string, body any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
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
		r, err := runOne(ctx, &cfg, pr)
		if err != nil {
			return out, fmt.Errorf("probe %s: %w", pr.Name, err)
		}
		if cfg.Progress != nil {
			mark := "ok  "
			if r.Scenario.Verdict == summary.Fail {
				mark = "FAIL"
			}
			fmt.Fprintf(cfg.Progress, "  probe %-26s %s %6.0f ms  %s\n", pr.Name, mark, r.Scenario.DurationMS, r.Scenario.Detail)
		}
		out = append(out, r)
	}
	return out, nil
}

func runOne(ctx context.Context, cfg *Config, pr Probe) (Result, error) {
	start := time.Now()
	clk := clock.NewShifted()
	led := ledger.New(ledger.Options{Clock: clk, Memory: true})
	defer led.Close()
	local := check.New(check.Options{Scenario: pr.Name})
	unsub := led.Subscribe(local.Observe)
	defer unsub()
	if cfg.Global != nil {
		cfg.Global.SetScenario(pr.Name)
		defer led.Subscribe(cfg.Global.Observe)()
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
	p := &P{cfg: cfg, name: pr.Name, Stack: st, Clock: clk, Client: cl,
		Driver: &device.Driver{Client: cl, Ledger: led, Deadline: cfg.Deadline, Prefix: pr.Name + "-"},
		http:   &http.Client{Timeout: 10 * time.Second}}

	runErr := pr.run(ctx, p)
	closeClient(cl)

	s := summary.New(cfg.ClientName, st.BackendURL)
	local.Finish(s)
	s.Finalize()
	sc := summary.Scenario{Name: pr.Name, Kind: "probe", Verdict: s.Verdict, DurationMS: float64(time.Since(start).Milliseconds()), Failed: s.FailedInvariants()}
	switch {
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
	if err := l.WriteNDJSON(f); err != nil {
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
