package tap_test

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/tap"
)

// fake is a small bearer-style backend with strict rotation: each refresh
// token works once, and a reuse is refused. jwt makes its access tokens
// JWTs carrying a jti; slow holds login answers back.
type fake struct {
	mu      sync.Mutex
	n       int
	refresh map[string]bool // refresh token -> still usable
	jwt     bool
	slow    time.Duration
	effects atomic.Int64
}

func newFake() *fake { return &fake{refresh: map[string]bool{}} }

func (f *fake) tokens(w http.ResponseWriter) {
	f.mu.Lock()
	f.n++
	n := f.n
	rt := fmt.Sprintf("refresh-%d", n)
	f.refresh[rt] = true
	f.mu.Unlock()
	acc := fmt.Sprintf("opaque-access-%d", n)
	if f.jwt {
		payload, _ := json.Marshal(map[string]any{"jti": fmt.Sprintf("jti-%d", n), "sub": "user-1", "exp": time.Now().Add(time.Hour).Unix()})
		acc = "eyJhbGciOiJIUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(payload) + ".sig"
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": acc, "refresh_token": rt, "expires_in": 60})
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/auth/login":
		if f.slow > 0 {
			time.Sleep(f.slow)
		}
		f.tokens(w)
	case "/auth/refresh":
		var in struct {
			RefreshToken string `json:"refresh_token"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		f.mu.Lock()
		ok := f.refresh[in.RefreshToken]
		f.refresh[in.RefreshToken] = false
		f.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
			return
		}
		f.tokens(w)
	default:
		if r.Header.Get("Authorization") == "Bearer expired" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"token_expired"}`)
			return
		}
		b, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost {
			f.effects.Add(1)
		}
		http.SetCookie(w, &http.Cookie{Name: "seen", Value: "1"})
		_, _ = fmt.Fprintf(w, `{"len":%d}`, len(b))
	}
}

// through starts b behind a tap and returns the tap's URL and its ledger.
func through(t *testing.T, b http.Handler) (*tap.Server, *ledger.Ledger) {
	t.Helper()
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	led := ledger.New(ledger.Options{Memory: true})
	tp, err := tap.Start(context.Background(), tap.Config{Target: srv.URL, Style: style.MustLoad("bearer"), Ledger: led})
	require.NoError(t, err)
	t.Cleanup(tp.Close)
	return tp, led
}

type answer struct {
	status int
	body   map[string]any
	header http.Header
}

func call(t *testing.T, method, url, token, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	_ = json.NewDecoder(resp.Body).Decode(&a.body)
	return a
}

