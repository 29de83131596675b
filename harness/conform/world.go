package conform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"

	"github.com/tokenstorm/tokenstorm/harness/admingate"
	"github.com/tokenstorm/tokenstorm/harness/backend"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/device"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/stack"
	"github.com/tokenstorm/tokenstorm/mockwechat"
)

// DefaultDeadline is the per-request deadline of a scenario: long enough for
// the reference client's bounded retries after a failed refresh (two backoffs
// honouring Retry-After: 1), short enough that a lost request costs little.
const DefaultDeadline = 5 * time.Second

// maxRealWait caps every real-time wait a step may ask for.
const maxRealWait = 30 * time.Second

type ctxKey struct{}

func withWorld(ctx context.Context, w *world) context.Context {
	return context.WithValue(ctx, ctxKey{}, w)
}

func worldFrom(ctx context.Context) *world {
	if ctx == nil {
		return nil
	}
	w, _ := ctx.Value(ctxKey{}).(*world)
	return w
}

// world is one scenario's universe: its own clock, ledger, stack, client and
// devices, so scenarios cannot leak into each other. The stack and the client
// start lazily, at the first step that needs them, so that configuration steps
// (reuse policy, TTLs, quota, clock skew) can come first.
type world struct {
	r     *runner
	id    string // short unique prefix: devices and request ids carry it
	name  string
	tags  map[string]bool
	start time.Time

	so       stack.Options // applied when the stack starts
	st       *stack.Stack
	clk      *clock.Shifted
	led      *ledger.Ledger
	skew     time.Duration
	skipped  error // the first step that skipped the scenario (godog.ErrSkip)
	deadline time.Duration
	cl       client.Client
	drv      *device.Driver
	hc       *http.Client    // direct calls
	tr       *http.Transport // the scenario's own connections (client and direct calls)
	unsub    func()

	mu      sync.Mutex
	devices []string // declared devices (feature names), in order
	known   map[string]bool
	reqs    map[string]*reqRec // by feature request name
	order   []string           // feature request names in issue order
	autoN   int                // last automatic request number (r1, r2, …)
	since   int                // len(order) at the last disruptive step
	bg      inflight           // requests through the client not yet settled
	blocked []string

	// Direct calls.
	answers  []*answer
	codes    map[string]string // device → its last wx.login code
	sessions map[string]wxSession
	pairs    map[string]*pair
	wxTokens map[string]string
	parallel []*answer

	counting countMark // the last "counting starts" (count steps "since counting started")

	failed []string           // assertions and invariants that failed (summary)
	attach []godog.Attachment // evidence of the failing step, attached after it
	closed bool
}

type wxSession struct{ openid, key string }

// pair is a device's token pair from direct backend calls.
type pair struct {
	access, refresh         string
	prevAccess, prevRefresh string
}

// answer is one direct HTTP exchange.
type answer struct {
	Method, URL string
	Status      int
	Header      http.Header
	Body        []byte
	JSON        map[string]any // nil unless the body is a JSON object
	Err         error
}

func newWorld(r *runner, id, name string, tags []string) *world {
	clk := clock.NewShifted()
	w := &world{
		r: r, id: id, name: name, tags: map[string]bool{}, start: time.Now(),
		clk:      clk,
		led:      ledger.New(ledger.Options{Clock: clk, Memory: true}),
		deadline: r.opts.Deadline,
		known:    map[string]bool{},
		reqs:     map[string]*reqRec{},
		codes:    map[string]string{},
		sessions: map[string]wxSession{},
		pairs:    map[string]*pair{},
		wxTokens: map[string]string{},
	}
	w.tr = http.DefaultTransport.(*http.Transport).Clone()
	w.tr.MaxIdleConnsPerHost = 256
	w.hc = &http.Client{Transport: w.tr, Timeout: 15 * time.Second}
	if w.deadline <= 0 {
		w.deadline = DefaultDeadline
	}
	for _, t := range tags {
		w.tags[t] = true
	}
	return w
}

// user is the WeChat user (and device name in the ledger) behind a feature's
// device name: prefixed so that scenarios sharing an external backend, or a
// run's aggregate checker, never mix up two scenarios' "d1".
func (w *world) user(dev string) string { return w.id + "-" + dev }

// rid is the ledger request id of a feature's request name.
func (w *world) rid(name string) string { return w.id + "-" + name }

// featureName strips the scenario prefix for messages.
func (w *world) featureName(s string) string { return strings.TrimPrefix(s, w.id+"-") }

func (w *world) declare(dev string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.known[dev] {
		w.known[dev] = true
		w.devices = append(w.devices, dev)
	}
}

func (w *world) external() bool { return w.r.opts.BackendURL != "" }

// needReference refuses a step that needs the reference backend (its admin
// API, its ledger or the in-process clock) when the backend is external.
func (w *world) needReference(what string) error {
	if w.external() {
		return fmt.Errorf("%s needs the embedded reference backend (admin API, ledger, controllable clock), but --backend points to %s; tag the scenario @admin so it is skipped there", what, w.r.opts.BackendURL)
	}
	return nil
}

