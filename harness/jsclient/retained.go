package jsclient

import (
	"reflect"
	"strings"
	"unsafe"
)

// goja has no heap-size API, so a runtime's retained memory is estimated by
// walking the Go values reachable from its *goja.Runtime: goja's own types
// (objects, arrays, strings, closures' stashes, the module's scopes) and the
// unnamed slices, maps and strings they hold. The walk stops at any other
// package's types and at Go funcs and reflect values (the shim's natives and
// wrapped Go values, which belong to the harness), so what it counts is the
// JavaScript's own data. It runs on the loop goroutine between turns, every
// retainCheckEvery turns, with a node budget.
const (
	retainCheckEvery = 64
	// retainNodeBudget bounds one walk (a loaded runtime is about 40k
	// nodes): past it the runtime holds millions of objects, itself a leak.
	retainNodeBudget = 2_000_000
)

type retainWalk struct {
	seen    map[uintptr]struct{}
	stack   []reflect.Value
	bytes   uint64
	nodes   int
	budget  int
	deep    map[reflect.Type]bool // type may hold something to walk
	skipped bool                  // budget exhausted: bytes is a lower bound
}

// retainedBytes estimates the bytes reachable from root; complete is false
// when the node budget ran out first.
func retainedBytes(root any, budget int) (bytes uint64, complete bool) {
	w := &retainWalk{seen: map[uintptr]struct{}{}, budget: budget, deep: map[reflect.Type]bool{}}
	w.push(reflect.ValueOf(root))
	for len(w.stack) > 0 {
		if w.nodes >= w.budget {
			w.skipped = true
			break
		}
		v := w.stack[len(w.stack)-1]
		w.stack = w.stack[:len(w.stack)-1]
		w.visit(v)
	}
	return w.bytes, !w.skipped
}

func (w *retainWalk) push(v reflect.Value) {
	if v.IsValid() && w.walks(v.Type()) {
		w.stack = append(w.stack, v)
	}
}

// ours: goja's types and unnamed ones; anything else is the harness's.
func ours(t reflect.Type) bool {
	p := t.PkgPath()
	return p == "" || strings.HasPrefix(p, "github.com/dop251/goja")
}

// walks reports whether a value of type t can lead to memory to count.
func (w *retainWalk) walks(t reflect.Type) bool {
	if d, ok := w.deep[t]; ok {
		return d
	}
	w.deep[t] = false // cycles through named types: settled below
	d := false
	if ours(t) {
		switch t.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map, reflect.String:
			d = true
		case reflect.Array:
			d = w.walks(t.Elem())
		case reflect.Struct:
			for i := range t.NumField() {
				if w.walks(t.Field(i).Type) {
					d = true
				}
			}
		}
	}
	w.deep[t] = d
	return d
}

func (w *retainWalk) first(p uintptr) bool {
	if _, ok := w.seen[p]; ok {
		return false
	}
	w.seen[p] = struct{}{}
	return true
}

func (w *retainWalk) visit(v reflect.Value) {
	w.nodes++
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || !w.first(v.Pointer()) {
			return
		}
		e := v.Elem()
		if !ours(e.Type()) {
			return
		}
		w.bytes += uint64(e.Type().Size())
		w.push(e)
	case reflect.Interface:
		if v.IsNil() {
			return
		}
		e := v.Elem()
		if !ours(e.Type()) {
			return
		}
		if e.Kind() != reflect.Pointer {
			w.bytes += uint64(e.Type().Size()) // boxed
		}
		w.push(e)
	case reflect.Struct:
		t := v.Type()
		for i := range v.NumField() {
			// Written by Interrupt from other goroutines under goja's lock.
			if t.Field(i).Name == "interruptVal" {
				continue
			}
			w.push(v.Field(i))
		}
	case reflect.Array:
		for i := range v.Len() {
			w.push(v.Index(i))
		}
	case reflect.Slice:
		if v.Cap() == 0 || !w.first(v.Pointer()) {
			return
		}
		w.bytes += uint64(v.Cap()) * uint64(v.Type().Elem().Size())
		if w.walks(v.Type().Elem()) {
			for i := range v.Len() {
				w.push(v.Index(i))
			}
		}
	case reflect.Map:
		if v.IsNil() || !w.first(v.Pointer()) {
			return
		}
		t := v.Type()
		w.bytes += uint64(v.Len()) * uint64(t.Key().Size()+t.Elem().Size()+8)
		if w.walks(t.Key()) || w.walks(t.Elem()) {
			it := v.MapRange()
			for it.Next() {
				w.push(it.Key())
				w.push(it.Value())
			}
		}
	case reflect.String:
		// Count each string's bytes once: one big string referenced many
		// times is retained once.
		if n := v.Len(); n > 0 {
			if n < 64 || w.first(uintptr(unsafe.Pointer(unsafe.StringData(v.String())))) {
				w.bytes += uint64(n)
			}
		}
	}
}
