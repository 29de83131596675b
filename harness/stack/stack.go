// Package stack starts the embedded default stack — mock WeChat and the
// reference backend sharing one ledger and one clock — on real loopback
// ports, so in-process runs and external programs see the same servers.
package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/admingate"
	"github.com/tokenstorm/tokenstorm/harness/backend"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/pending"
	"github.com/tokenstorm/tokenstorm/mockwechat"
)

// Options configure a stack. Zero values give the defaults.
type Options struct {
	WechatAddr  string // listen address of mock WeChat; default 127.0.0.1:0 (a free port)
	BackendAddr string // listen address of the reference backend; default 127.0.0.1:0
	AppID       string // default mockwechat.DefaultAppID
	Secret      string // default mockwechat.DefaultSecret
	AccessTTL   time.Duration
	RefreshTTL  time.Duration
	Reuse       string // strict | grace:D | reuse:N
	Style       string // backend style name or file; default bearer
	MinuteQuota int    // jscode2session calls per user per minute; 0 = WeChat's 100
	Clock       clock.Clock
	Ledger      *ledger.Ledger
	// BackendURL, when set, uses a backend under test instead of starting the
	// reference one (only mock WeChat is started).
	BackendURL string
	// WechatURL, when set, uses a mock WeChat already running elsewhere (a
	// `tokenstorm serve` shared by storm shards) instead of starting one.
	// Its calls are then not in this stack's ledger.
	WechatURL string
	// AdminToken, when set, guards /__admin/… on both servers (Authorization:
	// Bearer <token>). Without one the servers refuse non-loopback addresses.
	AdminToken string
	// Timeouts bound every connection; zero fields take DefaultTimeouts'.
	Timeouts Timeouts
}

// Timeouts are the http.Server limits of both servers (SPEC §12): a client
// that trickles a request or holds an idle keep-alive is cut off.
type Timeouts struct {
	ReadHeader time.Duration // request line and headers
	Read       time.Duration // the whole request, body included
	Write      time.Duration // from the end of the headers to the end of the answer
	Idle       time.Duration // an idle keep-alive connection
}

// DefaultTimeouts leave room for the slowest legitimate request: a backend
// answer delayed by delay_ms (at most 10s) behind a WeChat call that times
// out after 8s.
var DefaultTimeouts = Timeouts{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 60 * time.Second, Idle: 90 * time.Second}

func (t Timeouts) orDefault() Timeouts {
	d := DefaultTimeouts
	if t.ReadHeader > 0 {
		d.ReadHeader = t.ReadHeader
	}
	if t.Read > 0 {
		d.Read = t.Read
	}
	if t.Write > 0 {
		d.Write = t.Write
	}
	if t.Idle > 0 {
		d.Idle = t.Idle
	}
	return d
}

// NewHTTPServer is the http.Server every tokenstorm server runs in: h
// guarded by the admin token, with the timeouts t (zero fields default).
func NewHTTPServer(h http.Handler, adminToken string, t Timeouts) *http.Server {
	t = t.orDefault()
	return &http.Server{
		Handler:           admingate.Wrap(adminToken, h),
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    64 << 10,
	}
}

// Stack is a running embedded stack.
type Stack struct {
	Wechat     *mockwechat.Server
	Backend    *backend.Server // nil when BackendURL points elsewhere
	WechatURL  string
	BackendURL string
	AppID      string
	Secret     string
	Clock      clock.Clock
	Ledger     *ledger.Ledger
	Style      string
	// AdminToken is Options.AdminToken: the harness's own admin calls send it.
	AdminToken string
	// Pending is the register of the calls the device drivers wait on
	// (device.Driver.Pending): while the embedded backend serves a request
	// carrying a pending call's request id, or a login or refresh of the
	// call's device, the call waits on the servers. A tap in front of a
	// backend under test marks the same register.
	Pending *pending.Register

	opts    Options
	servers []*http.Server
	ownLog  bool
	// inflight counts requests the stack's servers are handling (see Busy).
	inflight atomic.Int64
	answered atomic.Uint64 // requests answered, for Answered
	// waitUntil (unix ns): an answer told the client to come back later
	// (Retry-After); until then the client is waiting on the servers too.
	waitUntil atomic.Int64
	// drops are pending DropAnswers rules; dropping says whether any is.
	dropMu   sync.Mutex
	drops    []drop
	dropping atomic.Bool
}

