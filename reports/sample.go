package reports

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// Sample returns a realistic, deterministic summary of a 60-second storm
// against the embedded stack: 50 devices, every access token expired at
// 20 s, a WeChat fault window at 40 s. With failing set it is the run of a
// client that refreshes once per in-flight request (mutant:storm): refresh
// amplification, single-refresh violations with ledger evidence, a failed
// threshold and scenario. Used by tests and demos.
func Sample(failing bool) *summary.Summary {
	const (
		devices  = 50
		duration = 60 * time.Second
		bucket   = 250 * time.Millisecond
		expireAt = 20 * time.Second
		faultAt  = 40 * time.Second
	)
	rng := rand.New(rand.NewPCG(42, uint64(boolInt(failing))))
	start := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	clientName := "ref"
	if failing {
		clientName = "mutant:storm"
	}
	s := summary.New(clientName, "embedded")
	s.Style = "bearer"
	s.StartedAt = start
	s.DurationMS = ms(duration)

	// Time line: the storm trigger, refreshes right after it, a fault window.
	s.Timeline = append(s.Timeline, summary.Mark{AtMS: ms(expireAt), Kind: "expire", Detail: "all access tokens expired (admin)"})
	perDeviceCalls := make([]int, devices)
	for d := range devices {
		calls := 1
		if failing {
			calls = 1 + rng.IntN(7) // one refresh per in-flight request
			if d%10 == 0 {
				calls = 1
			}
		}
		perDeviceCalls[d] = calls
		for c := range calls {
			at := ms(expireAt) + 2 + rng.Float64()*40 + float64(c)*3
			s.Timeline = append(s.Timeline, summary.Mark{AtMS: at, Kind: "refresh", Device: deviceName(d)})
		}
	}
	if failing {
		for d := 3; d < devices; d += 9 {
			s.Timeline = append(s.Timeline, summary.Mark{AtMS: ms(expireAt) + 60 + float64(d), Kind: "revoke", Device: deviceName(d), Detail: "refresh token reused: family revoked"})
			s.Timeline = append(s.Timeline, summary.Mark{AtMS: ms(expireAt) + 180 + float64(d), Kind: "login", Device: deviceName(d)})
		}
	}
	s.Timeline = append(s.Timeline,
		summary.Mark{AtMS: ms(faultAt), Kind: "fault", Detail: "jscode2session errcode -1 for 2s"},
		summary.Mark{AtMS: ms(faultAt + 2*time.Second), Kind: "marker", Detail: "fault window ends"},
	)

	// Series: 200 req/s, latency rises while tokens are refreshed.
	for at := time.Duration(0); at < duration; at += bucket {
		reqs := 45 + rng.IntN(11)
		p50 := 9 + rng.Float64()*3
		p99 := 28 + rng.Float64()*10
		errs, refreshes := 0, 0
		if since := at - expireAt; since >= 0 && since < time.Second {
			// The refresh pause: requests wait for the new token.
			bump := 1 - float64(since)/float64(time.Second)
			p50 += 40 * bump
			p99 += 180 * bump
			if since == 0 {
				refreshes = sum(perDeviceCalls)
			}
			if failing {
				p50 += 120 * bump
				p99 += 800 * bump
				errs = int(12 * bump)
				reqs -= int(25 * bump)
			}
		}
		if at >= faultAt && at < faultAt+2*time.Second && failing {
			errs += rng.IntN(3)
		}
		s.Series = append(s.Series, summary.Point{
			AtMS: ms(at), Requests: reqs, Errors: errs,
			P50MS: round2(p50), P99MS: round2(p99), MaxMS: round2(p99 * (1.2 + rng.Float64()*0.5)),
			Refreshes: refreshes,
		})
	}

	// Histogram and percentiles.
	bounds := []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000}
	counts := []int{0, 12, 1480, 6120, 3150, 980, 160, 62, 18, 4, 0, 0}
	s.Latency = summary.Latency{P50: 9.8, P90: 18.4, P99: 61.2, Max: 412}
	if failing {
		counts = []int{0, 10, 1320, 5480, 2890, 920, 310, 240, 230, 96, 12, 2}
		s.Latency = summary.Latency{P50: 10.6, P90: 24.9, P99: 488, Max: 2310}
	}
	issued := 0
	for i, b := range bounds {
		s.Histogram = append(s.Histogram, summary.Bucket{LEMS: b, Count: counts[i]})
		issued += counts[i]
	}
	s.PerRoute = map[string]summary.Latency{
		"GET /api/orders":  {P50: s.Latency.P50 * 0.9, P90: s.Latency.P90 * 0.9, P99: s.Latency.P99 * 0.9, Max: s.Latency.Max * 0.8},
		"POST /api/orders": {P50: s.Latency.P50 * 1.3, P90: s.Latency.P90 * 1.2, P99: s.Latency.P99 * 1.1, Max: s.Latency.Max},
	}

	// Per device refresh activity.
	totalCalls, logins := 0, 0
	for d := range devices {
		st := summary.DeviceStat{Device: deviceName(d), Episodes: 1, Refreshes: perDeviceCalls[d]}
		if failing && d%9 == 3 {
			st.Logins = 1
			logins++
		}
		totalCalls += st.Refreshes + st.Logins
		s.PerDevice = append(s.PerDevice, st)
	}
	s.Refresh = summary.Refresh{
		ExpiryEpisodes: devices, Refreshes: totalCalls - logins, Logins: logins,
		Amplification: math.Round(float64(totalCalls)/devices*100) / 100,
	}
	s.Requests = summary.Requests{Issued: issued, Succeeded: issued}
	if failing {
		s.Requests.Failed = 23
		s.Requests.Succeeded = issued - 23
	}

	s.Storm = &summary.Storm{
		Scenario: "scenarios/expiry-storm.yaml", Rate: "constant 200/s", Duration: "60s",
		Devices: devices, ThroughputRPS: math.Round(float64(issued)/duration.Seconds()*10) / 10,
		SendLagP99MS: 1.8, SendLagMaxMS: 6.4, PeakRSSMB: 84,
	}

	// Invariants.
	pass := func(name string, checked int) {
		s.Invariants[name] = &summary.Invariant{Verdict: summary.Pass, Checked: checked}
	}
	pass(summary.SingleRefresh, devices)
	pass(summary.CorrectReplay, 1240)
	pass(summary.NoLostRequests, issued)
	pass(summary.GenuineAnswers, issued)
	pass(summary.NoDuplicateEffects, 3120)
	pass(summary.CodeSingleUse, logins)
	s.Invariants[summary.BoundedRetry] = &summary.Invariant{Verdict: summary.Skip, Reason: "no refresh failure was provoked in this scenario"}
	pass(summary.ExpirySignalled, 1240)

	thresholdAmp := summary.Pass
	if failing {
		inv := &summary.Invariant{Verdict: summary.Fail, Checked: devices}
		for d := range devices {
			if perDeviceCalls[d] > 1 {
				inv.Violations++
				if len(inv.Examples) < 8 {
					v := sampleViolation(start, d, perDeviceCalls[d], expireAt)
					v.Scenario = "expiry-storm"
					inv.Examples = append(inv.Examples, v)
				}
			}
		}
		inv.Reason = fmt.Sprintf("%d of %d devices sent more than one refresh for one expiry episode", inv.Violations, devices)
		inv.ByScenario = map[string]int{"expiry-storm": inv.Violations}
		s.Invariants[summary.SingleRefresh] = inv
		thresholdAmp = summary.Fail
	}

	s.Thresholds = []summary.Threshold{
		{Expr: "refresh.amplification <= 1", Actual: s.Refresh.Amplification, Verdict: thresholdAmp},
		{Expr: "requests.lost == 0", Actual: 0, Verdict: summary.Pass},
		{Expr: "latency.p99 < 250ms", Actual: s.Latency.P99, Verdict: passIf(s.Latency.P99 < 250)},
	}
	stormVerdict, stormFailed := summary.Pass, []string(nil)
	if failing {
		stormVerdict = summary.Fail
		stormFailed = []string{summary.SingleRefresh, "refresh.amplification <= 1", "latency.p99 < 250ms"}
	}
	s.Scenarios = []summary.Scenario{
		{Name: "expired token is refreshed once and the request replayed", Kind: "probe", Verdict: stormVerdict, DurationMS: 84, Failed: failedIf(failing, summary.SingleRefresh)},
		{Name: "concurrent expired requests share one refresh", Kind: "feature", Verdict: stormVerdict, DurationMS: 131, Failed: failedIf(failing, summary.SingleRefresh)},
		{Name: "WeChat busy during login is surfaced, not retried forever", Kind: "feature", Verdict: summary.Skip, Detail: "needs a failing refresh; run with --tags @faults"},
		{Name: "expiry-storm", Kind: "storm", Verdict: stormVerdict, DurationMS: ms(duration), Failed: stormFailed},
	}
	s.Notes = []string{"clock: controllable (in-process); tokens expired by the admin API at +20s"}
	s.Finalize()
	return s
}

