package storm

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// PeakRSSMB returns the process's peak resident set size in MiB (VmHWM of
// /proc/self/status), or 0 where that file does not exist.
func PeakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err != nil {
				return 0
			}
			return float64(int64(kb/1024*10+0.5)) / 10
		}
	}
	return 0
}
