package execclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/style"
)

// Options tune an exec client. The zero value is ready to use.
type Options struct {
	// HelloTimeout bounds the handshake: the process must answer the hello
	// within it. Default 10s (a cold `npx` or JVM start is slow).
	HelloTimeout time.Duration
	// CloseGrace is how long Close waits for the process to exit by itself
	// after closing its stdin, before killing its process group. Default 5s.
	CloseGrace time.Duration
	// StderrLines is how many of the process's last stderr lines are kept
	// for error messages. Default 20.
	StderrLines int
	// Stderr, if set, receives a copy of everything the process writes to
	// its stderr (e.g. os.Stderr for a verbose run).
	Stderr io.Writer
	// Dir is the working directory of the process; default the harness's.
	Dir string
	// Env holds extra KEY=VALUE variables, added after the inherited
	// environment and the TOKENSTORM_* variables (so they win).
	Env []string
	// MaxLineBytes caps one line on the process's stdout; a longer line is a
	// protocol error and is skipped. Default 16 MiB.
	MaxLineBytes int
}

func (o Options) withDefaults() Options {
	if o.HelloTimeout <= 0 {
		o.HelloTimeout = 10 * time.Second
	}
	if o.CloseGrace <= 0 {
		o.CloseGrace = 5 * time.Second
	}
	if o.StderrLines <= 0 {
		o.StderrLines = 20
	}
	if o.MaxLineBytes <= 0 {
		o.MaxLineBytes = 16 << 20
	}
	return o
}

// Bounds that keep the harness from hanging on a process that half-died.
const (
	// exitAfterEOF is how long a process that closed its stdout (or stopped
	// reading its stdin) may take to exit before it is killed.
	exitAfterEOF = time.Second
	// pipeDrain is how long the harness waits for the pipes to reach EOF after
	// the process is gone (a grandchild outside the group may hold them).
	pipeDrain = time.Second
	// maxKeptErrors bounds Errors(): a client printing garbage on every call
	// of a storm must not exhaust memory.
	maxKeptErrors = 1000
	// idMemory bounds the sets of recently settled and abandoned call ids.
	idMemory = 1 << 16
	// writeQueue lets Do hand a call over without waiting for the writer.
	writeQueue = 1024
)

// Client is a client.Client backed by an external process speaking the exec
// protocol. It is safe for concurrent use.
type Client struct {
	cmdStr string
	env    client.Env
	opts   Options

	proc     *exec.Cmd
	tag      string // TOKENSTORM_EXEC_TAG of its processes (killAll)
	viaShell bool   // started through /bin/sh -c (exit 128+N means signal N)
	// stdoutGone is closed when nothing but the shell holds the stdout pipe.
	stdoutGone chan struct{}
	stdin      *os.File // our write end of the process's stdin
	stdout     *os.File // our read end of its stdout
	stderr     *os.File // our read end of its stderr
	tail       *tailBuffer

	writeq    chan []byte
	stopWrite chan struct{} // closed by Close/abort: the writer closes stdin
	written   atomic.Int64  // lines written to stdin, hello included
	helloCh   chan string   // the reader's verdict on the handshake: "" = ok

	exited     chan struct{} // the process has been reaped
	stdoutDone chan struct{} // the stdout reader has stopped
	stderrDone chan struct{} // the stderr reader has stopped
	dead       chan struct{} // closed when failErr is set
	finished   chan struct{} // the supervisor has recorded the outcome

	mu        sync.Mutex
	pending   map[string]*pendingCall
	recent    *idSet // settled ids → device
	abandoned *idSet // ids given up at their deadline → device
	seq       uint64
	helloOK   bool
	helloSent bool         // the reader has delivered a verdict on the handshake
	protocol  int          // the version the client answered the hello with
	spec      *style.Style // the backend style sent in the hello
	name      string
	closing   bool
	stdinErr  error // the process stopped reading its stdin and was killed
	failErr   error
	errs      []error
	moreErrs  int

	closeOnce sync.Once
	closeErr  error
}

type pendingCall struct {
	device string
	ch     chan client.Result // buffered 1; receives exactly one result
}

var _ client.Client = (*Client)(nil)

