package jsclient

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/clock"
)

//go:embed shim.js
var shimSource string

// shimProgram is compiled once per process; it is immutable and shared by
// every runtime of every client.
var shimProgram = sync.OnceValues(func() (*goja.Program, error) {
	return goja.Compile("tokenstorm-shim.js", shimSource, false)
})

// ErrClosed is the error of calls made on, or still pending in, a closed client.
var ErrClosed = errors.New("js client closed")

// Options tune a Client. The zero value is ready to use.
type Options struct {
	// RequestTimeout is wx.request's timeout when the wrapper sets none
	// (default 60s, WeChat's default).
	RequestTimeout time.Duration
	// LoginTimeout bounds wx.login's call to mockwechat (default 10s).
	LoginTimeout time.Duration
	// MaxLogs is how many console lines and uncaught errors per device go to
	// the ledger (default 100); the rest are counted in Stats only, so a
	// chatty wrapper cannot flood a storm's ledger.
	MaxLogs int
	// Console, when set, also receives every console line as
	// "device [level] text\n" (debugging a wrapper).
	Console io.Writer
	// Clock is the time the JavaScript of every device sees (Date,
	// setTimeout, setInterval). nil = each device's Env.DeviceClock, else
	// Env.Clock, and the real clock if that is nil too.
	Clock clock.Clock
	// MaxTurn bounds one turn of a runtime's JavaScript (module top level,
	// the synchronous part of call(req), one callback); a runtime past it is
	// stopped with a LimitError (default 5s).
	MaxTurn time.Duration
	// MemoryLimit bounds how much the live heap may grow during one turn of
	// one runtime before that runtime is stopped (default 256 MiB): the live
	// heap as the collector last marked it, so garbage does not count.
	MemoryLimit int64
	// RetainLimit bounds how much more memory a runtime may keep between
	// turns than it held once loaded (estimated by walking what it can
	// reach, every 64 turns); past it the runtime is stopped (default
	// 64 MiB).
	RetainLimit int64
	// Context, when it ends (Ctrl-C), interrupts every runtime wherever its
	// JavaScript is, loading included. nil = never.
	Context context.Context
}

// Stats counts what the client's devices did.
type Stats struct {
	Devices   int   // runtimes created
	Calls     int64 // calls handed to call(req)
	Settled   int64 // calls whose promise settled
	Abandoned int64 // calls whose context ended first (the harness reports them lost)
	Stalled   int64 // calls found pending while their device had nothing left to run
	Pending   int64 // calls not settled or abandoned yet
	Logs      int64 // console lines and uncaught errors, recorded or not
	Killed    int64 // runtimes stopped by a limit (MaxTurn, MemoryLimit)
}

// Client runs a JavaScript adapter, one runtime per simulated device. It
// implements client.Client.
type Client struct {
	path string
	env  client.Env
	opts Options
	prg  *goja.Program
	shim *goja.Program
	http *http.Client
	own  bool        // http was made here: Close releases its idle connections
	clk  clock.Clock // Options.Clock; nil = per device, Env.ClockOf

	mu        sync.Mutex
	devices   map[string]*device
	probing   *device // the start-up probe while it loads (watched too)
	closed    bool
	stopWatch chan struct{}
	stopCtx   func() bool
	wg        sync.WaitGroup
	consoleMu sync.Mutex

	seq                                                    atomic.Uint64
	calls, settled, abandoned, stalled, logs, pend, killed atomic.Int64
}

var _ client.Client = (*Client)(nil)

