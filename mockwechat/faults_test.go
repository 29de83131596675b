package mockwechat

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// loopback serves f.s on a real port.
func (f *fixture) loopback() *httptest.Server {
	ts := httptest.NewServer(f.s)
	// Close the mock first: it releases hung requests, which ts.Close waits for.
	f.t.Cleanup(func() { f.s.Close(); ts.Close() })
	return ts
}

func TestFaultErrcodeCount(t *testing.T) {
	f := newFixture(t)
	f.addFault(`{"api":"jscode2session","errcode":-1,"probability":1.0,"count":2}`)
	code := f.login("", "d1")
	for range 2 {
		rec := f.exchange(code)
		assert.Equal(t, ErrcodeSystemError, errcodeOf(t, rec))
		assert.True(t, strings.HasPrefix(decode(t, rec.Body.Bytes())["errmsg"].(string), "system error rid: "))
		assert.Equal(t, "text/plain", rec.Header().Get("Content-Type"))
	}
	assert.Equal(t, 0, errcodeOf(t, f.exchange(code)), "exactly 2 faults, then OK; a faulted call does not consume the code")

	evs := f.events(ledger.KindJSCode2Sess)
	require.Len(t, evs, 3)
	assert.Equal(t, ledger.OutcomeFault, evs[0].Outcome)
	assert.Equal(t, -1, evs[0].Errcode)
	assert.Equal(t, "d1", evs[0].Device)
	assert.Equal(t, ledger.OutcomeOK, evs[2].Outcome)
	faults := f.events(ledger.KindFault)
	require.Len(t, faults, 2)
	assert.Equal(t, APIJSCode2Session, faults[0].Route)
	assert.Equal(t, "f1 errcode=-1", faults[0].Detail)

	st := f.s.Stats()
	assert.Equal(t, int64(2), st.Faults[APIJSCode2Session])
	assert.Equal(t, int64(2), st.Errcodes[APIJSCode2Session][-1])

	list := f.s.Faults()
	require.Len(t, list, 1)
	assert.Equal(t, 2, list[0].Fired)
}

func TestFaultStatus(t *testing.T) {
	f := newFixture(t)
	f.addFault(`{"api":"cgi-bin/token","status":503,"count":1}`)
	rec := f.do(http.MethodGet, "/cgi-bin/token?grant_type=client_credential&appid="+DefaultAppID+"&secret="+DefaultSecret, "")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Contains(t, rec.Body.String(), "503 Service Unavailable")
	f.token()

	f.addFault(`{"api":"wx.login","status":502}`)
	rec = f.do(http.MethodPost, "/__mock/wx/login", `{"user":"d1"}`)
	assert.Equal(t, http.StatusBadGateway, rec.Code)
	assert.Contains(t, decode(t, rec.Body.Bytes())["error"], "502")
	assert.Equal(t, int64(1), f.s.Stats().Statuses[APIWxLogin][502])
}

func TestFaultWxLoginErrcode(t *testing.T) {
	f := newFixture(t)
	f.addFault(`{"api":"wx.login","errcode":-1}`)
	rec := f.do(http.MethodPost, "/__mock/wx/login", `{"user":"d1"}`)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	m := decode(t, rec.Body.Bytes())
	assert.Equal(t, "wx.login:fail system error", m["error"])
	assert.Equal(t, float64(-1), m["errcode"])
	assert.Empty(t, f.events(ledger.KindWxLogin), "no code minted")
	assert.Len(t, f.events(ledger.KindFault), 1)
}

func TestFaultUsersAndWildcard(t *testing.T) {
	f := newFixture(t)
	f.addFault(`{"api":"*","errcode":45011,"users":["d1"]}`)
	c2 := f.login("", "d2")
	f.sessionOf(c2)
	rec := f.do(http.MethodPost, "/__mock/wx/login", `{"user":"d1"}`)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "wx.login of d1 hit by the wildcard rule")
	// A code of d1 minted before the rule existed is refused by the rule too.
	f.s.ClearFaults()
	c1 := f.login("", "d1")
	f.addFault(`{"api":"jscode2session","errcode":45011,"users":["d1"]}`)
	assert.Equal(t, ErrcodeMinuteQuota, errcodeOf(t, f.exchange(c1)))
	// A request whose user is unknown does not match a users rule.
	assert.Equal(t, ErrcodeInvalidCode, errcodeOf(t, f.exchange("0unknown")))
	f.token()
}

func TestFaultProbability(t *testing.T) {
	f := newFixture(t)
	f.addFault(`{"api":"cgi-bin/token","errcode":-1,"probability":0.5}`)
	fired := 0
	for range 200 {
		rec := f.do(http.MethodGet, "/cgi-bin/token?grant_type=client_credential&appid="+DefaultAppID+"&secret="+DefaultSecret, "")
		if errcodeOf(t, rec) == -1 {
			fired++
		}
	}
	assert.Greater(t, fired, 50)
	assert.Less(t, fired, 150)
}

