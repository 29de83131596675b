// Package tap is a recording reverse proxy placed between a client under
// test and a backend under test. The client is given the tap's URL as its
// backend; every request and answer passes through unchanged (streaming,
// headers, cookies, status), and the tap writes to the run's ledger the
// backend-side events the reference backend would have written (login,
// refresh, api, verify, effect, undelivered; harness/backend), read from the
// wire with the run's style. So a storm against a backend someone else
// wrote is judged from the backend side too: single-refresh, correct-replay
// and no-duplicate-effects (docs/ci.md).
//
// The tap also measures the login and refresh round-trips to the backend
// (Latency): the backend's latency under the storm.
package tap

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/tokenstorm/tokenstorm/harness/backend"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/latency"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/pending"
	"github.com/tokenstorm/tokenstorm/harness/stack"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// Config says what the tap forwards to and records with.
type Config struct {
	// Target is the base URL of the backend under test. Required.
	Target string
	// Style is the backend's dialect: routes, token places, signals. Required.
	Style *style.Style
	// Ledger receives the backend-side events; nil records nothing (the
	// tap still forwards and measures).
	Ledger *ledger.Ledger
	// Clock stamps the events (the stack's clock, so they line up with the
	// other events of the run); default real time. Latency is always
	// measured in real time.
	Clock clock.Clock
	// Transport forwards to the backend; default a keep-alive transport
	// sized for a storm.
	Transport http.RoundTripper
	// TokenCallTimeout bounds a login or refresh call to the backend. Such a
	// call is finished even when the client has gone (it is then recorded
	// undelivered, as the reference backend does). Default 60s.
	TokenCallTimeout time.Duration
	// Pending, when set, is the register of the calls the device driver
	// waits on (stack.Stack.Pending): while the backend under test serves a
	// request carrying a pending call's request id, the call waits on the
	// servers; and while it serves a login or a refresh of the call's
	// device, when the tap can tell whose it is: a login by its wx.login
	// code (DeviceOfCode), a refresh by the family its token belongs to
	// (started by such a login).
	Pending *pending.Register
	// DeviceOfCode is the device a wx.login code was minted for, "" when
	// unknown (the stack's mock WeChat: mockwechat.Server.UserOfCode).
	DeviceOfCode func(code string) string
}

// Tap is the recording proxy, an http.Handler safe for concurrent use.
type Tap struct {
	cfg    Config
	st     *style.Style
	clock  clock.Clock
	rec    ledger.Recorder // the backend-side events
	proxy  *httputil.ReverseProxy
	fams   *families
	login  latency.Histogram
	refr   latency.Histogram
	ownsTr *http.Transport
	target *url.URL
	// stop ends the calls the tap finishes for a client that has gone
	// (Close); running counts the requests being handled, for Close to
	// wait on (not a WaitGroup: a request may still come in while Close
	// waits).
	stop    context.Context
	stopped context.CancelFunc
	running struct {
		sync.Mutex
		n    int
		none chan struct{} // closed when n drops to 0, while Close waits
	}
}

// Limits: how much of a request or answer the tap holds to read it. A
// request body over maxRequestBody is forwarded unread (no body hash); an
// answer is read up to maxAnswer bytes, the rest streams through.
const (
	maxRequestBody = backend.MaxBody
	maxAnswer      = 64 << 10
)

// familyGeneration bounds the refresh token ids remembered (two
// generations of this many; a variable for the tests to shorten).
var familyGeneration = 1 << 17

// closeWait bounds how long Close waits for the requests being handled.
const closeWait = time.Second

