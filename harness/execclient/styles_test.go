package execclient

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/backend"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/conform"
	"github.com/tokenstorm/tokenstorm/harness/device"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/storm"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/summary"
	"github.com/tokenstorm/tokenstorm/mockwechat"
)

// TestGoExampleClientEveryStyle runs the client scenarios of `tokenstorm
// conform` and a short storm against the reference backend in every built-in
// style with examples/exec/go, which learns the style from the hello's
// style_spec (issue 7: every built-in style with the Go exec client).
func TestGoExampleClientEveryStyle(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the conform suite and a storm per style take a while")
	}
	// Every built-in, and v2 shapes the built-ins do not show (nested
	// members with value lists, a code in a header with any-of signals,
	// cookies both ways): all from style_spec, no code per style.
	shapes := []string{"nested-token", "code-header", "cookies"}
	styles := style.Names()
	for _, sh := range shapes {
		styles = append(styles, "../../examples/styles/"+sh+".yaml")
	}
	everyStyle(t, "exec:go", goClient(t), styles)
}

// TestNodeExampleClientEveryStyle is the same table with
// examples/exec/node/client.mjs, which reads the same style_spec.
func TestNodeExampleClientEveryStyle(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the conform suite and a storm per style take a while")
	}
	var v1, v2 []string
	for _, name := range style.Names() {
		if style.MustLoad(name).NeedsV2() == "" {
			v1 = append(v1, name)
		} else {
			v2 = append(v2, name)
		}
	}
	require.NotEmpty(t, v2)
	everyStyle(t, "exec:node", nodeClient(t, "node"), v1)
	// The Node example speaks protocol 1: a style that needs format v2 is
	// refused at start with one clear line, never misread.
	for _, name := range v2 {
		env := testEnv
		env.Style = name
		_, err := New(context.Background(), nodeClient(t, "node"), env, Options{})
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "expected a protocol 1 hello", name)
	}
}

// everyStyle runs the @client conform scenarios and shortStorm with the exec
// client cmd in each built-in style, and asserts that every verdict passes.
func everyStyle(t *testing.T, clientName, cmd string, styles []string) {
	t.Helper()
	newClient := func(env client.Env) (client.Client, error) {
		return New(context.Background(), cmd, env, Options{})
	}
	for _, name := range styles {
		t.Run(filepath.Base(name), func(t *testing.T) {
			t.Run("conform", func(t *testing.T) {
				start := time.Now()
				res, err := conform.Run(context.Background(), conform.Options{
					NewClient: newClient, ClientName: clientName, Style: name, Tags: "@client",
				})
				require.NoError(t, err)
				for _, sc := range res.Scenarios {
					if sc.Verdict == summary.Fail {
						t.Errorf("%s: failed %v: %s", sc.Name, sc.Failed, sc.Detail)
					}
				}
				t.Logf("%s %s: %d passed, %d failed, %d skipped in %s", clientName, name, res.Passed, res.Failed, res.Skipped, time.Since(start).Round(time.Millisecond))
				assert.Zero(t, res.Failed)
				assert.Positive(t, res.Passed)
			})
			t.Run("storm", func(t *testing.T) {
				s, err := storm.Run(context.Background(), shortStorm(t), storm.Options{
					NewClient: newClient, ClientName: clientName, Style: name,
				})
				require.NoError(t, err)
				t.Logf("%s %s: verdict %s; requests %+v refresh %+v", clientName, name, s.Verdict, s.Requests, s.Refresh)
				assert.Equal(t, summary.Pass, s.Verdict, "failed invariants %v; thresholds %+v; scenarios %+v", s.FailedInvariants(), s.Thresholds, s.Scenarios)
				assert.Zero(t, s.Requests.Lost)
				assert.Positive(t, s.Refresh.Refreshes+s.Refresh.Logins, "the expiry made the devices renew")
			})
		})
	}
}