type drop struct {
	prefix string
	left   int
}

// DropAnswers makes the next n requests whose path starts with prefix lose
// their answer on the way back, as when a phone's network fails: the server
// handles each (a refresh rotates), then cuts the connection, so the client
// sees a network error and no HTTP answer. The handler runs with its
// request's context already done, as it would for a client that has gone,
// so the backend notes a token call's answer undelivered.
func (s *Stack) DropAnswers(prefix string, n int) {
	if n <= 0 {
		return
	}
	s.dropMu.Lock()
	s.drops = append(s.drops, drop{prefix, n})
	s.dropping.Store(true)
	s.dropMu.Unlock()
}

// takeDrop reports whether a request to path is to lose its answer.
func (s *Stack) takeDrop(path string) bool {
	s.dropMu.Lock()
	defer s.dropMu.Unlock()
	for i := range s.drops {
		if d := &s.drops[i]; d.left > 0 && strings.HasPrefix(path, d.prefix) {
			d.left--
			return true
		}
	}
	return false
}

// discard is the ResponseWriter of an answer that is dropped.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// Busy reports whether a server of the stack is still handling a request or
// has told a client to retry after a while (Retry-After, e.g. WeChat busy),
// or whether the backend is a backend under test, whose requests in flight
// the stack cannot see. The device driver asks it when a request's deadline
// passes: a client whose every call has been answered had everything it
// needed, so a request it has not settled is lost, not late.
func (s *Stack) Busy() bool {
	return s.Backend == nil || s.inflight.Load() > 0 || time.Now().UnixNano() < s.waitUntil.Load()
}

// Answered is how many requests the stack's servers have answered so far:
// the device driver tells idle servers from a client calling them in a loop
// (each call answered at once, so none is seen in flight).
func (s *Stack) Answered() uint64 { return s.answered.Load() }

// noteRetryAfter extends waitUntil by an answer's Retry-After (seconds).
func (s *Stack) noteRetryAfter(v string) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return
	}
	until := time.Now().Add(time.Duration(min(n, 60)) * time.Second).UnixNano()
	for {
		cur := s.waitUntil.Load()
		if cur >= until || s.waitUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// counting wraps h to count its requests in flight.
func (s *Stack) counting(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inflight.Add(1)
		defer s.answered.Add(1)
		defer s.inflight.Add(-1)
		if w := s.Pending.Serving(pendingRID(s.Pending, r)); w != nil {
			defer w.Add(-1)
		}
		if s.dropping.Load() && s.takeDrop(r.URL.Path) {
			ctx, cancel := context.WithCancel(r.Context())
			cancel()
			h.ServeHTTP(&discard{h: http.Header{}}, r.WithContext(ctx))
			panic(http.ErrAbortHandler) // net/http closes the connection without an answer
		}
		h.ServeHTTP(w, r)
		if ra := w.Header().Get("Retry-After"); ra != "" {
			s.noteRetryAfter(ra)
		}
	})
}

// pendingRID is the request id r carries, when a call may be pending: read
// as the reference backend reads it (an id it refuses marks nothing).
func pendingRID(p *pending.Register, r *http.Request) string {
	if p.Empty() {
		return ""
	}
	rid, _ := backend.RequestID(r)
	return rid
}

// renewing marks the pending calls of the device a login (by its wx.login
// code) or a refresh (by its subject) of the embedded backend is for: the
// stack's own mock WeChat tells whose code or openid it is. With a mock
// WeChat elsewhere the device is unknown, and nothing is marked.
func (s *Stack) renewing(code, subject string) (end func()) {
	dev := ""
	switch {
	case s.Wechat == nil:
	case code != "":
		dev = s.Wechat.UserOfCode(code)
	case subject != "":
		dev = s.Wechat.UserOf(subject)
	}
	return s.Pending.Renewing(dev)
}