// New returns a Tap forwarding to cfg.Target.
func New(cfg Config) (*Tap, error) {
	if cfg.Style == nil {
		return nil, errors.New("tap: Config.Style is required")
	}
	target, err := url.Parse(strings.TrimSuffix(cfg.Target, "/"))
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return nil, fmt.Errorf("tap: backend URL %q is not an http(s) URL", cfg.Target)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.TokenCallTimeout <= 0 {
		cfg.TokenCallTimeout = 60 * time.Second
	}
	t := &Tap{cfg: cfg, st: cfg.Style, clock: cfg.Clock, rec: ledger.Recorder{Ledger: cfg.Ledger, Source: ledger.SourceBackend, Clock: cfg.Clock}, fams: newFamilies(familyGeneration)}
	t.stop, t.stopped = context.WithCancel(context.Background())
	t.target = target
	tr := cfg.Transport
	if tr == nil {
		t.ownsTr = http.DefaultTransport.(*http.Transport).Clone()
		t.ownsTr.MaxIdleConns, t.ownsTr.MaxIdleConnsPerHost, t.ownsTr.MaxConnsPerHost = 1024, 1024, 1024
		t.ownsTr.DisableCompression = true // forward bodies as they are
		tr = t.ownsTr
	}
	t.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// The backend sees its own Host, as from a client talking to it
			// directly; the rest of the request is forwarded as it came
			// (no X-Forwarded-* added, hop-by-hop headers dropped).
			pr.SetURL(target)
			switch x := exchangeOf(pr.In.Context()); {
			case x == nil: // for answered to know how the client reached the tap
				pr.Out = pr.Out.WithContext(context.WithValue(pr.Out.Context(), inKey{}, pr.In))
			case x.detach != nil:
				pr.Out = pr.Out.WithContext(x.detach)
			}
		},
		Transport: tr,
		// FlushInterval 0: answers of unknown length (chunked, event
		// streams, long polls) are still flushed at every write by the
		// proxy; answers of known length are copied without flushes.
		ModifyResponse: t.answered,
		ErrorHandler:   t.failed,
		ErrorLog:       discardLog,
		BufferPool:     copyBuffers{},
	}
	return t, nil
}

// copyBuffers reuses the proxy's copy buffers: otherwise each answer
// allocates 32 KiB, most of the tap's cost per request.
type copyBuffers struct{}

var copyPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (copyBuffers) Get() []byte  { return *(copyPool.Get().(*[]byte)) }
func (copyBuffers) Put(b []byte) { copyPool.Put(&b) }

// Latency is what the tap measured of the backend's login and refresh
// round-trips (answered calls, whatever their verdict).
func (t *Tap) Latency() (login, refresh summary.CallLatency) {
	return summary.CallLatencyOf(&t.login), summary.CallLatencyOf(&t.refr)
}

// Close ends the login and refresh calls the tap is finishing for clients
// that have gone (they are not recorded), waits for the requests being
// handled to return (at most closeWait), and releases the tap's idle connections to the
// backend. Whoever serves the Tap stops serving first (Server.Close does).
func (t *Tap) Close() {
	t.stopped()
	t.running.Lock()
	if t.running.n == 0 {
		t.running.Unlock()
	} else {
		none := make(chan struct{})
		t.running.none = none
		t.running.Unlock()
		// Bounded: an upgraded connection (a WebSocket) passing through
		// runs until one side closes it, and records nothing more.
		select {
		case <-none:
		case <-time.After(closeWait):
		}
	}
	if t.ownsTr != nil {
		t.ownsTr.CloseIdleConnections()
	}
}

// Route kinds the tap tells apart.
const (
	routeOther = iota
	routeLogin
	routeRefresh
	routeVerify
	routeAPI
)

// routeOf classifies a request with the style, as the reference backend
// routes: a method the route does not take (a CORS preflight's OPTIONS, a
// GET to a POST route) is no call of that route, and passes unrecorded.
func (t *Tap) routeOf(method, path string) int {
	rq := &t.st.Requests
	route := routeOther
	var methods []string
	switch {
	case path == rq.Login.Path:
		route, methods = routeLogin, rq.Login.Methods()
	case rq.Refresh.Path != "" && path == rq.Refresh.Path:
		route, methods = routeRefresh, rq.Refresh.Methods()
	case rq.Verify.Path != "" && path == rq.Verify.Path:
		route, methods = routeVerify, rq.Verify.Methods()
	case strings.HasPrefix(path, t.st.Routes.Resource):
		if backend.IsAPIMethod(method) {
			return routeAPI
		}
		return routeOther
	}
	if methods != nil && !slices.Contains(methods, method) {
		return routeOther
	}
	return route
}

// exchange is one request through the tap: what ServeHTTP learnt of the
// request, for answered/failed to record with the answer.
type exchange struct {
	route    int
	in       *http.Request
	body     []byte // the request body, when it was read (<= maxRequestBody)
	bodyOver bool   // the body was larger and forwarded unread
	start    time.Time
	detach   context.Context // login/refresh: the backend call outlives the client
	device   string          // login: whose code it presents, when known
	ok       ledger.Event    // a successful login/refresh recorded
	// presented is the id of the refresh token a refresh carried ("" when
	// unread), rec its record when the tap knew it at the presentation.
	presented string
	rec       *refreshRec
}

type exchangeKey struct{}

