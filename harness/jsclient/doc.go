// Package jsclient runs the real request wrapper of a WeChat mini-program or a
// uni-app app (`--client js:PATH`, SPEC §6) inside the harness.
//
// PATH is an adapter module exporting call(req) → Promise. It is bundled once
// with esbuild (ES modules, CommonJS, TypeScript, relative imports and
// node_modules packages all work; target es2017) and compiled once with goja.
// Every simulated device then gets its own goja runtime and its own event loop
// goroutine, created lazily on the device's first call: goja runtimes are
// single-goroutine, and a phone is one JS thread anyway. Go-side work (HTTP for
// wx.request, wx.login against mockwechat, timers) runs on other goroutines and
// re-enters JavaScript only through the device's loop queue.
//
// A `wx` and a `uni` shim backed by the harness give the wrapper what a phone
// would: request, login, checkSession, storage, UI calls (recorded in the
// ledger), getApp/App, timers and console. Anything else throws
// "not supported by tokenstorm: wx.NAME" so a wrapper never silently gets
// undefined.
//
// Lost promises: the loop counts its pending operations (timers, requests,
// logins). A call whose promise is still pending when its device has nothing
// left to do can never settle by itself; it is noted in the ledger at once and
// the harness reports it lost at its deadline. Do always returns when its
// context ends, so a wrapper can never hang the harness.
package jsclient
