package execclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/device"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// repoRoot is the module root, where the examples live.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	return root
}

func nodeClient(t *testing.T, name string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not in PATH: skipping the Node.js example clients (install Node.js 18+ to run them)")
	}
	return shellQuote(node) + " " + shellQuote(filepath.Join(repoRoot(t), "examples", "exec", name, "client.mjs"))
}

// goClient builds examples/exec/go into the test's temporary directory, the
// way a user would build their own client.
func goClient(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not in PATH: cannot build examples/exec/go")
	}
	bin := filepath.Join(t.TempDir(), "exec-client-go")
	cmd := exec.Command(goTool, "build", "-o", bin, "./examples/exec/go")
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./examples/exec/go:\n%s", out)
	return shellQuote(bin)
}

// stormResult is what one expiry storm did.
type stormResult struct {
	outcomes  []device.Outcome
	refreshes int // refresh calls the backend saw after the expiry
	logins    int // logins the backend saw after the expiry
	errors    []error
}

// expiryStorm starts the client, logs device d1 in with one call, expires
// every token, then fires n concurrent calls on d1 (GETs and POSTs with a
// body) and counts the renewals the backend saw.
func expiryStorm(t *testing.T, cmd string, n int) stormResult {
	t.Helper()
	st := newStack(t)
	env := client.Env{BackendURL: st.BackendURL, WechatURL: st.WechatURL, AppID: st.AppID, Ledger: st.Ledger}
	c, err := New(context.Background(), cmd, env, Options{Stderr: testWriter{t}, CloseGrace: 2 * time.Second})
	require.NoError(t, err)
	defer func() { assert.NoError(t, c.Close()) }()
	drv := &device.Driver{Client: c, Ledger: st.Ledger, Deadline: 15 * time.Second, Prefix: "it-"}
	ctx := context.Background()

	first := drv.Do(ctx, "d1", device.Request{Method: "GET", Path: "/api/profile"})
	require.NoError(t, first.Err)
	require.Equal(t, 200, first.Status, string(first.Body))

	st.Backend.ExpireAll() // the storm trigger
	mark := st.Ledger.Len()

	res := stormResult{outcomes: make([]device.Outcome, n)}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := device.Request{Method: "GET", Path: fmt.Sprintf("/api/orders?page=%d", i)}
			if i%2 == 1 {
				req = device.Request{Method: "POST", Path: "/api/orders", Body: []byte(fmt.Sprintf(`{"item":%d}`, i))}
			}
			res.outcomes[i] = drv.Do(ctx, "d1", req)
		}()
	}
	wg.Wait()
	_ = st.Ledger.Scan(func(e ledger.Event) error {
		if e.Seq <= mark || e.Source != ledger.SourceBackend {
			return nil
		}
		switch e.Kind {
		case ledger.KindRefresh:
			res.refreshes++
		case ledger.KindBackendLogin:
			res.logins++
		}
		return nil
	})
	res.errors = c.Errors()
	return res
}

func assertCorrectClient(t *testing.T, cmd string) {
	const n = 20
	res := expiryStorm(t, cmd, n)
	for i, o := range res.outcomes {
		require.NoError(t, o.Err, "call %d", i)
		assert.Equal(t, 200, o.Status, "call %d: %s", i, o.Body)
		var body struct{ RID string }
		require.NoError(t, json.Unmarshal(o.Body, &body), "call %d: %s", i, o.Body)
		assert.Equal(t, o.RID, body.RID, "the answer is the one for this request")
	}
	assert.Equal(t, 1, res.refreshes, "one refresh for %d requests that met the expiry", n)
	assert.Equal(t, 0, res.logins, "the refresh token was good: no login")
	assert.Empty(t, res.errors, "no protocol errors")
}

// assertRecovers checks the other duties of a correct client: a revoked
// family (dead refresh token) falls back to wx.login, and a 401 that is not
// about the token reaches the caller untouched, without a renewal.
func assertRecovers(t *testing.T, cmd string) {
	st := newStack(t)
	env := client.Env{BackendURL: st.BackendURL, WechatURL: st.WechatURL, AppID: st.AppID, Ledger: st.Ledger}
	c, err := New(context.Background(), cmd, env, Options{Stderr: testWriter{t}})
	require.NoError(t, err)
	defer func() { assert.NoError(t, c.Close()) }()
	drv := &device.Driver{Client: c, Ledger: st.Ledger, Deadline: 15 * time.Second}
	ctx := context.Background()
	count := func(kind string, after uint64) (n int) {
		_ = st.Ledger.Scan(func(e ledger.Event) error {
			if e.Seq > after && e.Source == ledger.SourceBackend && e.Kind == kind {
				n++
			}
			return nil
		})
		return n
	}

	require.Equal(t, 200, drv.Do(ctx, "d2", device.Request{Path: "/api/profile"}).Status)

	st.Backend.RevokeAll()
	mark := st.Ledger.Len()
	o := drv.Do(ctx, "d2", device.Request{Method: "POST", Path: "/api/orders", Body: []byte(`{"item":1}`)})
	require.NoError(t, o.Err)
	assert.Equal(t, 200, o.Status, string(o.Body))
	assert.Equal(t, 1, count(ledger.KindBackendLogin, mark), "logged in again after the refresh token was rejected")

	mark = st.Ledger.Len()
	o = drv.Do(ctx, "d2", device.Request{Path: "/api/reauth"})
	require.NoError(t, o.Err)
	assert.Equal(t, 401, o.Status, "a 401 that is not about the token is the caller's")
	assert.Contains(t, string(o.Body), `"error":"password_required"`)
	assert.Zero(t, count(ledger.KindRefresh, mark)+count(ledger.KindBackendLogin, mark), "no renewal for it")
	assert.Empty(t, c.Errors())
}

func TestNodeExampleClient(t *testing.T) {
	cmd := nodeClient(t, "node")
	t.Run("expiry storm", func(t *testing.T) { assertCorrectClient(t, cmd) })
	t.Run("recovery", func(t *testing.T) { assertRecovers(t, cmd) })
}

func TestGoExampleClient(t *testing.T) {
	cmd := goClient(t)
	t.Run("expiry storm", func(t *testing.T) { assertCorrectClient(t, cmd) })
	t.Run("recovery", func(t *testing.T) { assertRecovers(t, cmd) })
}

func TestPythonExampleClient(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not in PATH: skipping the Python example client")
	}
	cmd := shellQuote(py) + " " + shellQuote(filepath.Join(repoRoot(t), "examples", "exec", "python", "client.py"))
	t.Run("expiry storm", func(t *testing.T) { assertCorrectClient(t, cmd) })
	t.Run("recovery", func(t *testing.T) { assertRecovers(t, cmd) })
}

func TestNaiveNodeClientStormsTheRefresh(t *testing.T) {
	res := expiryStorm(t, nodeClient(t, "naive"), 20)
	assert.Greater(t, res.refreshes, 1, "the naive client refreshes once per failed request")
	t.Logf("naive client: %d refreshes and %d logins for one expiry", res.refreshes, res.logins)
	assert.Empty(t, res.errors, "it still speaks the protocol correctly")
}

// testWriter shows the client's stderr in the test log (go test -v).
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("client stderr: %s", p)
	return len(p), nil
}

var _ io.Writer = testWriter{}
