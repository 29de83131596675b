package hostile

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/jsclient"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/stack"
)

// hostileAdapter resolves (or rejects) with the value req.path names; any
// other path is forwarded with wx.request, as a real adapter does.
const hostileAdapter = `
function deep(n) { let o = {}; for (let i = 0; i < n; i++) o = {o}; return o }
const values = {
  "/cyclic": () => { const o = {statusCode: 200}; o.data = o; o.header = o; return o },
  "/cyclic-plain": () => { const o = {}; o.o = o; return o },
  "/cyclic-array": () => { const a = []; a.push(a); return {statusCode: 200, data: a} },
  "/bigint": () => ({statusCode: 200n, data: 1n}),
  "/bigint-data": () => ({statusCode: 200, data: {n: 10n}}),
  "/bigint-header": () => ({statusCode: 200, header: {a: 1n, b: [2n]}}),
  "/bigint-plain": () => 12345678901234567890123n,
  "/symbol": () => Symbol("x"),
  "/symbol-status": () => ({statusCode: Symbol("s")}),
  "/symbol-header": () => ({statusCode: 200, header: {a: Symbol("h"), b: [Symbol("i")]}}),
  "/symbol-data": () => ({statusCode: 200, data: Symbol("d")}),
  "/function": () => function () {},
  "/function-data": () => ({statusCode: 200, data: () => 1}),
  "/function-header": () => ({statusCode: 200, header: () => 1}),
  "/huge-string": () => "x".repeat(16 << 20),
  "/huge-data": () => ({statusCode: 200, data: "y".repeat(16 << 20)}),
  "/huge-header": () => ({statusCode: 200, header: {a: "h".repeat(1 << 20)}}),
  "/getter-throws": () => ({get statusCode() { throw new Error("status getter") }}),
  "/status-getter-throws-late": () => ({statusCode: 200, get status() { throw new Error("status getter") }}),
  "/data-getter-throws": () => ({statusCode: 200, get data() { throw new Error("data getter") }}),
  "/body-getter-throws": () => ({statusCode: 200, get body() { throw new Error("body getter") }}),
  "/header-getter-throws": () => ({statusCode: 200, get header() { throw new Error("header getter") }}),
  "/header-value-getter-throws": () => ({statusCode: 200, header: {get a() { throw new Error("value getter") }}}),
  "/toJSON-throws": () => ({statusCode: 200, data: {toJSON() { throw new Error("toJSON") }}}),
  "/toString-throws": () => ({statusCode: 200, header: {a: {toString() { throw new Error("toString") }}}}),
  "/valueOf-throws": () => ({statusCode: {valueOf() { throw new Error("valueOf") }}}),
  "/proxy": () => new Proxy({}, {get() { throw new Error("get trap") }, ownKeys() { throw new Error("keys trap") }}),
  "/proxy-header": () => ({statusCode: 200, header: new Proxy({}, {ownKeys() { throw new Error("keys trap") }})}),
  "/proxy-data": () => ({statusCode: 200, data: new Proxy({}, {ownKeys() { throw new Error("keys trap") }})}),
  "/status-huge": () => ({statusCode: 1e308}),
  "/status-NaN": () => ({statusCode: NaN, data: "x"}),
  "/status-string": () => ({statusCode: "404"}),
  "/array-header": () => ({statusCode: 200, header: {a: [1, {}, null, [2], undefined]}}),
  "/deep-data": () => ({statusCode: 200, data: deep(5000)}),
  "/typed-array": () => ({statusCode: 200, data: new Uint8Array(10)}),
  "/invalid-date": () => ({statusCode: 200, data: new Date(NaN)}),
  "/map": () => ({statusCode: 200, data: new Map([[1, 2]]), header: new Map([["a", "b"]])}),
  "/lone-surrogate": () => ({statusCode: 200, data: "\ud800", header: {"\ud800": "\udfff"}}),
  "/frozen-revoked": () => { const r = Proxy.revocable({}, {}); r.revoke(); return r.proxy },
  "/revoked-header": () => { const r = Proxy.revocable({}, {}); r.revoke(); return {statusCode: 200, header: r.proxy} },
}
const reasons = {
  "/reject-getter": () => ({get statusCode() { throw new Error("status getter") }}),
  "/reject-symbol": () => Symbol("r"),
  "/reject-bigint": () => 5n,
  "/reject-cyclic": () => { const e = new Error("x"); e.self = e; e.statusCode = 500; e.data = e; return e },
  "/reject-toString-throws": () => ({toString() { throw new Error("toString") }}),
  "/reject-message-getter": () => { const e = new Error("x"); Object.defineProperty(e, "message", {get() { throw new Error("message getter") }}); return e },
  "/reject-proxy": () => new Proxy({}, {get() { throw new Error("get trap") }}),
  "/reject-undefined": () => undefined,
}
export async function call(req) {
  if (values[req.path]) return values[req.path]()
  if (reasons[req.path]) throw reasons[req.path]()
  if (req.path === "/never") return new Promise(() => {})
  return await new Promise((resolve, reject) => wx.request({
    url: req.url, method: req.method, data: req.data, header: req.header,
    success: resolve, fail: reject,
  }))
}`

