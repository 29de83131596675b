package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/clients"
	"github.com/tokenstorm/tokenstorm/harness/storm"
	"github.com/tokenstorm/tokenstorm/harness/summary"
	"github.com/tokenstorm/tokenstorm/reports"
)

// stormArgs is a parsed storm command line.
type stormArgs struct {
	c          *common
	scenario   string // FILE or NAME; "" with --list
	duration   time.Duration
	rate       string
	devices    int
	list       bool
	shard      storm.Shard
	wechatURL  string
	wechatAddr string
	requests   uint64
	accessTTL  time.Duration
}

// parseStorm parses and checks a storm command line without loading the
// scenario or running anything (the Kubernetes manifests' tests use it).
func parseStorm(argv []string, stdout io.Writer) (*stormArgs, error) {
	fs := newFlags("storm", "FILE|NAME [flags]",
		"Run a refresh-storm load scenario: vegeta's attacker paces the hits, the client under test is\n"+
			"its transport, and each hit is one logical request of one simulated device. Live progress goes\n"+
			"to stderr; results.bin (vegeta's format: vegeta report/plot read it), summary.json and the\n"+
			"other reports go to --out. FILE is a scenario YAML file, or NAME one of the shipped scenarios\n"+
			"(--list). The format is in docs/scenarios.md. Exit 0 when every threshold and invariant held,\n"+
			"1 when one failed, 2 on a usage or scenario error (the message names file, line and field).\n"+
			"Ctrl-C stops the attack and still writes what was measured: verdict \"interrupted\", exit 130.",
		stdout,
		"tokenstorm storm synchronized-expiry",
		"tokenstorm storm scenarios/synchronized-expiry.yaml --client mutant:storm",
		"tokenstorm storm steady --rate 2000/s --duration 30s --devices 1000 --out /tmp/steady",
		"tokenstorm storm my-scenario.yaml --backend http://127.0.0.1:8080 --wechat-addr 127.0.0.1:9400 --style body-code",
		"tokenstorm storm steady --shard 0/3 --out /data/shard-0   # then: tokenstorm merge /data/shard-* --out /data/merged",
		"vegeta report tokenstorm-report/results.bin   # or, in this module: go run github.com/tsenart/vegeta/v12 report …")
	c := addCommonFlags(fs)
	duration := fs.Duration("duration", 0, "override the scenario's duration (e.g. 30s)")
	rate := fs.String("rate", "", "override the rate with a constant one: 500/s, 50/100ms, or max")
	devices := fs.Int("devices", 0, "override the number of simulated devices")
	list := fs.Bool("list", false, "list the shipped scenarios and exit")
	shard := fs.String("shard", "", "run shard I/N of the scenario: devices I, I+N, I+2N, … (from 0) at their share of the rate; merge the shards' --out directories with tokenstorm merge")
	wechatURL := fs.String("wechat-url", "", "with --backend: use a shared mock WeChat (the URL a `tokenstorm serve` prints) instead of starting one; what shards of one backend under test share")
	requests := fs.Uint64("requests", 0, "end the attack after this many requests of the whole fleet (a shard sends its share), even before --duration")
	accessTTL := fs.Duration("access-ttl", 0, "with --backend and no admin API: the backend's access-token lifetime when its login answer has no expires_in (expire_all then happens by time)")
	wechatAddr := fs.String("wechat-addr", "", "listen address of mock WeChat (default a free port; with --backend 127.0.0.1:9400: configure your backend to call jscode2session there)")
	pos, err := parse(fs, argv)
	if err != nil {
		return nil, err
	}
	a := &stormArgs{c: c, duration: *duration, rate: *rate, devices: *devices, list: *list,
		wechatURL: *wechatURL, wechatAddr: *wechatAddr, requests: *requests, accessTTL: *accessTTL}
	if *list {
		return a, nil
	}
	if len(pos) != 1 {
		return nil, usagef("storm takes one scenario file or name, got %d (shipped: %s; see tokenstorm storm --help)",
			len(pos), strings.Join(storm.Names(), ", "))
	}
	a.scenario = pos[0]
	// 0 is how Override spells "keep the file's value"; typed explicitly it
	// is a mistake, not a request for the default.
	if isSet(fs, "devices") && *devices <= 0 {
		return nil, usagef("--devices %d: must be at least 1 (leave the flag out to keep the scenario's devices)", *devices)
	}
	if isSet(fs, "duration") && *duration <= 0 {
		return nil, usagef("--duration %s: must be positive (leave the flag out to keep the scenario's duration)", *duration)
	}
	if *shard != "" {
		if a.shard, err = storm.ParseShard(*shard); err != nil {
			return nil, usagef("--shard: %v", err)
		}
	}
	if *wechatURL != "" {
		if err := checkURL(*wechatURL); err != nil {
			return nil, usagef("--wechat-url: %v", err)
		}
		if *wechatAddr != "" {
			return nil, usagef("--wechat-url and --wechat-addr exclude each other: a shared mock WeChat is already listening")
		}
		if c.backend == "" {
			return nil, usagef("--wechat-url goes with --backend: shards of one backend under test share one mock WeChat; without --backend each shard runs its own embedded stack")
		}
	}
	if a.wechatAddr == "" && a.wechatURL == "" {
		a.wechatAddr = conformWechatAddr(c.backend)
	}
	return a, nil
}

