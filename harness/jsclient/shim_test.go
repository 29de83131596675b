package jsclient_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/jsclient"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// jsonOf decodes a result body for assertions.
func jsonOf(t *testing.T, r client.Result) map[string]any {
	t.Helper()
	require.NoError(t, r.Err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), string(r.Body))
	return m
}

func TestBundleErrorsNameFileLineColumn(t *testing.T) {
	env := client.Env{BackendURL: "http://127.0.0.1:1"}
	p := writeAdapter(t, map[string]string{"adapter.js": "import { x } from './missing.js';\nexport function call() {}\n"})
	_, err := jsclient.New(p, env, jsclient.Options{})
	var be *jsclient.BundleError
	require.ErrorAs(t, err, &be)
	assert.Contains(t, err.Error(), "adapter.js:1:19: Could not resolve \"./missing.js\"")

	p = writeAdapter(t, map[string]string{"adapter.js": "export function call(req) {\n  return req.\n}\n"})
	_, err = jsclient.New(p, env, jsclient.Options{})
	require.ErrorAs(t, err, &be)
	assert.Contains(t, err.Error(), "adapter.js:3:1:")
}

// Packages published for browsers and Node.js at once (flyio: "main" is the
// Node.js build, "browser" the XHR one; axios 0.x: a "browser" map that
// replaces its Node http adapter) bundle the way mini-program bundlers
// (Taro, uni-app) bundle them: the browser build, with the browser map
// applied, never the Node.js one with its built-in modules.
func TestBundleTakesThePackagesBrowserBuild(t *testing.T) {
	p := writeAdapter(t, map[string]string{
		"adapter.js":                       "import fly from 'dual';\nimport lib from 'mapped';\nexport async function call(req) {\n  return { statusCode: 200, data: { build: fly.build + '+' + lib.adapter(), rid: req.rid } };\n}\n",
		"node_modules/dual/package.json":   `{"name":"dual","main":"node-index.js","browser":"index.js"}`,
		"node_modules/dual/node-index.js":  "const http = require('http');\nmodule.exports = { build: 'node', http };\n",
		"node_modules/dual/index.js":       "module.exports = { build: 'browser' };\n",
		"node_modules/mapped/package.json": `{"name":"mapped","main":"index.js","browser":{"./lib/http.js":"./lib/xhr.js"}}`,
		"node_modules/mapped/index.js":     "module.exports = { adapter: () => (typeof XMLHttpRequest !== 'undefined' ? require('./lib/xhr.js') : require('./lib/http.js'))() };\n",
		"node_modules/mapped/lib/http.js":  "const zlib = require('zlib');\nmodule.exports = () => 'http' + typeof zlib;\n",
		"node_modules/mapped/lib/xhr.js":   "module.exports = () => 'xhr';\n",
	})
	s := newStack(t, p, jsclient.Options{})
	m := jsonOf(t, s.client.Do(context.Background(), client.Call{ID: "r1", Device: "d", Method: "GET", Path: "/x?rid=r1"}))
	assert.Equal(t, "browser+xhr", m["build"])
}

func TestNewChecksTheAdapterLoads(t *testing.T) {
	env := client.Env{BackendURL: "http://127.0.0.1:1"}
	p := writeAdapter(t, map[string]string{"adapter.js": "export const notCall = 1;\n"})
	_, err := jsclient.New(p, env, jsclient.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "does not export call(req)")

	// A throw at the top level of an imported module points at its source line.
	p = writeAdapter(t, map[string]string{
		"adapter.js":  "import './lib/boot.js';\nexport function call() {}\n",
		"lib/boot.js": "const a = 1;\n\nthrow new Error('boot failed ' + a);\n",
	})
	_, err = jsclient.New(p, env, jsclient.Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "boot failed 1")
	assert.Contains(t, err.Error(), "boot.js:3")

	_, err = jsclient.New("/nonexistent/adapter.js", env, jsclient.Options{})
	require.Error(t, err)
}