// inKey holds the client's request of an exchange that is not recorded.
type inKey struct{}

// backToTap points a redirect to the backend's own address back at the
// tap, as the client reached it, so that the client follows it through the
// tap: the backend sees its own Host, and frameworks that build absolute
// Locations from it (Spring) would send the client around the tap.
func (t *Tap) backToTap(resp *http.Response, in *http.Request) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return
	}
	u, err := url.Parse(loc)
	if err != nil || !strings.EqualFold(u.Host, t.target.Host) || (u.Scheme != "" && u.Scheme != t.target.Scheme) {
		return // relative, or elsewhere: the client's own way
	}
	u.Scheme, u.Host = "http", in.Host
	if in.TLS != nil {
		u.Scheme = "https"
	}
	// The tap adds the target's path to what it forwards: take it off.
	if rest, ok := strings.CutPrefix(u.Path, t.target.Path); ok && t.target.Path != "" && (rest == "" || rest[0] == '/') {
		u.Path, u.RawPath = rest, ""
	}
	resp.Header.Set("Location", u.String())
}

func exchangeOf(ctx context.Context) *exchange {
	x, _ := ctx.Value(exchangeKey{}).(*exchange)
	return x
}

// ServeHTTP forwards r to the backend and records the exchange.
func (t *Tap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t.running.Lock()
	t.running.n++
	t.running.Unlock()
	defer func() {
		t.running.Lock()
		if t.running.n--; t.running.n == 0 && t.running.none != nil {
			close(t.running.none)
			t.running.none = nil
		}
		t.running.Unlock()
	}()
	if !t.cfg.Pending.Empty() {
		rid, _ := backend.RequestID(r)
		if w := t.cfg.Pending.Serving(rid); w != nil {
			defer w.Add(-1)
		}
	}
	route := t.routeOf(r.Method, r.URL.Path)
	if route == routeOther {
		t.proxy.ServeHTTP(w, r)
		return
	}
	x := &exchange{route: route, in: r}
	if r.Body != nil && r.Body != http.NoBody {
		// Read the body to hash it and to find the code or refresh token
		// in it; a huge one is forwarded unread.
		b, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
		switch {
		case err != nil:
			// The client's body broke off: forward what came, the backend
			// sees the same broken request.
			x.body = b
			r.Body = io.NopCloser(bytes.NewReader(b))
		case len(b) > maxRequestBody:
			x.bodyOver = true
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(b), r.Body), r.Body}
		default:
			x.body = b
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
	}
	if route == routeRefresh {
		// Counted while in flight: a refusal while another presentation of
		// the same token is in flight is the loser of a race (a reuse).
		if v := t.callValue(x, &t.st.Requests.Refresh); v != "" {
			x.presented = readToken(v).id
			x.rec = t.fams.present(x.presented)
			defer t.fams.settled(x.rec)
		}
	}
	ctx := context.WithValue(r.Context(), exchangeKey{}, x)
	if route == routeLogin || route == routeRefresh {
		var cancel context.CancelFunc
		x.detach, cancel = context.WithTimeout(context.WithoutCancel(ctx), t.cfg.TokenCallTimeout)
		defer cancel()
		defer context.AfterFunc(t.stop, cancel)()
	}
	r = r.WithContext(ctx)
	x.in = r
	if dev := t.renewalDevice(x); dev != "" {
		defer t.cfg.Pending.Renewing(dev)()
	}
	// Deferred: the proxy aborts the handler (panics) when the client has
	// gone while the answer was being copied to it.
	defer t.noteUndelivered(x)
	x.start = time.Now() // real time: latency is a physical measure
	t.proxy.ServeHTTP(w, r)
}

// renewalDevice is the device a login or refresh is for, as far as the tap
// can tell before the backend answers: a login's code names it
// (Config.DeviceOfCode), a refresh token the family such a login started.
func (t *Tap) renewalDevice(x *exchange) string {
	switch {
	case x.route == routeLogin && t.cfg.DeviceOfCode != nil:
		if code := t.callValue(x, &t.st.Requests.Login); code != "" {
			x.device = t.cfg.DeviceOfCode(code)
		}
		return x.device
	case x.route == routeRefresh && t.cfg.Pending != nil:
		if presented := t.callValue(x, &t.st.Requests.Refresh); presented != "" {
			if rec := t.fams.lookup(readToken(presented).id); rec != nil {
				return rec.fam.device
			}
		}
	}
	return ""
}