func cmdStorm(ctx context.Context, argv []string, _ io.Reader, stdout, stderr io.Writer) error {
	a, err := parseStorm(argv, stdout)
	if err != nil {
		return err
	}
	c := a.c
	if a.list {
		for _, n := range storm.Names() {
			sc, err := storm.Builtin(n)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%-22s %s\n", n, sc.Description)
		}
		return nil
	}
	sc, err := storm.LoadContext(ctx, a.scenario)
	if err != nil {
		return badInput(ctx, "%v", err)
	}
	if err := checkBackend(ctx, c.backend); err != nil {
		return err
	}
	if err := sc.Override(a.duration, a.rate, a.devices); err != nil {
		return usagef("%v", err)
	}
	factory, err := clients.Parse(ctx, c.client)
	if err != nil {
		return usagef("%v", err)
	}
	s, err := storm.Run(ctx, sc, storm.Options{
		NewClient:   factory,
		ClientName:  c.client,
		BackendURL:  c.backend,
		Style:       c.style,
		WechatAddr:  a.wechatAddr,
		AdminToken:  c.adminToken,
		AccessTTL:   a.accessTTL,
		OutDir:      c.out,
		Progress:    stderr,
		Shard:       a.shard,
		WechatURL:   a.wechatURL,
		MaxRequests: a.requests,
		// shard.json last: a merge waiting for it finds the reports written.
		ShardFile: true,
	})
	if err != nil {
		return err
	}
	if ctx.Err() != nil && s.Verdict != summary.Interrupted { // stopped before the attack began
		s.MarkInterrupted(fmt.Sprintf("storm %s stopped before its attack began", sc.Name))
	}
	if err := reports.WriteAll(c.out, s); err != nil {
		return fmt.Errorf("writing reports to %s: %w", c.out, err)
	}
	if err := storm.CommitShardFile(c.out); err != nil {
		return fmt.Errorf("writing %s to %s: %w", storm.ShardFile, c.out, err)
	}
	fmt.Fprintln(stdout)
	printStorm(stdout, s)
	printVerdict(stdout, s, c.out)
	return verdictOf(s)
}

// printStorm prints the thresholds and the load figures above the verdict.
func printStorm(w io.Writer, s *summary.Summary) {
	if len(s.Thresholds) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "THRESHOLD\tVERDICT\tACTUAL")
		for _, t := range s.Thresholds {
			fmt.Fprintf(tw, "%s\t%s\t%g\n", t.Expr, strings.ToUpper(t.Verdict), t.Actual)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	if st := s.Storm; st != nil {
		fmt.Fprintf(w, "storm:    %s, %d devices, %s for %s: %.0f req/s, send lag p99 %.1fms max %.1fms, peak RSS %.0f MB\n",
			st.Scenario, st.Devices, st.Rate, st.Duration, st.ThroughputRPS, st.SendLagP99MS, st.SendLagMaxMS, st.PeakRSSMB)
	}
	for _, n := range s.Notes {
		fmt.Fprintf(w, "note:     %s\n", n)
	}
}

// checkURL accepts an absolute http(s) URL with a host.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL with a host", raw)
	}
	return nil
}