func TestModuleFormats(t *testing.T) {
	cases := map[string]map[string]string{
		"commonjs": {"adapter.js": "const h = require('./h');\nmodule.exports.call = (req) => Promise.resolve(h(req));\n",
			"h.js": "module.exports = (req) => ({ statusCode: 200, data: { kind: 'cjs', rid: req.rid } });\n"},
		"esm default object": {"adapter.js": "export default { call: async (req) => ({ statusCode: 200, data: { kind: 'esm', rid: req.rid } }) };\n"},
		"typescript":         {"adapter.ts": "interface Req { rid: string }\nclass A { async call(req: Req): Promise<object> { return { statusCode: 200, data: { kind: 'ts', rid: req.rid } }; } }\nconst a = new A();\nexport const call = (req: Req) => a.call(req);\n"},
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			s := newStack(t, writeAdapter(t, files), jsclient.Options{})
			m := jsonOf(t, s.client.Do(context.Background(), client.Call{ID: "r9", Device: "d", Method: "GET", Path: "/x?rid=r9"}))
			assert.Equal(t, "r9", m["rid"])
		})
	}
}

const requestShapeAdapter = `
export function call(req) {
  return new Promise((resolve) => {
    const seen = { order: [] };
    const task = wx.request({
      url: req.url,
      method: req.method,
      header: req.header,
      data: req.data,
      success(res) {
        seen.order.push('success');
        seen.errMsg = res.errMsg;
        seen.statusCode = res.statusCode;
        seen.dataIsObject = typeof res.data === 'object';
        seen.rid = res.data.rid;
        seen.ridHeader = res.header['X-Request-Id'];
      },
      fail(err) { seen.order.push('fail'); seen.errMsg = err.errMsg; },
      complete() { seen.order.push('complete'); resolve({ statusCode: 200, data: seen }); },
    });
    seen.taskAbort = typeof task.abort;
    seen.synchronous = seen.order.length > 0;
  });
}
`

func TestWxRequestShape(t *testing.T) {
	s := newStack(t, writeAdapter(t, map[string]string{"adapter.js": requestShapeAdapter}), jsclient.Options{})
	// no token: the fake answers 401, and wx.request still calls success
	m := jsonOf(t, s.client.Do(context.Background(), client.Call{ID: "r1", Device: "d", Method: "GET",
		Path: "/api/x?rid=r1", Header: http.Header{"X-Request-Id": {"r1"}}}))
	assert.Equal(t, []any{"success", "complete"}, m["order"])
	assert.Equal(t, "request:ok", m["errMsg"])
	assert.EqualValues(t, 401, m["statusCode"])
	assert.Equal(t, true, m["dataIsObject"])
	assert.Equal(t, "function", m["taskAbort"])
	assert.Equal(t, false, m["synchronous"], "callbacks are never synchronous")
}

func TestWxRequestFailAndAbort(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	adapter := `
export function call(req) {
  return new Promise((resolve) => {
    const out = {};
    let n = 0;
    const done = () => { if (++n === 3) resolve({ statusCode: 200, data: out }); };
    wx.request({ url: 'http://127.0.0.1:1/x', fail(e) { out.refused = e.errMsg; }, complete: done });
    const t = wx.request({ url: req.data.slow, fail(e) { out.aborted = e.errMsg; }, complete: done });
    setTimeout(() => t.abort(), 20);
    wx.request({ url: req.data.slow, timeout: 30, fail(e) { out.timeout = e.errMsg; }, complete: done });
  });
}
`
	s := newStack(t, writeAdapter(t, map[string]string{"adapter.js": adapter}), jsclient.Options{})
	m := jsonOf(t, s.client.Do(context.Background(), client.Call{ID: "r1", Device: "d", Method: "POST", Path: "/",
		Body: []byte(`{"slow":"` + slow.URL + `"}`)}))
	assert.True(t, strings.HasPrefix(m["refused"].(string), "request:fail "), m["refused"])
	assert.Contains(t, m["refused"], "connection refused")
	assert.Equal(t, "request:fail abort", m["aborted"])
	assert.Equal(t, "request:fail timeout", m["timeout"])
}

