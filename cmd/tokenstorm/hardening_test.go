package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// usageErr runs the CLI and expects exit code 2 with msg in the error.
func usageErr(t *testing.T, msg string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := run(ctx, args, strings.NewReader(""), io.Discard, io.Discard)
	require.Error(t, err, args)
	assert.Equal(t, 2, exitCode(err, io.Discard), "%v: %v", args, err)
	assert.Contains(t, err.Error(), msg, args)
}

func TestServeRefusesHostileFlags(t *testing.T) {
	lo := []string{"--wechat-addr", "127.0.0.1:0", "--backend-addr", "127.0.0.1:0"}
	usageErr(t, "--appid and --secret must not be empty", append([]string{"serve", "--appid", "", "--secret", ""}, lo...)...)
	usageErr(t, "--appid and --secret must not be empty", append([]string{"serve", "--secret", ""}, lo...)...)
	usageErr(t, "/dev/zero: larger than 262144 bytes", append([]string{"serve", "--style", "/dev/zero"}, lo...)...)
	usageErr(t, "without an admin token", "serve", "--wechat-addr", "0.0.0.0:0", "--backend-addr", "127.0.0.1:0")
}

// serve --admin-token guards /__admin/… of both servers.
func TestServeAdminToken(t *testing.T) {
	urls, banner, stop := startServe(t, "--wechat-addr", "127.0.0.1:0", "--backend-addr", "127.0.0.1:0", "--admin-token", "s3cret")
	assert.NotContains(t, banner, "s3cret", "the banner never prints the token")
	assert.Contains(t, banner, "needs Authorization: Bearer")
	for _, u := range urls {
		resp, err := http.Get(u + "/__admin/stats")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 401, resp.StatusCode)
		req, _ := http.NewRequest("GET", u+"/__admin/stats", nil)
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
	}
	stop()
}

func TestSmallFlagMistakesAreRefused(t *testing.T) {
	usageErr(t, "--deadline -1s: must be positive", "run", "--deadline", "-1s")
	usageErr(t, "--deadline 0s: must be positive", "run", "--deadline", "0s")
	usageErr(t, "--devices 0: must be at least 1", "storm", "synchronized-expiry", "--devices", "0")
	usageErr(t, "--duration 0s: must be positive", "storm", "synchronized-expiry", "--duration", "0s")
	usageErr(t, "/dev/zero: larger than 1048576 bytes", "storm", "/dev/zero")
}

// storm reading a FIFO nobody writes to stops when the run is interrupted.
func TestStormFIFOIsInterruptible(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo.yaml")
	require.NoError(t, syscall.Mkfifo(p, 0o600))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"storm", p}, strings.NewReader(""), io.Discard, io.Discard) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("storm on a FIFO ignored the interrupt")
	}
	if f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		_ = f.Close()
	}
}

func TestGuardStopExitsWhenRunIgnoresTheInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	codes := make(chan int, 1)
	var stderr syncBuf
	disarm := guardStop(ctx, 100*time.Millisecond, &stderr, func(c int) { codes <- c })
	defer disarm()
	cancel()
	select {
	case c := <-codes:
		assert.Equal(t, 130, c)
	case <-time.After(5 * time.Second):
		t.Fatal("the stop guard did not fire")
	}

	// disarmed in time: no exit
	ctx2, cancel2 := context.WithCancel(context.Background())
	codes2 := make(chan int, 1)
	disarm2 := guardStop(ctx2, 100*time.Millisecond, io.Discard, func(c int) { codes2 <- c })
	cancel2()
	disarm2()
	select {
	case <-codes2:
		t.Fatal("exited although run returned")
	case <-time.After(300 * time.Millisecond):
	}
}

// After the first signal has cancelled the run, a second SIGINT or SIGTERM
// exits at once (130), long before the grace period: the user who presses
// Ctrl-C twice is not kept waiting for a run that is slow to stop.
func TestGuardStopExitsAtTheSecondSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			// The test holds the signal too, so one sent before the guard
			// listens does not kill the test binary.
			hold := make(chan os.Signal, 64)
			signal.Notify(hold, sig)
			defer func() {
				time.Sleep(200 * time.Millisecond) // let a signal still in flight land in hold
				signal.Stop(hold)
			}()
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // the first signal
			codes := make(chan int, 1)
			var stderr syncBuf
			disarm := guardStop(ctx, time.Minute, &stderr, func(c int) { codes <- c })
			defer disarm()
			// The guard listens only once it has seen ctx end: send until it
			// answers rather than guess when that is.
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			deadline := time.After(5 * time.Second)
			for {
				require.NoError(t, syscall.Kill(os.Getpid(), sig))
				select {
				case c := <-codes:
					assert.Equal(t, exitInterrupted, c)
					assert.Contains(t, stderr.String(), "tokenstorm: second interrupt, exiting now")
					return
				case <-tick.C:
				case <-deadline:
					t.Fatalf("a second signal (%v) did not exit within 5s (grace 1m)", sig)
				}
			}
		})
	}
}

