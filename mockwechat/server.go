package mockwechat

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// The app every zero Config gets. tokenstorm prints it at start-up.
const (
	DefaultAppID  = "wx7e57570c3e5a1b2c"
	DefaultSecret = "tokenstorm-secret-0123456789abcdef"
)

// Defaults of Config's zero values.
const (
	DefaultMinuteQuota = 100
	DefaultCodeTTL     = 5 * time.Minute
)

// API names: fault rules, stats, metrics labels and ledger kinds use them.
const (
	APIJSCode2Session = "jscode2session"
	APIToken          = "cgi-bin/token"
	APIStableToken    = "stable_token"
	APICheckSession   = "checksession"
	APIWxLogin        = "wx.login"
)

// maxBody caps every request body: nothing the mock accepts is near that big,
// and a hostile client must not make it buffer gigabytes.
const maxBody = 1 << 20

// App is one mini-program the mock knows.
type App struct {
	AppID   string `json:"appid"`
	Secret  string `json:"secret"`
	UnionID bool   `json:"unionid"` // jscode2session also returns unionid
}

// Config configures a Server. The zero value is a working mock with one app
// {DefaultAppID, DefaultSecret} on real time.
type Config struct {
	Apps        []App          // empty = one app {DefaultAppID, DefaultSecret}
	Clock       clock.Clock    // nil = real time
	Ledger      *ledger.Ledger // may be nil
	MinuteQuota int            // jscode2session calls per (app, user) per minute; 0 = 100, <0 = unlimited
	CodeTTL     time.Duration  // wx.login code lifetime; <=0 = 5m
	Blocked     []string       // users whose codes get 40226
	Seed        int64          // fault probability randomness; 0 = random
	Logger      *slog.Logger   // recovered panics; nil = slog.Default()
	// Renewing, when set, is told of every wx.login while it is served,
	// with the user it is for; the function it returns is called when the
	// answer has been written. The harness marks the user's pending calls
	// as waiting on the servers meanwhile (harness/pending).
	Renewing func(user string) (end func())
}

// Validate reports a configuration New cannot run with (empty or duplicated
// appid, empty secret). Call it first when the config comes from a user.
func (c Config) Validate() error {
	seen := map[string]bool{}
	for i, a := range c.Apps {
		switch {
		case a.AppID == "":
			return fmt.Errorf("mockwechat: apps[%d]: empty appid", i)
		case a.Secret == "":
			return fmt.Errorf("mockwechat: apps[%d] (%s): empty secret", i, a.AppID)
		case seen[a.AppID]:
			return fmt.Errorf("mockwechat: apps[%d]: duplicate appid %s", i, a.AppID)
		}
		seen[a.AppID] = true
	}
	return nil
}

// Server is the mock. It is an http.Handler and safe for concurrent use.
type Server struct {
	clock    clock.Clock
	ledger   *ledger.Ledger
	log      *slog.Logger
	quota    int
	codeTTL  time.Duration
	apps     map[string]App // fixed after New
	appList  []App          // in Config order
	first    string         // appid used when /__mock/wx/login omits it
	blocked0 []string       // Config.Blocked, restored by Reset
	renewing func(user string) (end func())

	state   // codes, sessions, quotas, tokens, blocked users
	faults  *faultSet
	stats   *statsRecorder
	metrics *metrics

	closeOnce sync.Once
	closed    chan struct{} // closed by Close: releases hung requests
}