func TestFaultLatency(t *testing.T) {
	f := newFixture(t)
	f.addFault(`{"api":"jscode2session","latency":"60ms","count":1}`)
	code := f.login("", "d1")
	start := time.Now()
	assert.Equal(t, 0, errcodeOf(t, f.exchange(code)), "latency only: the request goes through")
	assert.GreaterOrEqual(t, time.Since(start), 60*time.Millisecond)

	f.addFault(`{"api":"checksession","latency_min":"20ms","latency_max":"40ms","errcode":-1,"count":1}`)
	start = time.Now()
	assert.Equal(t, -1, errcodeOf(t, f.do(http.MethodGet, "/wxa/checksession", "")))
	assert.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond)
	assert.Equal(t, "f2 errcode=-1 latency=", f.events(ledger.KindFault)[1].Detail[:len("f2 errcode=-1 latency=")])
}

func TestFaultLatencyClientGone(t *testing.T) {
	f := newFixture(t)
	f.addFault(`{"api":"jscode2session","latency":"10s"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req := httptest.NewRequest(http.MethodGet, jscodeURL(DefaultAppID, DefaultSecret, "x"), nil).WithContext(ctx)
	rec := httptest.NewRecorder()
	start := time.Now()
	f.s.ServeHTTP(rec, req)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Equal(t, int64(1), f.s.Stats().Statuses[APIJSCode2Session][0], "nothing answered")
}

func TestFaultReset(t *testing.T) {
	f := newFixture(t)
	ts := f.loopback()
	f.addFault(`{"api":"jscode2session","reset":true,"count":1}`)
	code := f.login("", "d1")
	_, err := ts.Client().Get(ts.URL + jscodeURL(DefaultAppID, DefaultSecret, code))
	require.Error(t, err, "the client sees a connection error")

	resp, err := ts.Client().Get(ts.URL + jscodeURL(DefaultAppID, DefaultSecret, code))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	assert.Equal(t, OpenID(DefaultAppID, "d1"), decode(t, b)["openid"], "server still serves; code not consumed")
	// The reset call is counted when its handler returns, which may be just
	// after the client already saw the connection die.
	assert.Eventually(t, func() bool { return f.s.Stats().Statuses[APIJSCode2Session][0] == 1 }, 5*time.Second, 5*time.Millisecond,
		"the reset answer is counted as status 0")

	// In-process (not hijackable) a reset degrades to 502.
	f.addFault(`{"api":"jscode2session","reset":true,"count":1}`)
	assert.Equal(t, http.StatusBadGateway, f.exchange(code).Code)
}

func TestFaultHangClientTimeout(t *testing.T) {
	f := newFixture(t)
	ts := f.loopback()
	f.addFault(`{"api":"jscode2session","hang":true}`)
	client := &http.Client{Timeout: 150 * time.Millisecond}
	start := time.Now()
	_, err := client.Get(ts.URL + jscodeURL(DefaultAppID, DefaultSecret, "x"))
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
	// The handler notices the client is gone and returns (stats record it).
	require.Eventually(t, func() bool { return f.s.Stats().Calls[APIJSCode2Session] == 1 }, 5*time.Second, 10*time.Millisecond)
}

func TestFaultHangReleasedByClose(t *testing.T) {
	f := newFixture(t)
	ts := f.loopback()
	f.addFault(`{"api":"checksession","hang":true,"hang_for":"5m"}`)
	errc := make(chan error, 1)
	go func() {
		resp, err := ts.Client().Get(ts.URL + "/wxa/checksession")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	require.Eventually(t, func() bool { return f.s.Stats().Faults[APICheckSession] == 1 }, 5*time.Second, 5*time.Millisecond)
	f.s.Close()
	select {
	case err := <-errc:
		assert.Error(t, err, "the connection is dropped")
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the hung request")
	}
	// After Close the server still serves (hangs now return at once).
	resp, err := ts.Client().Get(ts.URL + "/cgi-bin/token")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestFaultHangCap(t *testing.T) {
	f := newFixture(t)
	f.addFault(`{"api":"cgi-bin/token","hang":true,"hang_for":"30ms"}`)
	rec := f.do(http.MethodGet, "/cgi-bin/token", "")
	assert.Equal(t, http.StatusGatewayTimeout, rec.Code)
}

func TestFaultsConcurrentCount(t *testing.T) {
	f := newFixture(t)
	f.addFault(`{"api":"cgi-bin/token","errcode":-1,"count":7}`)
	var mu sync.Mutex
	fired := 0
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			rec := f.do(http.MethodGet, "/cgi-bin/token?grant_type=client_credential&appid="+DefaultAppID+"&secret="+DefaultSecret, "")
			if errcodeOf(t, rec) == -1 {
				mu.Lock()
				fired++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 7, fired)
}

func TestFaultAdminAPI(t *testing.T) {
	f := newFixture(t)
	rec := f.do(http.MethodPost, "/__admin/faults", `{"api":"jscode2session","errcode":-1,"status":0,"probability":1.0,"count":0,"latency":"200ms","latency_min":"10ms","latency_max":"500ms","reset":false,"hang":false,"users":["d1"]}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	assert.JSONEq(t, `{"id":"f1","api":"jscode2session","errcode":-1,"probability":1,"latency":"200ms","latency_min":"10ms","latency_max":"500ms","users":["d1"],"fired":0}`, rec.Body.String())

	id2 := f.addFault(`{"api":"*","hang":true,"hang_for":"1s"}`)
	assert.Equal(t, "f2", id2)

	rec = f.do(http.MethodGet, "/__admin/faults", "")
	var list struct{ Faults []Fault }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &list))
	require.Len(t, list.Faults, 2)
	assert.Equal(t, time.Second, list.Faults[1].HangFor, "listed rules decode back into Fault")

	rec = f.do(http.MethodGet, "/__admin/faults/f2", "")
	assert.Equal(t, "f2", decode(t, rec.Body.Bytes())["id"])

	rec = f.do(http.MethodDelete, "/__admin/faults/f2", "")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, http.StatusNotFound, f.do(http.MethodDelete, "/__admin/faults/f2", "").Code)
	assert.Equal(t, http.StatusNotFound, f.do(http.MethodGet, "/__admin/faults/f2", "").Code)

	rec = f.do(http.MethodDelete, "/__admin/faults", "")
	assert.JSONEq(t, `{"cleared":1}`, rec.Body.String())
	assert.Empty(t, f.s.Faults())

	// Exhausted rules stay listed.
	f.addFault(`{"api":"cgi-bin/token","errcode":-1,"count":1}`)
	f.do(http.MethodGet, "/cgi-bin/token", "")
	rec = f.do(http.MethodGet, "/__admin/faults", "")
	assert.Contains(t, rec.Body.String(), `"exhausted":true`)
}

