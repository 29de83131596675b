package jsclient

import (
	"sync"
	"time"

	"github.com/dop251/goja"
	"github.com/tokenstorm/tokenstorm/harness/clock"
)

// timers implements setTimeout/setInterval/clear* for one device on the
// harness clock, so a manual clock that jumps two hours also fires a
// wrapper's "retry in 1s" timer, like the phone it simulates. Owner goroutine
// only.
type timers struct {
	d      *device
	clk    clock.Clock
	wall   bool // clk is the real clock: use time.AfterFunc, no goroutine per timer
	next   int64
	active map[int64]*timer
}

type timer struct {
	fn    goja.Callable
	args  []goja.Value
	delay time.Duration
	every bool
	stop  func()
}

func newTimers(d *device, clk clock.Clock) *timers {
	return &timers{d: d, clk: clk, wall: isWall(clk), active: map[int64]*timer{}}
}

// install puts the timer functions on the runtime's global object.
func (ts *timers) install(vm *goja.Runtime) {
	g := vm.GlobalObject()
	_ = g.Set("setTimeout", func(fc goja.FunctionCall) goja.Value { return ts.set(vm, fc, false) })
	_ = g.Set("setInterval", func(fc goja.FunctionCall) goja.Value { return ts.set(vm, fc, true) })
	clr := func(fc goja.FunctionCall) goja.Value {
		ts.clear(fc.Argument(0).ToInteger())
		return goja.Undefined()
	}
	// Browsers (and the mini-program runtime) let either clear function
	// cancel either kind of timer.
	_ = g.Set("clearTimeout", clr)
	_ = g.Set("clearInterval", clr)
}

func (ts *timers) set(vm *goja.Runtime, fc goja.FunctionCall, every bool) goja.Value {
	fn, ok := goja.AssertFunction(fc.Argument(0))
	if !ok {
		panic(vm.NewTypeError("setTimeout/setInterval: callback must be a function (string callbacks are not supported)"))
	}
	ms := fc.Argument(1).ToInteger()
	if ms < 0 {
		ms = 0
	}
	if every && ms < 1 {
		ms = 1 // as Node does: an interval of 0 would spin the loop
	}
	var args []goja.Value
	if len(fc.Arguments) > 2 {
		args = append(args, fc.Arguments[2:]...)
	}
	ts.next++
	id := ts.next
	t := &timer{fn: fn, args: args, delay: time.Duration(ms) * time.Millisecond, every: every}
	ts.active[id] = t
	ts.d.loop.ops++
	ts.arm(id, t)
	return vm.ToValue(id)
}

func (ts *timers) arm(id int64, t *timer) {
	fire := func() { ts.fire(id) }
	l := ts.d.loop
	if ts.wall {
		at := time.AfterFunc(t.delay, func() { l.post(fire) })
		t.stop = func() { at.Stop() }
		return
	}
	ch := ts.clk.After(t.delay)
	stopc := make(chan struct{})
	var once sync.Once
	t.stop = func() { once.Do(func() { close(stopc) }) }
	go func() {
		select {
		case <-ch:
			l.post(fire)
		case <-stopc:
		case <-l.done:
		}
	}()
}

func (ts *timers) fire(id int64) {
	t := ts.active[id]
	if t == nil {
		return // cleared after it was already queued
	}
	if t.every {
		ts.arm(id, t)
	} else {
		delete(ts.active, id)
		ts.d.loop.ops--
	}
	if _, err := t.fn(goja.Undefined(), t.args...); err != nil {
		ts.d.uncaught("timer callback", err)
	}
}

func (ts *timers) clear(id int64) {
	t := ts.active[id]
	if t == nil {
		return
	}
	t.stop()
	delete(ts.active, id)
	ts.d.loop.ops--
}

// stopAll cancels every timer when the device shuts down.
func (ts *timers) stopAll() {
	for id, t := range ts.active {
		t.stop()
		delete(ts.active, id)
	}
}

// isWall reports whether clk's timers run on real time: the real clock, or
// a Shifted one (real time plus an offset, whose After is time.After; a
// storm's per-device clocks). Comparing interfaces panics when the dynamic
// type is not comparable, hence the recover.
func isWall(clk clock.Clock) (wall bool) {
	defer func() {
		if recover() != nil {
			wall = false
		}
	}()
	if _, ok := clk.(*clock.Shifted); ok {
		return true
	}
	return clk == clock.Real()
}
