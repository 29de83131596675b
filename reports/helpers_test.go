package reports

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// hostile is a user-controlled string that must never reach a report as
// markup: it appears in ledger details, device names and explanations.
const hostile = `<script>alert("x")</script><img src=x onerror=alert(1)>`

// render writes all reports of s into a fresh directory and returns it.
func render(t testing.TB, s *summary.Summary) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, WriteAll(dir, s))
	return dir
}

func readFile(t testing.TB, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	return string(b)
}

// bigSummary is a million-request storm: nPoints series buckets, nViol
// single-refresh violations (all kept as examples, the first 200 with 20
// evidence lines), a refresh mark per device and episode, 10k devices.
func bigSummary(nPoints, nViol int) *summary.Summary {
	s := Sample(true)
	start := s.StartedAt
	s.Series = s.Series[:0]
	for i := range nPoints {
		s.Series = append(s.Series, summary.Point{
			AtMS: float64(i) * 10, Requests: 10 + i%7, Errors: i % 3,
			P50MS: 10 + float64(i%13), P99MS: 40 + float64(i%101), MaxMS: 80 + float64(i%211), Refreshes: i % 5,
		})
	}
	s.DurationMS = float64(nPoints) * 10
	s.Timeline = s.Timeline[:0]
	s.PerDevice = s.PerDevice[:0]
	for d := range 10000 {
		dev := fmt.Sprintf("dev-%05d", d)
		s.PerDevice = append(s.PerDevice, summary.DeviceStat{Device: dev, Episodes: 10, Refreshes: 10 + d%40, Logins: d % 2})
		for e := range 10 {
			s.Timeline = append(s.Timeline, summary.Mark{AtMS: float64(e)*float64(nPoints) + float64(d%50), Kind: "refresh", Device: dev})
		}
	}
	for e := range 10 {
		s.Timeline = append(s.Timeline, summary.Mark{AtMS: float64(e) * float64(nPoints), Kind: "expire", Detail: "all"})
	}
	inv := s.Invariants[summary.SingleRefresh]
	inv.Violations, inv.Examples = nViol, nil
	for i := range nViol {
		v := summary.Violation{
			Invariant: summary.SingleRefresh, Device: fmt.Sprintf("dev-%05d", i%10000),
			RIDs: []string{fmt.Sprintf("r-%d-a", i), fmt.Sprintf("r-%d-b", i)}, Tokens: []string{fmt.Sprintf("rt-%d", i)},
			At:          start.Add(time.Duration(i) * time.Millisecond),
			Explanation: fmt.Sprintf("device dev-%05d sent 3 refreshes for one expiry episode (violation %d)", i%10000, i),
		}
		evidence := 2 // a checker keeps full evidence for its first examples only
		if i < 200 {
			evidence = 20
		}
		for e := range evidence {
			v.Evidence = append(v.Evidence, ledger.Event{
				Seq: uint64(i*100 + e), Time: v.At.Add(time.Duration(e) * time.Millisecond), Source: ledger.SourceBackend,
				Kind: ledger.KindRefresh, Device: v.Device, Token: v.Tokens[0], Family: "fam", Route: "/auth/refresh",
				Method: "POST", Status: 401, Outcome: ledger.OutcomeReused, Detail: "refresh token presented again after rotation",
			})
		}
		inv.Examples = append(inv.Examples, v)
	}
	return s
}
