package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/backendcheck"
	"github.com/tokenstorm/tokenstorm/harness/check"
	"github.com/tokenstorm/tokenstorm/harness/clients"
	"github.com/tokenstorm/tokenstorm/harness/conform"
	"github.com/tokenstorm/tokenstorm/harness/probe"
	"github.com/tokenstorm/tokenstorm/harness/stack"
	"github.com/tokenstorm/tokenstorm/harness/storm"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/summary"
	"github.com/tokenstorm/tokenstorm/reports"
)

func cmdRun(ctx context.Context, argv []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("run", "[flags]",
		"The main job: against the embedded stack (or --backend), with the client under test, run the\n"+
			"probe battery (every failure of transparent token refresh, provoked on purpose), the Gherkin\n"+
			"conformance suite and a short default storm; print one verdict table and write the reports\n"+
			"(summary.json, junit.xml, summary.md, report.html, results.bin, and the ledger of every failed\n"+
			"probe) to --out. Exit 0 when every invariant held, 1 when one failed, 2 on a usage error,\n"+
			"130 when interrupted (Ctrl-C, SIGTERM: what ran is reported, the rest is skip).",
		stdout,
		"tokenstorm run",
		"tokenstorm run --client mutant:storm --out /tmp/storm-report",
		"tokenstorm run --client exec:'node examples/exec/node/client.mjs' --devices 50",
		"tokenstorm run --style body-code",
		"tokenstorm run --backend http://127.0.0.1:8080 --style my-style.yaml --wechat-addr 127.0.0.1:9400")
	c := addCommonFlags(fs)
	devices := fs.Int("devices", 20, "devices in the multi-device probes")
	conc := fs.Int("concurrency", 8, "requests in flight per device")
	probes := fs.String("probes", "", "comma-separated probe names to run (default: all; see --list-probes)")
	list := fs.Bool("list-probes", false, "list the probes and exit")
	deadline := fs.Duration("deadline", 3*time.Second, "per-request deadline: a request settled after it is late; one not settled although the client had every answer it needed is lost (docs/invariants.md)")
	noConform := fs.Bool("no-conform", false, "skip the Gherkin conformance suite (features/) after the probes; --probes skips it too")
	noStorm := fs.Bool("no-storm", false, "skip the short default storm (synchronized-expiry) after the probes; --probes skips it too")
	wechatAddr := fs.String("wechat-addr", "", "listen address of mock WeChat (default a free port; with --backend 127.0.0.1:9400: configure your backend to call jscode2session there)")
	expiryWait := fs.Duration("expiry-wait", backendcheck.DefaultMaxWait, "backend-signals probe: longest real-time wait for an access token of a --backend to expire by its TTL (configure a short TTL)")
	accessTTL := fs.Duration("access-ttl", 0, "with --backend: the access-token lifetime of a backend whose login answer has no expires_in (waited out to see an expired token)")
	pos, err := parse(fs, argv)
	if err != nil {
		return err
	}
	if *list {
		for _, p := range probe.All() {
			fmt.Fprintf(stdout, "%-24s %s\n", p.Name, p.Provokes)
		}
		return nil
	}
	if len(pos) > 0 {
		return usagef("run takes no arguments, got %q", pos)
	}
	if *devices < 1 || *conc < 1 {
		return usagef("--devices and --concurrency must be at least 1")
	}
	if *deadline <= 0 {
		return usagef("--deadline %s: must be positive", *deadline)
	}
	var names []string
	if *probes != "" {
		names = strings.Split(*probes, ",")
	}
	battery, err := probe.Find(names)
	if err != nil {
		return usagef("--probes: %v (see tokenstorm run --list-probes)", err)
	}
	factory, err := clients.Parse(ctx, c.client)
	if err != nil {
		return usagef("%v", err)
	}
	if _, err := style.LoadContext(ctx, c.style); err != nil {
		return badInput(ctx, "--style: %v", err)
	}
	if *accessTTL < 0 {
		return usagef("--access-ttl must not be negative")
	}
	if err := checkBackend(ctx, c.backend); err != nil {
		return err
	}
	if *wechatAddr == "" {
		*wechatAddr = conformWechatAddr(c.backend)
	}

	start := time.Now()
	s := summary.New(c.client, backendName(c.backend))
	s.Style = c.style
	global := check.New(check.Options{ExternalBackend: c.backend != "", BackendInLedger: c.backend == "", Start: start}) // the time axis starts with the run
	fmt.Fprintf(stderr, "tokenstorm run: client %s, %d probes\n", c.client, len(battery))
	results, err := probe.Run(ctx, probe.Config{
		NewClient:     factory,
		ClientName:    c.client,
		Devices:       *devices,
		Concurrency:   *conc,
		Deadline:      *deadline,
		Stack:         stack.Options{BackendURL: c.backend, Style: c.style, WechatAddr: *wechatAddr, AdminToken: c.adminToken},
		Global:        global,
		Progress:      stderr,
		LedgerDir:     c.out,
		MaxExpiryWait: *expiryWait,
		AccessTTL:     *accessTTL,
	}, battery)
	if err != nil && ctx.Err() == nil {
		return err
	}
	for _, r := range results {
		s.Scenarios = append(s.Scenarios, r.Scenario)
	}
	for _, p := range battery[len(results):] { // interrupted before these
		s.Scenarios = append(s.Scenarios, notRun(p.Name, "probe"))
	}
	conformWanted, stormWanted := *probes == "" && !*noConform, *probes == "" && !*noStorm
	if conformWanted && ctx.Err() != nil {
		s.Scenarios = append(s.Scenarios, notRun("conformance suite (features/)", "feature"))
	}
	if conformWanted && ctx.Err() == nil {
		// The conformance suite feeds the same global checker from its client
		// scenarios; each Gherkin scenario joins the table as a "feature".
		fmt.Fprintf(stderr, "tokenstorm run: conformance suite (features/)\n")
		cres, err := conform.Run(ctx, conform.Options{NewClient: factory, ClientName: c.client, BackendURL: c.backend,
			WechatAddr: *wechatAddr, AdminToken: c.adminToken, Style: c.style, Global: global, Progress: stderr})
		if cres == nil {
			return err
		}
		s.Scenarios = append(s.Scenarios, cres.Scenarios...)
	}
	if stormWanted && ctx.Err() != nil {
		s.Scenarios = append(s.Scenarios, notRun(storm.Default().Name, "storm"))
	}
	if stormWanted && ctx.Err() == nil {
		// The default storm feeds the same global checker, so its invariants
		// merge with the probes'; its verdict and thresholds join the table.
		ss, err := storm.Run(ctx, storm.Default(), storm.Options{NewClient: factory, ClientName: c.client,
			BackendURL: c.backend, Style: c.style, WechatAddr: *wechatAddr, AdminToken: c.adminToken, OutDir: c.out, Progress: stderr, Global: global,
			AccessTTL: *accessTTL})
		if err != nil {
			return err
		}
		s.Scenarios = append(s.Scenarios, ss.Scenarios...)
		s.Thresholds = append(s.Thresholds, ss.Thresholds...)
		s.Storm = ss.Storm
		s.Notes = append(s.Notes, ss.Notes...)
	}
	if c.backend != "" && ctx.Err() == nil {
		profileAndGate(ctx, c, *wechatAddr, *accessTTL, s, stderr)
		if s.BackendProfile != nil && s.Storm != nil {
			// The benchmark: the backend's own latency under the storm, as
			// the tap in front of it measured it.
			s.BackendProfile.StormLoginMS, s.BackendProfile.StormRefreshMS = s.Storm.BackendLoginMS, s.Storm.BackendRefreshMS
		}
	}
	global.Finish(s)
	s.DurationMS = float64(time.Since(start).Milliseconds())
	s.StartedAt = start
	if ctx.Err() != nil {
		s.MarkInterrupted(fmt.Sprintf("stopped after %s; what did not run is skip", time.Since(start).Round(time.Millisecond)))
	}
	s.Finalize()
	if err := reports.WriteAll(c.out, s); err != nil {
		return fmt.Errorf("writing reports to %s: %w", c.out, err)
	}
	fmt.Fprintln(stdout)
	printVerdict(stdout, s, c.out)
	return verdictOf(s)
}

