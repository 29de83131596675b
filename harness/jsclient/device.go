package jsclient

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dop251/goja"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// pendingCall is a call whose promise has not settled yet.
type pendingCall struct {
	id      uint64
	call    client.Call
	ch      chan client.Result // buffered 1: the settle never blocks the loop
	stalled bool
	canon   string // canonical JSON of the body, "" if none (see bodies)
}

// device is one simulated phone: a goja runtime, its loop, its storage.
type device struct {
	c     *Client
	name  string
	quiet bool // the start-up probe: nothing goes to the ledger
	loop  *loop

	ready   chan struct{} // closed once init has finished
	gone    chan struct{} // closed once the device has shut down
	initErr error         // written before ready is closed

	ctx    context.Context // cancelled by Close: aborts in-flight HTTP
	cancel context.CancelFunc
	vmp    atomic.Pointer[goja.Runtime] // for Interrupt from Close
	turn   *turnState                   // the loop's, watched by the watchdog
	dead   atomic.Pointer[error]        // set by kill: the limit this runtime hit

	// Owned by the loop goroutine.
	vm       *goja.Runtime
	helpers  *goja.Object
	invoke   goja.Callable
	canonFn  goja.Callable
	message  goja.Callable
	strfy    goja.Callable
	parse    goja.Callable
	callFn   goja.Value
	calls    map[uint64]*pendingCall
	timers   *timers
	tasks    map[int64]*task
	nextTask int64
	// bodies maps the canonical JSON of a pending call's body (what
	// JSON.stringify(JSON.parse(body)) gives) to the body's original bytes.
	// A wrapper that passes req.data to wx.request re-serialises it; when the
	// content is unchanged the request carries the caller's exact bytes, so
	// the correct-replay invariant compares like with like. Changed content
	// is sent as the wrapper serialised it.
	bodies map[string]*bodyRef
	logs   int
	// Every retainCheckEvery turns (loop.turns), checkRetained compares what
	// the runtime holds with baseline, what it held once loaded.
	checkedAt int
	baseline  uint64
	// unhandled holds promises rejected with no handler attached yet; the
	// ones still unhandled when the loop goes idle are reported, as a
	// browser's "Uncaught (in promise)" would be: a wrapper that swallows a
	// refresh failure this way is a finding.
	unhandled map[*goja.Promise]struct{}
	// renewals are the device's requests without a request id in flight
	// (see flight): a call that starts meanwhile waits on them too.
	renewals map[*flight]struct{}

	mu      sync.Mutex // guards what Go-side accessors read
	storage map[string]string
	ui      []string
	session bool
}

type bodyRef struct {
	raw  []byte
	refs int
}

func newDevice(c *Client, name string) *device {
	ctx, cancel := context.WithCancel(context.Background())
	l := newLoop()
	return &device{c: c, name: name, loop: l, turn: l.turn, ready: make(chan struct{}), gone: make(chan struct{}), ctx: ctx, cancel: cancel,
		calls: map[uint64]*pendingCall{}, tasks: map[int64]*task{}, bodies: map[string]*bodyRef{},
		storage: map[string]string{}}
}

// main is the device goroutine: it owns the runtime from creation to end.
func (d *device) main() {
	defer d.c.wg.Done()
	defer close(d.gone)
	d.init()
	close(d.ready)
	d.loop.run(d.idle)
	d.shutdown()
}

// init creates the runtime, installs the shim and loads the adapter. The
// module's top level is a turn like any other: bounded by the watchdog.
func (d *device) init() {
	d.turn.begin()
	d.initErr = d.load()
	d.turn.end()
	if d.initErr == nil {
		d.baseline, _ = d.retained()
	}
	if d.initErr != nil && d.dead.Load() != nil {
		d.initErr = d.closedErr()
	}
	if d.initErr != nil {
		d.initErr = fmt.Errorf("js client %s (device %s): %w", d.c.path, d.name, d.initErr)
	}
}