func TestUnsupportedAPIsThrow(t *testing.T) {
	adapter := `
export async function call(req) {
  const out = { inWx: 'getUserProfile' in wx, canIUseRequest: wx.canIUse('request'), canIUseProfile: wx.canIUse('getUserProfile') };
  try { wx.getUserProfile({}); } catch (e) { out.wx = e.message; }
  try { uni.chooseImage({}); } catch (e) { out.uni = e.message; }
  return { statusCode: 200, data: out };
}
`
	s := newStack(t, writeAdapter(t, map[string]string{"adapter.js": adapter}), jsclient.Options{})
	m := jsonOf(t, do(s, "d", "GET", "/", ""))
	assert.Equal(t, "not supported by tokenstorm: wx.getUserProfile", m["wx"])
	assert.Equal(t, "not supported by tokenstorm: uni.chooseImage", m["uni"])
	assert.Equal(t, false, m["inWx"])
	assert.Equal(t, true, m["canIUseRequest"])
	assert.Equal(t, false, m["canIUseProfile"])
	var logged []string
	for _, e := range eventsOf(s.ledger, ledger.KindClientLog) {
		logged = append(logged, e.Detail)
	}
	assert.Contains(t, logged, "console.error: not supported by tokenstorm: wx.getUserProfile")
}

func TestStorageUIAndApp(t *testing.T) {
	adapter := `
App({ globalData: { theme: 'dark' }, onLaunch() { wx.setStorageSync('launched', true); } });
export async function call(req) {
  const out = {};
  out.missing = wx.getStorageSync('nope');
  wx.setStorageSync('user', { id: 7, tags: ['a'] });
  const u = wx.getStorageSync('user');
  u.id = 8; // a copy: storage is unchanged
  out.user = wx.getStorageSync('user');
  out.launched = uni.getStorageSync('launched'); // uni and wx share the phone's storage
  await wx.setStorage({ key: 'async', data: 42 });
  out.async = (await wx.getStorage({ key: 'async' })).data;
  try { await wx.getStorage({ key: 'gone' }); } catch (e) { out.getMissing = e.errMsg; }
  wx.removeStorageSync('async');
  out.keys = wx.getStorageInfoSync().keys;
  out.theme = getApp().globalData.theme;
  const modal = await wx.showModal({ title: '登录已过期', content: '请重新登录' });
  out.confirm = modal.confirm;
  await new Promise((resolve) => wx.reLaunch({ url: '/pages/login/login', success: resolve }));
  wx.showToast({ title: 'hi', icon: 'none' });
  uni.navigateTo({ url: '/pages/a' });
  return { statusCode: 200, data: out };
}
`
	s := newStack(t, writeAdapter(t, map[string]string{"adapter.js": adapter}), jsclient.Options{})
	m := jsonOf(t, do(s, "phone1", "GET", "/", ""))
	assert.Equal(t, "", m["missing"])
	assert.Equal(t, map[string]any{"id": 7.0, "tags": []any{"a"}}, m["user"])
	assert.Equal(t, true, m["launched"])
	assert.EqualValues(t, 42, m["async"])
	assert.Equal(t, "getStorage:fail data not found", m["getMissing"])
	assert.Equal(t, []any{"launched", "user"}, m["keys"])
	assert.Equal(t, "dark", m["theme"])
	assert.Equal(t, true, m["confirm"])
	assert.Equal(t, map[string]string{"launched": "true", "user": `{"id":7,"tags":["a"]}`}, s.client.Storage("phone1"))

	want := []string{"showModal 登录已过期: 请重新登录", "reLaunch /pages/login/login", "showToast hi", "navigateTo /pages/a"}
	assert.Equal(t, want, s.client.UI("phone1"))
	var got []string
	for _, e := range eventsOf(s.ledger, ledger.KindUI) {
		assert.Equal(t, "phone1", e.Device)
		assert.Equal(t, ledger.SourceClient, e.Source)
		got = append(got, e.Detail)
	}
	assert.Equal(t, want, got)
}

