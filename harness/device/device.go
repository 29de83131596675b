// Package device simulates the devices whose callers issue logical requests
// through a client under test. It gives every logical request an id that
// survives any wrapper, records when it was issued and how it settled in the
// ledger, and enforces deadlines: a client that never settles a request makes
// it "lost", it never hangs the harness.
package device

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/pending"
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
//
// A request not settled by its Deadline is lost only when the client had
// everything it needed (SPEC §5): Busy says whether the servers still owe
// the client an answer. While they do, the driver keeps waiting, up to
// LostAfter, and a request that settles meanwhile is late (ledger.NoteLate),
// not lost: slowness of the backend or the machine is not the client's
// fault. A request still unsettled once the servers have been idle for
// Deadline/5 (the client's time to act on its last answer), or at
// LostAfter, is lost.
type Driver struct {
	Client   client.Client
	Ledger   *ledger.Ledger
	Deadline time.Duration // per logical request; default 10s
	Prefix   string        // request id prefix, e.g. "probe3-"
	// Busy reports whether the servers the client talks to are handling a
	// request (stack.Stack.Busy). Nil: a request is lost at its Deadline.
	Busy func() bool
	// Answered counts the requests the servers have answered
	// (stack.Stack.Answered); nil when unknown. A client whose calls are
	// answered at once is never seen in flight, so without it a refresh
	// loop would look like idle servers.
	Answered func() uint64
	// LostAfter bounds the wait past Deadline; default 5 × Deadline.
	LostAfter time.Duration
	// Pending, when set, is where the driver registers every call while it
	// waits on it, for the servers to mark the call waiting on them while
	// they serve one of its requests or a renewal of its device
	// (stack.Stack.Pending): so a client that cannot tell (exec:) is judged
	// as one that does.
	Pending *pending.Register
	seq     atomic.Uint64
}

// NextID returns a fresh request id: Prefix, "r" and a sequence number.
func (d *Driver) NextID() string {
	var buf [64]byte
	b := append(buf[:0], d.Prefix...)
	b = append(b, 'r')
	b = strconv.AppendUint(b, d.seq.Add(1), 10)
	return string(b)
}

// WithRID puts rid into path as query parameter rid (replacing one already there).
func WithRID(path, rid string) string {
	if plainPath(path) {
		// What the general case below yields for a path without a query,
		// fragment or anything url.URL would escape, without parsing it.
		return path + "?rid=" + url.QueryEscape(rid)
	}
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

// plainPath reports whether path is made only of characters a URL path keeps
// as they are (unreserved ones and '/'), and cannot be read as a scheme or
// an authority: then url.Parse(path).String() is path itself.
func plainPath(path string) bool {
	if strings.HasPrefix(path, "//") {
		return false
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
			return false
		}
	}
	return true
}

// callHeader is a deep copy of h (the caller's header is never modified,
// whatever the client does to the copy) with X-Request-ID set to rid and,
// when hasBody and h has no Content-Type, Content-Type application/json: what
// h.Clone(), Set("X-Request-ID", rid) and Set("Content-Type", …) give, in
// two allocations plus the map's.
func callHeader(h http.Header, rid string, hasBody bool) http.Header {
	nv := 0
	for _, v := range h {
		nv += len(v)
	}
	out := make(http.Header, len(h)+2)
	vals := make([]string, nv+1)
	for k, v := range h {
		if v == nil {
			out[k] = nil // as Clone keeps it
			continue
		}
		n := copy(vals, v)
		out[k] = vals[:n:n]
		vals = vals[n:]
	}
	vals[0] = rid
	out["X-Request-Id"] = vals[:1:1]
	if hasBody && out.Get("Content-Type") == "" {
		out["Content-Type"] = []string{"application/json"}
	}
	return out
}

// job is one call of a client on its own goroutine, and where its result
// goes. A settled call's job is reused; a lost one's is left to its
// goroutine, which may still send.
type job struct {
	client client.Client
	ctx    context.Context
	call   client.Call
	handed *atomic.Bool       // set as the client gets the call
	done   chan client.Result // buffered: the goroutine never blocks on it
}

var jobs = sync.Pool{New: func() any { return &job{done: make(chan client.Result, 1)} }}

func (j *job) run() {
	j.handed.Store(true)
	j.done <- j.client.Do(j.ctx, j.call)
}

// watch runs the client's Do on a goroutine of its own and waits for it
// until ctx ends and a grace period more: a well-behaved client settles with
// ctx.Err() when its context ends; one that ignores it is lost, and its late
// answer is dropped.
func watch(ctx context.Context, cl client.Client, call client.Call, handed *atomic.Bool) (res client.Result, lost bool) {
	j := jobs.Get().(*job)
	j.client, j.ctx, j.call, j.handed = cl, ctx, call, handed
	done := j.done
	go j.run()
	select {
	case res = <-done:
	case <-ctx.Done():
		select {
		case res = <-done:
		case <-time.After(100 * time.Millisecond):
			return client.Result{}, true
		}
	}
	// The client's goroutine is done with j: it has sent its result.
	*j = job{done: done}
	jobs.Put(j)
	return res, false
}

