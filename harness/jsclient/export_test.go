package jsclient

import (
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// SetProcessCPU replaces the watchdog's CPU clock until the returned func runs.
func SetProcessCPU(f func() (time.Duration, bool)) (restore func()) {
	old := processCPU
	processCPU = f
	return func() { processCPU = old }
}

// CountCollections counts the watchdog's forced collections until the returned func runs.
func CountCollections(n *atomic.Int32) (restore func()) {
	old := collect
	collect = func(heap, live []metrics.Sample) (uint64, uint64) { n.Add(1); return old(heap, live) }
	return func() { collect = old }
}