// answered records an answer before it is copied to the client, so that the
// ledger has the backend's answer before anything the client does about it.
func (t *Tap) answered(resp *http.Response) error {
	// Go's transport reads any three digits as a status; writing one under
	// 100 to the client panics: such an answer is unusable, a 502.
	if resp.StatusCode < 100 || resp.StatusCode > 999 {
		return fmt.Errorf("it answered with status %03d, which is not an HTTP status", resp.StatusCode)
	}
	x := exchangeOf(resp.Request.Context())
	if x == nil {
		if in, _ := resp.Request.Context().Value(inKey{}).(*http.Request); in != nil {
			t.backToTap(resp, in)
		}
		return nil
	}
	t.backToTap(resp, x.in)
	// Token answers are read whole (up to maxAnswer). A protected answer is
	// read only when its signal depends on its body: at once when its
	// length is known, else as it passes to the client (it may be a stream,
	// which must not wait on the tap), recorded at its end.
	var body seen
	switch {
	case x.route != routeAPI:
		body = t.peek(resp)
	case !t.st.NeedsBody(resp.StatusCode):
	case eventStream(resp):
		body.unread = "an event stream"
	case resp.ContentLength < 0 && resp.Body != nil && resp.Body != http.NoBody:
		status, h := resp.StatusCode, resp.Header
		resp.Body = &readAlong{body: resp.Body, done: func(b []byte) {
			t.recordAPI(x, status, h, seenOf(h, b, len(b) >= maxAnswer))
		}}
		return nil
	case resp.ContentLength <= maxAnswer:
		body = t.peek(resp)
	default:
		body.unread = "over " + strconv.Itoa(maxAnswer) + " bytes"
	}
	switch x.route {
	case routeLogin:
		t.login.Record(time.Since(x.start))
		t.recordLogin(x, resp.StatusCode, resp.Header, body)
	case routeRefresh:
		t.refr.Record(time.Since(x.start))
		t.recordRefresh(x, resp.StatusCode, resp.Header, body)
	case routeVerify:
		t.recordVerify(x, resp.StatusCode, body)
	case routeAPI:
		t.recordAPI(x, resp.StatusCode, resp.Header, body)
	}
	return nil
}

// seen is what the tap read of an answer's body.
type seen struct {
	b []byte // its start (up to maxAnswer), decompressed
	// unread says why the body is not all in b ("" when it is, or when it
	// broke off: then b is all the client got too).
	unread string
}

func seenOf(h http.Header, b []byte, cut bool) seen {
	var s seen
	s.b, s.unread = decoded(h.Get("Content-Encoding"), b)
	if cut && s.unread == "" {
		s.unread = "over " + strconv.Itoa(maxAnswer) + " bytes"
	}
	return s
}

// peek reads the start of an answer's body (up to maxAnswer) and puts it
// back in front of the rest; it returns what was read, decompressed. An
// event stream is not waited on.
func (t *Tap) peek(resp *http.Response) seen {
	if resp.Body == nil || resp.Body == http.NoBody {
		return seen{}
	}
	if eventStream(resp) {
		return seen{unread: "an event stream"}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	rest := resp.Body
	var tail io.Reader = rest
	if err != nil {
		tail = errReader{err} // the client sees the same broken answer
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b), tail), rest}
	return seenOf(resp.Header, b, err == nil && len(b) >= maxAnswer && resp.ContentLength != int64(len(b)))
}

// decoded is what a compressed answer says, for the tap to read (the client
// still gets it compressed): clients that accept compression (Python
// requests, Node fetch, browsers' br and zstd) get their answers compressed
// by backends behind nginx or a compression middleware. encoding is the
// Content-Encoding: the codings in the order they were applied. At most
// maxAnswer bytes are decoded; a body cut at maxAnswer is decoded as far as
// it goes. A coding the tap cannot read gives nil and a note saying so.
func decoded(encoding string, b []byte) ([]byte, string) {
	if strings.TrimSpace(encoding) == "" {
		return b, ""
	}
	codings := strings.Split(encoding, ",")
	if len(codings) > maxCodings {
		return nil, fmt.Sprintf("content encoding %q not read: over %d codings", encoding, maxCodings)
	}
	var r io.Reader = bytes.NewReader(b)
	for i := len(codings) - 1; i >= 0; i-- {
		c := strings.ToLower(strings.TrimSpace(codings[i]))
		var err error
		switch c {
		case "", "identity":
			continue
		case "gzip", "x-gzip":
			r, err = gzip.NewReader(r)
		case "deflate": // HTTP's deflate is zlib-wrapped
			r, err = zlib.NewReader(r)
		case "br":
			r = brotli.NewReader(r)
		case "zstd":
			var d *zstd.Decoder
			// One goroutine, a window as large as HTTP's zstd allows
			// (RFC 9659: 8 MiB): a hostile frame cannot make the tap
			// allocate more.
			d, err = zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(8<<20))
			if err == nil {
				defer d.Close()
				r = d
			}
		default:
			return nil, fmt.Sprintf("content encoding %q not read", c)
		}
		if err != nil {
			return nil, fmt.Sprintf("%s body not readable: %v", c, err)
		}
	}
	out, err := io.ReadAll(io.LimitReader(r, maxAnswer))
	if len(out) == 0 && err != nil {
		return nil, fmt.Sprintf("%s body not readable: %v", encoding, err)
	}
	return out, ""
}

