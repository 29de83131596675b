package device

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/pending"
)

func TestDoRecordsIssueAndSettleWithRID(t *testing.T) {
	l := ledger.New(ledger.Options{Memory: true})
	var seen client.Call
	d := &Driver{Ledger: l, Prefix: "t-", Client: client.Func(func(_ context.Context, c client.Call) client.Result {
		seen = c
		return client.Result{Status: 201, Body: []byte(`{}`)}
	})}
	o := d.Do(context.Background(), "d1", Request{Method: "POST", Path: "/api/orders?x=1", Body: []byte(`{"a":1}`)})
	require.NoError(t, o.Err)
	assert.Equal(t, 201, o.Status)
	assert.Equal(t, "t-r1", o.RID)
	u, err := url.Parse(seen.Path)
	require.NoError(t, err)
	assert.Equal(t, "t-r1", u.Query().Get("rid"))
	assert.Equal(t, "1", u.Query().Get("x"))
	assert.Equal(t, "t-r1", seen.Header.Get("X-Request-ID"))
	assert.Equal(t, "application/json", seen.Header.Get("Content-Type"))

	evs := l.Events()
	require.Len(t, evs, 2)
	assert.Equal(t, ledger.KindIssue, evs[0].Kind)
	assert.Equal(t, "/api/orders", evs[0].Route)
	assert.Equal(t, ledger.HashBody([]byte(`{"a":1}`)), evs[0].BodyHash)
	assert.Equal(t, ledger.KindSettle, evs[1].Kind)
	assert.Equal(t, ledger.OutcomeOK, evs[1].Outcome)
	assert.Positive(t, evs[1].LatencyNS)
}

func TestAClientThatNeverAnswersIsLostNotHung(t *testing.T) {
	l := ledger.New(ledger.Options{Memory: true})
	block := make(chan struct{})
	defer close(block)
	d := &Driver{Ledger: l, Deadline: 50 * time.Millisecond, Client: client.Func(func(context.Context, client.Call) client.Result {
		<-block // ignores its context entirely
		return client.Result{}
	})}
	start := time.Now()
	o := d.Do(context.Background(), "d1", Request{Path: "/api/x"})
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.True(t, o.Lost)
	assert.ErrorIs(t, o.Err, client.ErrLost)
	assert.Equal(t, ledger.OutcomeLost, l.Events()[1].Outcome)
}

func TestClientThatHonoursDeadlineIsStillLost(t *testing.T) {
	l := ledger.New(ledger.Options{Memory: true})
	d := &Driver{Ledger: l, Deadline: 20 * time.Millisecond, Client: client.Func(func(ctx context.Context, _ client.Call) client.Result {
		<-ctx.Done()
		return client.Result{Err: ctx.Err()}
	})}
	o := d.Do(context.Background(), "d1", Request{Path: "/api/x"})
	assert.True(t, o.Lost)
}

// promptClient promises to return once its context ends (client.Prompt).
type promptClient struct {
	client.Func
	prompt bool
}

func (p promptClient) ReturnsOnCancel() bool { return p.prompt }

// A client that promises to return on cancel is called on the caller's
// goroutine; one that keeps the promise is lost at the deadline all the
// same, and one that answers is settled with its answer.
func TestPromptClientsRunOnTheCallersGoroutine(t *testing.T) {
	l := ledger.New(ledger.Options{Memory: true})
	caller := make(chan struct{}) // closed by the caller's goroutine only
	d := &Driver{Ledger: l, Deadline: 20 * time.Millisecond, Client: promptClient{prompt: true, Func: func(ctx context.Context, c client.Call) client.Result {
		if c.Path == "/api/answer?rid=r2" {
			return client.Result{Status: 200}
		}
		select {
		case <-caller:
			t.Error("Do ran after the caller went on: not on its goroutine")
		default:
		}
		<-ctx.Done()
		return client.Result{Err: ctx.Err()}
	}}}
	o := d.Do(context.Background(), "d1", Request{Path: "/api/x"})
	close(caller)
	assert.True(t, o.Lost)
	assert.ErrorIs(t, o.Err, client.ErrLost)
	o = d.Do(context.Background(), "d1", Request{Path: "/api/answer"})
	assert.False(t, o.Lost)
	assert.Equal(t, 200, o.Status)

	// Without the promise a client that ignores its context is watched:
	// lost after the grace period, not hung.
	block := make(chan struct{})
	defer close(block)
	d.Client = promptClient{prompt: false, Func: func(context.Context, client.Call) client.Result { <-block; return client.Result{} }}
	o = d.Do(context.Background(), "d1", Request{Path: "/api/x"})
	assert.True(t, o.Lost)
}

