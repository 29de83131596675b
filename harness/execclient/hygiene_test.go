//go:build linux

package execclient

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Under sh (no leading exec), a client that closes its stdout used to be
// seen only at each call's deadline: it now fails the pending call at once.
func TestClosedStdoutUnderShellIsSeenAtOnce(t *testing.T) {
	cmd := helperCmdViaShell(t, "close-stdout-later")
	c, _ := start(t, cmd, Options{})
	start := time.Now()
	res := do(t, c, call("r1", "d1"))
	require.Error(t, res.Err)
	assert.Contains(t, res.Err.Error(), "closed its stdout and was killed")
	assert.Less(t, time.Since(start), 4*time.Second, "failed at once, not at the deadline")
}

// Under sh, a client killed by a signal used to read "exited with status
// 137": the signal is reported.
func TestSignalUnderShellIsReported(t *testing.T) {
	cmd := strings.TrimSuffix(helperCmdViaShell(t, "killed"), "; true") + "; exit $?"
	c, _ := start(t, cmd, Options{})
	res := do(t, c, call("r1", "d1"))
	require.Error(t, res.Err)
	assert.Contains(t, res.Err.Error(), "was killed by signal killed (the shell running it exited with status 137)")
}

// A grandchild that left the process group with setsid used to survive
// Close: every tagged process is killed.
func TestSetsidGrandchildIsKilled(t *testing.T) {
	c, _ := start(t, helperCmd(t, "setsid-child"), Options{})
	res := do(t, c, call("r1", "d1"))
	require.NoError(t, res.Err)
	var pid int
	require.Eventually(t, func() bool {
		m := regexp.MustCompile(`grandchild (\d+)`).FindStringSubmatch(strings.Join(c.tail.Lines(), "\n"))
		if m != nil {
			pid, _ = strconv.Atoi(m[1])
		}
		return pid > 0
	}, 5*time.Second, 10*time.Millisecond)
	require.True(t, alive(pid), "the grandchild runs")
	_ = c.Close()
	assert.Eventually(t, func() bool { return !alive(pid) }, 5*time.Second, 20*time.Millisecond, "setsid grandchild %d survived Close", pid)
}

func TestPlainCommandsRunWithoutShell(t *testing.T) {
	assert.Equal(t, []string{"node", "client.js", "--fast"}, plainArgv("node client.js --fast"))
	for _, cmd := range []string{"cd x && ./c", "FOO=1 ./c", "./c 'a b'", "./c > log", "./c $HOME", "./c; true", "./c *"} {
		assert.Nil(t, plainArgv(cmd), cmd)
	}
	assert.Equal(t, "/bin/sh", shellCommand("true; false").Path)
	assert.NotEqual(t, "/bin/sh", shellCommand("true").Path)
}
