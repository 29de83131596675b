package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/tokenstorm/tokenstorm/harness/clients"
	"github.com/tokenstorm/tokenstorm/harness/storm"
	"github.com/tokenstorm/tokenstorm/harness/summary"
	"github.com/tokenstorm/tokenstorm/reports"
)

func cmdStorm(ctx context.Context, argv []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("storm", "FILE|NAME [flags]",
		"Run a refresh-storm load scenario: vegeta's attacker paces the hits, the client under test is\n"+
			"its transport, and each hit is one logical request of one simulated device. Live progress goes\n"+
			"to stderr; results.bin (vegeta's format: vegeta report/plot read it), summary.json and the\n"+
			"other reports go to --out. FILE is a scenario YAML file, or NAME one of the shipped scenarios\n"+
			"(--list). The format is in docs/scenarios.md. Exit 0 when every threshold and invariant held,\n"+
			"1 when one failed, 2 on a usage or scenario error (the message names file, line and field).\n"+
			"Ctrl-C stops the attack and still writes what was measured.",
		stdout,
		"tokenstorm storm synchronized-expiry",
		"tokenstorm storm scenarios/synchronized-expiry.yaml --client mutant:storm",
		"tokenstorm storm steady --rate 2000/s --duration 30s --devices 1000 --out /tmp/steady",
		"tokenstorm storm my-scenario.yaml --backend http://127.0.0.1:8080 --wechat-addr 127.0.0.1:9400 --style body-code",
		"vegeta report tokenstorm-report/results.bin   # or, in this module: go run github.com/tsenart/vegeta/v12 report …")
	c := addCommonFlags(fs)
	duration := fs.Duration("duration", 0, "override the scenario's duration (e.g. 30s)")
	rate := fs.String("rate", "", "override the rate with a constant one: 500/s, 50/100ms, or max")
	devices := fs.Int("devices", 0, "override the number of simulated devices")
	list := fs.Bool("list", false, "list the shipped scenarios and exit")
	accessTTL := fs.Duration("access-ttl", 0, "with --backend and no admin API: the backend's access-token lifetime when its login answer has no expires_in (expire_all then happens by time)")
	wechatAddr := fs.String("wechat-addr", "", "listen address of mock WeChat (default a free port; with --backend 127.0.0.1:9400: configure your backend to call jscode2session there)")
	pos, err := parse(fs, argv)
	if err != nil {
		return err
	}
	if *list {
		for _, n := range storm.Names() {
			sc, err := storm.Builtin(n)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%-22s %s\n", n, sc.Description)
		}
		return nil
	}
	if len(pos) != 1 {
		return usagef("storm takes one scenario file or name, got %d (shipped: %s; see tokenstorm storm --help)",
			len(pos), strings.Join(storm.Names(), ", "))
	}
	sc, err := storm.Load(pos[0])
	if err != nil {
		return usagef("%v", err)
	}
	if err := checkBackend(ctx, c.backend); err != nil {
		return err
	}
	if err := sc.Override(*duration, *rate, *devices); err != nil {
		return usagef("%v", err)
	}
	factory, err := clients.Parse(ctx, c.client)
	if err != nil {
		return usagef("%v", err)
	}
	if *wechatAddr == "" {
		*wechatAddr = conformWechatAddr(c.backend)
	}

	s, err := storm.Run(ctx, sc, storm.Options{
		NewClient:  factory,
		ClientName: c.client,
		BackendURL: c.backend,
		AccessTTL:  *accessTTL,
		Style:      c.style,
		WechatAddr: *wechatAddr,
		OutDir:     c.out,
		Progress:   stderr,
	})
	if err != nil {
		return err
	}
	if err := reports.WriteAll(c.out, s); err != nil {
		return fmt.Errorf("writing reports to %s: %w", c.out, err)
	}
	fmt.Fprintln(stdout)
	printStorm(stdout, s)
	printVerdict(stdout, s, c.out)
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	if s.Verdict != summary.Pass {
		return errFailed
	}
	return nil
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
