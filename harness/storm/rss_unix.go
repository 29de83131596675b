//go:build unix

package storm

import (
	"runtime"
	"syscall"
)

// PeakRSSMB returns the process's peak resident set size in MiB, from
// getrusage(2): ru_maxrss is in KiB on Linux and the BSDs, in bytes on macOS.
func PeakRSSMB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	kb := float64(ru.Maxrss)
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		kb /= 1024
	}
	return float64(int64(kb/1024*10+0.5)) / 10
}
