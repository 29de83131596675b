//go:build linux

package execclient

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// killTagged sends SIGKILL to every process whose environment carries tag
// (TOKENSTORM_EXEC_TAG=…): the exec client and whatever it started, even a
// grandchild that left the process group with setsid, or a daemon that was
// reparented to init. Processes of other users cannot be read and are not
// ours anyway.
func killTagged(tag string) {
	if tag == "" {
		return
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	needle := []byte(tagEnv + "=" + tag + "\x00")
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(append(env, 0), needle) {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// otherPipeHolders counts the processes below leader (not leader itself)
// that hold an fd on the pipe with inode ino; -1 when /proc cannot tell.
func otherPipeHolders(leader int, ino uint64) int {
	want := "pipe:[" + strconv.FormatUint(ino, 10) + "]"
	n, seen := 0, map[int]bool{leader: true}
	queue := children(leader)
	if queue == nil {
		return -1
	}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		queue = append(queue, children(pid)...)
		fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + fd.Name()); err == nil && l == want {
				n++
				break
			}
		}
	}
	return n
}

// children lists pid's child processes (nil if /proc cannot say).
func children(pid int) []int {
	p := strconv.Itoa(pid)
	b, err := os.ReadFile("/proc/" + p + "/task/" + p + "/children")
	if err != nil {
		return nil
	}
	out := []int{}
	for _, f := range bytes.Fields(b) {
		if c, err := strconv.Atoi(string(f)); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// pipeInode is the inode of the pipe f is an end of.
func pipeInode(f *os.File) (uint64, bool) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return 0, false
	}
	return st.Ino, true
}

// stdoutGoneWatch reports, through gone, that nothing but the shell still
// holds the client's stdout: the client closed it (or died) while sh -c
// lives on, so no answer can come although the pipe never reaches EOF.
func (c *Client) stdoutGoneWatch(gone chan<- struct{}) {
	ino, ok := pipeInode(c.stdout) // before any goroutine may close it
	if !ok {
		return
	}
	go c.watchPipe(ino, gone)
}

func (c *Client) watchPipe(ino uint64, gone chan<- struct{}) {
	leader := c.proc.Process.Pid
	exe := "/proc/" + strconv.Itoa(leader) + "/exe"
	// The leader must still be the shell: once sh has exec'd the client
	// (`exec ./client`, or sh's own last-command exec) the client is the
	// leader, EOF works, and this watch would only see a childless leader.
	shell, err := filepath.EvalSymlinks(c.proc.Path)
	if err != nil {
		return
	}
	if now, err := os.Readlink(exe); err != nil || now != shell {
		return
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	// Once a child of the shell was seen holding the pipe and the hello
	// came, nobody but the shell holding it on two ticks in a row (not the
	// instant between two commands of a script) means the client let go of
	// its stdout. A client the shell runs inline (a `while read` loop in sh
	// itself) never has a child holding it and is left to EOF.
	held, empty := false, 0
	for {
		select {
		case <-c.exited:
			return
		case <-c.stdoutDone:
			return
		case <-tick.C:
		}
		if now, err := os.Readlink(exe); err != nil || now != shell {
			return // the shell exec'd the client (or is gone): EOF tells
		}
		c.mu.Lock()
		hello := c.helloSent
		c.mu.Unlock()
		switch n := otherPipeHolders(leader, ino); {
		case n < 0:
			return // no /proc children support: EOF is all we have
		case n > 0:
			held, empty = true, 0
		case !hello || !held:
			empty = 0
		default:
			if empty++; empty >= 2 {
				close(gone)
				return
			}
		}
	}
}