// New starts cmd with `sh -c`, performs the hello handshake and returns a
// client ready for calls. ctx bounds only the start and the handshake; the
// process then lives until Close (or until it dies).
//
// The process's environment is the harness's plus TOKENSTORM_BACKEND_URL,
// TOKENSTORM_WECHAT_URL, TOKENSTORM_APPID, TOKENSTORM_PROTOCOL (and
// TOKENSTORM_STYLE when env.Style is set), then opts.Env.
//
// The hello carries env.Style resolved with style.Load as "style_spec"; a
// style that does not load is an error before the process is started.
//
// On failure the process is killed and the error is an *ExitError (it exited
// before answering hello) or a *HelloError (no hello in time, wrong protocol
// version, another message first), both with the tail of its stderr.
func New(ctx context.Context, cmd string, env client.Env, opts Options) (*Client, error) {
	if strings.TrimSpace(cmd) == "" {
		return nil, errors.New("exec client: empty command (use --client exec:'CMD')")
	}
	c := &Client{
		cmdStr:     cmd,
		env:        env,
		opts:       opts.withDefaults(),
		writeq:     make(chan []byte, writeQueue),
		stopWrite:  make(chan struct{}),
		helloCh:    make(chan string, 1),
		exited:     make(chan struct{}),
		stdoutDone: make(chan struct{}),
		stderrDone: make(chan struct{}),
		dead:       make(chan struct{}),
		finished:   make(chan struct{}),
		pending:    map[string]*pendingCall{},
		recent:     newIDSet(idMemory),
		abandoned:  newIDSet(idMemory),
	}
	c.tail = newTailBuffer(c.opts.StderrLines, c.opts.Stderr)
	hello, spec, err := encodeHello(env)
	c.spec = spec
	if err != nil {
		return nil, fmt.Errorf("exec client: encode hello: %w", err)
	}
	if err := c.start(); err != nil {
		return nil, err
	}
	c.writeq <- hello // the queue is empty: this is the first line written

	timer := time.NewTimer(c.opts.HelloTimeout)
	defer timer.Stop()
	var failure string
	select {
	case failure = <-c.helloCh:
	case <-c.dead:
		<-c.finished
		return nil, c.Err()
	case <-timer.C:
		failure = helloTimeout(c.opts.HelloTimeout, helloProtocol(c.spec))
	case <-ctx.Done():
		failure = fmt.Sprintf("did not answer hello before the harness gave up (%v)", ctx.Err())
	}
	if failure != "" {
		c.abort()
		err := &HelloError{Cmd: cmd, Msg: failure, Stderr: c.tail.Lines()}
		c.logEvent("", "", err.Error())
		return nil, err
	}
	c.logEvent("", "", fmt.Sprintf("exec client %q started: name %q, protocol %d", cmd, c.Name(), c.Protocol()))
	return c, nil
}

// Do sends the call to the process and waits for its answer, for ctx to end
// (Result{Err: ctx.Err()}; a later answer is ignored) or for the process to
// die (Result{Err: *ExitError}, at once for every pending and future call).
func (c *Client) Do(ctx context.Context, call client.Call) client.Result {
	if err := ctx.Err(); err != nil {
		return client.Result{Err: err}
	}
	c.mu.Lock()
	if c.failErr != nil {
		err := c.failErr
		c.mu.Unlock()
		return client.Result{Err: err}
	}
	id := c.wireID(call.ID)
	p := &pendingCall{device: call.Device, ch: make(chan client.Result, 1)}
	c.pending[id] = p
	c.mu.Unlock()

	line, err := encodeCall(id, call, c.clockOffset(call.Device))
	if err != nil {
		c.forget(id)
		return client.Result{Err: fmt.Errorf("exec client: encode call %q: %w", id, err)}
	}
	select {
	case c.writeq <- line:
	case res := <-p.ch: // the process died meanwhile
		return res
	case <-ctx.Done():
		return c.giveUp(ctx, id, p)
	}
	select {
	case res := <-p.ch:
		return res
	case <-ctx.Done():
		return c.giveUp(ctx, id, p)
	}
}

// Protocol is the version the client answered the hello with.
func (c *Client) Protocol() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.protocol
}

// OwnTime reports that the client keeps its own time: it answered the hello
// with a protocol before 3, whose calls carry no device clock.
func (c *Client) OwnTime() bool { return c.Protocol() < clockProtocol }

var _ client.OwnTimer = (*Client)(nil)

// clockOffset is how far device's clock (client.Env.ClockOf: a storm's
// per-device clocks, a conform scenario's simulated and skewed time) is
// from real time, the clock the process reads; 0 for a client before
// protocol 3, which would ignore it (and so never takes a device clock).
func (c *Client) clockOffset(device string) time.Duration {
	if c.OwnTime() {
		return 0
	}
	return c.env.ClockOf(device).Now().Sub(time.Now()).Round(time.Millisecond)
}