// accessTTL is the access-token lifetime the scenario's backend uses.
func (w *world) accessTTL() time.Duration {
	if w.so.AccessTTL > 0 {
		return w.so.AccessTTL
	}
	return backend.DefaultAccessTTL
}

// needStopped refuses configuration once the stack runs.
func (w *world) needStopped(what string) error {
	if w.st != nil {
		return fmt.Errorf("%s must come before the first step that uses the stack (devices, requests, direct calls)", what)
	}
	return nil
}

// stack starts the scenario's stack on first use.
func (w *world) stack(ctx context.Context) (*stack.Stack, error) {
	if w.st != nil {
		return w.st, nil
	}
	so := w.so
	so.Clock = w.clk
	so.Ledger = w.led
	so.BackendURL = w.r.opts.BackendURL
	so.Style = w.r.opts.Style
	so.WechatAddr = w.r.opts.WechatAddr
	so.AdminToken = w.r.opts.AdminToken
	st, err := stack.Start(ctx, so)
	if err != nil {
		return nil, fmt.Errorf("starting the stack: %w", err)
	}
	w.st = st
	if len(w.blocked) > 0 {
		st.Wechat.Block(w.blocked...)
	}
	return st, nil
}

// driver builds the client under test on first use.
func (w *world) driver(ctx context.Context) (*device.Driver, error) {
	if w.drv != nil {
		return w.drv, nil
	}
	st, err := w.stack(ctx)
	if err != nil {
		return nil, err
	}
	env := st.Env()
	env.HTTP = &http.Client{Transport: w.tr, Timeout: 30 * time.Second}
	if w.skew != 0 {
		env.Clock = clock.Offset(w.clk, w.skew)
	}
	cl, err := w.r.opts.NewClient(env)
	if err != nil {
		return nil, fmt.Errorf("starting the client %s: %w", w.r.opts.ClientName, err)
	}
	if w.skew != 0 && client.KeepsOwnTime(cl) {
		// An exec client before protocol 3 is not told the device clock
		// (docs/exec-protocol.md): the skew could not reach it, so the
		// scenario would prove nothing.
		_ = cl.Close()
		return nil, fmt.Errorf("%w: client %s keeps its own time (an exec client answering hello with protocol 3 is told each device's clock), so a clock skew cannot reach it", godog.ErrSkip, w.r.opts.ClientName)
	}
	w.cl = cl
	w.drv = &device.Driver{Client: cl, Ledger: w.led, Deadline: w.deadline, Prefix: w.id + "-", Busy: st.Busy, Answered: st.Answered, Pending: st.Pending}
	return w.drv, nil
}

// close stops everything the scenario started. Background requests are
// bounded by their deadline, and a client that does not close in time is
// abandoned rather than allowed to hang the run.
func (w *world) close() {
	if w.closed {
		return
	}
	w.closed = true
	w.waitBG(w.deadline + 2*time.Second)
	if w.cl != nil {
		done := make(chan struct{})
		go func() { _ = w.cl.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
	// Idle keep-alive connections, and ones a transport dialled but never
	// used, keep the servers' graceful shutdown waiting for its timeout:
	// drop them first (ours, then the backend's to mock WeChat).
	w.tr.CloseIdleConnections()
	if w.st != nil {
		if w.st.Backend != nil {
			_ = w.st.Backend.Close()
		}
		_ = w.st.Close()
	}
	if w.unsub != nil {
		w.unsub()
	}
	_ = w.led.Close()
}

// waitBG waits for requests still in flight, at most d.
func (w *world) waitBG(d time.Duration) bool { return w.bg.wait(d) }

// inflight counts requests in flight. Unlike a WaitGroup it may be waited on
// with a timeout and then added to again.
type inflight struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed when n drops to 0
}

func (f *inflight) add() {
	f.mu.Lock()
	if f.n == 0 {
		f.zero = make(chan struct{})
	}
	f.n++
	f.mu.Unlock()
}

func (f *inflight) done() {
	f.mu.Lock()
	f.n--
	if f.n == 0 {
		close(f.zero)
	}
	f.mu.Unlock()
}

func (f *inflight) wait(d time.Duration) bool {
	f.mu.Lock()
	if f.n == 0 {
		f.mu.Unlock()
		return true
	}
	ch := f.zero
	f.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

// disrupted marks that later requests are expected to meet a changed world
// (expiry, revocation, fault): "every request failed" looks only at those.
func (w *world) disrupted() {
	w.mu.Lock()
	w.since = len(w.order)
	w.mu.Unlock()
}

// mark writes a named moment into the ledger (shown on report timelines),
// named by the scenario a reader knows, not its internal id.
func (w *world) mark(what string) {
	w.led.Append(ledger.Event{Source: ledger.SourceHarness, Kind: ledger.KindEpisodeMarker, Detail: w.name + ": " + what})
}

// --- HTTP helpers ---

func (w *world) call(ctx context.Context, method, url string, header http.Header, body []byte) *answer {
	a := &answer{Method: method, URL: url}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		a.Err = err
		return w.keep(a)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		a.Err = err
		return w.keep(a)
	}
	defer resp.Body.Close()
	a.Status = resp.StatusCode
	a.Header = resp.Header
	a.Body, a.Err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(a.Body))
	dec.UseNumber()
	if dec.Decode(&m) == nil {
		a.JSON = m
	}
	return w.keep(a)
}