func TestErrorsAreRejectedNotLost(t *testing.T) {
	l := ledger.New(ledger.Options{Memory: true})
	d := &Driver{Ledger: l, Client: client.Func(func(context.Context, client.Call) client.Result {
		return client.Result{Err: errors.New("refresh failed")}
	})}
	o := d.Do(context.Background(), "d1", Request{Path: "/api/x"})
	assert.False(t, o.Lost)
	ev := l.Events()[1]
	assert.Equal(t, ledger.OutcomeRejected, ev.Outcome)
	assert.Equal(t, "refresh failed", ev.Detail)
}

func TestWithRID(t *testing.T) {
	assert.Equal(t, "/a?rid=x", WithRID("/a", "x"))
	assert.Equal(t, "/a?b=1&rid=x", WithRID("/a?b=1&rid=old", "x"))
}

// WithRID's shortcut for plain paths gives what parsing gives.
func TestWithRIDShortcutMatchesParsing(t *testing.T) {
	general := func(path, rid string) string {
		u, err := url.Parse(path)
		require.NoError(t, err)
		q := u.Query()
		q.Set("rid", rid)
		u.RawQuery = q.Encode()
		return u.String()
	}
	for _, path := range []string{"", "/", "/api/orders", "/v1/a.b~c_d-e", "api/x", "/a/../b", "."} {
		require.True(t, plainPath(path), path)
		for _, rid := range []string{"r1", "steady-max-r123", "a b&c=d", "é/?#"} {
			assert.Equal(t, general(path, rid), WithRID(path, rid), "%q %q", path, rid)
		}
	}
	for _, path := range []string{"//h/x", "/a?b=1", "/a#f", "/a b", "/a%20b", "a:b", "/é"} {
		assert.False(t, plainPath(path), path)
	}
}

// The call's header is a deep copy of the caller's plus X-Request-ID (and
// a JSON Content-Type for a body without one), as Clone and Set give.
func TestCallHeaderIsCloneAndSet(t *testing.T) {
	for _, h := range []http.Header{nil, {}, {"A": {"1", "2"}, "B": nil, "C": {}}, {"X-Request-Id": {"old"}, "Content-Type": {"text/plain"}}} {
		for _, body := range []bool{false, true} {
			want := h.Clone()
			if want == nil {
				want = http.Header{}
			}
			want.Set("X-Request-ID", "r9")
			if body && want.Get("Content-Type") == "" {
				want.Set("Content-Type", "application/json")
			}
			got := callHeader(h, "r9", body)
			assert.Equal(t, want, got)
			for k, v := range got {
				if len(v) > 0 && len(h[k]) > 0 {
					v[0] = "changed"
					assert.NotEqual(t, "changed", h[k][0], "the caller's header is not shared")
				}
			}
		}
	}
}

// slowClient answers after its delay, while busy says the servers still work.
type slowClient struct {
	delay time.Duration
}

func (c slowClient) Do(ctx context.Context, call client.Call) client.Result {
	select {
	case <-time.After(c.delay):
		return client.Result{Status: 200, Body: []byte(`{"rid":"` + call.ID + `"}`)}
	case <-ctx.Done():
		return client.Result{Err: ctx.Err()}
	}
}

func settleOf(t *testing.T, l *ledger.Ledger) ledger.Event {
	t.Helper()
	for _, e := range l.Events() {
		if e.Kind == ledger.KindSettle {
			return e
		}
	}
	t.Fatal("no settle event")
	return ledger.Event{}
}

