// Package device simulates the devices whose callers issue logical requests
// through a client under test. It gives every logical request an id that
// survives any wrapper, records when it was issued and how it settled in the
// ledger, and enforces deadlines: a client that never settles a request makes
// it "lost", it never hangs the harness.
package device

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// Request is what a caller on a device asks for.
type Request struct {
	Method string
	Path   string // e.g. /api/orders or /api/orders?page=2
	Body   []byte
	Header http.Header
}

// Outcome is how a logical request ended, as seen by its caller.
type Outcome struct {
	RID     string
	Device  string
	Status  int
	Body    []byte
	Err     error
	Lost    bool
	Latency time.Duration
}

// Driver issues logical requests through a client.
type Driver struct {
	Client   client.Client
	Ledger   *ledger.Ledger
	Clock    clock.Clock   // for latency and event times; default real
	Deadline time.Duration // per logical request; default 10s
	Prefix   string        // request id prefix, e.g. "probe3-"
	seq      atomic.Uint64
}

// NextID returns a fresh request id.
func (d *Driver) NextID() string {
	return fmt.Sprintf("%sr%d", d.Prefix, d.seq.Add(1))
}

// WithRID puts rid into path as query parameter rid (replacing one already there).
func WithRID(path, rid string) string {
	u, err := url.Parse(path)
	if err != nil {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		return path + sep + "rid=" + url.QueryEscape(rid)
	}
	q := u.Query()
	q.Set("rid", rid)
	u.RawQuery = q.Encode()
	return u.String()
}

// Do issues one logical request for dev and waits until it settles or its
// deadline passes (then it is lost; the client's Do keeps running detached and
// its late answer is ignored).
func (d *Driver) Do(ctx context.Context, dev string, r Request) Outcome {
	rid := d.NextID()
	return d.DoID(ctx, dev, rid, r)
}

// DoID is Do with a caller-chosen request id.
func (d *Driver) DoID(ctx context.Context, dev, rid string, r Request) Outcome {
	clk := d.Clock
	if clk == nil {
		clk = clock.Real()
	}
	deadline := d.Deadline
	if deadline <= 0 {
		deadline = 10 * time.Second
	}
	h := r.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("X-Request-ID", rid)
	if len(r.Body) > 0 && h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	call := client.Call{ID: rid, Device: dev, Method: method, Path: WithRID(r.Path, rid), Header: h, Body: r.Body}
	route := r.Path
	if i := strings.IndexByte(route, '?'); i >= 0 {
		route = route[:i]
	}
	d.Ledger.Append(ledger.Event{Source: ledger.SourceClient, Kind: ledger.KindIssue, Device: dev, RID: rid,
		Method: method, Route: route, BodyHash: ledger.HashBody(r.Body)})

	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, deadline)
	done := make(chan client.Result, 1)
	go func() { done <- d.Client.Do(cctx, call) }()

	var res client.Result
	lost := false
	// Give the client a grace period after cancelling: a well-behaved client
	// settles with ctx.Err() when its context ends; one that ignores it is lost.
	select {
	case res = <-done:
	case <-cctx.Done():
		select {
		case res = <-done:
		case <-time.After(100 * time.Millisecond):
			lost = true
		}
	}
	if !lost && res.Err != nil && errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		// The client gave up only because the harness deadline passed.
		lost = true
	}
	cancel()
	out := Outcome{RID: rid, Device: dev, Status: res.Status, Body: res.Body, Err: res.Err, Lost: lost, Latency: time.Since(start)}
	ev := ledger.Event{Source: ledger.SourceClient, Kind: ledger.KindSettle, Device: dev, RID: rid, Method: method, Route: route,
		Status: res.Status, LatencyNS: int64(out.Latency)}
	switch {
	case lost:
		out.Err = client.ErrLost
		ev.Outcome = ledger.OutcomeLost
		ev.Detail = fmt.Sprintf("no answer within %s", deadline)
	case res.Err != nil:
		ev.Outcome = ledger.OutcomeRejected
		ev.Detail = res.Err.Error()
	default:
		ev.Outcome = ledger.OutcomeOK
	}
	d.Ledger.Append(ev)
	return out
}
