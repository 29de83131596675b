package jsclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dop251/goja"
)

// maxResponse bounds what one wx.request reads (WeChat's own limit is lower
// in practice; this only protects the harness).
const maxResponse = 32 << 20

// task is an in-flight wx.request.
type task struct {
	cancel  context.CancelFunc
	aborted bool
}

// jsRequest is n.request(opts, done): it performs the HTTP request on another
// goroutine and calls done(err, status, header, body) back on the loop. It
// returns the task id for n.abort.
func (d *device) jsRequest(fc goja.FunctionCall) goja.Value {
	vm := d.vm
	o := fc.Argument(0).ToObject(vm)
	done, ok := goja.AssertFunction(fc.Argument(1))
	if !ok {
		panic(vm.NewTypeError("request: callback missing"))
	}
	method := o.Get("method").String()
	target := joinURL(d.c.env.BackendURL, o.Get("url").String())
	header := http.Header{}
	if ho, ok := o.Get("header").(*goja.Object); ok {
		for _, k := range ho.Keys() {
			header.Set(k, ho.Get(k).String())
		}
	}
	var body []byte
	if bv := o.Get("body"); bv != nil && !goja.IsUndefined(bv) && !goja.IsNull(bv) {
		switch x := bv.Export().(type) {
		case goja.ArrayBuffer:
			body = append([]byte(nil), x.Bytes()...)
		default:
			s := bv.String()
			if ref := d.bodies[s]; ref != nil {
				body = ref.raw // unchanged content: the caller's exact bytes
			} else {
				body = []byte(s)
			}
		}
	}
	arrayBuffer := o.Get("responseType").String() == "arraybuffer"
	timeout := d.c.opts.RequestTimeout
	if tv := o.Get("timeout"); tv != nil && !goja.IsUndefined(tv) && !goja.IsNull(tv) {
		if ms := tv.ToInteger(); ms > 0 {
			timeout = time.Duration(ms) * time.Millisecond
		}
	}

	d.nextTask++
	id := d.nextTask
	ctx, cancel := context.WithTimeout(d.ctx, timeout)
	t := &task{cancel: cancel}
	d.tasks[id] = t
	f := d.takeOff(target, header)
	d.loop.goAsync(func() func() {
		status, rh, rb, err := d.roundTrip(ctx, method, target, header, body)
		f.land()
		return func() {
			d.grounded(f)
			delete(d.tasks, id)
			cancel()
			var args []goja.Value
			if err != nil {
				reason := failReason(err)
				if t.aborted {
					reason = "abort"
				} else if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					reason = "timeout"
				}
				args = []goja.Value{vm.ToValue(reason)}
			} else {
				hdr := vm.NewObject()
				for k, vs := range rh {
					_ = hdr.Set(k, strings.Join(vs, ", "))
				}
				var bodyVal goja.Value
				if arrayBuffer {
					bodyVal = vm.ToValue(vm.NewArrayBuffer(rb))
				} else {
					bodyVal = vm.ToValue(string(rb))
				}
				args = []goja.Value{goja.Null(), vm.ToValue(status), hdr, bodyVal}
			}
			if _, err := done(goja.Undefined(), args...); err != nil {
				d.uncaught("wx.request callback", err)
			}
		}
	})
	return vm.ToValue(id)
}

// jsAbort is n.abort(id): RequestTask.abort().
func (d *device) jsAbort(fc goja.FunctionCall) goja.Value {
	if t := d.tasks[fc.Argument(0).ToInteger()]; t != nil {
		t.aborted = true
		t.cancel()
	}
	return goja.Undefined()
}

// roundTrip runs off the loop goroutine; it touches no JavaScript value.
func (d *device) roundTrip(ctx context.Context, method, target string, header http.Header, body []byte) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header = header
	resp, err := d.c.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, rb, nil
}

// failReason is the text after "request:fail ": the innermost cause, as a
// phone reports "request:fail -101:net::ERR_CONNECTION_RESET" rather than a
// Go call chain.
func failReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}
