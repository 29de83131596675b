package execclient

import (
	"context"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/backend"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/device"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/mockwechat"
)

// examples/exec/oauth2 is a plain golang.org/x/oauth2 Config whose TokenURL
// is the backend's refresh route: against --style oauth2 it refreshes with
// no custom code, and — as documented — a token the backend refuses before
// its Expiry gets no refresh and no replay: the caller sees the 401.
func TestOAuth2ExampleRefreshesAgainstTheOAuth2Style(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not in PATH")
	}
	bin := filepath.Join(t.TempDir(), "exec-client-oauth2")
	b := exec.Command(goTool, "build", "-o", bin, "./examples/exec/oauth2")
	b.Dir = repoRoot(t)
	out, err := b.CombinedOutput()
	require.NoError(t, err, "%s", out)

	l := ledger.New(ledger.Options{Memory: true})
	wx := mockwechat.New(mockwechat.Config{Clock: clock.Real(), Ledger: l})
	wxSrv := httptest.NewServer(wx)
	t.Cleanup(wxSrv.Close)
	// x/oauth2 refreshes 10 s before Expiry: an 11 s token is due after 1 s.
	be, err := backend.New(backend.Config{WechatURL: wxSrv.URL, AppID: mockwechat.DefaultAppID, Secret: mockwechat.DefaultSecret,
		Ledger: l, Style: "oauth2", AccessTTL: 11 * time.Second})
	require.NoError(t, err)
	beSrv := httptest.NewServer(be)
	t.Cleanup(func() { beSrv.Close(); _ = be.Close() })

	env := client.Env{BackendURL: beSrv.URL, WechatURL: wxSrv.URL, AppID: mockwechat.DefaultAppID, Ledger: l, Style: "oauth2"}
	c, err := New(context.Background(), shellQuote(bin), env, Options{Stderr: testWriter{t}})
	require.NoError(t, err)
	defer func() { assert.NoError(t, c.Close()) }()
	drv := &device.Driver{Client: c, Ledger: l, Deadline: 15 * time.Second}
	ctx := context.Background()
	spec := style.MustLoad("oauth2")

	first := drv.Do(ctx, "d1", device.Request{Path: "/api/profile"})
	require.NoError(t, first.Err)
	require.Equal(t, 200, first.Status, "%s", first.Body)

	refreshed := func() int {
		n := 0
		for _, e := range l.Events() {
			if e.Kind == ledger.KindRefresh && e.Outcome == ledger.OutcomeOK {
				n++
			}
		}
		return n
	}
	require.Eventually(t, func() bool {
		r := drv.Do(ctx, "d1", device.Request{Path: "/api/orders"})
		return r.Err == nil && r.Status == 200 && refreshed() == 1
	}, 10*time.Second, 300*time.Millisecond, "x/oauth2 refreshes through the RFC 6749 token endpoint once its token is due")

	// Refused before its Expiry: no refresh, no replay.
	be.ExpireAll()
	late := drv.Do(ctx, "d1", device.Request{Path: "/api/orders"})
	require.NoError(t, late.Err)
	assert.Equal(t, style.SignalExpired, spec.Classify(late.Status, late.Body), "the caller gets the 401 (correct-replay fails)")
	assert.Equal(t, 1, refreshed(), "no refresh on a 401")
}