// giveUpWhenIdle runs once deadline has passed: it cancels the client's
// context as soon as the servers have been idle for deadline/5 (the client
// had every answer it waited for), or at the limit, and returns when ctx ends
// (the request settled). why receives the reason it gave up early. It alone
// cancels o's context, after its last look at the client: on a machine busy
// enough that timers fire seconds late, and in no set order, a timer of the
// context's own could cancel the client before the driver had looked.
func (d *Driver) giveUpWhenIdle(ctx context.Context, deadline time.Duration, why *atomic.Value, o *owed) {
	quiet := max(deadline/5, 50*time.Millisecond)
	tick := time.NewTicker(max(quiet/10, 5*time.Millisecond))
	defer tick.Stop()
	limit := time.NewTimer(time.Until(o.ctx.at))
	defer limit.Stop()
	var idleSince time.Time
	var answered uint64 // d.Answered() when idleSince was set
	for {
		o.look()
		if d.Busy() {
			idleSince = time.Time{}
		} else if idleSince.IsZero() {
			idleSince = time.Now()
			if d.Answered != nil {
				answered = d.Answered()
			}
		} else if time.Since(idleSince) >= quiet {
			w := fmt.Sprintf("although the backend had answered every call the client sent (the servers idle for %s)", quiet)
			if d.Answered != nil {
				if n := d.Answered() - answered; n > 0 {
					w = fmt.Sprintf("although the servers answered each call the client sent at once (%d answers in the last %s, none in flight when the harness looked): the client kept calling them without settling the request (a refresh or retry loop?)", n, quiet)
				}
			}
			why.Store(w)
			o.lastLook()
			o.cancel(context.Canceled)
			return
		}
		select {
		case <-tick.C:
		case <-limit.C:
			o.lastLook()
			o.cancel(context.DeadlineExceeded)
			return
		case <-ctx.Done():
			return
		}
	}
}

// owed is what the driver saw of a call's client.Call.Waiting after the
// call's deadline: whether the client was waiting on the servers for it then,
// and at the driver's last look (the one it gives up on, taken at the limit
// by the goroutine that cancels the client).
type owed struct {
	waiting            atomic.Int32
	handed             atomic.Bool
	mu                 sync.Mutex // orders the looks: the last one stands
	looked, final      bool
	atDeadline, lately atomic.Bool
	ctx                limitContext // the client's context, when the driver waits past the deadline
	cancel             context.CancelCauseFunc
	pending            *pending.Register // Driver.Pending
	dev                string            // the call's device
	// What the deadline timer's giveUp needs, kept here rather than in a
	// closure of DoID's variables: one allocation per request, not three.
	driver   *Driver
	deadline time.Duration
	why      atomic.Value // string: why the driver gave up before the limit
}

// giveUp is the deadline timer's function (see Driver.giveUpWhenIdle).
func (o *owed) giveUp() { o.driver.giveUpWhenIdle(&o.ctx, o.deadline, &o.why, o) }

// look samples waiting. The first look stands for the deadline: on a machine
// overloaded enough, the driver's own timers fire seconds late, so the first
// look may come well after it (or only just before the limit).
func (o *owed) look() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lookLocked()
}

func (o *owed) lookLocked() {
	if o.final {
		return // the driver has given up: a look now would see the client leave
	}
	// A call the starved harness has not yet handed to the client is owed
	// to the client by the harness, not forgotten by it.
	// waiting counts the client's own marks and the servers' (requests of
	// the call they serve); dev, renewals of the call's device they serve.
	w := !o.handed.Load() || o.waiting.Load() > 0 || o.pending.RenewingFor(o.dev)
	if !o.looked {
		o.looked = true
		o.atDeadline.Store(w)
	}
	o.lately.Store(w)
}

// lastLook is the look the driver gives up on: later looks change nothing.
func (o *owed) lastLook() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lookLocked()
	o.final = true
}

// limitContext is a context the driver cancels itself at its deadline: it
// says so (Deadline, and Err is context.DeadlineExceeded once cancelled with
// that cause) as a context.WithDeadline would, without a timer of its own.
type limitContext struct {
	context.Context
	at time.Time
}

func (c limitContext) Deadline() (time.Time, bool) { return c.at, true }

