package backend

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

const (
	testAppID  = "wx7e57570c3e5a1b2c"
	testSecret = "tokenstorm-secret-0123456789abcdef"
	wxBase     = "http://wx.test"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// openid is the fake WeChat's stable openid of a user.
func openid(user string) string {
	sum := sha256.Sum256([]byte(testAppID + "/" + user))
	return "o" + hex.EncodeToString(sum[:])[:27]
}

// fakeWechat is a tiny in-process jscode2session: code "<user>.<nonce>" logs
// user in once (a second use is 40163), code "err.<N>" answers errcode N.
// The real mock lives in mockwechat/; this one keeps unit tests independent.
type fakeWechat struct {
	mu    sync.Mutex
	used  map[string]bool
	calls atomic.Int64
}

func newFakeWechat() *fakeWechat { return &fakeWechat{used: map[string]bool{}} }

// reset forgets the used codes.
func (f *fakeWechat) reset() {
	f.mu.Lock()
	f.used = map[string]bool{}
	f.mu.Unlock()
}

func (f *fakeWechat) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	w.Header().Set("Content-Type", "text/plain")
	q := r.URL.Query()
	answer := func(code int, msg string) {
		fmt.Fprintf(w, `{"errcode":%d,"errmsg":"%s rid: 1"}`, code, msg)
	}
	switch {
	case r.URL.Path != "/sns/jscode2session":
		http.NotFound(w, r)
	case q.Get("appid") != testAppID:
		answer(40013, "invalid appid")
	case q.Get("secret") != testSecret:
		answer(40125, "invalid appsecret")
	case q.Get("grant_type") != "authorization_code":
		answer(40002, "invalid grant_type")
	default:
		code := q.Get("js_code")
		user, nonce, _ := strings.Cut(code, ".")
		if user == "err" {
			n, _ := strconv.Atoi(nonce)
			answer(n, "injected")
			return
		}
		f.mu.Lock()
		used := f.used[code]
		f.used[code] = true
		f.mu.Unlock()
		if used {
			answer(40163, "code been used")
			return
		}
		fmt.Fprintf(w, `{"session_key":"sk-%s","openid":"%s"}`, nonce, openid(user))
	}
}

// handlerTransport serves outbound requests from an in-process handler: a
// fast fake WeChat with no sockets.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

type tenv struct {
	t   testing.TB
	s   *Server
	clk *clock.Manual
	led *ledger.Ledger
	wx  *fakeWechat
}

// newEnv returns a backend on a manual clock with a memory ledger and the
// in-process fake WeChat; cfg fields set by the caller win.
func newEnv(t testing.TB, cfg Config) *tenv {
	t.Helper()
	e := &tenv{t: t, clk: clock.NewManual(t0), wx: newFakeWechat()}
	e.led = ledger.New(ledger.Options{Memory: true, Clock: e.clk})
	if cfg.WechatURL == "" {
		cfg.WechatURL = wxBase
	}
	if cfg.AppID == "" {
		cfg.AppID, cfg.Secret = testAppID, testSecret
	}
	if cfg.Clock == nil {
		cfg.Clock = e.clk
	}
	if cfg.Ledger == nil {
		cfg.Ledger = e.led
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: handlerTransport{e.wx}}
	}
	s, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	e.s = s
	return e
}

// do sends a request to the backend; hdr are "Key: value" pairs.
func (e *tenv) do(method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, path, nil)
	} else {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ":")
		r.Header.Add(k, strings.TrimSpace(v))
	}
	w := httptest.NewRecorder()
	e.s.ServeHTTP(w, r)
	return w
}

func bearer(tok string) string { return "Authorization: Bearer " + tok }

type pair struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
}

var nonce atomic.Int64

// login logs user in with a fresh code and returns the token pair.
func (e *tenv) login(user string) pair {
	e.t.Helper()
	w := e.do("POST", "/auth/login", fmt.Sprintf(`{"code":"%s.%d"}`, user, nonce.Add(1)))
	require.Equal(e.t, 200, w.Code, w.Body.String())
	var p pair
	require.NoError(e.t, json.Unmarshal(w.Body.Bytes(), &p))
	require.NotEmpty(e.t, p.Access)
	return p
}

func (e *tenv) refresh(rt string) *httptest.ResponseRecorder {
	return e.do("POST", "/auth/refresh", fmt.Sprintf(`{"refresh_token":%q}`, rt))
}

func decodePair(t testing.TB, w *httptest.ResponseRecorder) pair {
	t.Helper()
	require.Equal(t, 200, w.Code, w.Body.String())
	var p pair
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
	return p
}

// expectJSON asserts status and exact JSON body.
func expectJSON(t testing.TB, w *httptest.ResponseRecorder, status int, body string) {
	t.Helper()
	assert.Equal(t, status, w.Code, w.Body.String())
	assert.JSONEq(t, body, w.Body.String())
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
}

// events returns the ledger events of one kind.
func (e *tenv) events(kind string) []ledger.Event {
	var out []ledger.Event
	for _, ev := range e.led.Events() {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

func (e *tenv) lastEvent(kind string) ledger.Event {
	e.t.Helper()
	evs := e.events(kind)
	require.NotEmpty(e.t, evs, "no %s event", kind)
	return evs[len(evs)-1]
}

const (
	expiredBody      = `{"error":"token_expired"}`
	invalidBody      = `{"error":"invalid_token"}`
	expiredChallenge = `Bearer error="invalid_token", error_description="The access token expired"`
	invalidChallenge = `Bearer error="invalid_token", error_description="The access token is invalid"`
)
