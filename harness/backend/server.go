// Package backend is the reference token backend (SPEC §4): a correct, fast
// server that issues WeChat-login tokens, rotates refresh tokens under a
// selectable reuse policy, guards protected resources, signals expiry in the
// configured style and records everything in the ledger. A client under test
// talks to it; a backend under test is compared with it.
//
// Routes, JSON member names, token placement and signals come from a
// style.Style (data, not code); only the admin routes (/__admin/...) and
// /metrics are fixed. See docs/backend.md.
package backend

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/style"
)

// Server is the reference backend. It is an http.Handler, safe for
// concurrent use; in-process callers use its Go methods instead of the admin
// routes.
type Server struct {
	cfg      Config
	clock    clock.Clock
	ledger   *ledger.Ledger
	rec      ledger.Recorder // the backend's events, stamped with its clock
	http     *http.Client
	ownsHTTP bool

	key      []byte
	parser   *jwt.Parser
	keyfn    jwt.Keyfunc
	serial   atomic.Uint64 // the n claim: every access token gets the next one
	verified *verified     // tokens whose signature was checked

	set     atomic.Pointer[settings]
	store   *store
	stats   *stats
	metrics *metrics
	effects atomic.Int64

	// closing is cancelled by Close: delayed answers and WeChat calls stop.
	closing context.Context
	close   context.CancelFunc
}

// New validates cfg and returns a ready Server.
func New(cfg Config) (*Server, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	base := &settings{accessTTL: DefaultAccessTTL, refreshTTL: DefaultRefreshTTL, reuse: Reuse{Mode: ReuseStrict}}
	st, err := style.Load(cfg.Style)
	if err != nil {
		return nil, &ConfigError{"style", err}
	}
	base.style, base.styleName = st, st.Name
	set, err := base.apply(RuntimeConfig{AccessTTL: cfg.AccessTTL, RefreshTTL: cfg.RefreshTTL, Reuse: cfg.Reuse})
	if err != nil {
		return nil, err
	}
	if cfg.Style != "" {
		set.styleName = cfg.Style
	}
	if cfg.WechatURL != "" && !strings.HasPrefix(cfg.WechatURL, "http://") && !strings.HasPrefix(cfg.WechatURL, "https://") {
		return nil, &ConfigError{"wechat_url", fmt.Errorf("%q is not an http(s) URL", cfg.WechatURL)}
	}
	s := &Server{cfg: cfg, clock: cfg.Clock, ledger: cfg.Ledger, rec: ledger.Recorder{Ledger: cfg.Ledger, Source: ledger.SourceBackend, Clock: cfg.Clock}, http: cfg.HTTPClient, store: newStore(), stats: newStats(), verified: newVerified(maxVerified)}
	if s.http == nil {
		s.http, s.ownsHTTP = defaultHTTPClient(), true
	}
	s.key = cfg.SigningKey
	if len(s.key) == 0 {
		s.key = make([]byte, 32)
		_, _ = rand.Read(s.key)
	}
	s.parser = newParser(s.clock.Now)
	s.keyfn = func(*jwt.Token) (any, error) { return s.key, nil }
	s.set.Store(set)
	s.metrics = newMetrics(s)
	s.closing, s.close = context.WithCancel(context.Background())
	return s, nil
}

// Close stops delayed answers and pending WeChat calls and releases idle
// connections. The Server still answers afterwards, but delayed answers and
// logins get 503.
func (s *Server) Close() error {
	s.close()
	if s.ownsHTTP {
		s.http.CloseIdleConnections()
	}
	return nil
}

// Style is the dialect currently spoken. It is shared: treat it as read-only.
func (s *Server) Style() *style.Style { return s.set.Load().style }

// handler answers one routed request and returns its outcome (a metrics label).
type handler func(s *Server, w http.ResponseWriter, r *http.Request, set *settings) string

type route struct {
	name    string   // metrics label; bounded set, never a raw path
	methods []string // allowed methods, HEAD wherever GET is; nil = any
	h       handler
}

var apiMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// IsAPIMethod reports whether protected resources take method (others, a
// CORS preflight's OPTIONS among them, get 405 and are no call): the
// recording tap routes as the backend does.
func IsAPIMethod(method string) bool { return slices.Contains(apiMethods, method) }

