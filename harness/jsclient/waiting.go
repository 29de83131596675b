package jsclient

import (
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
)

// A flight is one request of a device to the servers (a wx.request, a
// wx.login) while it is in flight: it holds one count of client.Call.Waiting
// for each call it is on behalf of, so the device driver can tell a request
// given up on while the servers owed the JavaScript an answer from one the
// wrapper forgot (SPEC §5, docs/invariants.md "Overload").
//
// Which calls a request is for is read from the request itself, whatever
// the wrapper: one carrying a request id (the rid query parameter of
// req.url, or the X-Request-ID header) is that pending call's attempt; one
// with no request id (a login, a refresh, wx.login) is the device's renewal,
// which every call of the device may be queued behind, so it counts for each
// of them, including calls that start while it is in flight. One carrying
// the id of a call no longer pending counts for nobody.
type flight struct {
	mu    sync.Mutex
	done  bool
	marks []*atomic.Int32
}

// attach counts w while f is in flight. Any goroutine.
func (f *flight) attach(w *atomic.Int32) {
	if w == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.done {
		w.Add(1)
		f.marks = append(f.marks, w)
	}
}

// land takes back every count once the answer (or the failure) is in: from
// then on the call waits on its own runtime, not on the servers. It runs on
// the request's goroutine, not the loop's, so a busy loop is never counted as
// the servers' wait. Any goroutine; once.
func (f *flight) land() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done = true
	for _, w := range f.marks {
		w.Add(-1)
	}
	f.marks = nil
}

// takeOff starts a flight for a request to target with header: attached to
// the pending call it carries the id of, or, with no id, to every pending
// call of the device and to those that start before it lands. Loop
// goroutine; the caller lands it and then calls d.grounded on the loop.
func (d *device) takeOff(target string, header http.Header) *flight {
	f := &flight{}
	rid := requestID(target, header)
	if rid == "" {
		if d.renewals == nil {
			d.renewals = map[*flight]struct{}{}
		}
		d.renewals[f] = struct{}{}
		for _, pc := range d.calls {
			f.attach(pc.call.Waiting)
		}
		return f
	}
	for _, pc := range d.calls {
		if pc.call.ID == rid {
			f.attach(pc.call.Waiting)
		}
	}
	return f
}

// grounded forgets a landed flight. Loop goroutine.
func (d *device) grounded(f *flight) { delete(d.renewals, f) }

// waitOnRenewals attaches a call that starts now to the device's requests
// without a request id still in flight. Loop goroutine.
func (d *device) waitOnRenewals(pc *pendingCall) {
	for f := range d.renewals {
		f.attach(pc.call.Waiting)
	}
}

// requestID is the logical request id a request carries: the rid query
// parameter the harness put in the call's path, else its X-Request-ID
// header; "" when it has neither.
func requestID(target string, header http.Header) string {
	if u, err := url.Parse(target); err == nil {
		if rid := u.Query().Get("rid"); rid != "" {
			return rid
		}
	}
	return header.Get("X-Request-Id")
}