func TestFaultValidation(t *testing.T) {
	f := newFixture(t)
	cases := []struct{ body, field string }{
		{`{"api":"jscode2session","errcode":-1,"latency":"abc"}`, "latency"},
		{`{"api":"jscode2session","errcode":-1,"latency_min":"1x"}`, "latency_min"},
		{`{"api":"jscode2session","errcode":-1,"latency_max":"-5ms"}`, "latency_max"},
		{`{"api":"jscode2session","errcode":-1,"latency":"11m"}`, "latency"},
		{`{"api":"jscode2session","errcode":-1,"probability":1.5}`, "probability"},
		{`{"api":"jscode2session","errcode":-1,"probability":-0.1}`, "probability"},
		{`{"api":"jscode2session","errcode":-1,"bogus":1}`, `"bogus"`},
		{`{"api":"jscode2session","errcode":-1,"id":"f9"}`, `"id"`},
		{`{"api":"nope","errcode":-1}`, "api"},
		{`{"errcode":-1}`, "api"},
		{`{"api":"jscode2session"}`, "no effect"},
		{`{"api":"jscode2session","errcode":-1,"status":503}`, "exclusive"},
		{`{"api":"jscode2session","reset":true,"hang":true}`, "exclusive"},
		{`{"api":"jscode2session","status":99}`, "status"},
		{`{"api":"jscode2session","errcode":-1,"count":-1}`, "count"},
		{`{"api":"jscode2session","errcode":-1,"count":1.5}`, "count"},
		{`{"api":"jscode2session","errcode":"x"}`, "errcode"},
		{`{"api":"jscode2session","errcode":-1,"hang_for":"1s"}`, "hang_for"},
		{`{"api":"jscode2session","latency_min":"10ms"}`, "latency_max"},
		{`{"api":"jscode2session","latency_min":"10ms","latency_max":"5ms"}`, "latency_max"},
		{`{"api":"jscode2session","errcode":-1,"users":[""]}`, "users[0]"},
		{`{"api":"jscode2session","errcode":-1,"users":"d1"}`, "users"},
		{`{"api":"jscode2session","errcode":-1}{}`, "after the JSON object"},
		{`[]`, "object"},
		{``, "empty body"},
	}
	for _, tc := range cases {
		t.Run(tc.body, func(t *testing.T) {
			rec := f.do(http.MethodPost, "/__admin/faults", tc.body)
			require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
			assert.Contains(t, decode(t, rec.Body.Bytes())["error"], tc.field)
		})
	}
	assert.Empty(t, f.s.Faults())
	assert.Error(t, f.s.AddFault(Fault{API: "jscode2session"}), "Go API validates too")
}

func TestFaultLatencyOnlyWxLoginStillMints(t *testing.T) {
	f := newFixture(t)
	f.addFault(`{"api":"wx.login","latency":"1ms"}`)
	code := f.login("", "d1")
	evs := f.events(ledger.KindWxLogin)
	require.Len(t, evs, 1, "a code minted after injected latency is still a wx.login event")
	assert.Equal(t, code, evs[0].Code)
	assert.Len(t, f.events(ledger.KindFault), 1)
	_, err := f.s.Login("", "d1")
	require.NoError(t, err)
	assert.Len(t, f.events(ledger.KindWxLogin), 2)
}
