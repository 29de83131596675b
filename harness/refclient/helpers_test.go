package refclient_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/refclient"
	"github.com/tokenstorm/tokenstorm/harness/refclient/refclienttest"
)

// newRef returns a reference client for st with fast backoff, closed at the end.
func newRef(t *testing.T, st *refclienttest.Stack, opts refclient.Options) *refclient.Client {
	t.Helper()
	if opts.BackoffBase == 0 {
		opts.BackoffBase = time.Millisecond
		opts.BackoffMax = 5 * time.Millisecond
	}
	c := refclient.New(st.Env(), opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// call builds a logical request the way the device driver does.
func call(dev, method, path, rid string, body string) client.Call {
	h := http.Header{"X-Request-Id": {rid}}
	if body != "" {
		h.Set("Content-Type", "application/json")
	}
	sep := "?"
	for _, r := range path {
		if r == '?' {
			sep = "&"
		}
	}
	return client.Call{ID: rid, Device: dev, Method: method, Path: path + sep + "rid=" + rid, Header: h, Body: []byte(body)}
}

// do runs one call with a generous deadline.
func do(t *testing.T, c client.Client, cl client.Call) client.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Do(ctx, cl)
}

// warmUp logs device in with one GET.
func warmUp(t *testing.T, c client.Client, dev string) {
	t.Helper()
	res := do(t, c, call(dev, "GET", "/api/warmup", "warm-"+dev, ""))
	require.NoError(t, res.Err)
	require.Equal(t, 200, res.Status)
}

// concurrently runs n calls at once and returns their results by index.
func concurrently(ctx context.Context, c client.Client, n int, mk func(i int) client.Call) []client.Result {
	out := make([]client.Result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = c.Do(ctx, mk(i))
		}()
	}
	wg.Wait()
	return out
}

func rid(prefix string, i int) string { return fmt.Sprintf("%s%d", prefix, i) }
