package storm

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"
)

func TestZZPlain(t *testing.T) {
	if os.Getenv("ZZ") != "plain" {
		t.Skip()
	}
	rps, _ := plainVegeta(t, 400, 5*time.Second)
	t.Logf("plain %.0f", rps)
}

func TestZZStorm(t *testing.T) {
	if os.Getenv("ZZ") != "storm" {
		t.Skip()
	}
	s, _ := Run(context.Background(), steadyMax(100, 4, 5*time.Second), Options{NewClient: refFactory, OutDir: t.TempDir()})
	t.Logf("storm %.0f", s.Storm.ThroughputRPS)
}

func TestZZHeap(t *testing.T) {
	if os.Getenv("ZZ") != "heap" {
		t.Skip()
	}
	sc, _ := Builtin("synchronized-expiry")
	sc.Devices, sc.InFlight = 10_000, 4
	sc.Rate = Rate{Pacer: "constant", Freq: 3000, Per: time.Second}
	sc.Duration = 14 * time.Second
	sc.Timeline[0].At = 5 * time.Second
	time.AfterFunc(12*time.Second, func() {
		f, _ := os.Create("/tmp/heap.out")
		runtime.GC()
		pprof.WriteHeapProfile(f)
		f.Close()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		t.Logf("heap inuse %d MB, sys %d MB, goroutines %d", ms.HeapInuse>>20, ms.Sys>>20, runtime.NumGoroutine())
	})
	s, _ := Run(context.Background(), sc, Options{NewClient: refFactory, OutDir: t.TempDir()})
	t.Logf("rss %.0f amp %.2f lost %d", PeakRSSMB(), s.Refresh.Amplification, s.Requests.Lost)
}

func TestZZHeapSteady(t *testing.T) {
	if os.Getenv("ZZ") != "heapsteady" {
		t.Skip()
	}
	sc := steadyMax(1000, 4, 12*time.Second)
	time.AfterFunc(10*time.Second, func() {
		f, _ := os.Create("/tmp/heap2.out")
		runtime.GC()
		pprof.WriteHeapProfile(f)
		f.Close()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		t.Logf("heap inuse %d MB, sys %d MB, stack %d MB, goroutines %d", ms.HeapInuse>>20, ms.Sys>>20, ms.StackInuse>>20, runtime.NumGoroutine())
	})
	s, _ := Run(context.Background(), sc, Options{NewClient: refFactory, OutDir: t.TempDir()})
	t.Logf("rss %.0f rps %.0f lost %d", PeakRSSMB(), s.Storm.ThroughputRPS, s.Requests.Lost)
}
