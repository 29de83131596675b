package storm

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/device"
	"github.com/tokenstorm/tokenstorm/harness/latency"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// counters are the live figures of a storm, updated lock-free by every
// worker and read by the progress line.
type counters struct {
	sent, settled, errors, lost atomic.Uint64
	refreshes, logins           atomic.Uint64     // calls that reached the backend
	latency                     latency.Histogram // logical request latency (issue → settle)
	lag                         latency.Histogram // send lag (actual send − scheduled)
	corrected                   latency.Histogram // lag + latency: what a caller on schedule waited
	// lagPeak is the largest send lag (ns) since the progress line last
	// looked: it shows the generator falling behind now, not on average.
	lagPeak atomic.Int64
}

// noteLag records one hit's send lag.
func (c *counters) noteLag(lag time.Duration) {
	c.lag.Record(lag)
	for {
		p := c.lagPeak.Load()
		if int64(lag) <= p || c.lagPeak.CompareAndSwap(p, int64(lag)) {
			return
		}
	}
}

// observe counts token calls from the ledger (runs under the ledger's lock).
func (c *counters) observe(e ledger.Event) {
	if e.Source != ledger.SourceBackend {
		return
	}
	switch e.Kind {
	case ledger.KindRefresh:
		c.refreshes.Add(1)
	case ledger.KindBackendLogin:
		c.logins.Add(1)
	}
}

// transport is the http.RoundTripper vegeta's attacker sends through: it
// turns each hit into one logical request of one device and lets the client
// under test settle it via device.Driver, which records issue and settle in
// the ledger and enforces the deadline. The client under test, not vegeta's
// own HTTP stack, is what talks to the backend.
type transport struct {
	// ctxs are the requests' contexts, one per device (all end a grace
	// period after the run's): every request derives its deadline from its
	// device's, so that hundreds of requests in flight do not all register
	// with, and contend for, one parent context.
	ctxs     []context.Context
	driver   *device.Driver
	names    []string
	slots    *slots
	sched    *schedule // nil when unthrottled: nothing is "late" then
	began    time.Time // start of the attack, origin of the schedule
	counters *counters
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	sentAt := time.Now()
	d, err := strconv.Atoi(req.Header.Get(headerSlot))
	if err != nil || d < 0 || d >= len(t.names) {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("tokenstorm: hit without a device slot")
	}
	defer t.slots.release(d)

	var lag time.Duration
	if t.sched != nil {
		if seq, ok := seqOf(req.Header.Get("X-Vegeta-Seq")); ok {
			lag = max(0, sentAt.Sub(t.began)-t.sched.due(seq))
			t.counters.noteLag(lag)
		}
	}
	var body []byte
	if req.Body != nil {
		body, err = client.ReadBody(req.Body, req.ContentLength)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	h := callHeader(req.Header)

	t.counters.sent.Add(1)
	out := t.driver.Do(t.ctxs[d], t.names[d], device.Request{Method: req.Method, Path: req.URL.RequestURI(), Body: body, Header: h})
	t.counters.settled.Add(1)
	t.counters.latency.Record(out.Latency)
	t.counters.corrected.Record(lag + out.Latency)
	if out.Lost {
		t.counters.lost.Add(1)
	}
	if out.Err != nil {
		t.counters.errors.Add(1)
		// vegeta records it as the hit's error (status 0).
		return nil, out.Err
	}
	if out.Status < 100 {
		t.counters.errors.Add(1)
		return nil, fmt.Errorf("tokenstorm: the client answered without an HTTP status")
	}
	if out.Status >= 400 {
		t.counters.errors.Add(1)
	}
	resp := &response{}
	resp.body.Reset(out.Body)
	resp.Response = http.Response{
		Status:        statusLine(out.Status),
		StatusCode:    out.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{},
		Body:          &resp.body,
		ContentLength: int64(len(out.Body)),
		Request:       req,
	}
	return &resp.Response, nil
}

// vegetaHeaders are the headers of vegeta's request that are for the
// transport, not for the client under test (canonical keys).
var vegetaHeaders = [...]string{headerSlot, "X-Vegeta-Seq", "X-Vegeta-Attack"}

// callHeader is what the client under test gets of the hit's header: a copy
// without vegetaHeaders (values shared: the driver copies them again), nil
// when nothing is left. Like Clone and Del, without allocating when nothing is.
func callHeader(h http.Header) http.Header {
	n := 0
	for k := range h {
		if !isVegetaHeader(k) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make(http.Header, n)
	for k, v := range h {
		if !isVegetaHeader(k) {
			out[k] = v
		}
	}
	return out
}

func isVegetaHeader(k string) bool {
	for _, v := range vegetaHeaders {
		if k == v {
			return true
		}
	}
	return false
}

// response is an answer and its body in one allocation.
type response struct {
	http.Response
	body bytesBody
}

// bytesBody is io.NopCloser(bytes.NewReader(b)) as one value.
type bytesBody struct{ bytes.Reader }

func (*bytesBody) Close() error { return nil }

// statusLines are strconv.Itoa(code) + " " + http.StatusText(code) for the
// codes 100 to 599, built once rather than per answer.
var statusLines = func() []string {
	out := make([]string, 600)
	for code := 100; code < len(out); code++ {
		out[code] = strconv.Itoa(code) + " " + http.StatusText(code)
	}
	return out
}()

func statusLine(code int) string {
	if code >= 100 && code < len(statusLines) {
		return statusLines[code]
	}
	return strconv.Itoa(code) + " " + http.StatusText(code)
}