// maxCodings bounds the codings of an answer the tap decodes.
const maxCodings = 4

func eventStream(resp *http.Response) bool {
	return strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
}

// readAlong passes an answer of unknown length through to the client and
// keeps its start (up to maxAnswer); done gets it once, at the end of the
// answer (inside the Read that meets it, so before the proxy ends the
// answer to the client), once maxAnswer bytes have passed, or at Close
// (the client or the backend broke off).
type readAlong struct {
	body io.ReadCloser
	buf  []byte
	done func([]byte)
	once sync.Once
}

func (r *readAlong) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	if room := maxAnswer - len(r.buf); room > 0 {
		r.buf = append(r.buf, p[:min(n, room)]...)
	}
	if err != nil || len(r.buf) >= maxAnswer {
		r.finish()
	}
	return n, err
}

func (r *readAlong) Close() error {
	r.finish()
	return r.body.Close()
}

func (r *readAlong) finish() { r.once.Do(func() { r.done(r.buf) }) }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// failed answers a request the backend did not answer (unreachable, reset,
// timed out) with 502, as a gateway does, and records it.
func (t *Tap) failed(w http.ResponseWriter, r *http.Request, err error) {
	// A protected call the client gave up on was cancelled on its way to
	// the backend too: what the backend did is unknown, so nothing is
	// recorded (a login or refresh is never cancelled by the client).
	if x := exchangeOf(r.Context()); x != nil && (x.detach != nil || r.Context().Err() == nil) && t.stop.Err() == nil {
		ev := t.event(x)
		ev.Outcome, ev.Status, ev.Detail = ledger.OutcomeError, http.StatusBadGateway, "the backend did not answer: "+err.Error()
		if x.route == routeRefresh {
			ev.Token = unknownToken
		}
		t.rec.Append(ev)
	}
	if r.Context().Err() != nil || t.stop.Err() != nil {
		return // the client has gone, or the tap is closing: nobody to answer
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadGateway)
	_, _ = fmt.Fprintf(w, `{"error":"bad_gateway","error_description":%q}`, "tokenstorm tap: the backend under test did not answer")
}

// Start runs a Tap on a free loopback port, the way httptest servers run:
// its URL is the client's backend URL; Close stops it.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	t, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("tap: listen on loopback: %w", err)
	}
	srv := stack.NewHTTPServer(t, "", stack.Timeouts{ReadHeader: serverLimits.readHeader, Idle: serverLimits.idle})
	// No limit on a whole request or answer: a long poll, an event stream or
	// a slow upload lasts as long as the client and the backend let it, and
	// is never cut by the tap (whose cut would be judged the backend's).
	srv.ReadTimeout, srv.WriteTimeout = 0, 0
	srv.ErrorLog = discardLog
	s := &Server{Tap: t, URL: "http://" + ln.Addr().String(), srv: srv}
	go func() { _ = srv.Serve(ln) }()
	return s, nil
}

// serverLimits bound what the tap's server waits for from a client by
// itself: a request's headers, and the next request on an idle keep-alive
// connection (a variable for the tests to shorten).
var serverLimits = struct{ readHeader, idle time.Duration }{stack.DefaultTimeouts.ReadHeader, stack.DefaultTimeouts.Idle}

// Server is a Tap listening on loopback.
type Server struct {
	*Tap
	URL string
	srv *http.Server
}

// Close stops the server at once and releases the tap's connections.
func (s *Server) Close() {
	_ = s.srv.Close()
	s.Tap.Close()
}