// notRun is the scenario line of a part the interrupt kept from running.
func notRun(name, kind string) summary.Scenario {
	return summary.Scenario{Name: name, Kind: kind, Verdict: summary.Skip, Detail: "not run: the run was interrupted"}
}

// common holds the flags run, conform and storm share.
type common struct {
	client, backend, style, out, adminToken string
}

func addCommonFlags(fs interface {
	StringVar(p *string, name, value, usage string)
}) *common {
	c := &common{}
	fs.StringVar(&c.client, "client", "ref", "client under test: ref | mutant:NAME | exec:'CMD' | js:PATH (see tokenstorm clients)")
	fs.StringVar(&c.backend, "backend", "", "URL of a backend under test (default: the embedded reference backend)")
	fs.StringVar(&c.style, "style", "", "backend style: built-in name or YAML file (default bearer)")
	fs.StringVar(&c.out, "out", "tokenstorm-report", "directory for summary.json, junit.xml, summary.md, report.html")
	fs.StringVar(&c.adminToken, "admin-token", os.Getenv("TOKENSTORM_ADMIN_TOKEN"), "guard /__admin/… of the servers this run starts with Authorization: Bearer TOKEN (needed for a non-loopback --wechat-addr; default $TOKENSTORM_ADMIN_TOKEN)")
	return c
}

