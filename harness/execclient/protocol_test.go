package execclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/style"
)

var testEnv = client.Env{BackendURL: "http://127.0.0.1:1/backend", WechatURL: "http://127.0.0.1:2/wechat", AppID: "wxtest"}

// start runs a helper behaviour and closes it when the test ends.
func start(t *testing.T, cmd string, opts Options) (*Client, *ledger.Ledger) {
	t.Helper()
	l := ledger.New(ledger.Options{Memory: true})
	env := testEnv
	env.Ledger = l
	if opts.CloseGrace == 0 {
		opts.CloseGrace = time.Second
	}
	c, err := New(context.Background(), cmd, env, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c, l
}

func call(id, device string) client.Call {
	return client.Call{ID: id, Device: device, Method: http.MethodPost, Path: "/api/orders?rid=" + id,
		Header: http.Header{"X-Request-Id": {id}, "Content-Type": {"application/json"}}, Body: []byte(`{"item":"` + id + `"}`)}
}

func do(t *testing.T, c *Client, cl client.Call) client.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Do(ctx, cl)
}

func clientLogs(l *ledger.Ledger) []ledger.Event {
	var out []ledger.Event
	for _, e := range l.Events() {
		if e.Kind == ledger.KindClientLog {
			out = append(out, e)
		}
	}
	return out
}

func TestHelloAndEnvironment(t *testing.T) {
	env := testEnv
	env.Style = "body-code"
	c, err := New(context.Background(), helperCmd(t, "env"), env, Options{Env: []string{"EXTRA=yes"}})
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, "http://127.0.0.1:1/backend|http://127.0.0.1:2/wechat|wxtest|1|body-code|yes", c.Name())
	assert.NoError(t, c.Err())
}

// The hello carries the resolved style as JSON (style_spec), bearer
// included, so that a client needs no YAML parser.
func TestHelloCarriesTheStyleSpec(t *testing.T) {
	for _, name := range append([]string{""}, style.Names()...) {
		env := testEnv
		env.Style = name
		line, _, err := encodeHello(env)
		require.NoError(t, err, name)
		var got struct {
			Style     *string         `json:"style"`
			StyleSpec json.RawMessage `json:"style_spec"`
		}
		require.NoError(t, json.Unmarshal(line, &got), name)
		if name == "" {
			assert.Nil(t, got.Style, "no style name for the default")
		} else {
			require.NotNil(t, got.Style, name)
			assert.Equal(t, name, *got.Style)
		}
		want, err := json.Marshal(style.MustLoad(name))
		require.NoError(t, err)
		assert.JSONEq(t, string(want), string(got.StyleSpec), name)
	}

	env := testEnv
	env.Style = "body-code"
	line, _, err := encodeHello(env)
	require.NoError(t, err)
	var spec struct {
		Routes  map[string]string `json:"routes"`
		Fields  map[string]string `json:"fields"`
		Token   map[string]any    `json:"token"`
		Signals map[string]struct {
			Status int    `json:"status"`
			Field  string `json:"field"`
			Value  any    `json:"value"`
		} `json:"signals"`
	}
	var h struct {
		StyleSpec json.RawMessage `json:"style_spec"`
	}
	require.NoError(t, json.Unmarshal(line, &h))
	require.NoError(t, json.Unmarshal(h.StyleSpec, &spec))
	assert.Equal(t, "/user/login", spec.Routes["login"])
	assert.Equal(t, "", spec.Routes["refresh"], "no refresh route: log in again")
	assert.Equal(t, "token", spec.Fields["access_token"])
	assert.Equal(t, map[string]any{"header": "X-Token", "scheme": "raw", "type": "Bearer"}, spec.Token)
	assert.Equal(t, 200, spec.Signals["expired"].Status)
	assert.Equal(t, "code", spec.Signals["expired"].Field)
	assert.Equal(t, 10006.0, spec.Signals["expired"].Value)
	assert.Equal(t, 0.0, spec.Signals["success"].Value, "a zero value is sent, not omitted")
}