// Start starts the stack; Close stops it.
func Start(ctx context.Context, o Options) (*Stack, error) {
	if o.AppID == "" {
		o.AppID = mockwechat.DefaultAppID
	}
	if o.Secret == "" {
		o.Secret = mockwechat.DefaultSecret
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	s := &Stack{AppID: o.AppID, Secret: o.Secret, Clock: o.Clock, Ledger: o.Ledger, Style: o.Style, AdminToken: o.AdminToken, opts: o,
		Pending: pending.New()}
	if s.Ledger == nil {
		s.Ledger = ledger.New(ledger.Options{Clock: o.Clock})
		s.ownLog = true
	}
	wurl := strings.TrimSuffix(o.WechatURL, "/")
	if wurl == "" {
		s.Wechat = mockwechat.New(mockwechat.Config{
			Apps:        []mockwechat.App{{AppID: o.AppID, Secret: o.Secret}},
			Clock:       o.Clock,
			Ledger:      s.Ledger,
			MinuteQuota: o.MinuteQuota,
			Renewing:    s.Pending.Renewing, // the user is the device
		})
		var err error
		if wurl, err = s.serve(ctx, o.WechatAddr, s.Wechat); err != nil {
			s.Close()
			return nil, fmt.Errorf("mock WeChat: %w", err)
		}
	}
	s.WechatURL = wurl

	if o.BackendURL != "" {
		s.BackendURL = o.BackendURL
		return s, nil
	}
	b, err := backend.New(backend.Config{
		WechatURL:  wurl,
		AppID:      o.AppID,
		Secret:     o.Secret,
		Clock:      o.Clock,
		Ledger:     s.Ledger,
		AccessTTL:  o.AccessTTL,
		RefreshTTL: o.RefreshTTL,
		Reuse:      o.Reuse,
		Style:      o.Style,
		Renewing:   s.renewing,
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Backend = b
	burl, err := s.serve(ctx, o.BackendAddr, b)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("reference backend: %w", err)
	}
	s.BackendURL = burl
	return s, nil
}

func (s *Stack) serve(ctx context.Context, addr string, h http.Handler) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	// A fixed address (--wechat-addr) is bound again by every probe and
	// scenario; the previous stack's socket may take a moment to go.
	for wait := 0; err != nil && errors.Is(err, syscall.EADDRINUSE) && wait < 40 && ctx.Err() == nil; wait++ {
		time.Sleep(50 * time.Millisecond)
		ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	}
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w", addr, err)
	}
	if err := admingate.CheckBind(ln.Addr(), s.opts.AdminToken); err != nil {
		_ = ln.Close()
		return "", err
	}
	srv := NewHTTPServer(s.counting(h), s.opts.AdminToken, s.opts.Timeouts)
	s.servers = append(s.servers, srv)
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// Env is what a client needs to reach this stack.
func (s *Stack) Env() client.Env {
	return client.Env{BackendURL: s.BackendURL, WechatURL: s.WechatURL, AppID: s.AppID, Clock: s.Clock, Ledger: s.Ledger, Style: s.Style}
}

// Shutdown stops the servers gracefully, waiting for requests in flight until ctx ends.
func (s *Stack) Shutdown(ctx context.Context) error {
	var errs []error
	// Close the backend's outgoing connections and mock WeChat's hung
	// requests first, so that shutdown does not wait on either.
	if s.Backend != nil {
		_ = s.Backend.Close()
	}
	if s.Wechat != nil {
		s.Wechat.Close()
	}
	for _, srv := range s.servers {
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close stops the stack at once: connections are closed, not drained.
func (s *Stack) Close() error {
	if s.Backend != nil {
		_ = s.Backend.Close()
	}
	if s.Wechat != nil {
		s.Wechat.Close()
	}
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.ownLog {
		_ = s.Ledger.Close()
	}
	return errors.Join(errs...)
}