// New returns a Server. It panics if cfg.Validate fails: that is a programming
// error, and the CLI validates user input first.
func New(cfg Config) *Server {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if len(cfg.Apps) == 0 {
		cfg.Apps = []App{{AppID: DefaultAppID, Secret: DefaultSecret}}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MinuteQuota == 0 {
		cfg.MinuteQuota = DefaultMinuteQuota
	}
	if cfg.CodeTTL <= 0 {
		cfg.CodeTTL = DefaultCodeTTL
	}
	s := &Server{
		clock:    cfg.Clock,
		ledger:   cfg.Ledger,
		log:      cfg.Logger,
		quota:    cfg.MinuteQuota,
		codeTTL:  cfg.CodeTTL,
		apps:     make(map[string]App, len(cfg.Apps)),
		appList:  append([]App(nil), cfg.Apps...),
		first:    cfg.Apps[0].AppID,
		blocked0: append([]string(nil), cfg.Blocked...),
		renewing: cfg.Renewing,
		faults:   newFaultSet(cfg.Seed),
		stats:    newStatsRecorder(),
		closed:   make(chan struct{}),
	}
	for _, a := range cfg.Apps {
		s.apps[a.AppID] = a
		s.ledger.NoteSecret(a.Secret) // the admin ledger hides it wherever a client printed it
	}
	s.state.init()
	s.state.setBlocked(cfg.Blocked)
	s.metrics = newMetrics(s)
	return s
}

// Close releases every request held by a hang fault (and makes later hangs
// return at once). The Server keeps answering other requests.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

// Apps returns the configured apps.
func (s *Server) Apps() []App {
	return append([]App(nil), s.appList...)
}

// Block replaces the set of blocked users (whose codes get 40226). Block()
// with no arguments unblocks everyone.
func (s *Server) Block(users ...string) { s.state.setBlocked(users) }

// Blocked returns the blocked users, sorted.
func (s *Server) Blocked() []string { return s.state.blockedList() }

// Reset forgets codes, quotas, fault rules and statistics and restores the
// blocked users of the Config. Session keys, openids and access tokens survive:
// real WeChat does not forget them, and a backend caching an access_token
// should not break because a test reset the mock.
func (s *Server) Reset() {
	s.state.reset()
	s.state.setBlocked(s.blocked0)
	s.faults.clear()
	s.stats.reset()
}

// ServeHTTP routes a request. It caps the body, and a panic anywhere below is
// answered with a 500 (logged) instead of killing the connection's goroutine.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tw := &trackingWriter{ResponseWriter: w}
	defer s.recoverPanic(tw, r)
	if r.ContentLength > maxBody {
		writeJSONError(tw, http.StatusRequestEntityTooLarge, "request body larger than 1 MiB")
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(tw, r.Body, maxBody)
	}
	switch p := r.URL.Path; {
	case p == "/sns/jscode2session":
		s.handleJSCode2Session(tw, r)
	case p == "/cgi-bin/token":
		s.handleToken(tw, r)
	case p == "/cgi-bin/stable_token":
		s.handleStableToken(tw, r)
	case p == "/wxa/checksession":
		s.handleCheckSession(tw, r)
	case p == "/__mock/wx/login":
		s.handleWxLogin(tw, r)
	case p == "/metrics":
		s.handleMetrics(tw, r)
	case p == "/__admin" || strings.HasPrefix(p, "/__admin/"):
		s.handleAdmin(tw, r)
	case strings.HasPrefix(p, "/__"):
		writeJSONError(tw, http.StatusNotFound, "no such mock endpoint: "+clip(p, 200))
	default:
		// WeChat answers an unknown API path (even a wrongly cased one, like
		// /sns/jsCode2Session) with HTTP 200 and errcode 40066.
		writeWechat(tw, ctJSON, ErrcodeInvalidURL, newRID(s.clock.Now()))
	}
}

// trackingWriter remembers whether anything was written, so the panic handler
// knows whether a 500 can still be sent. Unwrap keeps http.ResponseController
// (Hijack, Flush) working through it.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackingWriter) WriteHeader(code int) {
	t.wrote = true
	t.ResponseWriter.WriteHeader(code)
}

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

func (s *Server) recoverPanic(w *trackingWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
		panic(v) // net/http's own way to abort a response; let it through
	}
	s.log.Error("mockwechat: panic while serving", "method", r.Method, "path", clip(r.URL.Path, 200), "panic", v)
	if !w.wrote {
		writeJSONError(w, http.StatusInternalServerError, "internal error")
	}
}

// clip shortens hostile input before it goes into logs, the ledger or errors.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
