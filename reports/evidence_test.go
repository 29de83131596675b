package reports

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// One invariant with thousands of examples must not hide another's.
func TestPickViolationsIsFair(t *testing.T) {
	s := bigSummary(10, 5000)
	s.Invariants[summary.NoLostRequests] = &summary.Invariant{Verdict: summary.Fail, Violations: 7, Examples: []summary.Violation{
		{Explanation: "lost 1"}, {Explanation: "lost 2"}, {Explanation: "lost 3"},
	}}
	picked, total := pickViolations(s, 50)
	assert.Equal(t, 5007, total, "counts what the checker found, not just its examples")
	assert.Len(t, picked, 50)
	lost := 0
	for _, v := range picked {
		if v.Invariant == summary.NoLostRequests {
			lost++
		}
	}
	assert.Equal(t, 3, lost, "every example of the smaller invariant is shown")
	assert.Equal(t, summary.SingleRefresh, picked[0].Invariant, "grouped in report order")
	assert.Equal(t, summary.NoLostRequests, picked[len(picked)-1].Invariant)
}

func TestEvidenceLine(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	e := ledger.Event{
		Seq: 7, Time: start.Add(1500 * time.Millisecond), Source: "backend", Kind: "refresh",
		Device: "d1", Token: "rt-1", Family: "f1", Method: "POST", Route: "/auth/refresh",
		Status: 401, Outcome: "reused", Detail: "line one\nline two",
		Expires: start.Add(time.Hour), LatencyNS: int64(12 * time.Millisecond),
	}
	assert.Equal(t, `#7 +1.500s backend/refresh device=d1 token=rt-1 family=f1 req="POST /auth/refresh" status=401 outcome=reused expires=+3600.000s waited=12.0ms detail="line one\nline two"`,
		evidenceLine(start, e), "one line, empty fields omitted, user text quoted")
	assert.Equal(t, "2025-01-01T00:00:01.5Z", relTime(time.Time{}, e.Time), "absolute without a start")
	assert.Equal(t, "-0.500s", relTime(start.Add(time.Second), start.Add(500*time.Millisecond)))
}

func TestFormatting(t *testing.T) {
	assert.Equal(t, "0 ms", fmtMS(0))
	assert.Equal(t, "9.80 ms", fmtMS(9.8))
	assert.Equal(t, "61.2 ms", fmtMS(61.2))
	assert.Equal(t, "2310 ms", fmtMS(2310))
	assert.Equal(t, "12.5 s", fmtMS(12500))
	assert.Equal(t, "60.0 s", fmtDuration(60000))
	assert.Equal(t, "5m0s", fmtDuration(300000))
	assert.Equal(t, "3.90", fmtFloat(3.9))
	assert.Equal(t, "4", fmtFloat(4))
	assert.Equal(t, "UNKNOWN", verdictLabel(""))
}
