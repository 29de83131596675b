package execclient

import (
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/conform"
	"github.com/tokenstorm/tokenstorm/harness/refclient"
	"github.com/tokenstorm/tokenstorm/harness/storm"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// skewStorm moves half of 8 phones' clocks 3 h ahead mid-storm, far past
// their tokens' 1 m life: by its own clock a skewed phone's token has
// expired, though the backend still takes it.
const skewStorm = `
name: devskew
devices: 8
in_flight: 2
duration: 1500ms
deadline: 5s
rate: {pacer: constant, freq: 60}
backend: {access_ttl: 1m}
timeline:
  - {at: 500ms, action: clock_skew, skew: 3h, devices: 0.5}
thresholds:
  - requests.lost == 0
  - refresh.amplification <= 1
  - "invariants: all"
`

func runSkewStorm(t *testing.T, name string, newClient func(client.Env) (client.Client, error)) *summary.Summary {
	t.Helper()
	sc, err := storm.Parse("devskew.yaml", []byte(skewStorm))
	require.NoError(t, err)
	s, err := storm.Run(context.Background(), sc, storm.Options{NewClient: newClient, ClientName: name})
	require.NoError(t, err)
	require.Len(t, s.Scenarios, 1)
	return s
}

func execFactory(t *testing.T, cmd string) func(client.Env) (client.Client, error) {
	return func(env client.Env) (client.Client, error) {
		return New(context.Background(), cmd, env, Options{Stderr: testWriter{t}, CloseGrace: 2 * time.Second})
	}
}

func refreshesOf(s *summary.Summary) map[string]int {
	out := map[string]int{}
	for _, d := range s.PerDevice {
		out[d.Device] = d.Refreshes
	}
	return out
}

func skewNotes(s *summary.Summary) []string {
	var out []string
	for _, n := range s.Notes {
		if strings.Contains(n, "never took a device clock") {
			out = append(out, n)
		}
	}
	return out
}

// pythonClient is the command of examples/exec/python, or a skip when
// python3 is not installed.
func pythonClient(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not in PATH: skipping the Python example client")
	}
	return shellQuote(py) + " " + shellQuote(filepath.Join(repoRoot(t), "examples", "exec", "python", "client.py"))
}

// SPEC §6: a device clock offset reaches exec clients. The Go, Node.js and
// Python examples answer hello with protocol 3, read each call's
// clock_offset_ms and renew once per skewed phone before sending, as the
// reference client does with its device clocks; the storm passes and no
// note says the skew was missed. The naive Node.js client (protocol 1)
// keeps its own time: like the reference client given no device clock, it
// renews nothing, and the summary says the skew did not reach it.
func TestStormDeviceClockSkewReachesExecClients(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four storms through example clients")
	}
	honouring := []struct {
		name string
		cmd  func(*testing.T) string // skips when the runtime is missing
	}{
		{"go", goClient},
		{"node", func(t *testing.T) string { return nodeClient(t, "node") }},
		{"python", pythonClient},
	}
	for _, c := range honouring {
		t.Run(c.name+" (protocol 3)", func(t *testing.T) {
			s := runSkewStorm(t, "exec:"+c.name, execFactory(t, c.cmd(t)))
			assert.Equal(t, summary.Pass, s.Scenarios[0].Verdict, s.Scenarios[0].Detail)
			refreshes := refreshesOf(s)
			for i := 1; i <= 8; i++ {
				dev := "devskew-d" + string(rune('0'+i))
				want := 0
				if i <= 4 {
					want = 1 // its token expired by its own clock: one renewal
				}
				assert.Equal(t, want, refreshes[dev], dev)
			}
			assert.Equal(t, 1.0, s.Refresh.Amplification)
			assert.Empty(t, skewNotes(s))
		})
	}

	// What the reference client gets when it ignores its device clock.
	ownTime := runSkewStorm(t, "ref-own-time", func(env client.Env) (client.Client, error) {
		env.DeviceClock = nil
		return refclient.New(env, refclient.Options{}), nil
	})
	require.Zero(t, ownTime.Refresh.Refreshes)
	t.Run("naive (protocol 1)", func(t *testing.T) {
		s := runSkewStorm(t, "exec:naive", execFactory(t, nodeClient(t, "naive")))
		assert.Equal(t, ownTime.Scenarios[0].Verdict, s.Scenarios[0].Verdict, s.Scenarios[0].Detail)
		assert.Equal(t, ownTime.Refresh.Refreshes, s.Refresh.Refreshes, "the skew did not reach it")
		assert.Len(t, skewNotes(s), 1)
		assert.Len(t, skewNotes(ownTime), 1)
	})
}

// The conform scenarios that skew the device clocks run for an exec client
// that is told them (protocol 3: the Go and Node.js examples) and pass; for
// one that keeps its own time (the naive Node.js client, protocol 1) they
// are skip with the reason, never a silent pass.
func TestConformDeviceClockScenariosRunForExecClients(t *testing.T) {
	if testing.Short() {
		t.Skip("runs conform scenarios through example clients")
	}
	paths := []string{filepath.Join(repoRoot(t), "features", "client_boundaries.feature")}
	run := func(t *testing.T, name, cmd string) map[string]summary.Scenario {
		res, err := conform.Run(context.Background(), conform.Options{
			NewClient: execFactory(t, cmd), ClientName: "exec:" + name, Paths: paths, Output: io.Discard,
		})
		require.NoError(t, err)
		out := map[string]summary.Scenario{}
		for _, sc := range res.Scenarios {
			if strings.Contains(sc.Name, "device clock") {
				out[sc.Name] = sc
			}
		}
		require.Len(t, out, 2)
		return out
	}
	t.Run("go (protocol 3)", func(t *testing.T) {
		for name, sc := range run(t, "go", goClient(t)) {
			assert.Equal(t, summary.Pass, sc.Verdict, "%s: %s", name, sc.Detail)
		}
	})
	t.Run("node (protocol 3)", func(t *testing.T) {
		for name, sc := range run(t, "node", nodeClient(t, "node")) {
			assert.Equal(t, summary.Pass, sc.Verdict, "%s: %s", name, sc.Detail)
		}
	})
	t.Run("naive (protocol 1)", func(t *testing.T) {
		for name, sc := range run(t, "naive", nodeClient(t, "naive")) {
			assert.Equal(t, summary.Skip, sc.Verdict, name)
			assert.Contains(t, sc.Detail, "keeps its own time", name)
		}
	})
}
