package jsclient_test

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/jsclient"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// stack is a fake backend + a ledger + a js client over it.
type stack struct {
	fake   *fakeStack
	srv    *httptest.Server
	ledger *ledger.Ledger
	client *jsclient.Client
	env    client.Env
}

func newStack(t testing.TB, adapter string, opts jsclient.Options) *stack {
	t.Helper()
	s := &stack{fake: newFakeStack(), ledger: ledger.New(ledger.Options{Memory: true})}
	s.srv = httptest.NewServer(s.fake)
	t.Cleanup(s.srv.Close)
	s.env = client.Env{BackendURL: s.srv.URL, WechatURL: s.srv.URL, AppID: "wx-test-app", Ledger: s.ledger}
	c, err := jsclient.New(adapter, s.env, opts)
	require.NoError(t, err)
	s.client = c
	t.Cleanup(func() { _ = c.Close() })
	return s
}

// writeAdapter writes files (name → source) into a temp dir and returns the
// path of the first one named adapter.js (or adapter.ts).
func writeAdapter(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(src), 0o644))
	}
	for _, n := range []string{"adapter.js", "adapter.ts", "adapter.mjs"} {
		if _, ok := files[n]; ok {
			return filepath.Join(dir, n)
		}
	}
	t.Fatal("no adapter file")
	return ""
}

func example(name string) string {
	return filepath.Join("..", "..", "examples", "js", name, "adapter.js")
}

func do(s *stack, dev, method, path string, body string) client.Result {
	c := client.Call{ID: "t", Device: dev, Method: method, Path: path}
	if body != "" {
		c.Body = []byte(body)
	}
	return s.client.Do(context.Background(), c)
}

func eventsOf(l *ledger.Ledger, kind string) []ledger.Event {
	var out []ledger.Event
	for _, e := range l.Events() {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}