func (c limitContext) Err() error {
	err := c.Context.Err()
	if err != nil && errors.Is(context.Cause(c.Context), context.DeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return err
}

// afterFunc is time.AfterFunc; tests starve the deadline timer through it.
var afterFunc = time.AfterFunc

// Do issues one logical request for dev and waits until it settles or its
// deadline passes (then it is lost; the client's Do keeps running detached and
// its late answer is ignored).
func (d *Driver) Do(ctx context.Context, dev string, r Request) Outcome {
	rid := d.NextID()
	return d.DoID(ctx, dev, rid, r)
}

// DoID is Do with a caller-chosen request id.
func (d *Driver) DoID(ctx context.Context, dev, rid string, r Request) Outcome {
	deadline := d.Deadline
	if deadline <= 0 {
		deadline = 10 * time.Second
	}
	h := callHeader(r.Header, rid, len(r.Body) > 0)
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	o := new(owed)
	call := client.Call{ID: rid, Device: dev, Method: method, Path: WithRID(r.Path, rid), Header: h, Body: r.Body, Waiting: &o.waiting}
	o.pending, o.dev = d.Pending, dev
	d.Pending.Add(rid, &o.waiting)
	defer d.Pending.Drop(rid, &o.waiting)
	route := r.Path
	if i := strings.IndexByte(route, '?'); i >= 0 {
		route = route[:i]
	}
	d.Ledger.Append(ledger.Event{Source: ledger.SourceClient, Kind: ledger.KindIssue, Device: dev, RID: rid,
		Method: method, Route: route, BodyHash: ledger.HashBody(r.Body)})

	start := time.Now()
	limit := deadline
	if d.Busy != nil {
		limit = d.LostAfter
		if limit <= 0 {
			limit = 5 * deadline
		}
		limit = max(limit, deadline)
	}
	var cctx context.Context
	var cancel context.CancelFunc // nil: o.cancel
	if limit > deadline {
		// giveUpWhenIdle alone cancels this context (at the limit at the
		// latest); a timer, not a goroutine per request: most requests
		// settle in time.
		var inner context.Context
		inner, o.cancel = context.WithCancelCause(ctx)
		o.ctx = limitContext{inner, start.Add(limit)}
		if dl, ok := ctx.Deadline(); ok && dl.Before(o.ctx.at) {
			o.ctx.at = dl // the parent's, which cancels inner itself
		}
		cctx = &o.ctx
		o.driver, o.deadline = d, deadline
		t := afterFunc(deadline, o.giveUp)
		defer t.Stop()
	} else {
		cctx, cancel = context.WithTimeout(ctx, limit)
	}
	var res client.Result
	lost := false
	if p, ok := d.Client.(client.Prompt); ok && p.ReturnsOnCancel() {
		o.handed.Store(true)
		res = d.Client.Do(cctx, call)
	} else {
		res, lost = watch(cctx, d.Client, call, &o.handed)
	}
	if !lost && res.Err != nil && cctx.Err() != nil && ctx.Err() == nil {
		// The client gave up only because the harness gave up on it.
		lost = true
	}
	if cancel != nil {
		cancel()
	} else {
		o.cancel(context.Canceled)
	}
	out := Outcome{RID: rid, Device: dev, Status: res.Status, Body: res.Body, Err: res.Err, Lost: lost, Latency: time.Since(start)}
	ev := ledger.Event{Source: ledger.SourceClient, Kind: ledger.KindSettle, Device: dev, RID: rid, Method: method, Route: route,
		Status: res.Status, LatencyNS: int64(out.Latency)}
	switch {
	case lost:
		out.Err = client.ErrLost
		ev.Outcome = ledger.OutcomeLost
		ev.Detail = fmt.Sprintf("no answer within %s", deadline)
		if w, _ := o.why.Load().(string); w != "" {
			ev.Detail += " " + w
		} else if limit > deadline {
			ev.Detail = fmt.Sprintf("no answer within %s: the servers were still busy at the %s deadline, and the client did not settle by the %s limit", limit, deadline, limit)
			if o.atDeadline.Load() && o.lately.Load() {
				// Busy servers and a client still waiting on them: the
				// machine or the backend was overloaded (no-lost-requests
				// does not count it; requests.lost and thresholds do).
				ev.Detail = ledger.AddNote(ev.Detail, ledger.NoteServersOwed)
			}
		}
		if ex, ok := d.Client.(client.Explainer); ok {
			if w := ex.WhyUnsettled(dev); w != "" {
				ev.Detail += "; " + w
			}
		}
	case res.Err != nil:
		ev.Outcome = ledger.OutcomeRejected
		ev.Detail = res.Err.Error()
	default:
		ev.Outcome = ledger.OutcomeOK
		// The reference backend echoes the request id in every answer: one
		// without it is not the backend's (genuine-answers).
		if method != http.MethodHead && !bytes.Contains(res.Body, []byte(rid)) {
			ev.Detail = ledger.NoteNoRID
		}
	}
	if !lost && out.Latency > deadline {
		ev.Detail = ledger.AddNote(ev.Detail, ledger.NoteLate)
		if o.atDeadline.Load() {
			ev.Detail = ledger.AddNote(ev.Detail, ledger.NoteServersOwed)
		}
	}
	d.Ledger.Append(ev)
	return out
}
