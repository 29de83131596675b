package storm

// Memory per simulated device (issue 18). A device costs what the client
// under test keeps for it (token state, a transport), what the reference
// backend and mock WeChat keep for its user, what the checker keeps to judge
// it, and the storm's own per-device slots and contexts. Measured on an idle
// fleet: every device logged in by the warm-up, nothing in flight.
//
//	go test -run '^$' -bench IdleDeviceMemory -benchtime 1x ./harness/storm/
//	make bench-storm     # the devices-vs-memory curve, one process per size

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fleetMemory is what one idle fleet costs.
type fleetMemory struct {
	Devices    int     `json:"devices"`
	HeapPerDev float64 `json:"heap_bytes_per_device"` // live heap after a GC, over the baseline
	RSSPerDev  float64 `json:"rss_bytes_per_device"`  // resident memory, over the baseline
	GoPerDev   float64 `json:"goroutines_per_device"`
	IdleRSSMB  float64 `json:"idle_rss_mb"`
	PeakRSSMB  float64 `json:"peak_rss_mb"` // of the whole run, warm-up's burst included
	WarmupS    float64 `json:"warmup_s"`
	Lost       int     `json:"lost"`
	Verdict    string  `json:"verdict"`
}

// idleFleet: n devices, one request in flight each, logged in by the
// warm-up, then a short trickle of requests.
func idleFleet(n int) *Scenario {
	sc := steadyMax(n, 1, time.Second)
	sc.Name = "idle-fleet"
	sc.Rate = Rate{Pacer: "constant", Freq: 20, Per: time.Second}
	return sc
}

// measureFleet runs an idle fleet of n devices and measures it once every
// device has logged in. The baseline is taken before the run starts, after
// a GC, so what is left is what the fleet holds.
func measureFleet(tb testing.TB, n int) fleetMemory {
	tb.Helper()
	settle := func() (heap, rss uint64, gs int) {
		runtime.GC()
		debug.FreeOSMemory() // free pages back to the OS: RSS is then what is held
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc, currentRSS(), runtime.NumGoroutine()
	}
	heap0, rss0, g0 := settle()
	m := fleetMemory{Devices: n}
	began := time.Now()
	s, err := Run(context.Background(), idleFleet(n), Options{NewClient: refFactory, AfterWarmUp: func() {
		m.WarmupS = time.Since(began).Seconds()
		heap, rss, gs := settle()
		m.HeapPerDev = float64(int64(heap)-int64(heap0)) / float64(n)
		m.RSSPerDev = float64(int64(rss)-int64(rss0)) / float64(n)
		m.GoPerDev = float64(gs-g0) / float64(n)
		m.IdleRSSMB = float64(rss) / (1 << 20)
	}})
	require.NoError(tb, err)
	m.PeakRSSMB, m.Lost, m.Verdict = PeakRSSMB(), s.Requests.Lost, s.Verdict
	return m
}

// currentRSS is the process's resident set now (VmRSS), in bytes.
func currentRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkIdleDeviceMemory reports bytes per idle device (TOKENSTORM_DEVICES,
// default 10,000). It ignores b.N: one fleet is one measurement.
func BenchmarkIdleDeviceMemory(b *testing.B) {
	m := measureFleet(b, envInt("TOKENSTORM_DEVICES", 10_000))
	b.ReportMetric(m.HeapPerDev, "heap-B/device")
	b.ReportMetric(m.RSSPerDev, "rss-B/device")
	b.ReportMetric(m.GoPerDev, "goroutines/device")
	b.ReportMetric(m.PeakRSSMB, "peak-rss-MB")
	if m.Lost > 0 {
		b.Fatalf("%d requests lost", m.Lost)
	}
}

// TestDeviceMemoryCurve is `make bench-storm`: one fresh process per fleet
// size (TOKENSTORM_CURVE, default 1000,10000,100000), since peak RSS is per
// process, and a table of what a device costs at each size.
func TestDeviceMemoryCurve(t *testing.T) {
	if n := os.Getenv("TOKENSTORM_CURVE_CHILD"); n != "" {
		devices, err := strconv.Atoi(n)
		require.NoError(t, err)
		b, _ := json.Marshal(measureFleet(t, devices))
		fmt.Printf("FLEET %s\n", b)
		return
	}
	long(t)
	sizes := os.Getenv("TOKENSTORM_CURVE")
	if sizes == "" {
		sizes = "1000,10000,100000"
	}
	fmt.Printf("%-9s %14s %14s %12s %12s %12s %10s %5s %s\n", "devices", "RSS/device", "heap/device", "goroutines/d", "idle RSS", "peak RSS", "warm-up", "lost", "verdict")
	for _, f := range strings.Split(sizes, ",") {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestDeviceMemoryCurve$", "-test.timeout", "1h")
		cmd.Env = append(os.Environ(), "TOKENSTORM_CURVE_CHILD="+strings.TrimSpace(f))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		require.NoError(t, err, "%s", out)
		var m fleetMemory
		for _, line := range strings.Split(string(out), "\n") {
			if j, ok := strings.CutPrefix(line, "FLEET "); ok {
				require.NoError(t, json.Unmarshal([]byte(j), &m))
			}
		}
		require.NotZero(t, m.Devices, "the child printed no figures: %s", out)
		fmt.Printf("%-9d %11.1f KB %11.1f KB %12.3f %9.0f MB %9.0f MB %9.1fs %5d %s\n", m.Devices, m.RSSPerDev/1024, m.HeapPerDev/1024,
			m.GoPerDev, m.IdleRSSMB, m.PeakRSSMB, m.WarmupS, m.Lost, m.Verdict)
	}
}
