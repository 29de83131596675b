//go:build !unix

package execclient

import (
	"os"
	"os/exec"
)

// shellCommand: without a Unix shell and process groups the best we can do
// is run the command through cmd.exe; killGroup then kills the direct child
// only.
func shellCommand(cmd string) *exec.Cmd {
	return exec.Command("cmd.exe", "/C", cmd)
}

func shellSignal(int) string { return "" }

func killGroup(p *os.Process) {
	if p != nil {
		_ = p.Kill()
	}
}
