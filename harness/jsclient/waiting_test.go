package jsclient_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/device"
	"github.com/tokenstorm/tokenstorm/harness/jsclient"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// waitAdapter is a small wrapper: a call whose path has "forget" is
// dropped (its promise never settles, nothing is sent); every other call
// first waits for the device's renewal (POST /auth/refresh, no request id,
// shared by the calls that arrive while it runs) when its path has
// "renew", then sends its own request.
const waitAdapter = `
let renewing = null;
function send(o) {
  return new Promise((ok, fail) => wx.request(Object.assign({ success: ok, fail }, o)));
}
export async function call(req) {
  if (req.path.includes("forget")) return new Promise(() => {});
  if (req.path.includes("renew")) {
    if (!renewing) renewing = send({ url: "/auth/refresh", method: "POST", data: "{}" }).finally(() => { renewing = null });
    await renewing;
  }
  const res = await send({ url: req.url, method: req.method, header: req.header });
  return { statusCode: res.statusCode, data: res.data, header: res.header };
}`

// gated is a backend whose answers to paths starting with a held prefix wait
// until the test lets them go.
type gated struct {
	held     map[string]chan struct{}
	arrived  chan string
	mu       sync.Mutex
	released map[string]bool
}

func newGated(t *testing.T, prefixes ...string) (*gated, *httptest.Server) {
	g := &gated{held: map[string]chan struct{}{}, arrived: make(chan string, 64), released: map[string]bool{}}
	for _, p := range prefixes {
		g.held[p] = make(chan struct{})
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body so that a client closing the connection cancels
		// r.Context() (the server only watches the connection after).
		_, _ = io.Copy(io.Discard, r.Body)
		g.arrived <- r.URL.Path
		for p, ch := range g.held {
			if strings.HasPrefix(r.URL.Path, p) {
				select {
				case <-ch:
				case <-r.Context().Done():
					return
				}
			}
		}
		_, _ = w.Write([]byte(`{"ok":true,"rid":"` + r.URL.Query().Get("rid") + `"}`))
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(g.releaseAll) // before srv.Close: a failed test leaves no handler waiting
	return g, srv
}

func (g *gated) release(prefix string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.released[prefix] {
		g.released[prefix] = true
		close(g.held[prefix])
	}
}

func (g *gated) releaseAll() {
	for p := range g.held {
		g.release(p)
	}
}

func (g *gated) await(t *testing.T, path string) {
	t.Helper()
	for {
		select {
		case p := <-g.arrived:
			if p == path {
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s never reached the backend", path)
		}
	}
}

func waitClient(t *testing.T, srv *httptest.Server) *jsclient.Client {
	t.Helper()
	path := writeAdapter(t, map[string]string{"adapter.js": waitAdapter})
	c, err := jsclient.New(path, client.Env{BackendURL: srv.URL, WechatURL: srv.URL, AppID: "wx", Ledger: ledger.New(ledger.Options{Memory: true})}, jsclient.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// doWaiting runs call on c in the background with its Waiting counter.
func doWaiting(ctx context.Context, c client.Client, rid, path string) (*atomic.Int32, <-chan client.Result) {
	w := new(atomic.Int32)
	call := client.Call{ID: rid, Device: "d1", Method: "GET", Path: device.WithRID(path, rid), Header: http.Header{"X-Request-Id": {rid}}, Waiting: w}
	out := make(chan client.Result, 1)
	go func() { out <- c.Do(ctx, call) }()
	return w, out
}

// A call's own request in flight (recognised by the request id it carries)
// is a wait on the servers; the answer ends it.
func TestWaitingWhileTheCallsRequestIsInFlight(t *testing.T) {
	g, srv := newGated(t, "/api/slow")
	c := waitClient(t, srv)
	w, res := doWaiting(context.Background(), c, "r1", "/api/slow")
	g.await(t, "/api/slow")
	assert.EqualValues(t, 1, w.Load(), "its attempt is in flight")
	g.release("/api/slow")
	r := <-res
	require.NoError(t, r.Err)
	assert.Contains(t, string(r.Body), `"rid":"r1"`)
	assert.Zero(t, w.Load(), "answered: nothing owed")
}

// Calls queued behind the device's renewal (a request without a request id)
// wait on the servers while it is in flight, including a call that arrives
// after it was sent. Which pending calls a renewal holds up cannot be read
// from the JavaScript, so it counts for all of them, a dropped one too; once
// it has landed, a call the wrapper dropped waits on nothing, whatever other
// calls of the device have in flight.
func TestWaitingWhileQueuedBehindARenewal(t *testing.T) {
	g, srv := newGated(t, "/auth/refresh", "/api/held")
	c := waitClient(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	w1, res1 := doWaiting(ctx, c, "r1", "/api/renew")
	g.await(t, "/auth/refresh")
	w2, res2 := doWaiting(ctx, c, "r2", "/api/renew")
	wf, resf := doWaiting(ctx, c, "f1", "/api/forget")
	require.Eventually(t, func() bool { return w2.Load() == 1 }, 5*time.Second, time.Millisecond, "r2 queued behind the renewal in flight")
	assert.EqualValues(t, 1, w1.Load(), "r1 waits for the renewal it started")
	require.Eventually(t, func() bool { return wf.Load() == 1 }, 5*time.Second, time.Millisecond, "any pending call may be queued behind the renewal")

	g.release("/auth/refresh")
	for _, res := range []<-chan client.Result{res1, res2} {
		r := <-res
		require.NoError(t, r.Err)
		assert.Equal(t, 200, r.Status)
	}
	assert.Zero(t, w1.Load())
	assert.Zero(t, w2.Load())
	assert.Zero(t, wf.Load(), "the renewal landed: the dropped call waits on nothing of the servers'")

	// Another call's request in flight is no wait of the dropped call.
	w3, res3 := doWaiting(ctx, c, "r3", "/api/held")
	g.await(t, "/api/held")
	assert.EqualValues(t, 1, w3.Load())
	assert.Zero(t, wf.Load())
	g.release("/api/held")
	require.NoError(t, (<-res3).Err)
	select {
	case <-resf:
		t.Fatal("the dropped call settled")
	default:
	}
}

// Through the device driver: a JS request given up on while the servers
// are busy and its attempt is still in flight is noted as owed by the
// servers (no-lost-requests does not count it, docs/invariants.md
// "Overload"); a call the wrapper dropped is lost as before.
func TestGivingUpOnBusyServersNotesWhetherTheJSWaitedOnThem(t *testing.T) {
	_, srv := newGated(t, "/api/hang")
	c := waitClient(t, srv)
	// Loaded first, so the call's request is out well before its deadline.
	require.NoError(t, c.Warm(context.Background(), "d1"))
	run := func(path string) ledger.Event {
		l := ledger.New(ledger.Options{Memory: true})
		d := &device.Driver{Client: c, Ledger: l, Deadline: 300 * time.Millisecond, LostAfter: 900 * time.Millisecond,
			Busy: func() bool { return true }}
		o := d.Do(context.Background(), "d1", device.Request{Path: path})
		require.True(t, o.Lost, path)
		return l.Events()[1]
	}
	waited := run("/api/hang")
	assert.Equal(t, ledger.OutcomeLost, waited.Outcome)
	assert.True(t, ledger.HasNote(waited.Detail, ledger.NoteServersOwed), waited.Detail)
	forgot := run("/api/forget")
	assert.Equal(t, ledger.OutcomeLost, forgot.Outcome)
	assert.False(t, ledger.HasNote(forgot.Detail, ledger.NoteServersOwed), forgot.Detail)
}
