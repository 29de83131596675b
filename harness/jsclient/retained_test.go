package jsclient_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/jsclient"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// A module-scope array that keeps 1 MB per call (never reachable from the
// global object: the walk must see the module's closures) is stopped once it
// holds RetainLimit more than at load; its device is named, the others go on.
func TestRetainedGrowthAcrossCallsStopsItsDevice(t *testing.T) {
	path := writeAdapter(t, map[string]string{"adapter.js": `
const kept = [];
export async function call(req) {
  if (req.device === "hog") { kept.push("x".repeat(1 << 20) + req.path); }
  return {status: 200, header: {}, body: "ok:" + req.device}
}`})
	env := newEnv()
	c, err := jsclient.New(path, env, jsclient.Options{RetainLimit: 16 << 20})
	require.NoError(t, err)
	defer c.Close()
	var stopped error
	n := 0
	within(t, 30*time.Second, func() {
		for ; n < 400 && stopped == nil; n++ {
			r := c.Do(context.Background(), client.Call{ID: fmt.Sprint("h", n), Device: "hog", Method: "GET", Path: "/x"})
			stopped = r.Err
		}
	})
	t.Logf("stopped after %d calls", n)
	require.Error(t, stopped, "a runtime keeping 1 MB per call was never stopped")
	assert.True(t, jsclient.IsLimit(stopped), stopped)
	assert.Contains(t, stopped.Error(), "device hog")
	assert.Contains(t, stopped.Error(), "keeps memory across calls")
	assert.Less(t, n, 16+2*64+2, "stopped within two checks of the limit")
	r := c.Do(context.Background(), client.Call{ID: "g", Device: "good", Method: "GET", Path: "/x"})
	require.NoError(t, r.Err)
	var noted bool
	for _, e := range env.Ledger.Events() {
		noted = noted || e.Kind == ledger.KindClientLog && e.Device == "hog" && strings.Contains(e.Detail, "MiB more than once loaded")
	}
	assert.True(t, noted, "the ledger names the device and the figure")
}

// A well-behaved adapter that allocates a lot per call but keeps nothing is
// never flagged, however many calls it makes.
func TestNoRetainedFalsePositive(t *testing.T) {
	path := writeAdapter(t, map[string]string{"adapter.js": `
const cache = new Map();
export async function call(req) {
  const big = "y".repeat(1 << 20);
  cache.set(req.path.length % 8, big.length); // bounded cache
  return {status: 200, header: {}, body: "ok:" + big.length}
}`})
	c, err := jsclient.New(path, newEnv(), jsclient.Options{RetainLimit: 4 << 20})
	require.NoError(t, err)
	defer c.Close()
	for i := range 600 {
		r := c.Do(context.Background(), client.Call{ID: fmt.Sprint("w", i), Device: "w", Method: "GET", Path: "/x"})
		require.NoError(t, r.Err, "call %d", i)
	}
	assert.Zero(t, c.Stats().Killed)
}