func TestUnknownStyleFailsBeforeStarting(t *testing.T) {
	env := testEnv
	env.Style = "no-such-style"
	_, err := New(context.Background(), helperCmd(t, "env"), env, Options{})
	require.ErrorContains(t, err, `no built-in style "no-such-style"`)
}

func TestManyCallsInFlightAnsweredOutOfOrder(t *testing.T) {
	const n = 100
	c, _ := start(t, helperCmd(t, "echo", "TS_HOLD="+strconv.Itoa(n)), Options{})
	var wg sync.WaitGroup
	results := make([]client.Result, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = do(t, c, call(fmt.Sprintf("r%d", i), fmt.Sprintf("d%d", i%7)))
		}()
	}
	wg.Wait()
	for i, res := range results {
		id := fmt.Sprintf("r%d", i)
		require.NoError(t, res.Err, id)
		assert.Equal(t, 200, res.Status)
		assert.Equal(t, fmt.Sprintf("d%d", i%7), res.Header.Get("X-Echo-Device"))
		assert.Equal(t, []string{"a", "b"}, res.Header.Values("X-Multi"))
		var got wireCall
		require.NoError(t, json.Unmarshal(res.Body, &got))
		assert.Equal(t, "call", got.Type)
		assert.Equal(t, id, got.ID)
		assert.Equal(t, "POST", got.Method)
		assert.Equal(t, "/api/orders?rid="+id, got.Path)
		assert.Equal(t, id, got.Headers["X-Request-Id"])
		require.NotNil(t, got.Body)
		assert.Equal(t, `{"item":"`+id+`"}`, *got.Body)
	}
	assert.Empty(t, c.Errors())
	assert.Equal(t, int64(n), c.Calls())
}

func TestBinaryBodyTravelsAsBase64(t *testing.T) {
	c, _ := start(t, helperCmd(t, "echo"), Options{})
	body := []byte{0xff, 0x00, 0xfe, 'x'}
	res := do(t, c, client.Call{ID: "b1", Device: "d", Method: "PUT", Path: "/api/blob", Body: body})
	require.NoError(t, res.Err)
	assert.Equal(t, body, res.Body)
}

func TestReusedCallIDGetsAUniqueWireID(t *testing.T) {
	c, _ := start(t, helperCmd(t, "echo"), Options{})
	for range 3 {
		res := do(t, c, call("same", "d"))
		require.NoError(t, res.Err)
	}
	res := do(t, c, client.Call{Device: "d", Path: "/api/x"}) // no id at all
	require.NoError(t, res.Err)
	var got wireCall
	require.NoError(t, json.Unmarshal(res.Body, &got))
	assert.Equal(t, "#3", got.ID)
	assert.Equal(t, "GET", got.Method)
	assert.Empty(t, c.Errors())
}

func TestGarbageLineIsRecordedNotFatal(t *testing.T) {
	c, l := start(t, helperCmd(t, "garbage"), Options{})
	res := do(t, c, call("r1", "d1"))
	require.NoError(t, res.Err)
	assert.Equal(t, 200, res.Status)
	require.Len(t, c.Errors(), 1)
	const want = `exec client protocol error on stdout line 2: not a JSON object: "this is not json" (ignored; write logs to stderr)`
	assert.EqualError(t, c.Errors()[0], want)
	assert.NoError(t, c.Err())
	logs := clientLogs(l)
	assert.Equal(t, want, logs[len(logs)-1].Detail)
}

func TestAnswerForUnknownID(t *testing.T) {
	c, l := start(t, helperCmd(t, "unknown-id"), Options{})
	res := do(t, c, call("r1", "d1"))
	require.NoError(t, res.Err)
	require.Len(t, c.Errors(), 1)
	const want = `exec client protocol error on stdout line 2: answer for unknown id "nope" (ignored)`
	assert.EqualError(t, c.Errors()[0], want)
	var pe *ProtocolError
	require.ErrorAs(t, c.Errors()[0], &pe)
	assert.Equal(t, "nope", pe.ID)
	logs := clientLogs(l)
	assert.Equal(t, want, logs[len(logs)-1].Detail)
	assert.Equal(t, "nope", logs[len(logs)-1].RID)
}

