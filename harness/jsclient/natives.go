package jsclient

import "github.com/dop251/goja"

// natives is the Go half of the shim, handed to shim.js as `n`. Every
// function runs on the loop goroutine (JavaScript calls it); the ones that
// wait for something do so on another goroutine through loop.goAsync.
func (d *device) natives() *goja.Object {
	vm := d.vm
	n := vm.NewObject()
	set := func(name string, fn func(goja.FunctionCall) goja.Value) { _ = n.Set(name, fn) }
	set("request", d.jsRequest)
	set("abort", d.jsAbort)
	set("login", d.jsLogin)
	set("checkSession", d.jsCheckSession)
	set("getItem", d.jsGetItem)
	set("setItem", d.jsSetItem)
	set("removeItem", d.jsRemoveItem)
	set("clear", d.jsClear)
	set("keys", d.jsKeys)
	set("sizeKB", d.jsSizeKB)
	set("ui", d.jsUI)
	set("log", d.jsLog)
	set("defer", d.jsDefer)
	return n
}

// jsDefer runs a function as a later task of the loop (a callback "from the
// native side"), counted as pending until it has run.
func (d *device) jsDefer(fc goja.FunctionCall) goja.Value {
	fn, ok := goja.AssertFunction(fc.Argument(0))
	if !ok {
		panic(d.vm.NewTypeError("callback must be a function"))
	}
	d.loop.ops++
	d.loop.post(func() {
		d.loop.ops--
		if _, err := fn(goja.Undefined()); err != nil {
			d.uncaught("callback", err)
		}
	})
	return goja.Undefined()
}
