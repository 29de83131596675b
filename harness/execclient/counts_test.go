package execclient

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/check"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/storm"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// Garbage, oversized lines, unknown ids and duplicate answers used to appear
// nowhere in a passing run's summary: they are counted into
// summary.json's protocol_errors, and a threshold fails on them.
func TestProtocolErrorsReachTheSummary(t *testing.T) {
	c, l := start(t, helperCmd(t, "noisy"), Options{MaxLineBytes: 1024})
	for _, id := range []string{"r1", "r2"} {
		res := do(t, c, call(id, "d1"))
		require.NoError(t, res.Err)
	}
	// 4 errors per call: garbage, unknown id, oversized, duplicate
	require.Eventually(t, func() bool { return len(c.Errors()) == 8 }, 5*time.Second, 5*time.Millisecond, "%v", c.Errors())

	ck := check.New(check.Options{})
	for _, e := range l.Events() {
		ck.Observe(e)
	}
	s := summary.New("exec:noisy", "embedded")
	ck.Finish(s)
	require.NotNil(t, s.ProtocolErrors)
	assert.Equal(t, 8, s.ProtocolErrors.Total)
	assert.Equal(t, map[string]int{ledger.ProtocolGarbage: 2, ledger.ProtocolUnknownID: 2, ledger.ProtocolOversized: 2, ledger.ProtocolDuplicate: 2}, s.ProtocolErrors.ByKind)
	assert.Equal(t, "8 (garbage_lines 2, oversized_lines 2, duplicate_answers 2, unknown_ids 2)", s.ProtocolErrors.String())

	th, err := storm.ParseThreshold("protocol_errors.total == 0")
	require.NoError(t, err)
	assert.Equal(t, summary.Fail, th.Evaluate(s).Verdict)
	th, err = storm.ParseThreshold("protocol_errors.duplicate_answers <= 2")
	require.NoError(t, err)
	assert.Equal(t, summary.Pass, th.Evaluate(s).Verdict)
}
