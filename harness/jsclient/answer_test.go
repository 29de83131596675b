package jsclient_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/jsclient"
)

// Reading what call(req) settled with runs the adapter's code; when that
// throws, the call fails at once instead of waiting for its deadline. A
// header key that is not valid UTF-16 is dropped, not a crash.
func TestUnreadableAnswersFailAtOnce(t *testing.T) {
	s := newStack(t, writeAdapter(t, map[string]string{"adapter.js": `
const v = {
  "/getter": () => ({get statusCode() { throw new Error("status getter") }}),
  "/bigint": () => ({statusCode: 200n}),
  "/header-keys": () => ({statusCode: 200, header: new Proxy({}, {ownKeys() { throw new Error("keys trap") }})}),
  "/surrogate": () => ({statusCode: 201, header: {"\ud800": "x", ok: "y"}}),
}
export async function call(req) {
  if (req.path === "/reject-getter") throw {get statusCode() { throw new Error("reason getter") }}
  return v[req.path]()
}`}), jsclient.Options{})
	for path, msg := range map[string]string{"/getter": "status getter", "/bigint": "BigInt", "/header-keys": "keys trap", "/reject-getter": "reason getter"} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		r := s.client.Do(ctx, client.Call{ID: "r", Device: "d", Method: "GET", Path: path})
		cancel()
		require.Error(t, r.Err, path)
		assert.NotErrorIs(t, r.Err, context.DeadlineExceeded, path)
		assert.Contains(t, r.Err.Error(), "could not be read: ", path)
		assert.Contains(t, r.Err.Error(), msg, path)
	}
	r := do(s, "d", "GET", "/surrogate", "")
	require.NoError(t, r.Err)
	assert.Equal(t, 201, r.Status)
	assert.Equal(t, "y", r.Header.Get("ok"))
}