func TestDuplicateAnswer(t *testing.T) {
	c, l := start(t, helperCmd(t, "duplicate"), Options{})
	res := do(t, c, call("r1", "d1"))
	require.NoError(t, res.Err)
	// The duplicate follows the answer on stdout; wait until it is read.
	require.Eventually(t, func() bool { return len(c.Errors()) == 1 }, 5*time.Second, 5*time.Millisecond)
	const want = `exec client protocol error on stdout line 3: second answer for id "r1" (ignored)`
	assert.EqualError(t, c.Errors()[0], want)
	var dup ledger.Event
	for _, e := range clientLogs(l) {
		if e.Detail == want {
			dup = e
		}
	}
	assert.Equal(t, "d1", dup.Device)
	assert.Equal(t, "r1", dup.RID)
}

func TestOddAnswers(t *testing.T) {
	c, l := start(t, helperCmd(t, "odd-answers"), Options{})

	res := do(t, c, call("e1", "error"))
	var ae *AnswerError
	require.ErrorAs(t, res.Err, &ae)
	assert.EqualError(t, res.Err, "exec client answered error: refresh failed: wechat busy (-1)")

	res = do(t, c, call("n1", "no-status"))
	assert.EqualError(t, res.Err, `exec client protocol error on stdout line 3: malformed answer for id "n1": "status" 0 is not an HTTP status and there is no "error" (the call fails with this error)`)

	res = do(t, c, call("s1", "string-status"))
	assert.EqualError(t, res.Err, `exec client protocol error on stdout line 4: malformed answer for id "s1": "status" must be a number, got a JSON string (the call fails with this error)`)

	res = do(t, c, call("b1", "bad-base64"))
	assert.ErrorContains(t, res.Err, `malformed answer for id "b1": "body_base64" is not standard base64`)

	res = do(t, c, call("i1", "numeric-id"))
	require.NoError(t, res.Err)

	res = do(t, c, call("m1", "mystery"))
	require.NoError(t, res.Err)

	var msgs []string
	for _, e := range c.Errors() {
		msgs = append(msgs, e.Error())
	}
	assert.Contains(t, msgs, `exec client protocol error on stdout line 6: "id" must be a string, got 5 (ignored)`)
	assert.Contains(t, msgs, `exec client protocol error on stdout line 8: unknown message type "ping" (ignored)`)
	assert.Len(t, msgs, 5) // 3 malformed answers + numeric id + unknown type
	assert.NoError(t, c.Err())

	found := false
	for _, e := range clientLogs(l) {
		found = found || (e.Device == "mystery" && e.Detail == "about to answer")
	}
	assert.True(t, found, "a log message goes to the ledger")
}

func TestEarlyExitIsReportedWithStderrTail(t *testing.T) {
	cmd := helperCmd(t, "exit-on-third")
	c, l := start(t, cmd, Options{})
	require.NoError(t, do(t, c, call("r1", "d1")).Err)
	require.NoError(t, do(t, c, call("r2", "d1")).Err)
	res := do(t, c, call("r3", "d1"))

	want := fmt.Sprintf("exec client %q exited with status 1 after 3 calls; last 2 lines of its stderr:\n"+
		"    boom: cannot refresh token for d1\n"+
		"        at refresh (client.mjs:42)", cmd)
	require.EqualError(t, res.Err, want)
	var ee *ExitError
	require.ErrorAs(t, res.Err, &ee)
	assert.Equal(t, int64(3), ee.Calls)

	// Later calls fail at once with the same error.
	begin := time.Now()
	assert.EqualError(t, do(t, c, call("r4", "d1")).Err, want)
	assert.Less(t, time.Since(begin), 100*time.Millisecond)
	assert.EqualError(t, c.Err(), want)
	assert.EqualError(t, c.Close(), want, "Close reports the crash too")

	logs := clientLogs(l)
	assert.Equal(t, want, logs[len(logs)-1].Detail)
}

