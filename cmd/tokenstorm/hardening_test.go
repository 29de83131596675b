package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