// sampleViolation builds the evidence of one storm device: an expired 401,
// then several refreshes presenting the same refresh token, the reuse
// detection and the family revocation.
func sampleViolation(start time.Time, d, calls int, expireAt time.Duration) summary.Violation {
	dev := deviceName(d)
	family := fmt.Sprintf("fam-%03d", d)
	refreshID := fmt.Sprintf("rt-%03d-1", d)
	at := start.Add(expireAt)
	seq := uint64(10000 + d*100)
	ev := []ledger.Event{
		{Seq: seq, Time: at, Source: ledger.SourceBackend, Kind: ledger.KindExpire, Detail: "all"},
	}
	var rids []string
	for c := range calls {
		rid := fmt.Sprintf("%s-r%04d", dev, 200+c)
		rids = append(rids, rid)
		t := at.Add(time.Duration(2+c) * time.Millisecond)
		ev = append(ev, ledger.Event{Seq: seq + uint64(1+c), Time: t, Source: ledger.SourceBackend, Kind: ledger.KindAPI,
			Device: dev, RID: rid, Token: fmt.Sprintf("at-%03d-1", d), Method: "GET", Route: "/api/orders",
			Status: 401, Outcome: ledger.OutcomeExpired})
	}
	var tokens []string
	for c := range calls {
		t := at.Add(time.Duration(6+3*c) * time.Millisecond)
		e := ledger.Event{Seq: seq + uint64(20+c), Time: t, Source: ledger.SourceBackend, Kind: ledger.KindRefresh,
			Device: dev, Token: refreshID, Family: family, Route: "/auth/refresh", Method: "POST"}
		if c == 0 {
			e.Status, e.Outcome = 200, ledger.OutcomeOK
			e.Detail = fmt.Sprintf("new access token at-%03d-2", d)
			e.Expires = t.Add(2 * time.Hour)
			tokens = append(tokens, refreshID, fmt.Sprintf("at-%03d-2", d))
		} else {
			e.Status, e.Outcome = 401, ledger.OutcomeReused
			e.Detail = "refresh token presented again after rotation"
		}
		ev = append(ev, e)
	}
	ev = append(ev, ledger.Event{Seq: seq + 40, Time: at.Add(time.Duration(7+3*calls) * time.Millisecond), Source: ledger.SourceBackend,
		Kind: ledger.KindRevoke, Device: dev, Family: family, Detail: "reuse detected: family revoked (strict policy)"})
	ev = append(ev, ledger.Event{Seq: seq + 50, Time: at.Add(31 * time.Millisecond), Source: ledger.SourceClient, Kind: ledger.KindSettle,
		Device: dev, RID: rids[0], Status: 200, Outcome: ledger.OutcomeOK, LatencyNS: int64(31 * time.Millisecond)})
	return summary.Violation{
		Invariant: summary.SingleRefresh,
		Device:    dev,
		RIDs:      rids,
		Tokens:    tokens,
		At:        at.Add(9 * time.Millisecond),
		Explanation: fmt.Sprintf("device %s sent %d refreshes with refresh token %s for one expiry episode (expected 1): "+
			"%d overlapping refreshes presented a rotated token and the backend revoked family %s.",
			dev, calls, refreshID, calls-1, family),
		Evidence: ev,
		Scenario: "expiry-storm",
	}
}

func deviceName(d int) string { return fmt.Sprintf("dev-%03d", d) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func sum(xs []int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}

func passIf(ok bool) string {
	if ok {
		return summary.Pass
	}
	return summary.Fail
}

func failedIf(failing bool, names ...string) []string {
	if failing {
		return names
	}
	return nil
}
