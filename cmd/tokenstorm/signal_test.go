package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// SIGTERM and SIGINT to the real process (main's signal wiring, not a
// cancelled context): a storm that would run a minute stops within seconds,
// exits 130 with the documented message and still writes its summary.
func TestSignalStopsTheBuiltBinary(t *testing.T) {
	bin := buildBinary(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "storm", "steady", "--duration", "60s", "--rate", "50/s", "--devices", "5", "--out", out)
			var stdout bytes.Buffer
			cmd.Stdout = &stdout
			pr, err := cmd.StderrPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			defer func() {
				if cmd.ProcessState == nil { // a require failed before Wait
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				}
			}()

			// Signal once the live progress shows the attack running.
			var stderr strings.Builder
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				stderr.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), " sent ") {
					break
				}
			}
			require.Contains(t, stderr.String(), " sent ", "the storm never showed progress")
			start := time.Now()
			require.NoError(t, cmd.Process.Signal(sig))
			rest, _ := io.ReadAll(pr)
			stderr.Write(rest)
			err = cmd.Wait()
			took := time.Since(start)

			assert.Equal(t, exitInterrupted, exitOf(err), "%v; stderr:\n%s", err, stderr.String())
			assert.Less(t, took, 4*time.Second, "stopped by the run, not by the %s backstop", stopGrace)
			assert.Contains(t, stderr.String(), "tokenstorm: interrupted: the run was stopped before it finished")
			assert.NotContains(t, stderr.String(), "exiting now", "the run stopped by itself")
			assert.Contains(t, stdout.String(), "verdict: INTERRUPTED")
			s, err := summary.ReadFile(out)
			require.NoError(t, err, "the interrupted run writes its summary")
			assert.Equal(t, summary.Interrupted, s.Verdict)
			assert.Greater(t, s.Requests.Issued, 0)
		})
	}
}