func TestDevicesAreIsolated(t *testing.T) {
	adapter := `
let calls = 0;
export async function call(req) {
  calls++;
  getApp().globalData.n = (getApp().globalData.n || 0) + 1;
  return { statusCode: 200, data: { calls, device: tokenstorm.device, n: getApp().globalData.n, backend: tokenstorm.backendURL } };
}
`
	s := newStack(t, writeAdapter(t, map[string]string{"adapter.js": adapter}), jsclient.Options{})
	jsonOf(t, do(s, "a", "GET", "/", ""))
	m := jsonOf(t, do(s, "a", "GET", "/", ""))
	assert.EqualValues(t, 2, m["calls"])
	m = jsonOf(t, do(s, "b", "GET", "/", ""))
	assert.EqualValues(t, 1, m["calls"])
	assert.EqualValues(t, 1, m["n"])
	assert.Equal(t, "b", m["device"])
	assert.Equal(t, s.srv.URL, m["backend"])
	assert.Equal(t, 2, s.client.Stats().Devices)
}

func TestLoginAndCheckSession(t *testing.T) {
	adapter := `
const check = () => new Promise((resolve) => wx.checkSession({ success: () => resolve('ok'), fail: (e) => resolve(e.errMsg) }));
export async function call(req) {
  const out = { before: await check() };
  if (req.method === 'POST') {
    const r = await wx.login();
    out.code = r.code;
    out.errMsg = r.errMsg;
  }
  out.after = await check();
  return { statusCode: 200, data: out };
}
`
	s := newStack(t, writeAdapter(t, map[string]string{"adapter.js": adapter}), jsclient.Options{})
	m := jsonOf(t, do(s, "u1", "POST", "/", ""))
	assert.Equal(t, "checkSession:fail session time out, need relogin", m["before"])
	assert.Equal(t, "login:ok", m["errMsg"])
	assert.NotEmpty(t, m["code"])
	assert.Equal(t, "ok", m["after"])
	assert.Equal(t, 1, s.fake.counts(s.fake.wxLogins)["u1"], "the code was minted for this device's user")

	s.client.ExpireSession("u1")
	m = jsonOf(t, do(s, "u1", "GET", "/", ""))
	assert.Equal(t, "checkSession:fail session time out, need relogin", m["before"])
}

func TestUniRequestPromiseAndInterceptor(t *testing.T) {
	adapter := `
uni.addInterceptor('request', {
  invoke(args) { args.header = { ...args.header, 'X-From': 'interceptor' }; },
  success(res) { res.intercepted = true; },
});
export async function call(req) {
  const res = await uni.request({ url: req.url, header: req.header });
  return { statusCode: 200, data: { status: res.statusCode, errMsg: res.errMsg, intercepted: res.intercepted, isTask: typeof uni.request({ url: req.url, success() {} }) } };
}
`
	s := newStack(t, writeAdapter(t, map[string]string{"adapter.js": adapter}), jsclient.Options{})
	m := jsonOf(t, do(s, "d", "GET", "/api/x", ""))
	assert.EqualValues(t, 401, m["status"])
	assert.Equal(t, "request:ok", m["errMsg"])
	assert.Equal(t, true, m["intercepted"])
	assert.Equal(t, "object", m["isTask"])
}

