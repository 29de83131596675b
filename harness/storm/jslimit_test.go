package storm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/jsclient"
	"github.com/tokenstorm/tokenstorm/harness/summary"
	"github.com/tokenstorm/tokenstorm/reports"
)

// perDevice records how each device's calls settled, on the way through.
type perDevice struct {
	client.Client
	mu       sync.Mutex
	ok, fail map[string]int
	errs     map[string]string
}

func (p *perDevice) Do(ctx context.Context, c client.Call) client.Result {
	r := p.Client.Do(ctx, c)
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.Err == nil && r.Status == 200 {
		p.ok[c.Device]++
	} else {
		p.fail[c.Device]++
		if r.Err != nil {
			p.errs[c.Device] = r.Err.Error()
		}
	}
	return r
}

// One JS device doubling a string used to take the whole harness down with
// no report written (issue 15). Now the memory watch stops that device's
// runtime only: the storm finishes, the other devices' requests are judged
// as usual, and every report names the stopped device.
func TestStormGoesOnWhenOneJSDeviceRunsAwayInMemory(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../../examples/js/correct/request.js")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "request.js"), src, 0o644))
	// The correct wrapper, except on device hog-d2 whose first call
	// allocates without bound (and keeps what it allocated).
	require.NoError(t, os.WriteFile(filepath.Join(dir, "adapter.js"), []byte(`
import { http } from './request.js';
export async function call(req) {
  if (req.device === "hog-d2") { let s = "x"; const keep = []; while (true) { s = s + s; keep.push(s) } }
  const res = await http.request({ url: req.url, method: req.method, data: req.data, header: req.header });
  return { statusCode: res.statusCode, data: res.data, header: res.header };
}`), 0o644))
	sc := shortStorm(t)
	sc.Name = "hog"
	sc.Devices = 4
	sc.Rate = Rate{Pacer: "constant", Freq: 40, Per: time.Second}
	gate, err := ParseThreshold("stopped_devices.total == 0")
	require.NoError(t, err)
	sc.Thresholds = append(sc.Thresholds, gate)

	rec := &perDevice{ok: map[string]int{}, fail: map[string]int{}, errs: map[string]string{}}
	out := t.TempDir()
	began := time.Now()
	s, err := Run(context.Background(), sc, Options{OutDir: out, ClientName: "js:hog", NewClient: func(env client.Env) (client.Client, error) {
		c, err := jsclient.New(filepath.Join(dir, "adapter.js"), env, jsclient.Options{MemoryLimit: 32 << 20, MaxTurn: time.Minute})
		rec.Client = c
		return rec, err
	}})
	require.NoError(t, err)
	assert.Less(t, time.Since(began), time.Minute)
	require.NoError(t, reports.WriteAll(out, s))

	// The hog is stopped for memory, and named.
	require.NotNil(t, s.StoppedDevices, "notes: %v", s.Notes)
	assert.Equal(t, 1, s.StoppedDevices.Total)
	require.Len(t, s.StoppedDevices.Devices, 1)
	assert.Equal(t, "hog-d2", s.StoppedDevices.Devices[0].Device)
	assert.Contains(t, s.StoppedDevices.Devices[0].Reason, "allocated more than 32 MiB")
	assert.Zero(t, rec.ok["hog-d2"], "the hog never answers")
	assert.Positive(t, rec.fail["hog-d2"])
	assert.Contains(t, rec.errs["hog-d2"], "js runtime of device hog-d2 stopped")

	// The others are judged normally: every call answered, through the
	// expiry and its refreshes, and no invariant fails.
	for _, d := range []string{"hog-d1", "hog-d3", "hog-d4"} {
		assert.Positive(t, rec.ok[d], d)
		assert.Zero(t, rec.fail[d], "%s: %s", d, rec.errs[d])
	}
	assert.Equal(t, rec.fail["hog-d2"], s.Requests.Failed, "only the hog's requests failed")
	assert.Zero(t, s.Requests.Lost)
	assert.Positive(t, s.Refresh.Refreshes)
	assert.Empty(t, s.FailedInvariants())
	assert.Positive(t, s.Invariants[summary.SingleRefresh].Checked)
	// ... and the gate on stopped devices fails the run.
	assert.Equal(t, summary.Fail, threshold(s, "stopped_devices.total == 0").Verdict)
	assert.Equal(t, summary.Fail, s.Verdict)

	for _, f := range []string{"summary.json", "summary.md", "report.html"} {
		b, err := os.ReadFile(filepath.Join(out, f))
		require.NoError(t, err, f)
		assert.Contains(t, string(b), "js runtime of device hog-d2 stopped: one turn of its JavaScript allocated more than 32 MiB", f)
	}
	md, _ := os.ReadFile(filepath.Join(out, "summary.md"))
	assert.True(t, strings.Contains(string(md), "Devices stopped by a limit: 1"), "summary.md:\n%s", md)
}