// shortStorm is the shipped synchronized-expiry storm shrunk to 20 devices
// and 2 s, expiring every token after 1 s. The latency threshold is dropped:
// under -race on two cores, and with single-use tokens (one request at a time
// per device), latency is not what this test is about.
func shortStorm(t *testing.T) *storm.Scenario {
	t.Helper()
	sc := storm.Default()
	sc.Devices = 20
	sc.Rate = storm.Rate{Pacer: "constant", Freq: 300, Per: time.Second}
	sc.Duration = 2 * time.Second
	require.NotEmpty(t, sc.Timeline)
	sc.Timeline[0].At = time.Second
	var keep []storm.Threshold
	for _, th := range sc.Thresholds {
		if th.Metric != "latency.p99" {
			keep = append(keep, th)
		}
	}
	sc.Thresholds = keep
	return sc
}

// TestExampleClientsShareAFailedRenewal checks what the conform suite cannot
// tell apart: with single-use tokens (rotating) a device's requests queue one
// behind the other, so they cannot join a renewal in flight; after a renewal
// failed, the queued ones must get its error (the examples remember it for 1 s)
// instead of each logging in again.
func TestExampleClientsShareAFailedRenewal(t *testing.T) {
	for _, ex := range []struct {
		name string
		cmd  func(t *testing.T) string
	}{
		{"go", goClient},
		{"node", func(t *testing.T) string { return nodeClient(t, "node") }},
	} {
		t.Run(ex.name, func(t *testing.T) {
			cmd := ex.cmd(t)
			l := ledger.New(ledger.Options{Memory: true})
			wx := mockwechat.New(mockwechat.Config{Clock: clock.Real(), Ledger: l})
			wxSrv := httptest.NewServer(wx)
			t.Cleanup(wxSrv.Close)
			b, err := backend.New(backend.Config{WechatURL: wxSrv.URL, AppID: mockwechat.DefaultAppID,
				Secret: mockwechat.DefaultSecret, Ledger: l, Style: "rotating"})
			require.NoError(t, err)
			bSrv := httptest.NewServer(b)
			t.Cleanup(func() {
				bSrv.Close()
				_ = b.Close()
			})
			env := client.Env{BackendURL: bSrv.URL, WechatURL: wxSrv.URL, AppID: mockwechat.DefaultAppID, Ledger: l, Style: "rotating"}
			c, err := New(context.Background(), cmd, env, Options{Stderr: testWriter{t}})
			require.NoError(t, err)
			defer func() { assert.NoError(t, c.Close()) }()
			drv := &device.Driver{Client: c, Ledger: l, Deadline: 15 * time.Second}
			ctx := context.Background()

			first := drv.Do(ctx, "d1", device.Request{Path: "/api/profile"})
			require.NoError(t, first.Err)
			require.Equal(t, 200, first.Status, string(first.Body))

			// The refresh token is dead and WeChat is down: the renewal fails.
			b.RevokeAll()
			b.ExpireAll()
			require.NoError(t, wx.AddFault(mockwechat.Fault{API: "jscode2session", Errcode: -1}))
			mark := l.Len()

			const n = 4
			outcomes := make([]device.Outcome, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					outcomes[i] = drv.Do(ctx, "d1", device.Request{Path: fmt.Sprintf("/api/orders?page=%d", i)})
				}()
			}
			wg.Wait()
			for i, o := range outcomes {
				assert.Error(t, o.Err, "call %d got HTTP %d %s instead of the renewal's error", i, o.Status, o.Body)
			}
			wxLogins := 0
			_ = l.Scan(func(e ledger.Event) error {
				if e.Seq > mark && e.Kind == ledger.KindWxLogin {
					wxLogins++
				}
				return nil
			})
			assert.Equal(t, 1, wxLogins, "one failed re-login shared by the %d queued requests", n)
			assert.Empty(t, c.Errors())
		})
	}
}
