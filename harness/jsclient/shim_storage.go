package jsclient

import (
	"sort"

	"github.com/dop251/goja"
)

// Storage natives: one key → JSON map per device (shim.js does the JSON), so
// values come back as copies, as wx.getStorageSync's do, and the harness can
// read a device's storage (Client.Storage).

func (d *device) jsGetItem(fc goja.FunctionCall) goja.Value {
	d.mu.Lock()
	s, ok := d.storage[fc.Argument(0).String()]
	d.mu.Unlock()
	if !ok {
		return goja.Undefined()
	}
	return d.vm.ToValue(s)
}

func (d *device) jsSetItem(fc goja.FunctionCall) goja.Value {
	d.mu.Lock()
	d.storage[fc.Argument(0).String()] = fc.Argument(1).String()
	d.mu.Unlock()
	return goja.Undefined()
}

func (d *device) jsRemoveItem(fc goja.FunctionCall) goja.Value {
	d.mu.Lock()
	delete(d.storage, fc.Argument(0).String())
	d.mu.Unlock()
	return goja.Undefined()
}

func (d *device) jsClear(goja.FunctionCall) goja.Value {
	d.mu.Lock()
	clear(d.storage)
	d.mu.Unlock()
	return goja.Undefined()
}

func (d *device) jsKeys(goja.FunctionCall) goja.Value {
	d.mu.Lock()
	keys := make([]any, 0, len(d.storage))
	for k := range d.storage {
		keys = append(keys, k)
	}
	d.mu.Unlock()
	sort.Slice(keys, func(i, j int) bool { return keys[i].(string) < keys[j].(string) })
	return d.vm.NewArray(keys...)
}

func (d *device) jsSizeKB(goja.FunctionCall) goja.Value {
	d.mu.Lock()
	n := 0
	for k, v := range d.storage {
		n += len(k) + len(v)
	}
	d.mu.Unlock()
	return d.vm.ToValue((n + 1023) / 1024)
}