// Values a JS adapter resolves or rejects with: each becomes an answer or an
// error at once (never a panic, never a call left hanging to its deadline),
// and a runtime that met one then carries a login and a protected request.
func TestHostileJSAnswers(t *testing.T) {
	st := start(t, stack.Options{})
	p := filepath.Join(t.TempDir(), "adapter.js")
	require.NoError(t, os.WriteFile(p, []byte(hostileAdapter), 0o600))
	env := client.Env{BackendURL: st.BackendURL, WechatURL: st.WechatURL, AppID: "wx-hostile", Ledger: ledger.New(ledger.Options{Memory: true})}
	c, err := jsclient.New(p, env, jsclient.Options{MaxTurn: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })

	paths := []string{}
	for _, block := range []string{"const values = {", "const reasons = {"} {
		i := strings.Index(hostileAdapter, block)
		for _, line := range strings.Split(hostileAdapter[i:i+strings.Index(hostileAdapter[i:], "\n}\n")], "\n")[1:] {
			path, _, _ := strings.Cut(strings.TrimSpace(line), `":`)
			paths = append(paths, strings.TrimPrefix(path, `"`))
		}
	}
	require.Len(t, paths, 48)
	// Each value on a device of its own: a runtime stopped by the turn limit
	// (a 16 MiB string on a loaded machine) does not take the others along.
	for _, path := range paths {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		began := time.Now()
		r := c.Do(ctx, client.Call{ID: "r", Device: "d" + path, Method: "GET", Path: path})
		cancel()
		t.Logf("%s: %s %d %v", path, time.Since(began), r.Status, r.Err)
		assert.NotErrorIs(t, r.Err, context.DeadlineExceeded, "%s: the call was left hanging", path)
		if r.Err == nil {
			assert.True(t, r.Status >= 100 && r.Status <= 999, "%s: status %d", path, r.Status)
		} else {
			assert.NotEmpty(t, r.Err.Error(), path)
		}
		if strings.HasPrefix(path, "/reject") {
			assert.Error(t, r.Err, path)
		}
	}
	// A promise that never settles is bounded by the call's context.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	r := c.Do(ctx, client.Call{ID: "n", Device: "d/never", Method: "GET", Path: "/never"})
	cancel()
	assert.ErrorIs(t, r.Err, context.DeadlineExceeded)

	var code struct{ Code string }
	postJSON(t, st.WechatURL+"/__mock/wx/login", `{"user":"js-healthy"}`, "", &code)
	// On the runtime that met a throwing getter: it still works.
	dev := "d/getter-throws"
	r = c.Do(context.Background(), client.Call{ID: "login", Device: dev, Method: "POST", Path: "/auth/login",
		Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"code":"` + code.Code + `"}`)})
	require.NoError(t, r.Err)
	require.Equal(t, 200, r.Status, string(r.Body))
	var pair struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.Unmarshal(r.Body, &pair))
	r = c.Do(context.Background(), client.Call{ID: "api", Device: dev, Method: "GET", Path: "/api/orders",
		Header: http.Header{"Authorization": {"Bearer " + pair.AccessToken}}})
	require.NoError(t, r.Err)
	assert.Equal(t, 200, r.Status)
}