func kinds(led *ledger.Ledger, kind string) []ledger.Event {
	var out []ledger.Event
	for _, e := range led.Events() {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func TestRotationChainsOneFamilyAndAReuseIsAttributedToIt(t *testing.T) {
	tp, led := through(t, newFake())
	login := call(t, "POST", tp.URL+"/auth/login", "", `{"code":"c1"}`)
	require.Equal(t, 200, login.status)
	first := login.body["refresh_token"].(string)
	r1 := call(t, "POST", tp.URL+"/auth/refresh", "", `{"refresh_token":"`+first+`"}`)
	require.Equal(t, 200, r1.status)
	r2 := call(t, "POST", tp.URL+"/auth/refresh", "", `{"refresh_token":"`+r1.body["refresh_token"].(string)+`"}`)
	require.Equal(t, 200, r2.status)
	reuse := call(t, "POST", tp.URL+"/auth/refresh", "", `{"refresh_token":"`+first+`"}`)
	require.Equal(t, 401, reuse.status)
	again := call(t, "POST", tp.URL+"/auth/refresh", "", `{"refresh_token":"`+first+`"}`)
	require.Equal(t, 401, again.status)
	// A second login is a second family.
	other := call(t, "POST", tp.URL+"/auth/login", "", `{"code":"c2"}`)
	require.Equal(t, 200, other.status)

	logins := kinds(led, ledger.KindBackendLogin)
	require.Len(t, logins, 2)
	assert.Equal(t, "c1", logins[0].Code)
	assert.Equal(t, ledger.OutcomeOK, logins[0].Outcome)
	assert.NotEqual(t, logins[0].Family, logins[1].Family, "each login starts a family")
	assert.False(t, logins[0].Expires.IsZero(), "expires_in gives the expiry")

	refs := kinds(led, ledger.KindRefresh)
	require.Len(t, refs, 4)
	fam := logins[0].Family
	for i, e := range refs {
		assert.Equal(t, ledger.SourceBackend, e.Source)
		assert.Equal(t, fam, e.Family, "refresh %d belongs to the login's family", i)
	}
	assert.Equal(t, ledger.OutcomeOK, refs[0].Outcome)
	assert.Equal(t, ledger.OutcomeOK, refs[1].Outcome)
	assert.NotEqual(t, refs[0].Token, refs[1].Token, "each rotation presents the new refresh token")
	assert.Equal(t, refs[0].Token, refs[2].Token, "the reuse presents the first one again")
	assert.Equal(t, ledger.OutcomeReused, refs[2].Outcome)
	assert.Equal(t, ledger.OutcomeRevoked, refs[3].Outcome, "after a refused reuse the family counts as revoked")
	assert.NotEmpty(t, refs[0].Detail, "the new access token id")
	assert.True(t, strings.HasPrefix(refs[0].Token, "h-"), "an opaque token is named by a short hash, never itself: %s", refs[0].Token)
	for _, e := range led.Events() {
		assert.NotContains(t, e.Token+e.Detail, "refresh-", "no token in the ledger")
		assert.NotContains(t, e.Token+e.Detail, "opaque-access", "no token in the ledger")
	}
}

func TestJWTsAreNamedByTheirJTI(t *testing.T) {
	f := newFake()
	f.jwt = true
	tp, led := through(t, f)
	login := call(t, "POST", tp.URL+"/auth/login", "", `{"code":"c1"}`)
	acc := login.body["access_token"].(string)
	got := call(t, "GET", tp.URL+"/api/orders?rid=r-1", acc, "")
	require.Equal(t, 200, got.status)
	assert.Equal(t, "1", got.header.Get("Set-Cookie")[len("seen="):len("seen=")+1], "headers and cookies pass unchanged")

	l := kinds(led, ledger.KindBackendLogin)[0]
	assert.Equal(t, "jti-1", l.Token)
	assert.Equal(t, "user-1", l.Subject)
	api := kinds(led, ledger.KindAPI)
	require.Len(t, api, 1)
	assert.Equal(t, "jti-1", api[0].Token, "the api call carries the login's token, by the same name")
	assert.Equal(t, "r-1", api[0].RID)
	assert.Equal(t, ledger.OutcomeOK, api[0].Outcome)
}

func TestAPICallsEffectsAndExpirySignals(t *testing.T) {
	f := newFake()
	tp, led := through(t, f)
	req, _ := http.NewRequest("POST", tp.URL+"/api/orders", strings.NewReader(`{"sku":1}`))
	req.Header.Set("Authorization", "Bearer good")
	req.Header.Set("X-Request-ID", "r-7")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	exp := call(t, "POST", tp.URL+"/api/orders?rid=r-8", "expired", `{"sku":1}`)
	require.Equal(t, 401, exp.status)
	assert.Equal(t, "token_expired", exp.body["error"], "the answer passes unchanged")

	api := kinds(led, ledger.KindAPI)
	require.Len(t, api, 2)
	assert.Equal(t, "r-7", api[0].RID, "the rid from X-Request-ID")
	assert.Equal(t, ledger.HashBody([]byte(`{"sku":1}`)), api[0].BodyHash)
	assert.Equal(t, ledger.OutcomeOK, api[0].Outcome)
	assert.Equal(t, ledger.OutcomeExpired, api[1].Outcome)
	assert.Equal(t, 401, api[1].Status)
	sig, ok := style.NotedSignal(api[1].Detail)
	assert.True(t, ok)
	assert.Equal(t, style.SignalExpired, sig)
	effects := kinds(led, ledger.KindEffect)
	require.Len(t, effects, 1, "only the executed POST is an effect")
	assert.Equal(t, "r-7", effects[0].RID)
}

// A client that has gone before its login is answered never got the
// tokens: the tap finishes the call and records it undelivered.
func TestAClientThatLeavesBeforeTheAnswerIsUndelivered(t *testing.T) {
	f := newFake()
	f.slow = 300 * time.Millisecond
	tp, led := through(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", tp.URL+"/auth/login", strings.NewReader(`{"code":"c1"}`))
	_, err := http.DefaultClient.Do(req)
	require.Error(t, err)
	require.Eventually(t, func() bool { return len(kinds(led, ledger.KindUndelivered)) == 1 }, 3*time.Second, 10*time.Millisecond)
	l := kinds(led, ledger.KindBackendLogin)
	require.Len(t, l, 1)
	assert.Equal(t, ledger.OutcomeOK, l[0].Outcome, "the backend logged the device in")
	u := kinds(led, ledger.KindUndelivered)[0]
	assert.Equal(t, l[0].Token, u.Token)
	assert.Equal(t, l[0].Family, u.Family)
	login, _ := tp.Latency()
	assert.Equal(t, int64(1), login.Count)
	assert.GreaterOrEqual(t, login.P50, 250.0, "the round-trip to the backend is measured")
}

func TestMalformedAndHugeBodiesPassThrough(t *testing.T) {
	tp, led := through(t, newFake())
	for _, body := range []string{`{"code":`, `not json`, `{"code":1}`, ""} {
		a := call(t, "POST", tp.URL+"/auth/login", "", body)
		assert.Equal(t, 200, a.status, "the fake backend answers whatever it got")
		a = call(t, "POST", tp.URL+"/auth/refresh", "", body)
		assert.Equal(t, 401, a.status)
	}
	huge := bytes.Repeat([]byte("x"), 3<<20)
	a := call(t, "POST", tp.URL+"/api/upload?rid=big", "good", string(huge))
	require.Equal(t, 200, a.status)
	assert.Equal(t, float64(len(huge)), a.body["len"], "the whole body reached the backend")
	api := kinds(led, ledger.KindAPI)
	require.Len(t, api, 1)
	assert.Empty(t, api[0].BodyHash)
	assert.Contains(t, api[0].Detail, "not hashed")
	for _, e := range kinds(led, ledger.KindRefresh) {
		assert.Equal(t, "unknown", e.Token)
		assert.Equal(t, ledger.OutcomeInvalid, e.Outcome)
	}
	// Garbage tokens and headers are named, not parsed into a panic.
	for _, tok := range []string{"a.b.c", "x.eyJqdGkiOnt9fQ.y", "..", strings.Repeat("a.", 5000)} {
		call(t, "GET", tp.URL+"/api/x", tok, "")
	}
}

func TestAnUnreachableBackendIsABadGateway(t *testing.T) {
	led := ledger.New(ledger.Options{Memory: true})
	tp, err := tap.Start(context.Background(), tap.Config{Target: "http://127.0.0.1:1", Style: style.MustLoad("bearer"), Ledger: led})
	require.NoError(t, err)
	defer tp.Close()
	a := call(t, "POST", tp.URL+"/auth/login", "", `{"code":"c1"}`)
	assert.Equal(t, http.StatusBadGateway, a.status)
	l := kinds(led, ledger.KindBackendLogin)
	require.Len(t, l, 1)
	assert.Equal(t, ledger.OutcomeError, l[0].Outcome)

	_, err = tap.New(tap.Config{Target: "ftp://x", Style: style.MustLoad("bearer")})
	assert.ErrorContains(t, err, "not an http(s) URL")
}

// An answer of unknown length streams through: the client reads the first
// part before the backend has written the rest.
func TestStreamingAnswersAreNotHeldBack(t *testing.T) {
	release := make(chan struct{})
	// body-code tells success from expiry by a body member at HTTP 200:
	// still, a stream is not waited on.
	st := style.MustLoad("body-code")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "second\n")
	}))
	defer srv.Close()
	defer close(release)
	require.True(t, st.NeedsBody(200))
	tp, err := tap.Start(context.Background(), tap.Config{Target: srv.URL, Style: st, Ledger: ledger.New(ledger.Options{Memory: true})})
	require.NoError(t, err)
	defer tp.Close()
	req, _ := http.NewRequest("GET", tp.URL+st.ResourcePath("/api/feed"), nil)
	st.SetToken(req.Header, "good")
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Do(req) // a held-back answer times out

	require.NoError(t, err)
	defer resp.Body.Close()
	buf := make([]byte, 6)
	_, err = io.ReadFull(resp.Body, buf)
	require.NoError(t, err)
	assert.Equal(t, "first\n", string(buf))
}