func TestCrashFailsEveryPendingCallFast(t *testing.T) {
	const n = 10
	cmd := helperCmd(t, "crash-after", "TS_N="+strconv.Itoa(n))
	c, _ := start(t, cmd, Options{})
	var wg sync.WaitGroup
	errs := make([]error, n)
	begin := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			errs[i] = c.Do(ctx, call(fmt.Sprintf("r%d", i), "d1")).Err
		}()
	}
	wg.Wait()
	assert.Less(t, time.Since(begin), 10*time.Second)
	want := fmt.Sprintf("exec client %q exited with status 2 after 10 calls; last 1 line of its stderr:\n    panic: out of tokens", cmd)
	for _, err := range errs {
		assert.EqualError(t, err, want)
	}
}

func TestStderrTailKeepsTheLastLines(t *testing.T) {
	cmd := helperCmd(t, "spam-stderr")
	c, _ := start(t, cmd, Options{})
	<-c.dead
	var ee *ExitError
	require.ErrorAs(t, c.Err(), &ee)
	require.Len(t, ee.Stderr, 20)
	assert.Equal(t, "stderr line 31", ee.Stderr[0])
	assert.Equal(t, "stderr line 50", ee.Stderr[19])
	assert.True(t, strings.HasPrefix(c.Err().Error(), fmt.Sprintf("exec client %q exited with status 3 after 0 calls; last 20 lines of its stderr:\n    stderr line 31\n", cmd)))
}

func TestExitBeforeHello(t *testing.T) {
	cmd := helperCmd(t, "exit-before-hello")
	_, err := New(context.Background(), cmd, testEnv, Options{})
	want := fmt.Sprintf("exec client %q exited with status 3 before answering hello; last 1 line of its stderr:\n    fatal: cannot read config", cmd)
	require.EqualError(t, err, want)
}

func TestCommandNotFound(t *testing.T) {
	_, err := New(context.Background(), "no-such-client-tokenstorm --flag", testEnv, Options{})
	require.Error(t, err)
	assert.Regexp(t, `^exec client "no-such-client-tokenstorm --flag" exited with status 127 before answering hello; last 1 line of its stderr:\n    .*no-such-client-tokenstorm.*not found$`, err.Error())
}

func TestNoHelloTimesOut(t *testing.T) {
	cmd := helperCmd(t, "no-hello")
	begin := time.Now()
	_, err := New(context.Background(), cmd, testEnv, Options{HelloTimeout: 300 * time.Millisecond})
	assert.Less(t, time.Since(begin), 5*time.Second)
	want := fmt.Sprintf(`exec client %q did not answer hello within 300ms (it must write {"type":"hello","protocol":1,"name":"…"} on stdout after reading the harness's hello on stdin); last 1 line of its stderr:`+"\n    waiting for something", cmd)
	require.EqualError(t, err, want)
	var he *HelloError
	assert.ErrorAs(t, err, &he)
}

func TestHelloWithAnotherProtocol(t *testing.T) {
	cmd := helperCmd(t, "bad-protocol")
	_, err := New(context.Background(), cmd, testEnv, Options{})
	require.EqualError(t, err, fmt.Sprintf("exec client %q answered hello with protocol 99; this harness speaks protocols 1 to 3; its stderr was empty", cmd))
}

