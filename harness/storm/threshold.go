package storm

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// Threshold is one gate of a scenario: `metric op value` (e.g.
// "latency.p99 < 250ms") or `invariants: all` / `invariants: a, b`.
type Threshold struct {
	Metric     string   // a key of metrics; "" for an invariants gate
	Op         string   // <, <=, >, >=, ==, !=
	Value      float64  // in the metric's unit (ms for durations)
	Invariants []string // invariants gate: the names that must not fail
	Line       int      // in the scenario file
}

type unit int

const (
	unitCount unit = iota
	unitRatio
	unitMS
	unitRPS
)

type metric struct {
	unit unit
	get  func(s *summary.Summary) float64
	help string
}

// metrics are the names a threshold can gate on: the public summary.json keys
// of SPEC §9 plus the storm's own measurements.
var metrics = map[string]metric{
	"requests.issued":         {unitCount, func(s *summary.Summary) float64 { return float64(s.Requests.Issued) }, "logical requests issued"},
	"requests.succeeded":      {unitCount, func(s *summary.Summary) float64 { return float64(s.Requests.Succeeded) }, "requests answered with a success"},
	"requests.failed":         {unitCount, func(s *summary.Summary) float64 { return float64(s.Requests.Failed) }, "requests answered with an error or an error status"},
	"requests.lost":           {unitCount, func(s *summary.Summary) float64 { return float64(s.Requests.Lost) }, "requests the client did not settle although it had every answer it needed (docs/invariants.md)"},
	"requests.late":           {unitCount, func(s *summary.Summary) float64 { return float64(s.Requests.Late) }, "requests settled after their deadline because the backend or the machine was slow"},
	"requests.success_ratio":  {unitRatio, successRatio, "succeeded ÷ issued, 0..1"},
	"refresh.expiry_episodes": {unitCount, func(s *summary.Summary) float64 { return float64(s.Refresh.ExpiryEpisodes) }, "expiry episodes over all devices"},
	"refresh.refreshes":       {unitCount, func(s *summary.Summary) float64 { return float64(s.Refresh.Refreshes) }, "refresh calls that reached the backend"},
	"refresh.logins":          {unitCount, func(s *summary.Summary) float64 { return float64(s.Refresh.Logins) }, "login calls that reached the backend"},
	"refresh.amplification":   {unitRatio, func(s *summary.Summary) float64 { return s.Refresh.Amplification }, "(refreshes + logins − first logins − retries) ÷ expiry episodes; 1 is ideal"},
	"refresh.first_logins":    {unitCount, func(s *summary.Summary) float64 { return float64(s.Refresh.FirstLogins) }, "each device's first login (no episode)"},
	"refresh.retries":         {unitCount, func(s *summary.Summary) float64 { return float64(s.Refresh.Retries) }, "token calls after one that failed as the client saw it"},
	"latency.p50":             {unitMS, func(s *summary.Summary) float64 { return s.Latency.P50 }, "median latency of logical requests"},
	"latency.p90":             {unitMS, func(s *summary.Summary) float64 { return s.Latency.P90 }, "90th percentile latency"},
	"latency.p99":             {unitMS, func(s *summary.Summary) float64 { return s.Latency.P99 }, "99th percentile latency"},
	"latency.max":             {unitMS, func(s *summary.Summary) float64 { return s.Latency.Max }, "slowest logical request"},
	"storm.throughput":        {unitRPS, stormGet(func(st *summary.Storm) float64 { return st.ThroughputRPS }), "settled requests per second"},
	"storm.send_lag.p99":      {unitMS, stormGet(func(st *summary.Storm) float64 { return st.SendLagP99MS }), "99th percentile of actual send − scheduled send"},
	"storm.send_lag.max":      {unitMS, stormGet(func(st *summary.Storm) float64 { return st.SendLagMaxMS }), "largest send lag"},
}

func successRatio(s *summary.Summary) float64 {
	if s.Requests.Issued == 0 {
		return 0
	}
	return float64(s.Requests.Succeeded) / float64(s.Requests.Issued)
}

func stormGet(f func(*summary.Storm) float64) func(*summary.Summary) float64 {
	return func(s *summary.Summary) float64 {
		if s.Storm == nil {
			return 0
		}
		return f(s.Storm)
	}
}