// New bundles and compiles the adapter at path and checks, in a throw-away
// runtime, that it loads and exports call(req). Device runtimes are created
// lazily, on each device's first call (or by Warm).
func New(path string, env client.Env, opts Options) (*Client, error) {
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 60 * time.Second
	}
	if opts.LoginTimeout <= 0 {
		opts.LoginTimeout = 10 * time.Second
	}
	if opts.MaxLogs <= 0 {
		opts.MaxLogs = 100
	}
	if opts.MaxTurn <= 0 {
		opts.MaxTurn = DefaultMaxTurn
	}
	if opts.MemoryLimit <= 0 {
		opts.MemoryLimit = DefaultMemoryLimit
	}
	if opts.RetainLimit <= 0 {
		opts.RetainLimit = DefaultRetainLimit
	}
	shim, err := shimProgram()
	if err != nil {
		return nil, fmt.Errorf("js client: shim: %w", err)
	}
	prg, err := compileAdapter(path)
	if err != nil {
		return nil, err
	}
	hc, own := env.HTTP, false
	if hc == nil {
		own = true
		// Thousands of devices talk to one or two hosts: keep their
		// connections instead of churning through ephemeral ports.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = 0
		tr.MaxIdleConnsPerHost = 1024
		hc = &http.Client{Transport: tr}
	}
	c := &Client{path: path, env: env, opts: opts, prg: prg, shim: shim, http: hc, own: own, clk: opts.Clock,
		devices: map[string]*device{}, stopWatch: make(chan struct{})}
	go c.watch(c.stopWatch)
	if opts.Context != nil {
		c.stopCtx = context.AfterFunc(opts.Context, func() { c.interruptAll(opts.Context.Err()) })
	}
	if err := c.probe(); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// clockOf is the clock device's JavaScript lives on.
func (c *Client) clockOf(device string) clock.Clock {
	if c.clk != nil {
		return c.clk
	}
	return c.env.ClockOf(device)
}

// probe loads the adapter once without a loop so that a missing export or a
// throw at the top level is a start-up error naming the file, not a failure
// of every call.
func (c *Client) probe() error {
	d := newDevice(c, "tokenstorm-probe")
	d.quiet = true
	c.mu.Lock()
	c.probing = d
	c.mu.Unlock()
	if err := c.ctxErr(); err != nil {
		d.kill(err)
	}
	d.init()
	c.mu.Lock()
	c.probing = nil
	c.mu.Unlock()
	d.loop.stop()
	d.shutdown()
	return d.initErr
}

// device returns the device named name, starting its loop on first use.
func (c *Client) device(name string) (*device, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	d := c.devices[name]
	if d == nil {
		if err := c.ctxErr(); err != nil {
			return nil, err
		}
		d = newDevice(c, name)
		c.devices[name] = d
		c.wg.Add(1)
		go d.main()
	}
	return d, nil
}

// Do hands the call to the device's call(req) and waits until the promise it
// returned settles or ctx ends. It never waits longer than ctx: a promise the
// wrapper leaves pending makes Do return ctx.Err(), which the device driver
// reports as a lost request.
func (c *Client) Do(ctx context.Context, call client.Call) client.Result {
	d, err := c.device(call.Device)
	if err != nil {
		return client.Result{Err: err}
	}
	pc := &pendingCall{id: c.seq.Add(1), call: call, ch: make(chan client.Result, 1)}
	if !d.loop.post(func() { d.start(pc) }) {
		return client.Result{Err: d.closedErr()}
	}
	select {
	case r := <-pc.ch:
		return r
	case <-d.loop.done:
		// Closed: a call still queued behind the loop's last job never
		// starts, so do not wait for it.
		select {
		case r := <-pc.ch:
			return r
		default:
			return client.Result{Err: d.closedErr()}
		}
	case <-ctx.Done():
		// Forget the call so a late settle is dropped and the pending
		// count stays right; the runtime itself carries on.
		d.loop.post(func() { d.abandon(pc) })
		return client.Result{Err: ctx.Err()}
	}
}

