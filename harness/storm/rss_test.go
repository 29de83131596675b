//go:build linux

package storm

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// getrusage's peak agrees with the kernel's VmHWM, and grows when memory is touched.
func TestPeakRSSMatchesProc(t *testing.T) {
	ballast := make([]byte, 64<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	got := PeakRSSMB()
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	var hwm float64
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			require.NoError(t, err)
			hwm = kb / 1024
		}
	}
	assert.GreaterOrEqual(t, got, 64.0)
	assert.InDelta(t, hwm, got, 2)
	assert.Equal(t, byte(1), ballast[len(ballast)-1])
}
