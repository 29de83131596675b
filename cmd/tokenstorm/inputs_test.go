package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mkfifo makes a named pipe nobody writes to; at the end of the test it is
// opened for writing once, so a read still blocked on it ends too.
func mkfifo(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, syscall.Mkfifo(p, 0o600))
	t.Cleanup(func() {
		if f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			_ = f.Close()
		}
	})
	return p
}

// runWithin runs the CLI and fails the test if it has not returned within d
// (instead of hanging the test binary).
func runWithin(t *testing.T, ctx context.Context, d time.Duration, args ...string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, strings.NewReader(""), io.Discard, io.Discard) }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%v did not return within %s", args, d)
		return nil
	}
}

// A style is read by every part of a run, which a named pipe cannot serve:
// each command refuses one at once, naming it, exit 2.
func TestStyleFIFOIsRefused(t *testing.T) {
	fifo := mkfifo(t, "style.yaml")
	lo := []string{"--wechat-addr", "127.0.0.1:0", "--backend-addr", "127.0.0.1:0"}
	for _, args := range [][]string{
		append([]string{"serve", "--style", fifo}, lo...),
		{"run", "--style", fifo, "--deadline", "5s"},
		{"storm", "synchronized-expiry", "--style", fifo, "--duration", "1s", "--devices", "2"},
		{"conform", "--style", fifo, "--check"},
		{"style", "check", fifo},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := runWithin(t, ctx, 10*time.Second, args...)
		cancel()
		require.Error(t, err, args)
		assert.Equal(t, 2, exitCode(err, io.Discard), "%v: %v", args, err)
		assert.Contains(t, err.Error(), fifo+": is a named pipe (FIFO), not a regular file", args)
	}
}

// /dev/stdin redirected from a file is a regular file: it keeps working.
func TestStyleFromRedirectedStdin(t *testing.T) {
	data, err := os.ReadFile("../../harness/style/builtin/body-code.yaml")
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "s.yaml")
	require.NoError(t, os.WriteFile(p, data, 0o600))
	f, err := os.Open(p)
	require.NoError(t, err)
	defer f.Close()
	// /dev/stdin is /proc/self/fd/0; a descriptor of our own stands in for it.
	err = runWithin(t, context.Background(), 10*time.Second, "style", "check", "/proc/self/fd/"+strconv.Itoa(int(f.Fd())))
	require.NoError(t, err)
}

// A feature file may be a FIFO (read once), but one nobody writes to stops
// at the interrupt.
func TestConformFeatureFIFOIsInterruptible(t *testing.T) {
	fifo := mkfifo(t, "x.feature")
	for _, args := range [][]string{{"conform", fifo, "--check"}, {"conform", fifo}} {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		err := runWithin(t, ctx, 5*time.Second, args...)
		require.ErrorIs(t, err, context.Canceled, args)
		cancel()
	}
}

// report and merge read summary.json (and shard.json) within the run's
// context: a FIFO there does not outlast the interrupt.
func TestSummaryFIFOIsInterruptible(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "summary.json"), 0o600))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "shard.json"), 0o600))
	t.Cleanup(func() {
		for _, n := range []string{"summary.json", "shard.json"} {
			if f, err := os.OpenFile(filepath.Join(dir, n), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				_ = f.Close()
			}
		}
	})
	for _, args := range [][]string{{"report", dir}, {"merge", dir, "--out", filepath.Join(t.TempDir(), "m")}} {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		err := runWithin(t, ctx, 5*time.Second, args...)
		require.Error(t, err, args)
		assert.Contains(t, err.Error(), "context canceled", args)
		cancel()
	}
}