// Warm creates the runtimes of the given devices now (in parallel, one
// goroutine each) and waits until they have loaded the adapter, so a storm
// does not measure start-up as latency. It returns the first load error.
func (c *Client) Warm(ctx context.Context, devices ...string) error {
	for _, name := range devices {
		if _, err := c.device(name); err != nil {
			return err
		}
	}
	for _, name := range devices {
		d, err := c.device(name)
		if err != nil {
			return err
		}
		select {
		case <-d.ready:
			if d.initErr != nil {
				return d.initErr
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Close stops every device: in-flight requests are cancelled, running
// JavaScript is interrupted, pending calls get ErrClosed. It waits for the
// device goroutines to end.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	devs := make([]*device, 0, len(c.devices))
	for _, d := range c.devices {
		devs = append(devs, d)
	}
	c.mu.Unlock()
	close(c.stopWatch)
	if c.stopCtx != nil {
		c.stopCtx()
	}
	for _, d := range devs {
		d.cancel()
		if vm := d.vmp.Load(); vm != nil {
			vm.Interrupt(ErrClosed)
		}
		d.loop.stop()
	}
	c.wg.Wait()
	if c.own {
		c.http.CloseIdleConnections()
	}
	return nil
}

// Relaunch restarts the JavaScript runtime of each named device with its
// storage kept, as when a user closes the mini-program and opens it again:
// the adapter (and the App({onLaunch, onShow}) it registers) runs again in a
// fresh runtime, and calls still in flight on the old one end with
// ErrClosed. A device not started yet is simply started.
func (c *Client) Relaunch(ctx context.Context, devices ...string) error {
	for _, name := range devices {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return ErrClosed
		}
		old := c.devices[name]
		delete(c.devices, name)
		c.mu.Unlock()
		var kept map[string]string
		if old != nil {
			old.cancel()
			if vm := old.vmp.Load(); vm != nil {
				vm.Interrupt(ErrClosed)
			}
			old.loop.stop()
			select {
			case <-old.gone:
			case <-ctx.Done():
				return ctx.Err()
			}
			old.mu.Lock()
			kept = maps.Clone(old.storage)
			old.mu.Unlock()
		}
		c.mu.Lock()
		d := newDevice(c, name)
		if kept != nil {
			d.storage = kept
		}
		c.devices[name] = d
		c.wg.Add(1)
		go d.main()
		c.mu.Unlock()
		select {
		case <-d.ready:
		case <-ctx.Done():
			return ctx.Err()
		}
		if d.initErr != nil {
			return d.initErr
		}
	}
	return nil
}

// WhyUnsettled explains, for the evidence of a lost request, why device may
// not have settled: its runtime stuck in one task (a busy loop never yields
// to the event loop, so no callback or promise can run). "" when nothing
// stands out.
func (c *Client) WhyUnsettled(device string) string {
	d := c.lookup(device)
	if d == nil {
		return ""
	}
	if busy := d.loop.busyFor(); busy >= 200*time.Millisecond {
		return fmt.Sprintf("the device's JavaScript runtime has been running one task for %s without yielding (a busy loop): no callback or promise could run", busy.Round(time.Millisecond))
	}
	return ""
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	n := len(c.devices)
	c.mu.Unlock()
	return Stats{Devices: n, Calls: c.calls.Load(), Settled: c.settled.Load(), Abandoned: c.abandoned.Load(),
		Stalled: c.stalled.Load(), Pending: c.pend.Load(), Logs: c.logs.Load(), Killed: c.killed.Load()}
}

// ctxErr is Options.Context's error, nil while it runs (or without one).
func (c *Client) ctxErr() error {
	if c.opts.Context == nil {
		return nil
	}
	return c.opts.Context.Err()
}

// interruptAll stops every runtime (the run was interrupted): each device's
// calls then fail with err at once instead of waiting for their deadline.
func (c *Client) interruptAll(err error) {
	for _, d := range c.watched() {
		d.kill(fmt.Errorf("js client interrupted: %w", err))
	}
}

// UI returns the UI actions a device performed, oldest first, e.g.
// "reLaunch /pages/login/login" or "showToast 登录已过期".
func (c *Client) UI(device string) []string {
	d := c.lookup(device)
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.ui...)
}

// Storage returns a copy of a device's storage: key → the JSON of the value.
func (c *Client) Storage(device string) map[string]string {
	d := c.lookup(device)
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]string, len(d.storage))
	for k, v := range d.storage {
		out[k] = v
	}
	return out
}

// ExpireSession makes wx.checkSession fail on the given devices (all devices
// when none is named) until their next successful wx.login, as WeChat does
// when the session_key has expired.
func (c *Client) ExpireSession(devices ...string) {
	c.mu.Lock()
	var ds []*device
	if len(devices) == 0 {
		for _, d := range c.devices {
			ds = append(ds, d)
		}
	} else {
		for _, name := range devices {
			if d := c.devices[name]; d != nil {
				ds = append(ds, d)
			}
		}
	}
	c.mu.Unlock()
	for _, d := range ds {
		d.mu.Lock()
		d.session = false
		d.mu.Unlock()
	}
}

func (c *Client) lookup(name string) *device {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.devices[name]
}

// String names the client as reports do.
func (c *Client) String() string { return "js:" + c.path }

func trimTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " | ") }
