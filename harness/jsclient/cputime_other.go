//go:build !unix

package jsclient

import "time"

// processCPU is not known here: turns are timed by the wall clock alone.
func readProcessCPU() (time.Duration, bool) { return 0, false }