// A protocol 1 client reads only the v1 members of style_spec: it is
// accepted for a style those describe, refused with the reason for one that
// needs format v2; a protocol 2 client is accepted for both.
func TestProtocol1ClientAndV2Styles(t *testing.T) {
	for _, c := range []struct {
		style, protocol string
		refused         string
	}{
		{"body-code", "1", ""},
		{"oauth2", "1", "answered hello with protocol 1, but style oauth2 uses a refresh request template, which only a protocol 2 client can read from style_spec"},
		{"cookie-session", "1", "answered hello with protocol 1, but style cookie-session uses a cookie token"},
		{"cookie-session", "2", ""},
		{"cookie-session", "", ""}, // answers with the hello's version: 2
	} {
		env := testEnv
		env.Style = c.style
		hello, _, err := encodeHello(env)
		require.NoError(t, err)
		var h struct{ Protocol int }
		require.NoError(t, json.Unmarshal(hello, &h))
		assert.Equal(t, map[bool]int{true: 1, false: 2}[style.MustLoad(c.style).NeedsV2() == ""], h.Protocol, "the hello says 1 for a style v1 describes")
		cl, err := New(context.Background(), helperCmd(t, "echo", "TS_PROTOCOL="+c.protocol), env, Options{})
		if c.refused == "" {
			require.NoError(t, err, c)
			require.NoError(t, cl.Close(), c)
			continue
		}
		require.Error(t, err, c)
		assert.Contains(t, err.Error(), c.refused)
	}
}

func TestAnswerBeforeHello(t *testing.T) {
	cmd := helperCmd(t, "answer-first")
	_, err := New(context.Background(), cmd, testEnv, Options{})
	require.EqualError(t, err, fmt.Sprintf(`exec client %q wrote {"id":"r1","status":200} on stdout line 1 before answering hello; its stderr was empty`, cmd))
}

func TestNewHonoursContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := New(ctx, helperCmd(t, "no-hello"), testEnv, Options{})
	require.ErrorContains(t, err, "did not answer hello before the harness gave up (context deadline exceeded)")
}

func TestHangingCallReturnsAtItsDeadline(t *testing.T) {
	c, l := start(t, helperCmd(t, "hang"), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	begin := time.Now()
	res := c.Do(ctx, call("r1", "d1"))
	took := time.Since(begin)
	assert.ErrorIs(t, res.Err, context.DeadlineExceeded)
	assert.GreaterOrEqual(t, took, 200*time.Millisecond)
	assert.Less(t, took, 2*time.Second)
	assert.Empty(t, c.Errors())
	assert.NoError(t, c.Close(), "a client that exits on EOF closes cleanly")
	assert.ErrorIs(t, c.Do(context.Background(), call("r2", "d1")).Err, ErrClosed)
	_ = l
}

func TestLateAnswerIsNotAViolation(t *testing.T) {
	// The echo helper holding 2 calls answers the first only once the second
	// arrives: by then the first has been abandoned.
	c, l := start(t, helperCmd(t, "echo", "TS_HOLD=2"), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, c.Do(ctx, call("r1", "d1")).Err, context.DeadlineExceeded)
	require.NoError(t, do(t, c, call("r2", "d1")).Err)
	require.Eventually(t, func() bool {
		for _, e := range clientLogs(l) {
			if e.Detail == `exec client answered id "r1" after its deadline (ignored)` && e.Device == "d1" {
				return true
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond)
	assert.Empty(t, c.Errors())
}

func TestCloseKillsAClientThatIgnoresEOFAndItsChildren(t *testing.T) {
	c, l := start(t, helperCmd(t, "ignore-eof", "sleep 300 &"), Options{CloseGrace: 300 * time.Millisecond})
	childPid, err := strconv.Atoi(c.Name())
	require.NoError(t, err)
	pid := c.proc.Process.Pid
	begin := time.Now()
	assert.NoError(t, c.Close())
	assert.Less(t, time.Since(begin), 5*time.Second)
	// The leader is reaped (no zombie of ours) ...
	assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH)
	// ... and nothing it started lives on (init may not have reaped them yet).
	assert.False(t, alive(childPid), "child of the client process survived Close")
	assertNoLiveGroupMember(t, pid)
	found := false
	for _, e := range clientLogs(l) {
		found = found || strings.Contains(e.Detail, "did not exit within 300ms of its stdin being closed; killed")
	}
	assert.True(t, found)
}

func TestClientThatClosesStdout(t *testing.T) {
	cmd := helperCmd(t, "close-stdout")
	c, _ := start(t, cmd, Options{})
	res := do(t, c, call("r1", "d1"))
	assert.EqualError(t, res.Err, fmt.Sprintf("exec client %q closed its stdout and was killed after 1 call; its stderr was empty", cmd))
}

func TestNonZeroExitAtShutdown(t *testing.T) {
	cmd := helperCmd(t, "exit-1-at-eof")
	c, _ := start(t, cmd, Options{})
	err := c.Close()
	assert.EqualError(t, err, fmt.Sprintf("exec client %q exited with status 1 at shutdown after 0 calls; last 1 line of its stderr:\n    stdin closed, giving up", cmd))
}

func TestEmptyCommand(t *testing.T) {
	_, err := New(context.Background(), "  ", testEnv, Options{})
	assert.EqualError(t, err, "exec client: empty command (use --client exec:'CMD')")
}

func TestTailBuffer(t *testing.T) {
	tb := newTailBuffer(3, nil)
	_, _ = tb.Write([]byte("a\nb\r\nc\nd"))
	assert.Equal(t, []string{"b", "c", "d"}, tb.Lines())
	_, _ = tb.Write([]byte("e\n" + strings.Repeat("x", 2000) + "\n"))
	lines := tb.Lines()
	assert.Equal(t, []string{"c", "de"}, lines[:2])
	assert.Len(t, lines[2], maxStderrLine+len("…"))
}

// alive reports whether pid is a live (not zombie) process, where /proc tells.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	// state follows the ")" closing the command name
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func assertNoLiveGroupMember(t *testing.T, pgid int) {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc to inspect process groups")
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+2:]) // state ppid pgrp ...
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			t.Errorf("process %d of the client's group is still alive: %s", pid, s)
		}
	}
}