func backendName(url string) string {
	if url == "" {
		return "embedded"
	}
	return url
}

// profileAndGate measures the backend under test through its public routes
// (summary.json backend_profile) and adds the scenario of its login checks,
// backend-login, which gates the run like any probe (docs/ci.md): a 5xx or
// a success where the style's invalid_code / upstream_unavailable belongs.
func profileAndGate(ctx context.Context, c *common, wechatAddr string, accessTTL time.Duration, s *summary.Summary, stderr io.Writer) {
	s.BackendProfile = profileBackend(ctx, c.backend, c.style, wechatAddr, c.adminToken, accessTTL, s)
	if s.BackendProfile == nil {
		return
	}
	lsc := backendcheck.LoginScenario(s.BackendProfile)
	s.Scenarios = append(s.Scenarios, lsc)
	fmt.Fprintf(stderr, "  probe %-26s %s  %s\n", lsc.Name, lsc.Verdict, lsc.Detail)
}

// profileBackend measures the backend under test through its public routes
// (summary.json backend_profile); a failure to measure is a note, not a
// verdict.
func profileBackend(ctx context.Context, backendURL, styleName, wechatAddr, adminToken string, accessTTL time.Duration, s *summary.Summary) *summary.BackendProfile {
	sty, err := style.LoadContext(ctx, styleName)
	if err != nil {
		return nil
	}
	st, err := stack.Start(ctx, stack.Options{BackendURL: backendURL, Style: styleName, WechatAddr: wechatAddr, AdminToken: adminToken})
	if err != nil {
		s.Notes = append(s.Notes, "backend profile not measured: "+err.Error())
		return nil
	}
	defer st.Close()
	p, err := backendcheck.Profile(ctx, backendcheck.Config{BackendURL: st.BackendURL, WechatURL: st.WechatURL, AppID: st.AppID,
		Style: sty, AccessTTL: accessTTL, AdminToken: adminToken})
	if err != nil {
		s.Notes = append(s.Notes, "backend profile: "+err.Error())
	}
	return p
}
