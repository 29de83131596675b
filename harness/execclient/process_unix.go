//go:build unix

package execclient

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// shellCommand runs cmd with `sh -c`: users write exec:'…' the way they write a
// CI step (`cd client && npm start`, `FOO=1 ./client`), so the shell's parsing
// is the least surprising one.
//
// The process gets its own process group so that Close and crash handling can
// kill everything it started (a shell wrapper, `npm start` and its node child,
// background helpers) with one signal, and none of them lingers holding the
// pipes open.
func shellCommand(cmd string) *exec.Cmd {
	c := exec.Command("/bin/sh", "-c", cmd)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return c
}

// killGroup sends SIGKILL to the process group led by p. A group that is
// already gone is not an error.
func killGroup(p *os.Process) {
	if p == nil {
		return
	}
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		_ = p.Kill() // cannot address the group: at least the leader
	}
}
