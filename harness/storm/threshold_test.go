package storm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

func sampleSummary() *summary.Summary {
	s := summary.New("ref", "embedded")
	s.Requests = summary.Requests{Issued: 1000, Succeeded: 990, Failed: 10, Lost: 0}
	s.Refresh = summary.Refresh{ExpiryEpisodes: 100, Refreshes: 100, Logins: 0, Amplification: 1}
	s.Latency = summary.Latency{P50: 20, P90: 40, P99: 180, Max: 300}
	s.Storm = &summary.Storm{ThroughputRPS: 795.5, SendLagP99MS: 12, SendLagMaxMS: 40}
	s.Invariants[summary.SingleRefresh] = &summary.Invariant{Verdict: summary.Pass, Checked: 100}
	s.Invariants[summary.CorrectReplay] = &summary.Invariant{Verdict: summary.Fail, Violations: 3, Checked: 100}
	return s
}

func TestThresholdsParseAndEvaluate(t *testing.T) {
	s := sampleSummary()
	cases := []struct {
		expr, canonical string
		actual          float64
		verdict         string
	}{
		{"refresh.amplification <= 1", "refresh.amplification <= 1", 1, summary.Pass},
		{"refresh.amplification<1", "refresh.amplification < 1", 1, summary.Fail},
		{"requests.lost == 0", "requests.lost == 0", 0, summary.Pass},
		{"requests.failed != 0", "requests.failed != 0", 10, summary.Pass},
		{"requests.failed > 10", "requests.failed > 10", 10, summary.Fail},
		{"requests.issued >= 1000", "requests.issued >= 1000", 1000, summary.Pass},
		{"requests.success_ratio >= 0.99", "requests.success_ratio >= 0.99", 0.99, summary.Pass},
		{"latency.p99 < 250ms", "latency.p99 < 250ms", 180, summary.Pass},
		{"latency.p99 < 0.15s", "latency.p99 < 150ms", 180, summary.Fail},
		{"latency.max <= 300", "latency.max <= 300ms", 300, summary.Pass},
		{"latency.p50 < 1m", "latency.p50 < 1m0s", 20, summary.Pass},
		{"storm.throughput >= 790", "storm.throughput >= 790", 795.5, summary.Pass},
		{"storm.send_lag.p99 < 10ms", "storm.send_lag.p99 < 10ms", 12, summary.Fail},
		{"invariants.correct-replay.violations == 0", "invariants.correct-replay.violations == 0", 3, summary.Fail},
		{"invariants: all", "invariants: all", 1, summary.Fail},
		{"invariants: single-refresh, no-lost-requests", "invariants: single-refresh, no-lost-requests", 0, summary.Pass},
		{"invariants: correct-replay", "invariants: correct-replay", 1, summary.Fail},
	}
	for _, c := range cases {
		th, err := ParseThreshold(c.expr)
		require.NoError(t, err, c.expr)
		assert.Equal(t, c.canonical, th.String(), c.expr)
		got := th.Evaluate(s)
		assert.Equal(t, c.canonical, got.Expr)
		assert.InDelta(t, c.actual, got.Actual, 1e-9, c.expr)
		assert.Equal(t, c.verdict, got.Verdict, c.expr)
	}
}

func TestThresholdParseErrors(t *testing.T) {
	for expr, want := range map[string]string{
		"latency.p98 < 100ms":          `unknown metric "latency.p98"`,
		"amplification <= 1":           `unknown metric "amplification"`,
		"requests.lost":                "want `metric op value`",
		"requests.lost ==":             "missing the value",
		"requests.lost < 5ms":          `"5ms" is a duration, but this metric is a number`,
		"latency.p99 < fast":           `want a duration such as 250ms`,
		"refresh.amplification <= x":   `want a number, got "x"`,
		"invariants:":                  "want all or a comma-separated list",
		"invariants: every":            `unknown invariant "every"`,
		"invariants.nope.violations>0": `unknown metric "invariants.nope.violations"`,
	} {
		_, err := ParseThreshold(expr)
		require.Error(t, err, expr)
		assert.Contains(t, err.Error(), want, expr)
	}
}

func TestAmplificationRoundingIsJudgedAsShown(t *testing.T) {
	s := sampleSummary()
	s.Refresh.Amplification = 1.00 // stored rounded to two decimals
	th, err := ParseThreshold("refresh.amplification <= 1")
	require.NoError(t, err)
	assert.Equal(t, summary.Pass, th.Evaluate(s).Verdict)
	s.Refresh.Amplification = 1.01
	assert.Equal(t, summary.Fail, th.Evaluate(s).Verdict)
}

func TestMetricNamesAreDocumented(t *testing.T) {
	for _, n := range MetricNames() {
		if n == "invariants.<name>.violations" {
			continue
		}
		assert.NotEmpty(t, MetricHelp(n), n)
	}
}