func (d *device) load() error {
	vm := goja.New()
	d.vm = vm
	d.vmp.Store(vm)
	if p := d.dead.Load(); p != nil { // killed (or interrupted) before it existed
		return *p
	}
	// Each device has its own clock: a storm may skew some phones only.
	clk := d.c.clockOf(d.name)
	vm.SetTimeSource(clk.Now)
	vm.SetPromiseRejectionTracker(d.trackRejection)
	d.timers = newTimers(d, clk)
	d.timers.install(vm)

	shimFn, err := vm.RunProgram(d.c.shim)
	if err != nil {
		return jsErr(err)
	}
	f, _ := goja.AssertFunction(shimFn)
	info := vm.NewObject()
	_ = info.Set("backendURL", strings.TrimRight(d.c.env.BackendURL, "/"))
	_ = info.Set("wechatURL", strings.TrimRight(d.c.env.WechatURL, "/"))
	_ = info.Set("appid", d.c.env.AppID)
	_ = info.Set("device", d.name)
	_ = info.Set("style", d.c.env.Style)
	h, err := f(goja.Undefined(), d.natives(), info)
	if err != nil {
		return jsErr(err)
	}
	d.helpers = h.ToObject(vm)
	d.invoke = d.helper("invoke")
	d.canonFn = d.helper("canon")
	d.message = d.helper("message")
	d.strfy = d.helper("stringify")
	d.parse = d.helper("parse")

	modFn, err := vm.RunProgram(d.c.prg)
	if err != nil {
		return jsErr(err)
	}
	mf, _ := goja.AssertFunction(modFn)
	module := vm.NewObject()
	exports := vm.NewObject()
	_ = module.Set("exports", exports)
	req := vm.ToValue(func(fc goja.FunctionCall) goja.Value {
		panic(vm.NewTypeError(fmt.Sprintf("require(%q): only modules esbuild can bundle are available (relative files and node_modules packages, imported with a literal path)", fc.Argument(0).String())))
	})
	if _, err := mf(goja.Undefined(), module, exports, req); err != nil {
		return fmt.Errorf("loading the adapter: %w", jsErr(err))
	}
	exp := module.Get("exports")
	call := exportedCall(vm, exp)
	if call == nil {
		return errors.New("the adapter does not export call(req) (module.exports.call or `export function call`)")
	}
	d.callFn = call
	return nil
}

// exportedCall finds call in module.exports, or in a default export object.
func exportedCall(vm *goja.Runtime, exp goja.Value) goja.Value {
	if goja.IsUndefined(exp) || goja.IsNull(exp) {
		return nil
	}
	o := exp.ToObject(vm)
	if v := o.Get("call"); v != nil {
		if _, ok := goja.AssertFunction(v); ok {
			return v
		}
	}
	if def := o.Get("default"); def != nil && !goja.IsUndefined(def) && !goja.IsNull(def) {
		if _, ok := goja.AssertFunction(def); ok {
			return def // export default async function (req) {...}
		}
		if v := def.ToObject(vm).Get("call"); v != nil {
			if _, ok := goja.AssertFunction(v); ok {
				return v
			}
		}
	}
	return nil
}

func (d *device) helper(name string) goja.Callable {
	f, _ := goja.AssertFunction(d.helpers.Get(name))
	return f
}

// start hands a call to the adapter. Loop goroutine.
func (d *device) start(pc *pendingCall) {
	if d.initErr != nil {
		pc.ch <- client.Result{Err: d.initErr}
		return
	}
	d.c.calls.Add(1)
	d.c.pend.Add(1)
	d.calls[pc.id] = pc
	d.waitOnRenewals(pc)
	vm := d.vm
	req := d.reqObject(pc)
	onOK := vm.ToValue(func(fc goja.FunctionCall) goja.Value {
		d.settle(pc, d.toResult(fc.Argument(0)))
		return goja.Undefined()
	})
	onFail := vm.ToValue(func(fc goja.FunctionCall) goja.Value {
		d.settle(pc, d.rejection(fc.Argument(0)))
		return goja.Undefined()
	})
	onBroken := vm.ToValue(func(fc goja.FunctionCall) goja.Value {
		d.settle(pc, client.Result{Err: errors.New("call(req) settled with a value that could not be read: " + d.errText(fc.Argument(0), "it threw"))})
		return goja.Undefined()
	})
	if _, err := d.invoke(goja.Undefined(), d.callFn, req, onOK, onFail, onBroken); err != nil {
		// Only uncatchable errors get here (interrupt, stack overflow).
		d.settle(pc, client.Result{Err: jsErr(err)})
	}
}

// reqObject builds the req argument of call(req).
func (d *device) reqObject(pc *pendingCall) goja.Value {
	vm := d.vm
	c := pc.call
	o := vm.NewObject()
	_ = o.Set("method", c.Method)
	_ = o.Set("path", c.Path)
	_ = o.Set("url", joinURL(d.c.env.BackendURL, c.Path))
	_ = o.Set("rid", c.ID)
	_ = o.Set("device", d.name)
	h := vm.NewObject()
	for k, vs := range c.Header {
		if len(vs) > 0 {
			_ = h.Set(k, strings.Join(vs, ", "))
		}
	}
	_ = o.Set("header", h)
	if len(c.Body) > 0 {
		s := string(c.Body)
		_ = o.Set("body", s)
		data := goja.Value(vm.ToValue(s))
		if v, err := d.parse(goja.Undefined(), vm.ToValue(s)); err == nil {
			data = v
			if cv, err := d.canonFn(goja.Undefined(), vm.ToValue(s)); err == nil && !goja.IsUndefined(cv) {
				pc.canon = cv.String()
				ref := d.bodies[pc.canon]
				if ref == nil {
					ref = &bodyRef{raw: c.Body}
					d.bodies[pc.canon] = ref
				}
				ref.refs++
			}
		}
		_ = o.Set("data", data)
	}
	return o
}

func joinURL(base, path string) string {
	if u, err := url.Parse(path); err == nil && u.IsAbs() {
		return path
	}
	base = strings.TrimRight(base, "/")
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return base + path
}

