package reports

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// namedInvariant pairs an invariant with its name, in report order.
type namedInvariant struct {
	Name string
	*summary.Invariant
}

// orderedInvariants returns the invariants in SPEC order, then any other
// names (a newer checker, a custom invariant) sorted, so every report lists
// them identically. Nil entries are shown as skipped rather than dropped.
func orderedInvariants(s *summary.Summary) []namedInvariant {
	seen := map[string]bool{}
	var out []namedInvariant
	add := func(name string) {
		inv, ok := s.Invariants[name]
		if !ok || seen[name] {
			return
		}
		seen[name] = true
		if inv == nil {
			inv = &summary.Invariant{Verdict: summary.Skip, Reason: "no data"}
		}
		out = append(out, namedInvariant{Name: name, Invariant: inv})
	}
	for _, n := range summary.InvariantNames {
		add(n)
	}
	var extra []string
	for n := range s.Invariants {
		if !seen[n] {
			extra = append(extra, n)
		}
	}
	sort.Strings(extra)
	for _, n := range extra {
		add(n)
	}
	return out
}

// overallVerdict is s.Verdict, or what Finalize would say when the producer
// forgot to call it; reports must never show an empty verdict.
func overallVerdict(s *summary.Summary) string {
	if s.Verdict != "" {
		return s.Verdict
	}
	for _, inv := range s.Invariants {
		if inv != nil && inv.Verdict == summary.Fail {
			return summary.Fail
		}
	}
	for _, sc := range s.Scenarios {
		if sc.Verdict == summary.Fail {
			return summary.Fail
		}
	}
	for _, t := range s.Thresholds {
		if t.Verdict == summary.Fail {
			return summary.Fail
		}
	}
	return summary.Pass
}

// verdictLabel is the text marker used in every report: upper case so it
// stands out without colour or emoji (screen readers, plain-text CI logs).
func verdictLabel(v string) string {
	switch v {
	case summary.Pass:
		return "PASS"
	case summary.Fail:
		return "FAIL"
	case summary.Skip:
		return "SKIP"
	case "":
		return "UNKNOWN"
	}
	return strings.ToUpper(v)
}

// pickedViolation is one violation chosen for display.
type pickedViolation struct {
	Invariant string
	summary.Violation
}

// pickViolations chooses at most limit violation examples, taking them
// round-robin across failed invariants so one invariant with ten thousand
// examples cannot hide the others, and returns them grouped in report
// order. total is the number of violations reported by the checker (which
// may exceed the examples it kept).
func pickViolations(s *summary.Summary, limit int) (picked []pickedViolation, total int) {
	invs := orderedInvariants(s)
	quota := make([]int, len(invs))
	for _, inv := range invs {
		total += max(inv.Violations, len(inv.Examples))
	}
	for left := limit; left > 0; {
		progressed := false
		for i, inv := range invs {
			if left > 0 && quota[i] < len(inv.Examples) {
				quota[i]++
				left--
				progressed = true
			}
		}
		if !progressed {
			break
		}
	}
	for i, inv := range invs {
		for _, v := range inv.Examples[:quota[i]] {
			name := v.Invariant
			if name == "" {
				name = inv.Name
			}
			picked = append(picked, pickedViolation{Invariant: name, Violation: v})
		}
	}
	return picked, total
}

// relTime renders t relative to the run start ("+20.004s"), which is what a
// reader correlates with the charts; absolute time only when there is no
// usable start.
func relTime(start, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	if start.IsZero() || t.Before(start.Add(-time.Hour)) {
		return t.UTC().Format(time.RFC3339Nano)
	}
	d := t.Sub(start)
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	return fmt.Sprintf("%s%.3fs", sign, d.Seconds())
}

// evidenceLine renders one ledger event as a single key=value line, for
// plain-text reports (JUnit failure bodies, Markdown code blocks). Empty
// fields are omitted so lines stay short.
func evidenceLine(start time.Time, e ledger.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %s %s/%s", e.Seq, relTime(start, e.Time), e.Source, e.Kind)
	kv := func(k, v string) {
		if v != "" {
			b.WriteString(" " + k + "=" + oneLine(v))
		}
	}
	kv("device", e.Device)
	kv("subject", e.Subject)
	kv("rid", e.RID)
	if e.Attempt != 0 {
		kv("attempt", strconv.Itoa(e.Attempt))
	}
	kv("token", e.Token)
	kv("family", e.Family)
	if e.Method != "" || e.Route != "" {
		kv("req", strings.TrimSpace(e.Method+" "+e.Route))
	}
	if e.Status != 0 {
		kv("status", strconv.Itoa(e.Status))
	}
	kv("outcome", e.Outcome)
	if e.Errcode != 0 {
		kv("errcode", strconv.Itoa(e.Errcode))
	}
	kv("code", e.Code)
	kv("body", e.BodyHash)
	if !e.Expires.IsZero() {
		kv("expires", relTime(start, e.Expires))
	}
	if e.LatencyNS > 0 {
		kv("waited", strings.ReplaceAll(fmtMS(float64(e.LatencyNS)/1e6), " ", ""))
	}
	if e.Detail != "" {
		b.WriteString(" detail=" + strconv.Quote(e.Detail))
	}
	return b.String()
}

// oneLine keeps a user-controlled value on one line of a text report.
func oneLine(s string) string {
	if strings.ContainsAny(s, " \t\r\n\"") {
		return strconv.Quote(s)
	}
	return s
}

// violationHeadline is the one-line description of a violation used as a
// summary line: who, when, what.
func violationHeadline(start time.Time, v pickedViolation) string {
	parts := []string{v.Invariant}
	if v.Device != "" {
		parts = append(parts, "device "+v.Device)
	}
	if v.Scenario != "" {
		parts = append(parts, "scenario "+v.Scenario)
	}
	if at := relTime(start, v.At); at != "" {
		parts = append(parts, "at "+at)
	}
	return strings.Join(parts, " · ")
}

// fmtMS formats milliseconds with precision that suits the magnitude.
func fmtMS(ms float64) string {
	switch {
	case ms == 0:
		return "0 ms"
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 2, 64) + " ms"
	case ms < 100:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	case ms < 10000:
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	}
	return fmtDuration(ms)
}

// fmtDuration formats a run or scenario duration given in milliseconds.
func fmtDuration(ms float64) string {
	d := time.Duration(ms * float64(time.Millisecond))
	switch {
	case d < time.Second:
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	case d < 2*time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	}
	return d.Round(time.Second).String()
}

// fmtFloat prints a counter or ratio without needless decimals.
// fmtRatio always shows two decimals: an amplification of 1 reads "1.00"
// in every report, as on stdout, so 1.00 and 1.004 are not told apart by
// how they are printed.
func fmtRatio(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

func fmtFloat(f float64) string {
	if f == float64(int64(f)) {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'f', 2, 64)
}