// The backend sees its own Host and the client's headers, and no
// X-Forwarded-* of the tap's.
func TestTheBackendSeesTheRequestAsSent(t *testing.T) {
	var host, custom, fwd string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, custom, fwd = r.Host, r.Header.Get("X-Custom"), r.Header.Get("X-Forwarded-For")
	}))
	defer srv.Close()
	tp, err := tap.Start(context.Background(), tap.Config{Target: srv.URL, Style: style.MustLoad("bearer")})
	require.NoError(t, err)
	defer tp.Close()
	req, _ := http.NewRequest("GET", tp.URL+"/api/x", nil)
	req.Header.Set("X-Custom", "v")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, strings.TrimPrefix(srv.URL, "http://"), host)
	assert.Equal(t, "v", custom)
	assert.Empty(t, fwd)
}

// A protected call the client gives up on is cancelled at the backend too;
// the tap records no verdict it never saw.
func TestAProtectedCallTheClientAbandonsIsNotRecorded(t *testing.T) {
	cancelled := make(chan bool, 1)
	tp, led := through(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // net/http notices a closed connection once the body is read
		select {
		case <-r.Context().Done():
			cancelled <- true
		case <-time.After(3 * time.Second):
			cancelled <- false
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", tp.URL+"/api/orders?rid=gone", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer good")
	_, err := http.DefaultClient.Do(req)
	require.Error(t, err)
	assert.True(t, <-cancelled, "the backend's request was cancelled with the client's")
	time.Sleep(100 * time.Millisecond)
	assert.Empty(t, kinds(led, ledger.KindAPI))
}

// compressed encodes every answer with the codings enc (as listed in
// Content-Encoding, applied in that order) for a client that accepts them,
// as a backend behind nginx or a compression middleware does; the answer is
// buffered, so it has a known length. A coding it does not know is sent as
// named over the plain body (a backend's own scheme).
type compressed struct {
	enc  string
	next http.Handler
}

// encode cannot fail: it writes to memory with default settings.
func encode(coding string, b []byte) []byte {
	var buf bytes.Buffer
	var w io.WriteCloser
	switch coding {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	case "br":
		w = brotli.NewWriter(&buf)
	case "zstd":
		w, _ = zstd.NewWriter(&buf)
	default:
		return b
	}
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

func decode(t *testing.T, coding string, b []byte) []byte {
	var r io.Reader
	var err error
	switch coding {
	case "gzip":
		r, err = gzip.NewReader(bytes.NewReader(b))
	case "deflate":
		r, err = zlib.NewReader(bytes.NewReader(b))
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "zstd":
		r, err = zstd.NewReader(bytes.NewReader(b))
	default:
		return b
	}
	require.NoError(t, err)
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	return out
}

func (c compressed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	c.next.ServeHTTP(rec, r)
	b := rec.Body.Bytes()
	for _, coding := range strings.Split(c.enc, ", ") {
		b = encode(coding, b)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Encoding", c.enc)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(rec.Code)
	_, _ = w.Write(b)
}

// A client that accepts compression (Python requests, Node fetch, curl
// --compressed, browsers' br and zstd) gets its answers compressed by many
// backends: the tap still reads the tokens and signals in them, and
// forwards the answer compressed.
func TestCompressedAnswersAreReadAndForwardedCompressed(t *testing.T) {
	for _, enc := range []string{"gzip", "deflate", "br", "zstd", "gzip, br"} {
		t.Run(enc, func(t *testing.T) {
			f := newFake()
			f.jwt = true
			tp, led := through(t, compressed{enc, f})
			do := func(method, path, token, body string) (int, map[string]any) {
				req, err := http.NewRequest(method, tp.URL+path, strings.NewReader(body))
				require.NoError(t, err)
				req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd") // set by hand: Go then leaves the body compressed
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				require.Equal(t, enc, resp.Header.Get("Content-Encoding"), "forwarded as the backend sent it")
				b, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				codings := strings.Split(enc, ", ")
				for i := len(codings) - 1; i >= 0; i-- {
					b = decode(t, codings[i], b)
				}
				var out map[string]any
				require.NoError(t, json.Unmarshal(b, &out))
				return resp.StatusCode, out
			}
			status, login := do("POST", "/auth/login", "", `{"code":"c1"}`)
			require.Equal(t, 200, status)
			status, ref := do("POST", "/auth/refresh", "", `{"refresh_token":"`+login["refresh_token"].(string)+`"}`)
			require.Equal(t, 200, status)
			status, _ = do("POST", "/api/orders?rid=r-1", "expired", `{}`)
			require.Equal(t, 401, status)

			l := kinds(led, ledger.KindBackendLogin)
			require.Len(t, l, 1)
			assert.Equal(t, ledger.OutcomeOK, l[0].Outcome, "the login's tokens were read: %+v", l[0])
			assert.Equal(t, "jti-1", l[0].Token)
			r := kinds(led, ledger.KindRefresh)
			require.Len(t, r, 1)
			assert.Equal(t, ledger.OutcomeOK, r[0].Outcome, "%+v", r[0])
			assert.Equal(t, l[0].Family, r[0].Family, "the refresh token handed out at login was read")
			assert.NotEmpty(t, ref["access_token"])
			api := kinds(led, ledger.KindAPI)
			require.Len(t, api, 1)
			assert.Equal(t, ledger.OutcomeExpired, api[0].Outcome, "the expiry signal in a compressed body: %+v", api[0])
		})
	}
}

// An answer in a coding the tap cannot read is judged by its status, and
// the ledger says so: no silent misjudgement.
func TestAnUnknownCodingIsSaidInTheLedger(t *testing.T) {
	st := style.MustLoad("body-code")
	srv := httptest.NewServer(compressed{"x-custom", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"code":0,"token":"t"}`)
	})})
	defer srv.Close()
	led := ledger.New(ledger.Options{Memory: true})
	tp, err := tap.Start(context.Background(), tap.Config{Target: srv.URL, Style: st, Ledger: led})
	require.NoError(t, err)
	defer tp.Close()
	for _, path := range []string{st.Requests.Login.Path, st.ResourcePath("/api/orders?rid=r-1")} {
		req, err := http.NewRequest("POST", tp.URL+path, strings.NewReader(`{"code":"c1"}`))
		require.NoError(t, err)
		st.SetToken(req.Header, "good")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	l := kinds(led, ledger.KindBackendLogin)
	require.Len(t, l, 1)
	assert.Contains(t, l[0].Detail, `content encoding "x-custom" not read`, "%+v", l[0])
	api := kinds(led, ledger.KindAPI)
	require.Len(t, api, 1)
	assert.Contains(t, api[0].Detail, `content encoding "x-custom" not read`, "%+v", api[0])
	assert.Contains(t, api[0].Detail, "judged by its status")
}

// Many backends answer JSON without a Content-Length (Spring's
// @ResponseBody, anything that flushes): in a body-code style the expiry
// signal is in that body, and the tap reads it as it passes, recording the
// call by the time the client has the whole answer.
func TestAnswersOfUnknownLengthAreReadAsTheyPass(t *testing.T) {
	st := style.MustLoad("body-code")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.(http.Flusher).Flush() // headers first: the answer is chunked
		if r.Header.Get("X-Token") == "expired" {
			_, _ = io.WriteString(w, `{"code":10006,"msg":"token expired"}`)
			return
		}
		_, _ = io.WriteString(w, `{"code":0,`)
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, `"data":{"ok":true}}`)
	}))
	defer srv.Close()
	led := ledger.New(ledger.Options{Memory: true})
	tp, err := tap.Start(context.Background(), tap.Config{Target: srv.URL, Style: st, Ledger: led})
	require.NoError(t, err)
	defer tp.Close()
	do := func(method, token, rid string) string {
		req, err := http.NewRequest(method, tp.URL+st.ResourcePath("/api/orders?rid="+rid), strings.NewReader(`{"sku":1}`))
		require.NoError(t, err)
		st.SetToken(req.Header, token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.EqualValues(t, -1, resp.ContentLength, "the answer is chunked")
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b)
	}
	assert.Equal(t, `{"code":10006,"msg":"token expired"}`, do("POST", "expired", "r-1"), "the answer passes unchanged")
	api := kinds(led, ledger.KindAPI)
	require.Len(t, api, 1, "recorded by the time the client has the answer")
	assert.Equal(t, ledger.OutcomeExpired, api[0].Outcome, "%+v", api[0])
	assert.Equal(t, "r-1", api[0].RID)

	assert.Equal(t, `{"code":0,"data":{"ok":true}}`, do("POST", "good", "r-2"))
	api = kinds(led, ledger.KindAPI)
	require.Len(t, api, 2)
	assert.Equal(t, ledger.OutcomeOK, api[1].Outcome, "%+v", api[1])
	effects := kinds(led, ledger.KindEffect)
	require.Len(t, effects, 1, "the executed POST")
	assert.Equal(t, "r-2", effects[0].RID)
}

// A login the client gave up on is finished by the tap, but not after the
// tap is closed: Close ends it at the backend and returns once nothing of
// the tap runs any more, so nothing reaches the ledger afterwards.
func TestCloseEndsTheCallsTheTapFinishes(t *testing.T) {
	cancelled := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	led := ledger.New(ledger.Options{Memory: true})
	tp, err := tap.Start(context.Background(), tap.Config{Target: srv.URL, Style: style.MustLoad("bearer"), Ledger: led})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", tp.URL+"/auth/login", strings.NewReader(`{"code":"c1"}`))
	_, err = http.DefaultClient.Do(req)
	require.Error(t, err)
	time.Sleep(50 * time.Millisecond) // the tap goes on with the login
	began := time.Now()
	tp.Close()
	assert.Less(t, time.Since(began), 2*time.Second, "Close does not wait for the backend")
	select {
	case <-cancelled:
	case <-time.After(time.Second): // the backend notices the closed connection a moment later
		t.Fatal("the login was still running at the backend after Close returned")
	}
	n := len(led.Events())
	time.Sleep(100 * time.Millisecond)
	assert.Len(t, led.Events(), n, "nothing recorded after Close")
	assert.Empty(t, kinds(led, ledger.KindBackendLogin), "a call the tap itself ended has no verdict")
}

// A browser-based client sends a CORS preflight (OPTIONS) before every
// cross-origin call with an Authorization header. The reference backend
// routes by method too and records no call for it: neither does the tap, so
// a preflighted POST is one execution, not two, and a preflight is no
// failed login or refresh.
func TestMethodsTheRoutesDoNotTakePassUnrecorded(t *testing.T) {
	f := newFake()
	tp, led := through(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Origin", "*")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		f.ServeHTTP(w, r)
	}))
	for _, path := range []string{"/auth/login", "/auth/refresh", "/api/orders?rid=r-1"} {
		a := call(t, "OPTIONS", tp.URL+path, "", "")
		assert.Equal(t, http.StatusNoContent, a.status, "the preflight passes: %s", path)
	}
	call(t, "GET", tp.URL+"/auth/refresh", "", "") // refresh takes POST only
	a := call(t, "POST", tp.URL+"/api/orders?rid=r-1", "good", `{"sku":1}`)
	require.Equal(t, 200, a.status)

	assert.Empty(t, kinds(led, ledger.KindBackendLogin))
	assert.Empty(t, kinds(led, ledger.KindRefresh))
	api := kinds(led, ledger.KindAPI)
	require.Len(t, api, 1, "the POST only")
	assert.Equal(t, "POST", api[0].Method)
	assert.Len(t, kinds(led, ledger.KindEffect), 1, "one execution")
}

// A backend that keeps its refresh tokens (no rotation: the answer carries
// the same one, or none) is presented the same token at every refresh: that
// is no reuse, and a later refusal of it is no reuse either.
func TestAKeptRefreshTokenIsNoReuse(t *testing.T) {
	for _, same := range []bool{true, false} {
		refused := false
		tp, led := through(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if r.URL.Path == "/auth/refresh" && refused {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
				return
			}
			ans := map[string]any{"access_token": "acc-" + r.URL.Path, "expires_in": 60}
			if r.URL.Path == "/auth/login" || same {
				ans["refresh_token"] = "kept-refresh"
			}
			_ = json.NewEncoder(w).Encode(ans)
		}))
		call(t, "POST", tp.URL+"/auth/login", "", `{"code":"c1"}`)
		for range 3 {
			require.Equal(t, 200, call(t, "POST", tp.URL+"/auth/refresh", "", `{"refresh_token":"kept-refresh"}`).status)
		}
		refused = true
		require.Equal(t, 401, call(t, "POST", tp.URL+"/auth/refresh", "", `{"refresh_token":"kept-refresh"}`).status)
		refs := kinds(led, ledger.KindRefresh)
		require.Len(t, refs, 4)
		fam := kinds(led, ledger.KindBackendLogin)[0].Family
		for i, e := range refs[:3] {
			assert.Equal(t, ledger.OutcomeOK, e.Outcome)
			assert.Equal(t, fam, e.Family)
			assert.Zero(t, e.Attempt, "refresh %d (same token in the answer: %v) is no tolerated reuse", i, same)
		}
		assert.Equal(t, ledger.OutcomeInvalid, refs[3].Outcome, "a refused kept token is no reuse (same token in the answer: %v)", same)
	}
}

// A redirect the backend makes to its own address (Spring builds absolute
// Locations from the Host it sees, which is its own) is pointed back at the
// tap: the client follows it through the tap, and the call is recorded.
func TestRedirectsToTheBackendComeBackThroughTheTap(t *testing.T) {
	var self string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/old" {
			http.Redirect(w, r, self+"/api/new?rid=r-1", http.StatusFound)
			return
		}
		if r.URL.Path == "/base/api/old" {
			http.Redirect(w, r, self+"/base/api/new?rid=r-2", http.StatusFound)
			return
		}
		if r.URL.Path == "/elsewhere" {
			http.Redirect(w, r, "https://example.com/x", http.StatusFound)
			return
		}
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()
	self = srv.URL
	led := ledger.New(ledger.Options{Memory: true})
	tp, err := tap.Start(context.Background(), tap.Config{Target: srv.URL, Style: style.MustLoad("bearer"), Ledger: led})
	require.NoError(t, err)
	defer tp.Close()
	a := call(t, "GET", tp.URL+"/api/old", "good", "")
	require.Equal(t, 200, a.status)
	var routes []string
	for _, e := range kinds(led, ledger.KindAPI) {
		routes = append(routes, e.Route)
	}
	assert.Equal(t, []string{"/api/old", "/api/new"}, routes, "the redirected call came through the tap")

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(tp.URL + "/elsewhere")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "https://example.com/x", resp.Header.Get("Location"), "a redirect elsewhere is left alone")

	// A backend under a path: the tap adds it, so the Location loses it.
	based, err := tap.Start(context.Background(), tap.Config{Target: srv.URL + "/base/", Style: style.MustLoad("bearer")})
	require.NoError(t, err)
	defer based.Close()
	resp, err = noFollow.Get(based.URL + "/api/old")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, based.URL+"/api/new?rid=r-2", resp.Header.Get("Location"))
}

// A failing backend (a 503 under the storm) has given no verdict on the
// token: a rotated token it then refuses is a reuse, not a refusal in a
// family already revoked.
func TestABrokenAnswerIsNoVerdictOnTheToken(t *testing.T) {
	presented := 0
	tp, led := through(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/auth/login" {
			_, _ = io.WriteString(w, `{"access_token":"a1","refresh_token":"rt1","expires_in":60}`)
			return
		}
		presented++
		switch presented {
		case 1:
			_, _ = io.WriteString(w, `{"access_token":"a2","refresh_token":"rt2","expires_in":60}`)
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":"busy"}`)
		default:
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"invalid_grant"}`)
		}
	}))
	call(t, "POST", tp.URL+"/auth/login", "", `{"code":"c1"}`)
	for range 3 {
		call(t, "POST", tp.URL+"/auth/refresh", "", `{"refresh_token":"rt1"}`)
	}
	var outcomes []string
	for _, e := range kinds(led, ledger.KindRefresh) {
		outcomes = append(outcomes, e.Outcome)
	}
	assert.Equal(t, []string{ledger.OutcomeOK, ledger.OutcomeError, ledger.OutcomeReused}, outcomes)
}

// An upgraded connection (a WebSocket) through the tap is no server
// connection any more: Close does not wait for it to end.
func TestCloseDoesNotWaitForAnUpgradedConnection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.Copy(io.Discard, conn) // held open by the client
	}))
	defer srv.Close()
	tp, err := tap.Start(context.Background(), tap.Config{Target: srv.URL, Style: style.MustLoad("bearer")})
	require.NoError(t, err)
	req, _ := http.NewRequest("GET", tp.URL+"/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	defer resp.Body.Close()
	done := make(chan struct{})
	go func() { tp.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(4 * time.Second):
		t.Fatal("Close waited for the upgraded connection")
	}
}

// In a body-code style every answer is an HTTP 200 and what happened is its
// business code: a code the style does not name (a business error, an
// unread body) is not known to be executed, so it is no effect, and a
// retry that succeeds is no duplicate. Where the style tells success by
// status (bearer), a 2xx without a body is still executed.
func TestAnUnknownBusinessCodeIsNotAnExecutedCall(t *testing.T) {
	st := style.MustLoad("body-code")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Query().Get("rid") {
		case "out-of-stock":
			_, _ = io.WriteString(w, `{"code":20001,"msg":"out of stock"}`)
		case "no-body":
			w.WriteHeader(http.StatusCreated)
		case "big": // not read: judged by its status, as before
			_, _ = io.WriteString(w, `{"code":0,"data":"`+strings.Repeat("x", 70<<10)+`"}`)
		default:
			_, _ = io.WriteString(w, `{"code":0,"data":{}}`)
		}
	}))
	defer srv.Close()
	led := ledger.New(ledger.Options{Memory: true})
	tp, err := tap.Start(context.Background(), tap.Config{Target: srv.URL, Style: st, Ledger: led})
	require.NoError(t, err)
	defer tp.Close()
	post := func(rid string) {
		req, err := http.NewRequest("POST", tp.URL+st.ResourcePath("/api/orders?rid="+rid), strings.NewReader(`{"sku":1}`))
		require.NoError(t, err)
		st.SetToken(req.Header, "good")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	post("out-of-stock")
	post("ok")
	post("big")
	api := kinds(led, ledger.KindAPI)
	require.Len(t, api, 3)
	assert.Equal(t, ledger.OutcomeOK, api[2].Outcome, "%+v", api[2])
	assert.Contains(t, api[2].Detail, "judged by its status")
	assert.Equal(t, ledger.OutcomeError, api[0].Outcome, "%+v", api[0])
	assert.Contains(t, api[0].Detail, "not known to be executed")
	sig, _ := style.NotedSignal(api[0].Detail)
	assert.Equal(t, style.SignalNone, sig)
	assert.Equal(t, ledger.OutcomeOK, api[1].Outcome, "%+v", api[1])
	effects := kinds(led, ledger.KindEffect)
	require.Len(t, effects, 2, "only the calls answered with code 0 were executed")
	assert.Equal(t, "ok", effects[0].RID)

	// bearer: success is HTTP 200 by status alone; a 201 without a body
	// carries no refusal, and is executed.
	tp2, led2 := through(t, srv.Config.Handler)
	call(t, "POST", tp2.URL+"/api/orders?rid=no-body", "good", `{}`)
	require.Len(t, kinds(led2, ledger.KindEffect), 1)
}

// A compressed answer that expands hugely (a bomb, or just a big export) is
// decoded only as far as the tap reads answers: the client still gets all
// of it, and the tap records the call.
func TestCompressedAnswersAreDecodedBounded(t *testing.T) {
	huge := bytes.Repeat([]byte{' '}, 4<<20) // 64 times what the tap reads
	for _, enc := range []string{"br", "zstd", "gzip"} {
		t.Run(enc, func(t *testing.T) {
			bomb := encode(enc, huge)
			out, note := tap.Decoded(enc, bomb)
			assert.Empty(t, note)
			assert.Len(t, out, tap.MaxAnswer, "decoded as far as the tap reads")
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", enc)
				w.Header().Set("Content-Length", strconv.Itoa(len(bomb)))
				_, _ = w.Write(bomb)
			}))
			defer srv.Close()
			led := ledger.New(ledger.Options{Memory: true})
			tp, err := tap.Start(context.Background(), tap.Config{Target: srv.URL, Style: style.MustLoad("bearer"), Ledger: led})
			require.NoError(t, err)
			defer tp.Close()
			req, err := http.NewRequest("POST", tp.URL+"/auth/login", strings.NewReader(`{"code":"c1"}`))
			require.NoError(t, err)
			req.Header.Set("Accept-Encoding", enc)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			assert.EqualValues(t, len(bomb), n, "forwarded whole")
			l := kinds(led, ledger.KindBackendLogin)
			require.Len(t, l, 1)
			assert.Equal(t, ledger.OutcomeError, l[0].Outcome, "no tokens in it: %+v", l[0])
		})
	}
}

// winnerLast holds back a successful refresh answer, so that the losers of
// a race to rotate a token are answered first.
type winnerLast struct{ next http.Handler }

func (h winnerLast) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	h.next.ServeHTTP(rec, r)
	if r.URL.Path == "/auth/refresh" && rec.Code == http.StatusOK {
		time.Sleep(300 * time.Millisecond)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// Under strict rotation, requests racing to refresh with the same token
// all but one get refused: those refusals are reuses of the token, even
// when they reach the tap before the winner's answer does.
func TestTheLosersOfARefreshRaceAreReuses(t *testing.T) {
	tp, led := through(t, winnerLast{newFake()})
	login := call(t, "POST", tp.URL+"/auth/login", "", `{"code":"c1"}`)
	body := `{"refresh_token":"` + login.body["refresh_token"].(string) + `"}`
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { call(t, "POST", tp.URL+"/auth/refresh", "", body) })
	}
	wg.Wait()
	r := kinds(led, ledger.KindRefresh)
	require.Len(t, r, 4)
	byOutcome := map[string]int{}
	for _, e := range r {
		byOutcome[e.Outcome]++
		assert.Equal(t, r[0].Token, e.Token)
	}
	assert.Equal(t, ledger.OutcomeReused, r[0].Outcome, "the first loser, answered before the winner: %+v", r[0])
	assert.Contains(t, r[0].Detail, "in flight")
	assert.Equal(t, ledger.OutcomeOK, r[3].Outcome, "the winner, answered last")
	assert.Equal(t, map[string]int{ledger.OutcomeOK: 1, ledger.OutcomeReused: 1, ledger.OutcomeRevoked: 2}, byOutcome,
		"as the reference backend writes a strict race: ok, reused, then revoked")
	assert.Zero(t, byOutcome[ledger.OutcomeInvalid])
}

// The tap remembers a bounded number of refresh tokens: a refusal of one it
// no longer knows is "unknown", not a guessed "invalid"; before it has
// forgotten any, a token it never saw is invalid.
func TestAForgottenRefreshTokenIsUnknownNotInvalid(t *testing.T) {
	defer tap.ShortenMemory(2)()
	tp, led := through(t, newFake())
	refresh := func(tok string) {
		call(t, "POST", tp.URL+"/auth/refresh", "", `{"refresh_token":"`+tok+`"}`)
	}
	refresh("never-issued")
	first := call(t, "POST", tp.URL+"/auth/login", "", `{"code":"c0"}`).body["refresh_token"].(string)
	for i := range 6 {
		call(t, "POST", tp.URL+"/auth/login", "", fmt.Sprintf(`{"code":"c%d"}`, i+1))
	}
	refresh(first) // accepted by the backend: rotated
	refresh(first) // a reuse, of a token the tap forgot
	r := kinds(led, ledger.KindRefresh)
	require.Len(t, r, 3)
	assert.Equal(t, ledger.OutcomeInvalid, r[0].Outcome, "nothing forgotten yet: %+v", r[0])
	assert.Equal(t, ledger.OutcomeOK, r[1].Outcome)
	assert.Equal(t, ledger.OutcomeUnknown, r[2].Outcome, "%+v", r[2])
	assert.Contains(t, r[2].Detail, "not remembered")
}
