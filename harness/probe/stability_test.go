package probe

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/check"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/mutant"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// TestVerdictStability runs the whole probe battery N times for the
// reference client and for each mutant (N from TOKENSTORM_STABILITY; `make
// verdict-stability`), with the 3 s default deadline and, with
// TOKENSTORM_STABILITY_BURN=k, k goroutines burning CPU meanwhile (bounded:
// they stop with the test). A flip is a run whose verdict differs from the
// expected one: ref failing anything, or a mutant not failing its invariant.
// Verdicts must not depend on machine load (SPEC §5). Not part of `make
// test`: it takes minutes.
func TestVerdictStability(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("TOKENSTORM_STABILITY"))
	if n <= 0 {
		t.Skip("set TOKENSTORM_STABILITY=N (make verdict-stability)")
	}
	burn, _ := strconv.Atoi(os.Getenv("TOKENSTORM_STABILITY_BURN"))
	stop := burnCPU(burn)
	defer stop()

	type subject struct {
		name, breaks string
		f            func(client.Env) (client.Client, error)
	}
	subjects := []subject{{"ref", "", refFactory}}
	for _, m := range mutant.Names() {
		subjects = append(subjects, subject{"mutant:" + m, mutant.Breaks(m), func(env client.Env) (client.Client, error) { return mutant.New(m, env) }})
	}
	for _, sub := range subjects {
		flips := 0
		var took time.Duration
		for i := 0; i < n; i++ {
			start := time.Now()
			s := battery(t, sub.name, sub.f)
			took += time.Since(start)
			ok := s.Verdict == summary.Pass
			if sub.breaks != "" {
				ok = s.Invariants[sub.breaks].Verdict == summary.Fail
			}
			if !ok {
				flips++
				t.Logf("%s run %d flipped: verdict %s, failed %v, scenarios %v", sub.name, i+1, s.Verdict, s.FailedInvariants(), failedScenarios(s))
			}
		}
		t.Logf("%-24s %d runs, %d verdict flips, %s per run (burners %d)", sub.name, n, flips, (took / time.Duration(n)).Round(time.Millisecond), burn)
		assert.Zero(t, flips, "%s: verdict flips", sub.name)
	}
}

// battery runs every probe with the defaults `tokenstorm run` uses.
func battery(t *testing.T, name string, f func(client.Env) (client.Client, error)) *summary.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	global := check.New(check.Options{})
	res, err := Run(ctx, Config{NewClient: f, ClientName: name, Global: global}, All())
	require.NoError(t, err)
	s := summary.New(name, "embedded")
	for _, r := range res {
		s.Scenarios = append(s.Scenarios, r.Scenario)
	}
	global.Finish(s)
	s.Finalize()
	return s
}

func failedScenarios(s *summary.Summary) []string {
	var out []string
	for _, sc := range s.Scenarios {
		if sc.Verdict == summary.Fail {
			out = append(out, sc.Name+": "+sc.Detail)
		}
	}
	return out
}

// burnCPU keeps k goroutines spinning until stop is called.
func burnCPU(k int) (stop func()) {
	var done atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < k; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 0
			for !done.Load() {
				for j := 0; j < 1_000_000; j++ {
					x += j
				}
				runtime.Gosched()
			}
			_ = x
		}()
	}
	return func() { done.Store(true); wg.Wait() }
}