func init() {
	// protocol_errors.total and one metric per kind, so a scenario can gate
	// on an exec client's garbage output (protocol_errors.total == 0).
	metrics["protocol_errors.total"] = metric{unitCount, func(s *summary.Summary) float64 { return float64(s.ProtocolErrorCount("")) },
		"protocol errors of the client under test (exec: garbage, oversized or duplicate lines, ...)"}
	metrics["stopped_devices.total"] = metric{unitCount, func(s *summary.Summary) float64 { return float64(s.StoppedCount()) },
		"devices whose client runtime was stopped at a limit (JS: a turn past its time or memory limit)"}
	for _, k := range ledger.ProtocolKinds {
		metrics["protocol_errors."+k] = metric{unitCount, func(s *summary.Summary) float64 { return float64(s.ProtocolErrorCount(k)) },
			"protocol errors of kind " + k}
	}
}

// MetricNames lists the metrics a threshold may use, sorted.
func MetricNames() []string {
	out := make([]string, 0, len(metrics)+1)
	for k := range metrics {
		out = append(out, k)
	}
	out = append(out, "invariants.<name>.violations")
	sort.Strings(out)
	return out
}

// MetricHelp describes a metric for docs and --help.
func MetricHelp(name string) string { return metrics[name].help }

var ops = []string{"<=", ">=", "==", "!=", "<", ">"} // longest first

// ParseThreshold reads one threshold expression.
func ParseThreshold(s string) (Threshold, error) {
	s = strings.TrimSpace(s)
	if name, rest, ok := strings.Cut(s, ":"); ok && strings.TrimSpace(name) == "invariants" {
		return parseInvariantGate(rest)
	}
	var t Threshold
	i, op := -1, ""
	for _, o := range ops {
		if j := strings.Index(s, o); j >= 0 && (i < 0 || j < i) {
			i, op = j, o
		}
	}
	if i < 0 {
		return t, fmt.Errorf("want `metric op value` (e.g. latency.p99 < 250ms) or `invariants: all`, got %q", clip(s))
	}
	t.Metric = strings.TrimSpace(s[:i])
	t.Op = op
	val := strings.TrimSpace(s[i+len(op):])
	m, ok := metricOf(t.Metric)
	if !ok {
		return t, fmt.Errorf("unknown metric %q (want one of %s)", clip(t.Metric), strings.Join(MetricNames(), ", "))
	}
	if val == "" {
		return t, fmt.Errorf("%s %s: missing the value to compare with", t.Metric, op)
	}
	v, err := parseValue(m.unit, val)
	if err != nil {
		return t, fmt.Errorf("%s: %v", t.Metric, err)
	}
	t.Value = v
	return t, nil
}

func parseInvariantGate(rest string) (Threshold, error) {
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return Threshold{}, fmt.Errorf("invariants: want all or a comma-separated list of %s", strings.Join(summary.InvariantNames, ", "))
	}
	if rest == "all" {
		return Threshold{Invariants: append([]string(nil), summary.InvariantNames...)}, nil
	}
	var names []string
	for _, n := range strings.Split(rest, ",") {
		n = strings.TrimSpace(n)
		if !contains(summary.InvariantNames, n) {
			return Threshold{}, fmt.Errorf("invariants: unknown invariant %q (want all or some of %s)", clip(n), strings.Join(summary.InvariantNames, ", "))
		}
		names = append(names, n)
	}
	return Threshold{Invariants: names}, nil
}

// metricOf resolves a metric name, including invariants.<name>.violations.
func metricOf(name string) (metric, bool) {
	if m, ok := metrics[name]; ok {
		return m, true
	}
	if inv, ok := strings.CutPrefix(name, "invariants."); ok {
		if n, ok := strings.CutSuffix(inv, ".violations"); ok && contains(summary.InvariantNames, n) {
			return metric{unit: unitCount, get: func(s *summary.Summary) float64 {
				if i := s.Invariants[n]; i != nil {
					return float64(i.Violations)
				}
				return 0
			}}, true
		}
	}
	return metric{}, false
}

