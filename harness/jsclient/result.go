package jsclient

import (
	"errors"
	"fmt"
	"math"
	"net/http"

	"github.com/dop251/goja"
	"github.com/tokenstorm/tokenstorm/harness/client"
)

// toResult converts what call(req)'s promise resolved with. The contract is
// {statusCode, data, header} (a wx.request success object qualifies;
// `status`, `body` and `headers` are accepted too). Any other value is taken
// as the body of a 200: wrappers often resolve with res.data.
func (d *device) toResult(v goja.Value) client.Result {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return client.Result{Err: errors.New("call(req) resolved with " + valueKind(v) + "; resolve with {statusCode, data, header}")}
	}
	o, isObj := v.(*goja.Object)
	if !isObj {
		return client.Result{Status: http.StatusOK, Body: d.bodyOf(v)}
	}
	status, ok := statusOf(o)
	if !ok {
		return client.Result{Status: http.StatusOK, Body: d.bodyOf(v)}
	}
	r := client.Result{Status: status, Header: d.headerOf(o)}
	data := o.Get("data")
	if data == nil || goja.IsUndefined(data) {
		data = o.Get("body")
	}
	r.Body = d.bodyOf(data)
	return r
}

// rejection converts a rejection reason into an error for the caller. A
// reason that carries an HTTP answer (statusCode) keeps it in the Result too:
// the caller got that answer as an error.
func (d *device) rejection(v goja.Value) client.Result {
	r := client.Result{Err: errors.New(d.errText(v, "call(req) rejected"))}
	if o, ok := v.(*goja.Object); ok {
		if status, ok := statusOf(o); ok {
			r.Status = status
			r.Header = d.headerOf(o)
			data := o.Get("data")
			if data == nil || goja.IsUndefined(data) {
				data = o.Get("body")
			}
			r.Body = d.bodyOf(data)
		}
	}
	return r
}

// errText is the message of a thrown or rejected value, by the shim's own
// formatting (which survives throwing getters and toString); def when there
// is none.
func (d *device) errText(v goja.Value, def string) string {
	if v != nil {
		if m, err := d.message(goja.Undefined(), v); err == nil {
			return m.String()
		}
	}
	return def
}

func statusOf(o *goja.Object) (int, bool) {
	for _, k := range []string{"statusCode", "status"} {
		v := o.Get(k)
		if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
			continue
		}
		f := v.ToFloat()
		if !math.IsNaN(f) && f >= 100 && f <= 999 && f == math.Trunc(f) {
			return int(f), true
		}
	}
	return 0, false
}

// bodyOf is the bytes of a response body: strings as they are, ArrayBuffers
// as their bytes, anything else as JSON.
func (d *device) bodyOf(v goja.Value) []byte {
	if v == nil || goja.IsUndefined(v) {
		return nil
	}
	switch x := v.Export().(type) {
	case string:
		return []byte(x)
	case goja.ArrayBuffer:
		return append([]byte(nil), x.Bytes()...)
	}
	s, err := d.strfy(goja.Undefined(), v)
	if err != nil || goja.IsUndefined(s) {
		return nil
	}
	return []byte(s.String())
}

func (d *device) headerOf(o *goja.Object) http.Header {
	hv := o.Get("header")
	if hv == nil || goja.IsUndefined(hv) || goja.IsNull(hv) {
		hv = o.Get("headers")
	}
	ho, ok := hv.(*goja.Object)
	if !ok {
		return nil
	}
	h := http.Header{}
	for _, k := range ho.Keys() {
		v := ho.Get(k)
		if v == nil {
			// A key that is not valid UTF-16 (a lone surrogate) comes back
			// from Keys converted, and no longer names the property.
			continue
		}
		if arr, ok := v.Export().([]any); ok {
			for _, e := range arr {
				h.Add(k, toString(e))
			}
			continue
		}
		h.Add(k, v.String())
	}
	return h
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

func valueKind(v goja.Value) string {
	if v == nil || goja.IsUndefined(v) {
		return "undefined"
	}
	return "null"
}