// A slow answer while the servers are still busy is late, not lost; a client
// that sits on an answer it got (servers idle) is lost soon after its
// deadline.
func TestLostOnlyWhenTheClientHadEverythingItNeeded(t *testing.T) {
	t.Run("servers busy: late", func(t *testing.T) {
		l := ledger.New(ledger.Options{Memory: true})
		d := &Driver{Client: slowClient{delay: 300 * time.Millisecond}, Ledger: l, Deadline: 100 * time.Millisecond, Busy: func() bool { return true }}
		o := d.Do(context.Background(), "d1", Request{Path: "/api/x"})
		require.NoError(t, o.Err)
		assert.False(t, o.Lost)
		e := settleOf(t, l)
		assert.Equal(t, ledger.OutcomeOK, e.Outcome)
		assert.True(t, ledger.HasNote(e.Detail, ledger.NoteLate), e.Detail)
		assert.False(t, ledger.HasNote(e.Detail, ledger.NoteNoRID), e.Detail)
	})
	t.Run("servers idle: lost", func(t *testing.T) {
		l := ledger.New(ledger.Options{Memory: true})
		d := &Driver{Client: slowClient{delay: time.Hour}, Ledger: l, Deadline: 100 * time.Millisecond, Busy: func() bool { return false }}
		start := time.Now()
		o := d.Do(context.Background(), "d1", Request{Path: "/api/x"})
		assert.True(t, o.Lost)
		assert.Less(t, time.Since(start), 400*time.Millisecond, "lost soon after the deadline, not at LostAfter")
		e := settleOf(t, l)
		assert.Equal(t, ledger.OutcomeLost, e.Outcome)
		assert.Contains(t, e.Detail, "had answered every call")
	})
	t.Run("servers answering a client that keeps calling: lost, and said so", func(t *testing.T) {
		// A wrapper in a refresh-and-replay loop: each call is answered at
		// once, so none is in flight when the driver looks, but the servers
		// are anything but idle.
		l := ledger.New(ledger.Options{Memory: true})
		var n atomic.Uint64
		d := &Driver{Client: slowClient{delay: time.Hour}, Ledger: l, Deadline: 100 * time.Millisecond,
			Busy: func() bool { return false }, Answered: func() uint64 { return n.Add(3) }}
		o := d.Do(context.Background(), "d1", Request{Path: "/api/x"})
		assert.True(t, o.Lost)
		e := settleOf(t, l)
		assert.NotContains(t, e.Detail, "idle")
		assert.Contains(t, e.Detail, "although the servers answered each call the client sent at once (")
		assert.Contains(t, e.Detail, "the client kept calling them without settling the request (a refresh or retry loop?)")
	})
	t.Run("servers busy past LostAfter: lost", func(t *testing.T) {
		l := ledger.New(ledger.Options{Memory: true})
		d := &Driver{Client: slowClient{delay: time.Hour}, Ledger: l, Deadline: 50 * time.Millisecond, LostAfter: 150 * time.Millisecond, Busy: func() bool { return true }}
		o := d.Do(context.Background(), "d1", Request{Path: "/api/x"})
		assert.True(t, o.Lost)
		assert.Contains(t, settleOf(t, l).Detail, "still busy")
	})
}

// An answer without the request id is noted: the reference backend echoes it
// in every answer, so it is not the backend's.
func TestAnswerWithoutTheRequestIDIsNoted(t *testing.T) {
	l := ledger.New(ledger.Options{Memory: true})
	d := &Driver{Client: fixedClient{}, Ledger: l, Deadline: time.Second}
	d.Do(context.Background(), "d1", Request{Path: "/api/x"})
	assert.True(t, ledger.HasNote(settleOf(t, l).Detail, ledger.NoteNoRID))
}

type fixedClient struct{}

func (fixedClient) Do(context.Context, client.Call) client.Result {
	return client.Result{Status: 200, Body: []byte(`{}`)}
}

func (slowClient) Close() error  { return nil }
func (fixedClient) Close() error { return nil }