func TestTimersFollowTheHarnessClock(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	mc := clock.NewManual(start)
	adapter := `
export function call(req) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    let ticks = 0;
    const iv = setInterval(() => { ticks++; }, 100);
    const cancelled = setTimeout(() => { throw new Error('cleared timer ran'); }, 50);
    clearTimeout(cancelled);
    setTimeout((a, b) => {
      clearInterval(iv);
      resolve({ statusCode: 200, data: { t0, t1: Date.now(), args: a + b, ticks } });
    }, 1000, 'x', 'y');
  });
}
`
	s := newStack(t, writeAdapter(t, map[string]string{"adapter.js": adapter}), jsclient.Options{Clock: mc})
	done := make(chan client.Result, 1)
	go func() { done <- do(s, "d", "GET", "/", "") }()
	// The interval, the cleared 50 ms timeout (a manual clock cannot forget a
	// waiter) and the 1 s timeout are all parked on the manual clock.
	require.Eventually(t, func() bool { return mc.Waiters() >= 3 }, 5*time.Second, time.Millisecond)
	for i := 0; i < 10; i++ {
		select {
		case r := <-done:
			t.Fatalf("settled before the clock moved: %+v", r)
		default:
		}
		mc.Advance(100 * time.Millisecond)
		if i < 9 {
			// Wait until the loop has re-armed the interval (it and the 1 s
			// timeout are then parked) rather than sleeping a guess.
			require.Eventually(t, func() bool { return mc.Waiters() == 2 }, 5*time.Second, time.Millisecond)
		}
	}
	var r client.Result
	select {
	case r = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("timer did not fire after the manual clock advanced")
	}
	m := jsonOf(t, r)
	assert.EqualValues(t, start.UnixMilli(), m["t0"], "Date.now() is the harness clock")
	assert.EqualValues(t, start.Add(time.Second).UnixMilli(), m["t1"])
	assert.Equal(t, "xy", m["args"])
	assert.GreaterOrEqual(t, m["ticks"], 5.0)
	for _, e := range eventsOf(s.ledger, ledger.KindClientLog) {
		assert.NotContains(t, e.Detail, "cleared timer ran")
	}
}

