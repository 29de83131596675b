// Package client defines what the harness drives: a Client settles the logical
// requests of simulated devices. The reference client, the mutants, external
// processes (exec:) and mini-program JavaScript (js:) all plug in here.
package client

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// Call is one logical request of one device. The harness has already put the
// request id into Path (query parameter rid) and Header (X-Request-ID), so it
// survives any wrapper.
type Call struct {
	ID     string // logical request id (rid)
	Device string // simulated device; also the WeChat user it logs in as
	Method string
	Path   string // path and query relative to the backend base URL, e.g. /api/orders?rid=r1
	// Header is the client's own: the device driver makes a fresh copy for
	// every call, so a client may send it as it is or modify it.
	Header http.Header
	Body   []byte
	// Waiting, when not nil, lets the device driver see whether the client
	// is waiting on the servers for this call: a client that can tell adds
	// 1 while an attempt of the call is in flight or the call waits for a
	// renewal that is, and takes it back when that wait ends (never while it
	// waits on anything else). A request that passes its deadline while the
	// client waits on the servers is late because the servers or the machine
	// were slow, not lost by the client (SPEC §5). The reference client and
	// its mutants tell, and the JS client for its requests in flight. The
	// harness's own servers add to it too, for any client (device.Driver
	// with a pending.Register): 1 while the embedded backend or the tap
	// serves a request carrying the call's request id, so an exec client,
	// whose HTTP the client side cannot see, is judged alike; renewals of
	// the call's device they serve count through the register instead.
	Waiting *atomic.Int32
}

// Result is how a call settled: an answer (Status, Header, Body) or an error the
// client surfaced to its caller.
type Result struct {
	Status int
	Header http.Header
	Body   []byte
	Err    error
}

// Client settles calls. Do must be safe for concurrent use by many devices and
// many calls per device, and should return when ctx is done. The harness
// enforces deadlines itself, so a Do that never returns is reported as lost.
type Client interface {
	Do(ctx context.Context, c Call) Result
	Close() error
}

// Func adapts a function to Client (Close does nothing).
type Func func(ctx context.Context, c Call) Result

// Do calls f.
func (f Func) Do(ctx context.Context, c Call) Result { return f(ctx, c) }

// Close does nothing.
func (Func) Close() error { return nil }

// Env is what a client is given to reach the stack under test.
type Env struct {
	BackendURL string // base URL of the token backend
	WechatURL  string // base URL of mockwechat (wx.login lives at /__mock/wx/login)
	AppID      string
	Clock      clock.Clock    // the harness clock; clients may skew it per device
	Ledger     *ledger.Ledger // where a client may record UI events and logs; may be nil
	HTTP       *http.Client   // transport to the stack (loopback); default http.DefaultClient
	Style      string         // backend style name or file ("" = bearer)

	// DeviceClock, when set, gives one device's clock (a phone whose time
	// differs from the stack's, e.g. a storm's clock_skew with devices).
	// nil, or nil for a device, means Clock. Exec clients get it as each
	// call's clock_offset_ms from protocol 3 on; before that they keep their
	// own time (OwnTimer). Called concurrently.
	DeviceClock func(device string) clock.Clock
}

// OwnTimer is a client that may keep its own time instead of Env's clocks
// (an exec: process speaking a protocol before 3). OwnTime reports whether
// it does: a check that moves a device's clock is then skip for it, not a
// silent pass.
type OwnTimer interface{ OwnTime() bool }

// KeepsOwnTime reports whether cl keeps its own time (OwnTimer).
func KeepsOwnTime(cl Client) bool {
	o, ok := cl.(OwnTimer)
	return ok && o.OwnTime()
}

// ClockOf is the clock of device: DeviceClock's answer, else Clock, else
// real time.
func (e Env) ClockOf(device string) clock.Clock {
	if e.DeviceClock != nil {
		if c := e.DeviceClock(device); c != nil {
			return c
		}
	}
	if e.Clock != nil {
		return e.Clock
	}
	return clock.Real()
}

// Prompt is implemented by a client that can promise that its Do returns soon
// after its context ends, whatever the backend or WeChat do (the reference
// client, whose every wait selects on the context). The device driver then
// calls Do on the caller's goroutine instead of watching it from another one,
// which saves a goroutine and two hand-offs per request under load. Clients
// under test never make that promise: for them the driver watches, so one
// that ignores its context makes requests lost instead of hanging the harness.
type Prompt interface {
	ReturnsOnCancel() bool
}

// ErrLost marks a call that did not settle before its deadline.
var ErrLost = errors.New("request did not settle before its deadline (lost)")

// Relauncher is a client whose devices can be relaunched (SPEC §6): a
// device's runtime restarted with its storage kept and its launch code
// (App({onLaunch, onShow})) run again, as when a user reopens the app.
// Client kinds without an app runtime (ref, exec) do not implement it, and
// the probe that needs it is skipped for them with the reason.
type Relauncher interface {
	Relaunch(ctx context.Context, devices ...string) error
}

// Explainer is a client that can say why a device has not settled a request
// (the JS client: a runtime stuck in a busy loop). The device driver adds it
// to the evidence of a lost request.
type Explainer interface {
	WhyUnsettled(device string) string
}
