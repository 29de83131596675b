//go:build unix

package execclient

import (
	"errors"
	"os"
	"os/exec"
	"strings"
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
//
// A command that needs no shell (words only: `node client.js --fast`) is
// run directly, without sh in between: then a closed stdout is seen at once
// and a crash reports its real signal.
func shellCommand(cmd string) *exec.Cmd {
	var c *exec.Cmd
	if argv := plainArgv(cmd); argv != nil {
		if path, err := exec.LookPath(argv[0]); err == nil {
			c = exec.Command(path, argv[1:]...)
		}
	}
	if c == nil {
		c = exec.Command("/bin/sh", "-c", cmd)
	}
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return c
}

// plainArgv splits cmd on spaces when no shell syntax is in it (no quotes,
// expansions, operators, redirections, globs or assignments), else nil.
func plainArgv(cmd string) []string {
	for _, r := range cmd {
		ok := r == ' ' || r == '/' || r == '.' || r == '_' || r == '-' || r == ':' || r == ',' || r == '@' || r == '+' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return nil
		}
	}
	argv := strings.Fields(cmd)
	if len(argv) == 0 {
		return nil
	}
	return argv
}

// shellSignal reads the shell's convention for a child killed by a signal:
// exit status 128+N. It returns N's name, or "".
func shellSignal(code int) string {
	if code <= 128 || code > 128+64 {
		return ""
	}
	return syscall.Signal(code - 128).String()
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
