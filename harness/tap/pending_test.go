package tap_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/pending"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/tap"
)

// While the backend under test serves a request carrying a pending call's
// request id, that call waits on the servers; while it serves a login (the
// code tells the device) or a refresh of a family such a login started,
// every pending call of the device does; nothing stays marked after.
func TestTapMarksPendingCallsWhileTheBackendServes(t *testing.T) {
	hold := make(chan struct{}, 1)
	b := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-hold
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/auth/login" || r.URL.Path == "/auth/refresh" {
			_, _ = w.Write([]byte(`{"access_token":"a1","refresh_token":"rt-` + r.URL.Path[6:] + `","token_type":"Bearer","expires_in":60}`))
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	reg := pending.New()
	tp, err := tap.Start(context.Background(), tap.Config{Target: srv.URL, Style: style.MustLoad("bearer"), Pending: reg,
		DeviceOfCode: func(code string) string {
			if code == "c1" {
				return "d1"
			}
			return ""
		}})
	require.NoError(t, err)
	t.Cleanup(tp.Close)

	var w1, w2 atomic.Int32
	reg.Add("r1", &w1)
	reg.Add("r2", &w2)
	d1 := func() bool { return reg.RenewingFor("d1") }
	d2 := func() bool { return reg.RenewingFor("d2") }
	send := func(method, path, body string) <-chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			req, err := http.NewRequest(method, tp.URL+path, strings.NewReader(body))
			if !assert.NoError(t, err) {
				return
			}
			req.Header.Set("Content-Type", "application/json")
			if resp, err := http.DefaultClient.Do(req); assert.NoError(t, err) {
				_ = resp.Body.Close()
			}
		}()
		return done
	}
	step := func(what string, marked func() bool, done <-chan struct{}) {
		t.Helper()
		require.Eventually(t, marked, 2*time.Second, time.Millisecond, what)
		assert.Zero(t, w2.Load(), what)
		assert.False(t, d2(), what)
		hold <- struct{}{}
		<-done
		assert.False(t, marked(), what+": the mark is taken back")
	}
	step("request", func() bool { return w1.Load() > 0 }, send("GET", "/api/orders?rid=r1", ""))
	step("login", d1, send("POST", "/auth/login", `{"code":"c1"}`))
	step("refresh", d1, send("POST", "/auth/refresh", `{"refresh_token":"rt-login"}`))
	// A refresh token of the refresh's answer joins the family: still d1's.
	step("second refresh", d1, send("POST", "/auth/refresh", `{"refresh_token":"rt-refresh"}`))

	// A login whose code tells no device marks nothing.
	done := send("POST", "/auth/login", `{"code":"unknown"}`)
	time.Sleep(100 * time.Millisecond)
	assert.False(t, d1())
	assert.False(t, d2())
	hold <- struct{}{}
	<-done

	reg.Drop("r1", &w1)
	reg.Drop("r2", &w2)
	calls, devs := reg.Len()
	assert.Zero(t, calls+devs)
}