// settle delivers a call's result once. Loop goroutine.
func (d *device) settle(pc *pendingCall, r client.Result) {
	if d.calls[pc.id] != pc {
		return // abandoned, or settled already
	}
	d.forget(pc)
	d.c.settled.Add(1)
	pc.ch <- r
}

// abandon drops a call whose context ended. Loop goroutine.
func (d *device) abandon(pc *pendingCall) {
	if d.calls[pc.id] != pc {
		return
	}
	d.forget(pc)
	d.c.abandoned.Add(1)
}

func (d *device) forget(pc *pendingCall) {
	delete(d.calls, pc.id)
	d.c.pend.Add(-1)
	if pc.canon != "" {
		if ref := d.bodies[pc.canon]; ref != nil {
			if ref.refs--; ref.refs <= 0 {
				delete(d.bodies, pc.canon)
			}
		}
	}
}

// idle runs when the loop has drained its queue. With no operation pending,
// nothing in this runtime can ever run again by itself, so every call still
// pending was dropped by the wrapper. Note it now, with the evidence; the
// harness reports the call lost at its deadline.
func (d *device) idle() {
	d.reportUnhandled()
	if d.loop.turns-d.checkedAt >= retainCheckEvery {
		d.checkRetained()
	}
	if d.loop.ops > 0 || len(d.calls) == 0 {
		return
	}
	for _, pc := range d.calls {
		if pc.stalled {
			continue
		}
		pc.stalled = true
		d.c.stalled.Add(1)
		d.record(ledger.Event{Kind: ledger.KindClientLog, RID: pc.call.ID,
			Detail: fmt.Sprintf("call(req) for %s %s is still pending but the runtime has nothing left to run (no timer, request or login in flight): the wrapper dropped its promise", pc.call.Method, pc.call.Path)})
	}
}

func (d *device) trackRejection(p *goja.Promise, op goja.PromiseRejectionOperation) {
	switch op {
	case goja.PromiseRejectionReject:
		if d.unhandled == nil {
			d.unhandled = map[*goja.Promise]struct{}{}
		}
		d.unhandled[p] = struct{}{}
	case goja.PromiseRejectionHandle:
		delete(d.unhandled, p)
	}
}

func (d *device) reportUnhandled() {
	for p := range d.unhandled {
		delete(d.unhandled, p)
		msg := "rejected"
		if m, err := d.message(goja.Undefined(), p.Result()); err == nil {
			msg = m.String()
		}
		d.log("error", "unhandled promise rejection: "+msg)
	}
}

// shutdown releases the device when its loop has stopped. Loop goroutine
// (or the caller of init, for the probe).
func (d *device) shutdown() {
	d.cancel()
	if d.timers != nil {
		d.timers.stopAll()
	}
	for _, t := range d.tasks {
		t.cancel()
	}
	for _, pc := range d.calls {
		d.forget(pc)
		pc.ch <- client.Result{Err: d.closedErr()}
	}
	d.vm = nil
	d.vmp.Store(nil)
}

// record appends a client-side ledger event for this device.
func (d *device) record(e ledger.Event) {
	if d.quiet {
		return
	}
	e.Source = ledger.SourceClient
	e.Device = d.name
	d.c.env.Ledger.Append(e)
}

// uncaught reports an exception no JavaScript caught (thrown by a callback
// the shim or a timer called).
func (d *device) uncaught(where string, err error) {
	d.log("error", "uncaught exception in "+where+": "+jsErr(err).Error())
}

// jsErr renders a goja error with its JavaScript stack (already mapped to the
// original files through the bundle's source map).
func jsErr(err error) error {
	var ex *goja.Exception
	if errors.As(err, &ex) {
		return errors.New(strings.TrimSpace(ex.String()))
	}
	var ie *goja.InterruptedError
	if errors.As(err, &ie) {
		if e, ok := ie.Value().(error); ok {
			return fmt.Errorf("interrupted: %w", e) // keeps ErrClosed matchable
		}
		return fmt.Errorf("interrupted: %v", ie.Value())
	}
	return err
}

// checkRetained stops a runtime whose JavaScript keeps more and more memory
// across turns (answers pushed into a global array, a cache that never
// evicts): one turn's growth is the watchdog's, this is the slow kind.
func (d *device) checkRetained() {
	d.checkedAt = d.loop.turns
	n, complete := d.retained()
	limit := uint64(d.c.opts.RetainLimit)
	switch {
	case !complete:
		d.kill(&LimitError{Device: d.name, What: "memory", Limit: fmt.Sprintf("%d MiB", limit>>20),
			Retained: fmt.Sprintf("more than %d objects, at least %d MiB", retainNodeBudget, n>>20)})
	case n > d.baseline && n-d.baseline > limit:
		d.kill(&LimitError{Device: d.name, What: "memory", Limit: fmt.Sprintf("%d MiB", limit>>20),
			Retained: fmt.Sprintf("%d MiB", (n-d.baseline)>>20)})
	}
}

// retained walks the runtime and the JavaScript values the device holds
// outside it (the adapter's exports: its module scope hangs off call).
func (d *device) retained() (uint64, bool) {
	return retainedBytes([]any{d.vm, d.callFn, d.helpers}, retainNodeBudget)
}
