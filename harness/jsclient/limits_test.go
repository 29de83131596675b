package jsclient_test

import (
	"context"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/jsclient"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

const okAdapter = `export async function call(req) { return {status: 200, header: {}, body: "ok:" + req.device} }`

func newEnv() client.Env {
	return client.Env{BackendURL: "http://127.0.0.1:1", WechatURL: "http://127.0.0.1:1", AppID: "wx", Ledger: ledger.New(ledger.Options{Memory: true})}
}

// within runs fn and fails the test if it has not returned after limit.
func within(t *testing.T, limit time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("still running after %s", limit)
	}
}

// A busy loop at module top level used to hang New (and the run) forever.
func TestTopLevelBusyLoopIsBounded(t *testing.T) {
	path := writeAdapter(t, map[string]string{"adapter.js": "while (true) {}\n" + okAdapter})
	within(t, 10*time.Second, func() {
		_, err := jsclient.New(path, newEnv(), jsclient.Options{MaxTurn: 300 * time.Millisecond})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "ran longer than 300ms without yielding")
	})
}

// Ctrl-C (the run's context) interrupts a top-level busy loop at once.
func TestTopLevelBusyLoopStopsOnContext(t *testing.T) {
	path := writeAdapter(t, map[string]string{"adapter.js": "while (true) {}\n" + okAdapter})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	within(t, 5*time.Second, func() {
		_, err := jsclient.New(path, newEnv(), jsclient.Options{Context: ctx, MaxTurn: time.Hour})
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled)
	})
}