// Routes are package values so that routing allocates nothing.
var (
	postOnly      = []string{http.MethodPost}
	getOnly       = []string{http.MethodGet, http.MethodHead}
	routeAPI      = route{"api", apiMethods, (*Server).handleAPI}
	routeNotFound = route{name: "not_found", h: func(_ *Server, w http.ResponseWriter, r *http.Request, _ *settings) string {
		writeReqError(w, &reqError{status: http.StatusNotFound, code: "not_found", desc: "no route " + r.URL.Path}, "")
		return "not_found"
	}}
	adminRoutes = map[string]route{
		style.AdminPrefix + "expire": {"admin", postOnly, (*Server).handleExpire},
		style.AdminPrefix + "revoke": {"admin", postOnly, (*Server).handleRevoke},
		style.AdminPrefix + "stats":  {"admin", getOnly, (*Server).handleStats},
		style.AdminPrefix + "ledger": {"admin", getOnly, (*Server).handleLedger},
		style.AdminPrefix + "config": {"admin", []string{http.MethodGet, http.MethodHead, http.MethodPut}, (*Server).handleConfig},
		style.AdminPrefix + "reset":  {"admin", postOnly, (*Server).handleReset},
		style.MetricsPath:            {"metrics", getOnly, (*Server).handleMetrics},
	}
)

// routeFor maps a path to its route using the current style. The style's
// own routes win over its resource prefix; their methods are the style's.
func routeFor(st *style.Style, path string) route {
	rq := &st.Requests
	switch {
	case path == rq.Login.Path:
		return route{"login", rq.Login.Methods(), (*Server).handleLogin}
	case rq.Refresh.Path != "" && path == rq.Refresh.Path:
		return route{"refresh", rq.Refresh.Methods(), (*Server).handleRefresh}
	case rq.Verify.Path != "" && path == rq.Verify.Path:
		return route{"verify", rq.Verify.Methods(), (*Server).handleVerify}
	case strings.HasPrefix(path, st.Routes.Resource):
		return routeAPI
	}
	if rt, ok := adminRoutes[path]; ok {
		return rt
	}
	return routeNotFound
}

func (rt route) allows(method string) bool {
	if rt.methods == nil { // not_found: every method gets the 404
		return true
	}
	for _, m := range rt.methods {
		if m == method {
			return true
		}
	}
	return false
}

// ServeHTTP routes by the current style. A panic is answered with a JSON 500
// and logged: it is a bug in the backend, never a consequence of input.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now() // real time: latency is a physical measure, not token time
	set := s.set.Load()
	rt := routeFor(set.style, r.URL.Path)
	outcome := "panic"
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			slog.Error("backend: panic", "method", r.Method, "path", r.URL.Path, "panic", p)
			writeReqError(w, &reqError{status: http.StatusInternalServerError, code: "internal_error", desc: "the backend failed; this is a bug"}, "")
		}
		s.metrics.observe(rt.name, outcome, time.Since(start))
	}()
	if !rt.allows(r.Method) {
		outcome = "method_not_allowed"
		w.Header().Set("Allow", strings.Join(rt.methods, ", "))
		o := newObj().str("error", "method_not_allowed").str("error_description", r.Method+" is not allowed on "+r.URL.Path)
		o.any("allowed", rt.methods)
		writeJSON(w, http.StatusMethodNotAllowed, o.bytes())
		return
	}
	outcome = rt.h(s, w, r, set)
}

// The values writeJSON sets, shared by every answer: what Header.Set would
// store, without two allocations per answer. Nothing modifies a header value
// in place (Set and Add replace or grow the slice), and net/http copies the
// header when the answer is written.
var (
	contentTypeJSON = []string{"application/json"}
	cacheNoStore    = []string{"no-store"}
)

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = contentTypeJSON
	h["Cache-Control"] = cacheNoStore // token answers must not be cached (RFC 6749 §5.1)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeReqError answers a malformed request: {"error","error_description"[,"field"]}.
func writeReqError(w http.ResponseWriter, e *reqError, rid string) {
	o := newObj().str("error", e.code).str("error_description", e.desc)
	if e.field != "" {
		o.str("field", e.field)
	}
	if rid != "" {
		o.str("rid", rid)
	}
	writeJSON(w, e.status, o.bytes())
}

// signalObj starts an answer carrying sig: its body members come first.
func signalObj(sig *style.Signal) *obj {
	o := newObj()
	_, members, _ := sig.Written()
	for _, m := range members {
		o.raw(m.Path, m.JSON)
	}
	return o
}

// sendSignal writes an answer of kind sig with the members already in o.
func sendSignal(w http.ResponseWriter, sig *style.Signal, o *obj) {
	status, _, challenge := sig.Written()
	if challenge != "" {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	writeJSON(w, status, o.bytes())
	o.release() // Write does not keep the bytes (io.Writer)
}

// tokenSignal picks the expired or invalid signal for a refused access token.
func tokenSignal(st *style.Style, tc tokenCheck) *style.Signal {
	if tc.outcome == ledger.OutcomeExpired {
		return &st.Signals.Expired
	}
	return &st.Signals.Invalid
}

// tokenSignalName names the signal tokenSignal picks.
func tokenSignalName(tc tokenCheck) string {
	if tc.outcome == ledger.OutcomeExpired {
		return style.SignalExpired
	}
	return style.SignalInvalid
}

var errNoLedger = errors.New("this backend runs without a ledger")