// A request the driver gives up on while the servers are busy is marked
// "the servers still owed the client an answer" only when the client says it
// was waiting on them for that call (client.Call.Waiting): a client that
// forgot the call is lost like before, however busy the servers.
func TestGivingUpOnBusyServersNotesWhetherTheClientWaitedOnThem(t *testing.T) {
	run := func(marks bool) ledger.Event {
		l := ledger.New(ledger.Options{Memory: true})
		d := &Driver{Ledger: l, Deadline: 50 * time.Millisecond, LostAfter: 150 * time.Millisecond,
			Busy: func() bool { return true },
			Client: client.Func(func(ctx context.Context, c client.Call) client.Result {
				if marks {
					c.Waiting.Add(1) // an attempt in flight to servers that never answer
					defer c.Waiting.Add(-1)
				}
				<-ctx.Done()
				return client.Result{Err: ctx.Err()}
			})}
		o := d.Do(context.Background(), "d1", Request{Path: "/api/x"})
		require.True(t, o.Lost)
		return l.Events()[1]
	}
	waited := run(true)
	assert.Equal(t, ledger.OutcomeLost, waited.Outcome)
	assert.True(t, ledger.HasNote(waited.Detail, ledger.NoteServersOwed), waited.Detail)
	forgot := run(false)
	assert.Equal(t, ledger.OutcomeLost, forgot.Outcome)
	assert.False(t, ledger.HasNote(forgot.Detail, ledger.NoteServersOwed), forgot.Detail)
}

// A late request whose client was waiting on the servers at its deadline is
// noted so; one that was waiting on nothing of theirs (its own sleep) is not.
func TestLateRequestNotesWhetherTheServersOwedIt(t *testing.T) {
	run := func(marks bool) ledger.Event {
		l := ledger.New(ledger.Options{Memory: true})
		d := &Driver{Ledger: l, Deadline: 30 * time.Millisecond, LostAfter: time.Second,
			Busy: func() bool { return true },
			Client: client.Func(func(_ context.Context, c client.Call) client.Result {
				if marks {
					c.Waiting.Add(1)
					defer c.Waiting.Add(-1)
				}
				time.Sleep(100 * time.Millisecond)
				return client.Result{Err: errors.New("refresh timed out")}
			})}
		o := d.Do(context.Background(), "d1", Request{Path: "/api/x"})
		require.False(t, o.Lost)
		return l.Events()[1]
	}
	waited := run(true)
	assert.True(t, ledger.HasNote(waited.Detail, ledger.NoteLate), waited.Detail)
	assert.True(t, ledger.HasNote(waited.Detail, ledger.NoteServersOwed), waited.Detail)
	idle := run(false)
	assert.True(t, ledger.HasNote(idle.Detail, ledger.NoteLate), idle.Detail)
	assert.False(t, ledger.HasNote(idle.Detail, ledger.NoteServersOwed), idle.Detail)
}

// On a machine overloaded enough, the driver's deadline timer fires after
// the limit: the client must not have been cancelled meanwhile, so that the
// driver's late look still sees it waiting on the servers (and one that waits
// on nothing of theirs is still blamed).
func TestStarvedDeadlineTimerStillNotesTheServersOwed(t *testing.T) {
	real := afterFunc
	t.Cleanup(func() { afterFunc = real })
	const deadline = 50 * time.Millisecond
	afterFunc = func(d time.Duration, f func()) *time.Timer {
		if d == deadline { // the deadline's look comes only after the limit
			return real(200*time.Millisecond, f)
		}
		return real(d, f)
	}
	run := func(marks bool) ledger.Event {
		l := ledger.New(ledger.Options{Memory: true})
		d := &Driver{Ledger: l, Deadline: deadline, LostAfter: 150 * time.Millisecond,
			Busy: func() bool { return true },
			Client: client.Func(func(ctx context.Context, c client.Call) client.Result {
				if marks {
					c.Waiting.Add(1)
					defer c.Waiting.Add(-1)
				}
				<-ctx.Done()
				return client.Result{Err: ctx.Err()}
			})}
		o := d.Do(context.Background(), "d1", Request{Path: "/api/x"})
		require.True(t, o.Lost)
		return l.Events()[1]
	}
	waited := run(true)
	assert.True(t, ledger.HasNote(waited.Detail, ledger.NoteServersOwed), waited.Detail)
	forgot := run(false)
	assert.False(t, ledger.HasNote(forgot.Detail, ledger.NoteServersOwed), forgot.Detail)
}

