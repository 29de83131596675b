package execclient

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"
)

// start launches the process with its three pipes and the goroutines that
// serve them. The pipes are made by hand (not Cmd.StdoutPipe) because
// Cmd.Wait closes its own pipes, which would race with our readers; with our
// own, Wait only reaps and the readers see EOF when the last writer is gone.
func (c *Client) start() error {
	cmd := shellCommand(c.cmdStr)
	cmd.Dir = c.opts.Dir
	cmd.Env = append(os.Environ(),
		"TOKENSTORM_BACKEND_URL="+c.env.BackendURL,
		"TOKENSTORM_WECHAT_URL="+c.env.WechatURL,
		"TOKENSTORM_APPID="+c.env.AppID,
		"TOKENSTORM_PROTOCOL="+strconv.Itoa(helloProtocol(c.spec)),
	)
	if c.env.Style != "" {
		cmd.Env = append(cmd.Env, "TOKENSTORM_STYLE="+c.env.Style)
	}
	cmd.Env = append(cmd.Env, c.opts.Env...)
	// Every process the client starts inherits the tag, so that killing the
	// client finds all of them (killTagged), in or out of its process group.
	c.tag = strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(tagSeq.Add(1), 10)
	cmd.Env = append(cmd.Env, tagEnv+"="+c.tag)
	c.viaShell = filepath.Base(cmd.Path) == "sh"

	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			_ = f.Close()
		}
	}
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			files = append(files, r, w)
		}
		return r, w, err
	}
	inR, inW, err := pipe()
	if err != nil {
		return fmt.Errorf("exec client %q: %w", c.cmdStr, err)
	}
	outR, outW, err := pipe()
	if err != nil {
		closeAll()
		return fmt.Errorf("exec client %q: %w", c.cmdStr, err)
	}
	errR, errW, err := pipe()
	if err != nil {
		closeAll()
		return fmt.Errorf("exec client %q: %w", c.cmdStr, err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	if err := cmd.Start(); err != nil {
		closeAll()
		return fmt.Errorf("exec client %q: cannot start: %w", c.cmdStr, err)
	}
	// The child has its copies; ours of its ends must go, or we would never
	// see EOF on its stdout.
	_ = inR.Close()
	_ = outW.Close()
	_ = errW.Close()
	c.proc, c.stdin, c.stdout, c.stderr = cmd, inW, outR, errR

	go func() {
		_ = cmd.Wait() // the status is in cmd.ProcessState
		close(c.exited)
	}()
	go func() {
		_, _ = io.Copy(c.tail, c.stderr)
		close(c.stderrDone)
	}()
	c.stdoutGone = make(chan struct{})
	if c.viaShell {
		c.stdoutGoneWatch(c.stdoutGone)
	}
	go c.readLoop()
	go c.writeLoop()
	go c.supervise()
	return nil
}

// writeLoop writes queued lines to stdin, batching whatever is queued into one
// flush. It stops when the client closes or the process dies.
func (c *Client) writeLoop() {
	w := bufio.NewWriterSize(c.stdin, 64<<10)
	for {
		var line []byte
		select {
		case line = <-c.writeq:
		case <-c.stopWrite:
			return
		case <-c.dead:
			return
		}
		n := int64(1)
		_, err := w.Write(line)
	batch:
		for err == nil {
			select {
			case line = <-c.writeq:
				_, err = w.Write(line)
				n++
			default:
				break batch
			}
		}
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			c.stdinFailed(err)
			return
		}
		c.written.Add(n)
	}
}

// stdinFailed handles a write error: usually the process has just died (the
// supervisor reports that); if it is still running it has closed its stdin
// while calls are due, which is fatal, so it is killed.
func (c *Client) stdinFailed(err error) {
	c.mu.Lock()
	closing := c.closing
	c.mu.Unlock()
	if closing {
		return
	}
	select {
	case <-c.exited:
	case <-time.After(exitAfterEOF):
		c.mu.Lock()
		c.stdinErr = err
		c.mu.Unlock()
		c.killAll()
	}
}

// supervise waits for the process to go away, makes sure nothing it started
// lingers, and turns its end into the fatal error every call then gets.
func (c *Client) supervise() {
	defer close(c.finished)
	closedStdout := false
	select {
	case <-c.exited:
	case <-c.stdoutGone:
		// Only the shell holds the pipe now: as good as EOF.
		closedStdout = true
		c.killAll()
		<-c.exited
	case <-c.stdoutDone:
		// It closed its stdout: no answer can come any more. Give it a moment
		// to exit by itself so that its status is reported.
		select {
		case <-c.exited:
		case <-time.After(exitAfterEOF):
			closedStdout = true
			c.killAll()
			<-c.exited
		}
	}
	// Children of the shell may survive it and hold the pipes open.
	c.killAll()
	// Answers written just before the exit are still in the pipe: read them
	// (they settle their calls) before failing whatever is left.
	drain(c.stdoutDone, c.stdout)
	drain(c.stderrDone, c.stderr)

	c.mu.Lock()
	closing, helloOK, stdinErr := c.closing, c.helloOK, c.stdinErr
	c.mu.Unlock()
	if closing {
		c.fail(ErrClosed)
		_ = c.stdin.Close()
		return
	}
	reason := c.exitReason(c.proc.ProcessState)
	switch {
	case stdinErr != nil:
		reason = fmt.Sprintf("stopped reading its stdin (%v) and was killed", stdinErr)
	case closedStdout:
		reason = "closed its stdout and was killed"
	}
	err := &ExitError{Cmd: c.cmdStr, Reason: reason, Calls: c.Calls(), BeforeHello: !helloOK, Stderr: c.tail.Lines()}
	c.fail(err)
	_ = c.stdin.Close() // the writer has stopped (dead is closed); release the pipe
	c.logEvent("", "", err.Error())
}

// drain waits a bounded time for a reader to reach EOF, then closes its pipe
// to make it stop (a grandchild outside the group may still hold the other
// end).
func drain(done <-chan struct{}, f *os.File) {
	select {
	case <-done:
	case <-time.After(pipeDrain):
		_ = f.Close()
		<-done
	}
	_ = f.Close()
}

// exitReason words how the process ended. Through sh, a child killed by a
// signal shows as exit status 128+N of the shell: reported as the signal.
func (c *Client) exitReason(st *os.ProcessState) string {
	if st == nil {
		return "exited"
	}
	if code := st.ExitCode(); code >= 0 {
		if sig := shellSignal(code); sig != "" && c.viaShell {
			return fmt.Sprintf("was killed by signal %s (the shell running it exited with status %d)", sig, code)
		}
		return fmt.Sprintf("exited with status %d", code)
	}
	return fmt.Sprintf("was terminated (%s)", st.String())
}

// tagEnv names the environment variable that marks every process of one
// exec client; tagSeq makes tags unique within this process.
const tagEnv = "TOKENSTORM_EXEC_TAG"

var tagSeq atomic.Uint64

// killAll kills the process group and every tagged process (a setsid
// grandchild included).
func (c *Client) killAll() {
	killGroup(c.proc.Process)
	killTagged(c.tag)
}
