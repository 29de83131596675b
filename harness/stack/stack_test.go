package stack

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/mockwechat"
)

func TestStartServesBothOnLoopbackAndCloses(t *testing.T) {
	st, err := Start(context.Background(), Options{})
	require.NoError(t, err)
	for _, u := range []string{st.WechatURL, st.BackendURL} {
		assert.True(t, strings.HasPrefix(u, "http://127.0.0.1:"), u)
		resp, err := http.Get(u + "/metrics")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
	}
	env := st.Env()
	assert.Equal(t, st.BackendURL, env.BackendURL)
	assert.NotNil(t, env.Ledger)
	require.NoError(t, st.Close())
	_, err = http.Get(st.BackendURL + "/metrics")
	assert.Error(t, err, "closed")
}

// A fixed address still held by the previous stack is waited for, briefly.
func TestFixedAddressIsRetriedWhileBusy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	go func() { time.Sleep(300 * time.Millisecond); ln.Close() }()
	st, err := Start(context.Background(), Options{WechatAddr: addr})
	require.NoError(t, err)
	defer st.Close()
	assert.Equal(t, "http://"+addr, st.WechatURL)
}

func TestAddressHeldForGoodIsAnError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, err = Start(context.Background(), Options{WechatAddr: ln.Addr().String()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "mock WeChat: listen on "+ln.Addr().String())
}

// Busy: a request in flight, or an answer's Retry-After still running, means
// the client is still waiting on the servers.
func TestBusyWhileHandlingAndDuringRetryAfter(t *testing.T) {
	st, err := Start(context.Background(), Options{})
	require.NoError(t, err)
	defer st.Close()
	assert.False(t, st.Busy())
	release := make(chan struct{})
	h := st.counting(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		if r.URL.Path == "/busy" {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	done := make(chan struct{})
	go func() { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/slow", nil)); close(done) }()
	require.Eventually(t, st.Busy, time.Second, time.Millisecond)
	close(release)
	<-done
	assert.False(t, st.Busy())
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/busy", nil))
	assert.True(t, st.Busy(), "told to retry after 1s")
	require.Eventually(t, func() bool { return !st.Busy() }, 3*time.Second, 10*time.Millisecond)
}

// While the embedded backend serves a request carrying a pending call's
// request id (query rid or header X-Request-ID), the call waits on the
// servers; once answered, or for an id nobody waits on, nothing is marked.
func TestBackendMarksThePendingCallItServes(t *testing.T) {
	st, err := Start(context.Background(), Options{})
	require.NoError(t, err)
	defer st.Close()
	var byQuery, byHeader, other atomic.Int32
	st.Pending.Add("r1", &byQuery)
	st.Pending.Add("r2", &byHeader)
	st.Pending.Add("r3", &other)
	get := func(path, rid string) <-chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			req, err := http.NewRequest("GET", st.BackendURL+path, nil)
			if !assert.NoError(t, err) {
				return
			}
			if rid != "" {
				req.Header.Set("X-Request-ID", rid)
			}
			if resp, err := http.DefaultClient.Do(req); assert.NoError(t, err) {
				_ = resp.Body.Close()
			}
		}()
		return done
	}
	// delay_ms holds the backend's answer (an unauthenticated call is
	// refused after the delay too).
	d1 := get("/api/orders?rid=r1&delay_ms=400", "")
	d2 := get("/api/orders?delay_ms=400", "r2")
	require.Eventually(t, func() bool { return byQuery.Load() == 1 && byHeader.Load() == 1 }, 2*time.Second, time.Millisecond)
	assert.Zero(t, other.Load())
	<-d1
	<-d2
	assert.Zero(t, byQuery.Load(), "the answer was written: the mark is taken back")
	assert.Zero(t, byHeader.Load())
}

// A renewal carries no request id: while mock WeChat serves a device's
// wx.login, or the embedded backend its login (told by the code) or refresh
// (told by the token's subject), every pending call of that device waits on
// the servers, and no other device's.
func TestRenewalsMarkTheirDevicesCalls(t *testing.T) {
	st, err := Start(context.Background(), Options{})
	require.NoError(t, err)
	defer st.Close()
	var w1, w2 atomic.Int32
	st.Pending.Add("r1", &w1)
	st.Pending.Add("r2", &w2)
	d1 := func() bool { return st.Pending.RenewingFor("d1") }
	d2 := func() bool { return st.Pending.RenewingFor("d2") }
	post := func(url, body string) <-chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			resp, err := http.Post(url, "application/json", strings.NewReader(body))
			if assert.NoError(t, err) {
				_ = resp.Body.Close()
			}
		}()
		return done
	}
	watch := func(what string, done <-chan struct{}) {
		t.Helper()
		require.Eventually(t, d1, 2*time.Second, time.Millisecond, what)
		assert.False(t, d2(), what)
		<-done
		assert.False(t, d1(), what+": the mark is taken back")
	}
	require.NoError(t, st.Wechat.AddFault(mockwechat.Fault{API: mockwechat.APIWxLogin, Latency: 300 * time.Millisecond, Count: 1}))
	done := post(st.WechatURL+"/__mock/wx/login", `{"user":"d1"}`)
	watch("wx.login", done)

	code, err := st.Wechat.Login(st.AppID, "d1")
	require.NoError(t, err)
	require.NoError(t, st.Wechat.AddFault(mockwechat.Fault{API: mockwechat.APIJSCode2Session, Latency: 300 * time.Millisecond, Count: 1}))
	done = post(st.BackendURL+"/auth/login", `{"code":"`+code+`"}`)
	watch("login", done)

	end := st.renewing("", mockwechat.OpenID(st.AppID, "d1"))
	assert.True(t, d1(), "refresh by subject")
	assert.False(t, d2())
	end()
	assert.False(t, d1())
	st.renewing("", "o-nobody")()
	st.Pending.Drop("r1", &w1)
	st.Pending.Drop("r2", &w2)
	calls, devs := st.Pending.Len()
	assert.Zero(t, calls+devs)
}