func TestOverlongLineIsSkipped(t *testing.T) {
	c, _ := start(t, helperCmd(t, "echo"), Options{MaxLineBytes: 100})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res := c.Do(ctx, call("r1", "d1")) // its echo is longer than 100 bytes
	assert.ErrorIs(t, res.Err, context.DeadlineExceeded)
	require.Len(t, c.Errors(), 1)
	assert.EqualError(t, c.Errors()[0], "exec client protocol error on stdout line 2: line longer than 100 bytes (ignored)")
	assert.NoError(t, c.Err(), "the client keeps running")
}

// From protocol 3 each call carries the device's clock offset from real
// time (client.Env.ClockOf), absent when 0; a client answering an older
// version keeps its own time: it gets none, never takes a device clock, and
// says so (client.OwnTimer).
func TestCallsCarryTheDeviceClockOffset(t *testing.T) {
	for _, proto := range []string{"3", "2", "1"} {
		t.Run("protocol "+proto, func(t *testing.T) {
			env := testEnv
			asked := 0
			var mu sync.Mutex
			env.DeviceClock = func(dev string) clock.Clock {
				mu.Lock()
				asked++
				mu.Unlock()
				if dev == "ahead" {
					return clock.Offset(clock.Real(), 3*time.Hour)
				}
				return nil // Env.Clock: real time here
			}
			env.Clock = clock.Offset(clock.Real(), -90*time.Second) // a conform scenario's simulated time
			c, err := New(context.Background(), helperCmd(t, "echo", "TS_PROTOCOL="+proto), env, Options{CloseGrace: time.Second})
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			offsets := map[string]any{}
			for _, dev := range []string{"ahead", "other"} {
				res := do(t, c, call("r-"+dev, dev))
				require.NoError(t, res.Err)
				var echoed map[string]any
				require.NoError(t, json.Unmarshal(res.Body, &echoed))
				offsets[dev] = echoed["clock_offset_ms"]
			}
			if proto == "3" {
				assert.False(t, c.OwnTime())
				assert.Equal(t, map[string]any{"ahead": 1.08e7, "other": -90000.0}, offsets)
				return
			}
			assert.True(t, c.OwnTime())
			assert.True(t, client.KeepsOwnTime(c))
			assert.Equal(t, map[string]any{"ahead": nil, "other": nil}, offsets)
			assert.Zero(t, asked, "a client that keeps its own time never takes a device clock")
		})
	}
}