// A JS adapter busy-looping at module top level used to make `run` ignore
// SIGINT; now the interrupt stops it within a few seconds.
func TestRunWithBusyJSAdapterStopsOnInterrupt(t *testing.T) {
	dir := t.TempDir()
	adapter := filepath.Join(dir, "adapter.js")
	require.NoError(t, os.WriteFile(adapter, []byte("while (true) {}\nexport async function call(req) { return {status: 200} }\n"), 0o644))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"run", "--client", "js:" + adapter, "--out", filepath.Join(dir, "out")}, strings.NewReader(""), io.Discard, io.Discard)
	}()
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case <-done:
		assert.Less(t, time.Since(start), 4*time.Second)
	case <-time.After(8 * time.Second):
		t.Fatal("run with a busy JS adapter ignored the interrupt")
	}
}

// syncBuf is a strings.Builder safe for the guard's goroutine.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A feature line over 64 KiB used to crash `conform` inside the Gherkin
// parser; now a run and --check both exit 2 naming FILE:LINE, before any
// scenario starts.
func TestConformHugeFeatureLineExits2(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "huge.feature")
	content := "Feature: huge\n  Scenario: x\n    Given 1 device logged in\n    # " + strings.Repeat("x", 70<<10) + "\n    When 1 minute passes\n"
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	for _, args := range [][]string{
		{"conform", "--out", filepath.Join(dir, "out"), path},
		{"conform", "--check", path},
	} {
		stdout, stderr, code := runCLI(t, args...)
		assert.Equal(t, exitUsage, code, "%v: %s", args, stderr)
		assert.Contains(t, stderr, path+":4: line longer than 61440 bytes", args)
		assert.NotContains(t, stderr, "panic", args)
		assert.NotContains(t, stdout, "scenarios", args)
	}
	assert.NoDirExists(t, filepath.Join(dir, "out"), "the run did not start")
}

// Garbage, duplicate, oversized and unknown-id lines from an exec client
// used to appear nowhere in a passing run: the stdout table and summary.md
// show the count summary.json has.
func TestProtocolErrorsShowOnStdoutAndInSummaryMD(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	stdout, stderr, code := runCLI(t, "storm", "steady", "--duration", "3s", "--rate", "10/s", "--devices", "3", "--requests", "20",
		"--client", execHelperClient(t, "noisy"), "--out", out)
	require.Equal(t, exitOK, code, "the protocol errors alone do not fail the run; stdout:\n%s\nstderr:\n%s", stdout, stderr)

	s, err := summary.ReadFile(out)
	require.NoError(t, err)
	require.NotNil(t, s.ProtocolErrors, "summary.json counts the protocol errors")
	for _, k := range []string{ledger.ProtocolGarbage, ledger.ProtocolUnknownID, ledger.ProtocolOversized, ledger.ProtocolDuplicate} {
		assert.Positive(t, s.ProtocolErrors.ByKind[k], k)
	}
	want := s.ProtocolErrors.String()
	assert.Contains(t, stdout, "client protocol errors: "+want+" — see the ledger's client log lines in report.html\n")
	md, err := os.ReadFile(filepath.Join(out, "summary.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "**Client protocol errors: "+want+"** (gate with `protocol_errors.total == 0`).")
}

// A feature line Gherkin cannot read is FILE:LINE and exit 2, also when the
// file is named with a line selection (that path parsed it unguarded and
// crashed the binary).
func TestConformLongFeatureLineExits2(t *testing.T) {
	p := filepath.Join(t.TempDir(), "long.feature")
	require.NoError(t, os.WriteFile(p, []byte("Feature: big\n  Scenario: x\n    Given 1 device logged in\n    # "+strings.Repeat("x", 70<<10)+"\n"), 0o600))
	for _, arg := range []string{p, p + ":2"} {
		usageErr(t, p+":4: line longer than 61440 bytes", "conform", "--client", "ref", arg)
	}
}