// A busy loop inside call(req) stops that device only; the others go on.
func TestBusyCallStopsOnlyItsDevice(t *testing.T) {
	path := writeAdapter(t, map[string]string{"adapter.js": `
export async function call(req) {
  if (req.device === "bad") { while (true) {} }
  return {status: 200, header: {}, body: "ok:" + req.device}
}`})
	env := newEnv()
	c, err := jsclient.New(path, env, jsclient.Options{MaxTurn: 300 * time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	within(t, 10*time.Second, func() {
		r := c.Do(context.Background(), client.Call{ID: "b1", Device: "bad", Method: "GET", Path: "/x"})
		require.Error(t, r.Err)
		assert.True(t, jsclient.IsLimit(r.Err), r.Err)
		r = c.Do(context.Background(), client.Call{ID: "b2", Device: "bad", Method: "GET", Path: "/x"})
		assert.True(t, jsclient.IsLimit(r.Err), "later calls of a stopped device fail at once: %v", r.Err)
		r = c.Do(context.Background(), client.Call{ID: "g1", Device: "good", Method: "GET", Path: "/x"})
		require.NoError(t, r.Err)
		assert.Equal(t, "ok:good", string(r.Body))
	})
	assert.EqualValues(t, 1, c.Stats().Killed)
	var noted bool
	for _, e := range env.Ledger.Events() {
		noted = noted || (e.Device == "bad" && strings.Contains(e.Detail, "js runtime of device bad stopped"))
	}
	assert.True(t, noted, "the device is reported in the ledger")
}

// One device doubling a string used to take the whole harness down.
func TestRunawayAllocationStopsOnlyItsDevice(t *testing.T) {
	path := writeAdapter(t, map[string]string{"adapter.js": `
export async function call(req) {
  if (req.device === "hog") { let s = "x"; const keep = []; while (true) { s = s + s; keep.push(s) } }
  return {status: 200, header: {}, body: "ok"}
}`})
	c, err := jsclient.New(path, newEnv(), jsclient.Options{MemoryLimit: 64 << 20, MaxTurn: time.Minute})
	require.NoError(t, err)
	defer c.Close()
	within(t, 20*time.Second, func() {
		r := c.Do(context.Background(), client.Call{ID: "h1", Device: "hog", Method: "GET", Path: "/x"})
		require.Error(t, r.Err)
		assert.Contains(t, r.Err.Error(), "allocated more than 64 MiB")
		r = c.Do(context.Background(), client.Call{ID: "g1", Device: "fine", Method: "GET", Path: "/x"})
		require.NoError(t, r.Err)
	})
}

// A busy timer callback is a turn too.
func TestBusyTimerIsBounded(t *testing.T) {
	path := writeAdapter(t, map[string]string{"adapter.js": `
export function call(req) {
  return new Promise((resolve) => setTimeout(() => { while (true) {} }, 10))
}`})
	c, err := jsclient.New(path, newEnv(), jsclient.Options{MaxTurn: 300 * time.Millisecond})
	require.NoError(t, err)
	within(t, 10*time.Second, func() {
		r := c.Do(context.Background(), client.Call{ID: "t1", Device: "d", Method: "GET", Path: "/x"})
		assert.True(t, jsclient.IsLimit(r.Err), r.Err)
		require.NoError(t, c.Close())
	})
}

// Close interrupts JavaScript that is busy right now (teardown is bounded).
func TestCloseInterruptsBusyRuntime(t *testing.T) {
	path := writeAdapter(t, map[string]string{"adapter.js": `
export async function call(req) { while (true) {} }`})
	c, err := jsclient.New(path, newEnv(), jsclient.Options{MaxTurn: time.Hour})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	r := c.Do(ctx, client.Call{ID: "c1", Device: "d", Method: "GET", Path: "/x"})
	require.ErrorIs(t, r.Err, context.DeadlineExceeded)
	within(t, 5*time.Second, func() { require.NoError(t, c.Close()) })
}

func TestBundleRefusesSpecialFiles(t *testing.T) {
	_, err := jsclient.Bundle("/dev/zero")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a regular file")
	p := filepath.Join(t.TempDir(), "fifo.js")
	require.NoError(t, syscall.Mkfifo(p, 0o600))
	within(t, 5*time.Second, func() {
		_, err := jsclient.Bundle(p)
		require.Error(t, err)
	})
}

// A turn of a process the operating system starves of CPU (a loaded CI
// machine) is not a busy loop: the watchdog counts a turn's time only while
// the process gets CPU. Frozen here, the CPU clock says the process got none,
// so a turn running past MaxTurn by the wall clock is left alone.
func TestStarvedProcessTurnIsNotABusyLoop(t *testing.T) {
	restore := jsclient.SetProcessCPU(func() (time.Duration, bool) { return time.Second, true })
	defer restore()
	path := writeAdapter(t, map[string]string{"adapter.js": `
export async function call(req) {
  const until = Date.now() + 600; while (Date.now() < until) {}
  return {status: 200, header: {}, body: "ok"}
}`})
	c, err := jsclient.New(path, newEnv(), jsclient.Options{MaxTurn: 200 * time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	within(t, 10*time.Second, func() {
		r := c.Do(context.Background(), client.Call{ID: "s1", Device: "slow", Method: "GET", Path: "/x"})
		require.NoError(t, r.Err)
	})
	assert.EqualValues(t, 0, c.Stats().Killed)
}

// A slow turn during which other goroutines make a heap's worth of garbage
// is not a runaway: only live growth counts (with the collector off, the
// heap only grows, and nothing of it is live).
func TestGarbageDuringASlowTurnIsNotARunaway(t *testing.T) {
	path := writeAdapter(t, map[string]string{"adapter.js": `
export async function call(req) {
  const until = Date.now() + 1500; let n = 0
  while (Date.now() < until) { n++ }
  return {status: 200, header: {}, body: "ok " + n}
}`})
	c, err := jsclient.New(path, newEnv(), jsclient.Options{MemoryLimit: 32 << 20, MaxTurn: time.Minute})
	require.NoError(t, err)
	defer c.Close()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // another device's churn: 1 MiB of garbage every 5 ms
		defer close(done)
		var sink []byte
		for {
			select {
			case <-stop:
				_ = sink
				return
			case <-time.After(5 * time.Millisecond):
				sink = make([]byte, 1<<20)
				sink[0] = 1
			}
		}
	}()
	within(t, 20*time.Second, func() {
		r := c.Do(context.Background(), client.Call{ID: "s1", Device: "slow", Method: "GET", Path: "/x"})
		close(stop)
		<-done
		require.NoError(t, r.Err)
		assert.Equal(t, 200, r.Status)
	})
}