func (w *world) keep(a *answer) *answer {
	w.mu.Lock()
	w.answers = append(w.answers, a)
	w.mu.Unlock()
	return a
}

func (w *world) last() (*answer, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.answers) == 0 {
		return nil, errors.New("no direct call was made yet in this scenario (this step checks the last direct answer)")
	}
	return w.answers[len(w.answers)-1], nil
}

// describe is a one-line view of an answer for failure messages.
func (a *answer) describe() string {
	if a.Err != nil && a.Status == 0 {
		return fmt.Sprintf("%s %s failed: %v", a.Method, a.URL, a.Err)
	}
	body := strings.TrimSpace(string(a.Body))
	if len(body) > 400 {
		body = body[:400] + "…"
	}
	return fmt.Sprintf("%s %s → HTTP %d %s %s", a.Method, a.URL, a.Status, a.Header.Get("Content-Type"), body)
}

// admin posts JSON to an admin endpoint and fails on a non-2xx answer, with
// the server's message (which names the bad field).
func (w *world) admin(ctx context.Context, method, url string, body any) error {
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	var rd io.Reader
	if b != nil {
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	admingate.Header(req, w.r.opts.AdminToken)
	resp, err := w.hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin %s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("admin %s %s %s answered HTTP %d: %s", method, url, b, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

func (w *world) wechatAdmin(ctx context.Context, method, path string, body any) error {
	st, err := w.stack(ctx)
	if err != nil {
		return err
	}
	return w.admin(ctx, method, st.WechatURL+path, body)
}

func (w *world) backendAdmin(ctx context.Context, what, path string, body any) error {
	if err := w.needReference(what); err != nil {
		return err
	}
	st, err := w.stack(ctx)
	if err != nil {
		return err
	}
	return w.admin(ctx, http.MethodPost, st.BackendURL+path, body)
}

// openid is the openid mock WeChat gives a device's user in the scenario's app.
func (w *world) openid(dev string) string {
	appid := mockwechat.DefaultAppID
	if w.st != nil {
		appid = w.st.AppID
	}
	return mockwechat.OpenID(appid, w.user(dev))
}

// deviceOfUser maps a ledger device/user back to the feature's device name.
func (w *world) deviceOfUser(u string) (string, bool) {
	if !strings.HasPrefix(u, w.id+"-") {
		return "", false
	}
	return strings.TrimPrefix(u, w.id+"-"), true
}

// declaredDevices returns the declared devices, sorted by declaration.
func (w *world) declaredDevices() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.devices...)
}

// reqRec is one logical request sent through the client under test.
type reqRec struct {
	name, dev    string
	method, path string
	out          device.Outcome
	done         bool
}

// requests returns the client's requests in issue order (settled or not).
func (w *world) requests() []reqRec {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]reqRec, 0, len(w.order))
	for _, n := range w.order {
		out = append(out, *w.reqs[n])
	}
	return out
}

func (w *world) settled(name string, o device.Outcome) {
	w.mu.Lock()
	r := w.reqs[name]
	r.out, r.done = o, true
	w.mu.Unlock()
}

// Warm-up requests (Given N devices logged in) are named warmup-<device>, so
// that r1, r2, … are the scenario's own requests and "as request r1" never
// collides with one the author did not write.
const warmupPrefix = "warmup-"

func warmupName(dev string) string { return warmupPrefix + dev }

// autoName is the form of automatic request names.
var autoName = regexp.MustCompile(`^r\d+$`)

// reserve records a request in issue order before it is sent, so that names
// follow the order the steps asked for them. An empty name gets the next
// automatic one (r1, r2, …).
func (w *world) reserve(name, dev, method, path string) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if name == "" {
		for {
			w.autoN++
			name = fmt.Sprintf("r%d", w.autoN)
			if w.reqs[name] == nil {
				break
			}
		}
	} else if w.reqs[name] != nil {
		return "", fmt.Errorf("request name %q is used twice in this scenario", name)
	}
	w.reqs[name] = &reqRec{name: name, dev: dev, method: method, path: path}
	w.order = append(w.order, name)
	return name, nil
}

func (w *world) request(name string) (reqRec, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.reqs[name]
	if r == nil {
		return reqRec{}, fmt.Errorf("no request named %q in this scenario (known: %s)", name, strings.Join(w.order, ", "))
	}
	return *r, nil
}

// sortedKeys is for deterministic messages.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
