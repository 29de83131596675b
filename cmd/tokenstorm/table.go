package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// verdictOf turns a finished summary into the command's outcome: exit 130
// when the run was interrupted, 1 when something failed.
func verdictOf(s *summary.Summary) error {
	switch s.Verdict {
	case summary.Pass:
		return nil
	case summary.Interrupted:
		return errInterrupted
	}
	return errFailed
}

// printVerdict writes the summary table a person reads at the end of a run.
func printVerdict(w io.Writer, s *summary.Summary, outDir string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INVARIANT\tVERDICT\tVIOLATIONS\tCHECKED\tNOTE")
	for _, n := range summary.InvariantNames {
		inv := s.Invariants[n]
		if inv == nil {
			continue
		}
		note := inv.Reason
		if len(inv.Examples) > 0 {
			note = firstLine(inv.Examples[0].Explanation)
			if inv.Examples[0].Scenario != "" {
				note = "[" + inv.Examples[0].Scenario + "] " + note
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", n, strings.ToUpper(inv.Verdict), inv.Violations, inv.Checked, clip(note, 110))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nrequests: %d issued, %d succeeded, %d failed, %d lost, %d late\n",
		s.Requests.Issued, s.Requests.Succeeded, s.Requests.Failed, s.Requests.Lost, s.Requests.Late)
	fmt.Fprintf(w, "refresh:  %d expiry episodes, %d refreshes, %d logins (%d first logins, %d retries), amplification %.2f\n",
		s.Refresh.ExpiryEpisodes, s.Refresh.Refreshes, s.Refresh.Logins, s.Refresh.FirstLogins, s.Refresh.Retries, s.Refresh.Amplification)
	fmt.Fprintf(w, "latency:  p50 %.1fms  p90 %.1fms  p99 %.1fms  max %.1fms\n", s.Latency.P50, s.Latency.P90, s.Latency.P99, s.Latency.Max)
	if st := s.Storm; st != nil && st.BackendLoginMS != nil && st.BackendRefreshMS != nil {
		// The backend under test's own figures under the storm (the tap's).
		l, r := st.BackendLoginMS, st.BackendRefreshMS
		fmt.Fprintf(w, "backend:  login p50 %.1fms p99 %.1fms (%d), refresh p50 %.1fms p99 %.1fms (%d) under the storm\n", l.P50, l.P99, l.Count, r.P50, r.P99, r.Count)
	}
	if s.ProtocolErrors != nil {
		fmt.Fprintf(w, "client protocol errors: %s — see the ledger's client log lines in report.html\n", s.ProtocolErrors)
	}
	if sd := s.StoppedDevices; sd != nil {
		fmt.Fprintf(w, "devices stopped by a limit: %s\n", clip(sd.String(3), 400))
	}
	if len(s.Scenarios) > 0 {
		kinds := []string{}
		count := map[string][3]int{} // scenarios, failed, skipped
		for _, sc := range s.Scenarios {
			c, seen := count[sc.Kind]
			if !seen {
				kinds = append(kinds, sc.Kind)
			}
			c[0]++
			switch sc.Verdict {
			case summary.Fail:
				c[1]++
			case summary.Skip:
				c[2]++
			}
			count[sc.Kind] = c
		}
		var parts []string
		for _, k := range kinds {
			p := fmt.Sprintf("%d %s (%d failed", count[k][0], plural(k, count[k][0]), count[k][1])
			if count[k][2] > 0 {
				p += fmt.Sprintf(", %d skipped", count[k][2])
			}
			parts = append(parts, p+")")
		}
		fmt.Fprintf(w, "ran:      %s\n", strings.Join(parts, ", "))
	}
	var failed []string
	for _, sc := range s.Scenarios {
		if sc.Verdict == summary.Fail {
			failed = append(failed, sc.Kind+" "+sc.Name)
		}
	}
	for _, t := range s.Thresholds {
		if t.Verdict == summary.Fail {
			failed = append(failed, fmt.Sprintf("threshold %s (actual %g)", t.Expr, t.Actual))
		}
	}
	if len(failed) > 0 {
		const show = 6
		more := ""
		if len(failed) > show {
			more = fmt.Sprintf("; … and %d more (see summary.md)", len(failed)-show)
			failed = failed[:show]
		}
		fmt.Fprintf(w, "failed:   %s%s\n", strings.Join(failed, "; "), more)
	}
	if s.Verdict == summary.Interrupted {
		skipped := 0
		for _, sc := range s.Scenarios {
			if sc.Verdict == summary.Skip && strings.Contains(sc.Detail, "interrupted") {
				skipped++
			}
		}
		fmt.Fprintf(w, "stopped:  interrupted before it finished: what ran is reported above; %d %s cut short or not run (skip)\n", skipped, plural("scenario", skipped))
	}
	fmt.Fprintf(w, "\nverdict: %s  (client %s, backend %s)\n", strings.ToUpper(s.Verdict), s.Client, s.Backend)
	if outDir != "" {
		fmt.Fprintf(w, "reports: %s/\n", strings.TrimSuffix(outDir, "/"))
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func plural(word string, n int) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