// parseValue reads the right-hand side in the metric's unit: durations for
// latencies ("250ms"; a bare number means milliseconds), numbers otherwise.
func parseValue(u unit, s string) (float64, error) {
	if u == unitMS {
		if d, err := time.ParseDuration(s); err == nil {
			return float64(d) / float64(time.Millisecond), nil
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) {
			return f, nil
		}
		return 0, fmt.Errorf("want a duration such as 250ms or 1.5s, got %q", clip(s))
	}
	if _, err := time.ParseDuration(s); err == nil && strings.IndexFunc(s, isUnitLetter) >= 0 {
		return 0, fmt.Errorf("%q is a duration, but this metric is a number", clip(s))
	}
	s = strings.TrimSuffix(s, "/s")
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("want a number, got %q", clip(s))
	}
	return f, nil
}

func isUnitLetter(r rune) bool { return r >= 'a' && r <= 'z' || r == 'µ' }

// String is the canonical form, as written in summary.json.
func (t Threshold) String() string {
	if t.Metric == "" {
		if len(t.Invariants) == len(summary.InvariantNames) {
			return "invariants: all"
		}
		return "invariants: " + strings.Join(t.Invariants, ", ")
	}
	m, _ := metricOf(t.Metric)
	v := strconv.FormatFloat(t.Value, 'f', -1, 64)
	if m.unit == unitMS {
		v = (time.Duration(t.Value * float64(time.Millisecond))).String()
	}
	return fmt.Sprintf("%s %s %s", t.Metric, t.Op, v)
}

// Evaluate judges the threshold against a finished summary. An invariants
// gate's Actual is how many of its invariants failed.
func (t Threshold) Evaluate(s *summary.Summary) summary.Threshold {
	out := summary.Threshold{Expr: t.String(), Verdict: summary.Pass}
	if t.Metric == "" {
		failed := 0
		for _, n := range t.Invariants {
			if inv := s.Invariants[n]; inv != nil && inv.Verdict == summary.Fail {
				failed++
			}
		}
		out.Actual = float64(failed)
		if failed > 0 {
			out.Verdict = summary.Fail
		}
		return out
	}
	m, _ := metricOf(t.Metric)
	a := m.get(s)
	out.Actual = a
	if !compare(a, t.Op, t.Value) {
		out.Verdict = summary.Fail
	}
	return out
}

// compare allows for the two-decimal rounding of summary values, so that an
// amplification of 1.004 stored as 1.00 is judged as what is shown.
func compare(a float64, op string, b float64) bool {
	const eps = 1e-9
	switch op {
	case "<":
		return a < b-eps
	case "<=":
		return a <= b+eps
	case ">":
		return a > b+eps
	case ">=":
		return a >= b-eps
	case "==":
		return math.Abs(a-b) <= eps
	case "!=":
		return math.Abs(a-b) > eps
	}
	return false
}

// readThresholds reads the thresholds list. `- invariants: all` written
// without quotes is YAML for a one-key mapping, so that form is accepted too.
func (r *reader) readThresholds(n ast.Node, path string, keyLine int) []Threshold {
	var out []Threshold
	r.sequence(n, path, keyLine, func(_ int, item ast.Node, p string) {
		v := r.resolve(item)
		var expr string
		if m, ok := v.(ast.MapNode); ok {
			it := m.MapRange()
			count := 0
			for it.Next() {
				count++
				key := strings.TrimSpace(it.Key().String())
				if key != "invariants" || count > 1 {
					r.errAt(line(it.Key()), p, "want an expression such as \"latency.p99 < 250ms\" or \"invariants: all\", got a mapping with key %q", clip(key))
					return
				}
				val := r.resolve(it.Value())
				if seq, ok := val.(*ast.SequenceNode); ok {
					var parts []string
					for _, x := range seq.Values {
						if s, ok := r.text(x, p, line(item)); ok {
							parts = append(parts, s)
						}
					}
					expr = "invariants: " + strings.Join(parts, ", ")
				} else if s, ok := r.text(val, p, line(item)); ok {
					expr = "invariants: " + s
				} else {
					return
				}
			}
		} else if s, ok := r.text(v, p, line(item)); ok {
			expr = s
		} else {
			return
		}
		t, err := ParseThreshold(expr)
		if err != nil {
			r.errAt(orLine(item, keyLine), p, "%v", err)
			return
		}
		t.Line = line(item)
		out = append(out, t)
	})
	return out
}
