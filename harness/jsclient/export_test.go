package jsclient

import "time"

// SetProcessCPU replaces the watchdog's CPU clock until the returned func runs.
func SetProcessCPU(f func() (time.Duration, bool)) (restore func()) {
	old := processCPU
	processCPU = f
	return func() { processCPU = old }
}