func TestLostPromiseIsReportedNotHung(t *testing.T) {
	adapter := `
export function call(req) {
  if (req.path.startsWith('/wait')) return new Promise((resolve) => setTimeout(resolve, 60000));
  return new Promise(() => {}); // nothing will ever settle this
}
`
	s := newStack(t, writeAdapter(t, map[string]string{"adapter.js": adapter}), jsclient.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	r := s.client.Do(ctx, client.Call{ID: "lost1", Device: "d", Method: "GET", Path: "/x?rid=lost1"})
	assert.ErrorIs(t, r.Err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)

	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	r = s.client.Do(ctx2, client.Call{ID: "slow1", Device: "d", Method: "GET", Path: "/wait?rid=slow1"})
	assert.ErrorIs(t, r.Err, context.DeadlineExceeded)

	require.Eventually(t, func() bool { return s.client.Stats().Pending == 0 }, time.Second, 5*time.Millisecond)
	st := s.client.Stats()
	assert.EqualValues(t, 1, st.Stalled, "only the call with nothing left to wait for is stalled")
	assert.EqualValues(t, 2, st.Abandoned)
	var notes []ledger.Event
	for _, e := range eventsOf(s.ledger, ledger.KindClientLog) {
		if strings.Contains(e.Detail, "dropped its promise") {
			notes = append(notes, e)
		}
	}
	require.Len(t, notes, 1)
	assert.Equal(t, "lost1", notes[0].RID)
	assert.Equal(t, "d", notes[0].Device)
}

func TestRejectionsAndOddResolutions(t *testing.T) {
	adapter := `
export async function call(req) {
  switch (req.path) {
    case '/undefined': return undefined;
    case '/bare': return { items: [1] };
    case '/string': return 'plain';
    case '/throw': throw new TypeError('bad input');
    case '/wxfail': throw { errMsg: 'request:fail timeout' };
    case '/http': throw { statusCode: 403, data: { error: 'forbidden' }, header: { 'X-A': 'b' } };
    case '/sync': null.x;
  }
}
`
	s := newStack(t, writeAdapter(t, map[string]string{"adapter.js": adapter}), jsclient.Options{})
	r := do(s, "d", "GET", "/undefined", "")
	assert.ErrorContains(t, r.Err, "resolved with undefined")
	r = do(s, "d", "GET", "/bare", "")
	assert.Equal(t, 200, r.Status)
	assert.JSONEq(t, `{"items":[1]}`, string(r.Body))
	r = do(s, "d", "GET", "/string", "")
	assert.Equal(t, "plain", string(r.Body))
	r = do(s, "d", "GET", "/throw", "")
	assert.EqualError(t, r.Err, "TypeError: bad input")
	r = do(s, "d", "GET", "/wxfail", "")
	assert.EqualError(t, r.Err, "request:fail timeout")
	r = do(s, "d", "GET", "/http", "")
	assert.Error(t, r.Err)
	assert.Equal(t, 403, r.Status)
	assert.JSONEq(t, `{"error":"forbidden"}`, string(r.Body))
	assert.Equal(t, "b", r.Header.Get("X-A"))
	r = do(s, "d", "GET", "/sync", "")
	assert.ErrorContains(t, r.Err, "TypeError")
}

func TestConsoleIsBoundedAndUncaughtErrorsReported(t *testing.T) {
	adapter := `
export function call(req) {
  for (let i = 0; i < 20; i++) console.log('line', i, { i });
  setTimeout(() => { throw new Error('boom in a timer'); }, 0);
  return new Promise((resolve) => setTimeout(() => resolve({ statusCode: 204 }), 5));
}
`
	var sb strings.Builder
	s := newStack(t, writeAdapter(t, map[string]string{"adapter.js": adapter}), jsclient.Options{MaxLogs: 5, Console: &sb})
	r := do(s, "d", "GET", "/", "")
	require.NoError(t, r.Err)
	assert.Equal(t, 204, r.Status)
	logs := eventsOf(s.ledger, ledger.KindClientLog)
	require.Len(t, logs, 5)
	assert.Equal(t, `console.log: line 0 {"i":0}`, logs[0].Detail)
	assert.Contains(t, logs[4].Detail, "truncated")
	assert.EqualValues(t, 21, s.client.Stats().Logs)
	assert.Contains(t, sb.String(), "d [error] uncaught exception in timer callback: Error: boom in a timer")
	assert.Contains(t, sb.String(), "adapter.js:4", "stack points at the source")
}

func TestCloseSettlesPendingCalls(t *testing.T) {
	p := writeAdapter(t, map[string]string{"adapter.js": "export const call = () => new Promise(() => {});\n"})
	s := newStack(t, p, jsclient.Options{})
	done := make(chan client.Result, 1)
	go func() { done <- do(s, "d", "GET", "/", "") }()
	require.Eventually(t, func() bool { return s.client.Stats().Pending == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, s.client.Close())
	select {
	case r := <-done:
		assert.ErrorIs(t, r.Err, jsclient.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Close left a call hanging")
	}
	assert.ErrorIs(t, do(s, "d", "GET", "/", "").Err, jsclient.ErrClosed)
}

func TestCloseInterruptsARunawayLoop(t *testing.T) {
	p := writeAdapter(t, map[string]string{"adapter.js": "export function call() { for (;;) {} }\n"})
	s := newStack(t, p, jsclient.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, s.client.Do(ctx, client.Call{Device: "d", Method: "GET", Path: "/"}).Err, context.DeadlineExceeded)
	closed := make(chan struct{})
	go func() { _ = s.client.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not interrupt the runtime")
	}
}

func TestUnhandledRejectionsAreReported(t *testing.T) {
	adapter := `
export async function call(req) {
  Promise.reject(new Error('refresh failed quietly'));
  const handledLater = Promise.reject(new Error('handled'));
  handledLater.catch(() => {});
  return { statusCode: 200, data: {} };
}
`
	s := newStack(t, writeAdapter(t, map[string]string{"adapter.js": adapter}), jsclient.Options{})
	require.NoError(t, do(s, "d", "GET", "/", "").Err)
	require.Eventually(t, func() bool { return len(eventsOf(s.ledger, ledger.KindClientLog)) > 0 }, time.Second, time.Millisecond)
	logs := eventsOf(s.ledger, ledger.KindClientLog)
	require.Len(t, logs, 1)
	assert.Equal(t, "console.error: unhandled promise rejection: refresh failed quietly", logs[0].Detail)
}

// With client.Env.DeviceClock (a storm's clock_skew with devices) each
// device's Date and timers follow that device's own clock; a device it has
// no clock for keeps Env.Clock.
func TestEachDeviceFollowsItsOwnClock(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	stackClock := clock.NewManual(start)
	phone := clock.NewManual(start.Add(3 * time.Hour)) // "skewed" runs 3h ahead
	adapter := `
export function call(req) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    setTimeout(() => resolve({ statusCode: 200, data: { t0, t1: Date.now() } }), 1000);
  });
}
`
	fake := httptest.NewServer(newFakeStack())
	defer fake.Close()
	env := client.Env{BackendURL: fake.URL, WechatURL: fake.URL, AppID: "wx-test-app", Clock: stackClock,
		DeviceClock: func(dev string) clock.Clock {
			if dev == "skewed" {
				return phone
			}
			return nil
		}}
	c, err := jsclient.New(writeAdapter(t, map[string]string{"adapter.js": adapter}), env, jsclient.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })

	run := func(dev string, own *clock.Manual, other *clock.Manual) map[string]any {
		done := make(chan client.Result, 1)
		go func() {
			done <- c.Do(context.Background(), client.Call{ID: dev, Device: dev, Method: "GET", Path: "/"})
		}()
		// The device's timer is parked on its own clock, not on the other one.
		require.Eventually(t, func() bool { return own.Waiters() == 1 }, 5*time.Second, time.Millisecond)
		assert.Equal(t, 0, other.Waiters())
		own.Advance(time.Second)
		select {
		case r := <-done:
			return jsonOf(t, r)
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the timer did not fire when its clock moved", dev)
			return nil
		}
	}
	m := run("skewed", phone, stackClock)
	assert.EqualValues(t, start.Add(3*time.Hour).UnixMilli(), m["t0"], "Date.now() is the device's clock")
	assert.EqualValues(t, start.Add(3*time.Hour+time.Second).UnixMilli(), m["t1"])
	m = run("plain", stackClock, phone)
	assert.EqualValues(t, start.UnixMilli(), m["t0"], "no clock of its own: Env.Clock")
	assert.EqualValues(t, start.Add(time.Second).UnixMilli(), m["t1"])
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer slow.Close()
	before := runtime.NumGoroutine()
	mc := clock.NewManual(time.Now())
	adapter := `
export function call(req) {
  setTimeout(() => {}, 60000);
  setInterval(() => {}, 1000);
  wx.request({ url: req.data.slow });
  return new Promise(() => {});
}
`
	s := newStack(t, writeAdapter(t, map[string]string{"adapter.js": adapter}), jsclient.Options{Clock: mc})
	for i := 0; i < 5; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		s.client.Do(ctx, client.Call{Device: fmt.Sprintf("d%d", i), Method: "POST", Path: "/", Body: []byte(`{"slow":"` + slow.URL + `"}`)})
		cancel()
	}
	require.NoError(t, s.client.Close())
	s.srv.Close()
	slow.CloseClientConnections()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+2 }, 5*time.Second, 10*time.Millisecond,
		"goroutines: before %d, now %d", before, runtime.NumGoroutine())
}