// wireID is the id a call travels under: its own (the request id, which makes
// the client's logs readable), made unique if the harness ever reuses one
// while it could still be answered. Called with mu held.
func (c *Client) wireID(id string) string {
	for {
		_, busy := c.pending[id]
		_, settled := c.recent.get(id)
		_, late := c.abandoned.get(id)
		if id != "" && !busy && !settled && !late {
			return id
		}
		c.seq++
		id = fmt.Sprintf("%s#%d", strings.SplitN(id, "#", 2)[0], c.seq)
	}
}

// giveUp abandons a call whose ctx ended; if its answer raced in, that wins.
func (c *Client) giveUp(ctx context.Context, id string, p *pendingCall) client.Result {
	c.mu.Lock()
	_, still := c.pending[id]
	if still {
		delete(c.pending, id)
		c.abandoned.add(id, p.device)
	}
	c.mu.Unlock()
	if !still {
		return <-p.ch
	}
	return client.Result{Err: ctx.Err()}
}

func (c *Client) forget(id string) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// Close closes the process's stdin (the signal to finish), waits up to
// CloseGrace for it to exit, then kills its process group. Pending calls fail
// with ErrClosed. It returns the fatal error if the process had died before,
// an *ExitError if it exited with a non-zero status at shutdown, else nil.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		crashed := c.failErr
		c.closing = true
		c.mu.Unlock()
		close(c.stopWrite)
		_ = c.stdin.Close() // also unblocks a writer stuck on a full pipe
		killed := false
		select {
		case <-c.exited:
		case <-time.After(c.opts.CloseGrace):
			killed = true
			c.killAll()
		}
		<-c.finished
		switch {
		case crashed != nil:
			c.closeErr = crashed
		case killed:
			c.logEvent("", "", fmt.Sprintf("exec client %q did not exit within %s of its stdin being closed; killed", c.cmdStr, c.opts.CloseGrace))
		case c.proc.ProcessState != nil && !c.proc.ProcessState.Success():
			c.closeErr = &ExitError{Cmd: c.cmdStr, Reason: c.exitReason(c.proc.ProcessState) + " at shutdown",
				Calls: c.Calls(), Stderr: c.tail.Lines()}
			c.logEvent("", "", c.closeErr.Error())
		}
	})
	return c.closeErr
}

// abort ends a client that failed its handshake.
func (c *Client) abort() {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	close(c.stopWrite)
	_ = c.stdin.Close()
	c.killAll()
	<-c.finished
}

// Name is the name the process gave in its hello.
func (c *Client) Name() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.name
}

// Calls is how many calls have been written to the process.
func (c *Client) Calls() int64 {
	return max(c.written.Load()-1, 0) // the first line was the hello
}

// Err is the fatal error once the process is gone (ErrClosed after Close),
// nil while it runs.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failErr
}

// Errors returns the protocol violations seen so far (non-fatal ones: the
// fatal one is Err), oldest first.
func (c *Client) Errors() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := append([]error(nil), c.errs...)
	if c.moreErrs > 0 {
		out = append(out, fmt.Errorf("exec client: %d more protocol errors not kept", c.moreErrs))
	}
	return out
}

// violation records a non-fatal protocol error.
func (c *Client) violation(pe *ProtocolError) {
	c.mu.Lock()
	if len(c.errs) < maxKeptErrors {
		c.errs = append(c.errs, pe)
	} else {
		c.moreErrs++
	}
	c.mu.Unlock()
	kind := pe.Kind
	if kind == "" {
		kind = ledger.ProtocolOther
	}
	// Marked so that the checker counts it into summary.json's
	// protocol_errors, where a threshold can gate on it.
	c.env.Ledger.Append(ledger.Event{Source: ledger.SourceClient, Kind: ledger.KindClientLog,
		Device: pe.Device, RID: pe.ID, Outcome: ledger.OutcomeProtocol, Route: kind, Detail: pe.Error()})
}

// fail makes err the fatal error: every pending call settles with it now,
// every later call at once.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.failErr != nil {
		c.mu.Unlock()
		return
	}
	c.failErr = err
	pend := c.pending
	c.pending = map[string]*pendingCall{}
	close(c.dead)
	c.mu.Unlock()
	for _, p := range pend {
		p.ch <- client.Result{Err: err}
	}
}

// logEvent notes something about the client in the ledger, where reports
// show it next to the requests it concerns.
func (c *Client) logEvent(device, rid, detail string) {
	c.env.Ledger.Append(ledger.Event{Source: ledger.SourceClient, Kind: ledger.KindClientLog,
		Device: device, RID: rid, Detail: detail})
}