// A call the harness has not yet handed to the client (its own goroutine
// starved past the limit) is not the client's fault; once handed, only the
// client's Waiting counts.
func TestLookCountsACallNotYetHandedAsOwed(t *testing.T) {
	var o owed
	o.look()
	assert.True(t, o.atDeadline.Load() && o.lately.Load(), "not handed yet")
	o.handed.Store(true)
	o.look()
	assert.False(t, o.lately.Load(), "handed, and the client waits on nothing")
	o.waiting.Add(1)
	o.look()
	assert.True(t, o.lately.Load())
}

// The context a client gets past its deadline says when the driver gives up
// and, once it has, that the deadline passed, as a context.WithTimeout would.
func TestClientContextCarriesTheLimit(t *testing.T) {
	var dl time.Time
	var hasDL bool
	var err error
	d := &Driver{Ledger: ledger.New(ledger.Options{Memory: true}), Deadline: 30 * time.Millisecond, LostAfter: 90 * time.Millisecond,
		Busy: func() bool { return true },
		Client: client.Func(func(ctx context.Context, c client.Call) client.Result {
			dl, hasDL = ctx.Deadline()
			<-ctx.Done()
			err = ctx.Err()
			return client.Result{Err: err}
		})}
	start := time.Now()
	o := d.Do(context.Background(), "d1", Request{Path: "/api/x"})
	require.True(t, o.Lost)
	require.True(t, hasDL)
	assert.WithinDuration(t, start.Add(90*time.Millisecond), dl, 20*time.Millisecond)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// A client that cannot tell whether it waits on the servers (an exec:
// process) is judged by what the servers saw (Driver.Pending): a request
// given up on while they were serving one of its requests, or a renewal of
// its device, was owed by the servers; without the register, or with the
// servers serving something else, it is lost as before.
func TestServersTellThatACallWaitsOnThem(t *testing.T) {
	run := func(reg *pending.Register, serve func(reg *pending.Register, c client.Call) (end func())) ledger.Event {
		l := ledger.New(ledger.Options{Memory: true})
		d := &Driver{Ledger: l, Deadline: 50 * time.Millisecond, LostAfter: 150 * time.Millisecond,
			Busy: func() bool { return true }, Pending: reg,
			Client: client.Func(func(ctx context.Context, c client.Call) client.Result {
				// The "servers" hold the client's request past the limit.
				end := serve(reg, c)
				defer end()
				<-ctx.Done()
				return client.Result{Err: ctx.Err()}
			})}
		o := d.Do(context.Background(), "d1", Request{Path: "/api/x"})
		require.True(t, o.Lost)
		calls, devs := reg.Len()
		assert.Zero(t, calls, "the ended call left its entry")
		assert.Zero(t, devs, "the ended call left its device's entry")
		return l.Events()[1]
	}
	request := func(reg *pending.Register, c client.Call) func() {
		if w := reg.Serving(c.ID); w != nil {
			return func() { w.Add(-1) }
		}
		return func() {}
	}
	renewal := func(reg *pending.Register, c client.Call) func() { return reg.Renewing(c.Device) }
	otherDevice := func(reg *pending.Register, c client.Call) func() { return reg.Renewing("d2") }

	for name, serve := range map[string]func(*pending.Register, client.Call) func(){"request": request, "renewal": renewal} {
		ev := run(pending.New(), serve)
		assert.True(t, ledger.HasNote(ev.Detail, ledger.NoteServersOwed), "%s: %s", name, ev.Detail)
		ev = run(nil, serve)
		assert.False(t, ledger.HasNote(ev.Detail, ledger.NoteServersOwed), "%s without the register: %s", name, ev.Detail)
	}
	ev := run(pending.New(), otherDevice)
	assert.False(t, ledger.HasNote(ev.Detail, ledger.NoteServersOwed), "another device's renewal: %s", ev.Detail)
}
