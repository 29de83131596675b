package refclient

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/style"
)

// Client is the reference client: a client.Client for the harness, and a
// source of per-device http.RoundTrippers for library users.
type Client struct {
	env     client.Env
	opts    Options
	base    http.RoundTripper
	auth    *authAPI
	spec    *style.Style // the backend's dialect: routes, members, rotation
	backend *url.URL     // requests for this scheme://host get the token
	// Request.URL.Scheme, Request.URL.Host and Request.Host of a request for
	// the backend; reqHost "" when Do must parse URLs in full.
	reqScheme, reqURLHost, reqHost string
	styleErr                       error // set when env.Style cannot be loaded

	// ctx ends on Close: it stops refreshes under way.
	ctx    context.Context
	cancel context.CancelFunc

	// devices maps a device name to its *Transport. Every request looks its
	// device up from every core; a sync.Map reads without a shared lock.
	// mu serialises creating one.
	mu      sync.Mutex
	devices sync.Map
}

var _ client.Client = (*Client)(nil)

// New returns a client for the stack env describes. env.Clock nil means real
// time, env.HTTP nil means http.DefaultClient.
//
// The backend's dialect is env.Style (a built-in style name or a YAML file,
// "" = bearer): it gives the login and refresh routes and members, and, when
// opts.Style is nil, the token placement and signals too. A style that cannot
// be loaded makes every request fail with that error.
func New(env client.Env, opts Options) *Client {
	spec, styleErr := style.Load(env.Style)
	if styleErr != nil {
		styleErr = fmt.Errorf("tokenstorm/refclient: backend style: %w", styleErr)
		spec = style.MustLoad(style.Default)
	}
	if opts.Style == nil {
		opts.Style = NewDialect(spec)
	}
	opts = opts.withDefaults()
	if env.Clock == nil {
		env.Clock = clock.Real()
	}
	hc := env.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	base := opts.Base
	if base == nil {
		base = hc.Transport
	}
	if base == nil {
		base = http.DefaultTransport
	}
	c := &Client{
		env:      env,
		opts:     opts,
		base:     base,
		auth:     &authAPI{hc: hc, wechatURL: env.WechatURL, backendURL: env.BackendURL, appID: env.AppID, timeout: opts.RequestTimeout, spec: spec},
		spec:     spec,
		styleErr: styleErr,
	}
	c.backend, _ = url.Parse(env.BackendURL) // an unparsable URL matches no request
	if b := c.backend; b != nil && b.Scheme != "" && b.Host != "" && b.Opaque == "" && b.User == nil &&
		b.Path == "" && b.RawPath == "" && !b.ForceQuery && b.RawQuery == "" && b.Fragment == "" {
		// A request for it must be ours (see ours) whatever Do builds.
		if tmpl, err := http.NewRequest(http.MethodGet, env.BackendURL, nil); err == nil &&
			tmpl.URL.Host == b.Host && tmpl.URL.Scheme == b.Scheme {
			c.reqScheme, c.reqURLHost, c.reqHost = tmpl.URL.Scheme, tmpl.URL.Host, tmpl.Host
		}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// Transport returns the http.RoundTripper of device (a *Transport), creating
// the device on first use. Use it as http.Client{Transport: rt}.
func (c *Client) Transport(device string) http.RoundTripper { return c.device(device) }

func (c *Client) device(name string) *Transport {
	if t, ok := c.devices.Load(name); ok {
		return t.(*Transport)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.devices.Load(name); ok {
		return t.(*Transport)
	}
	clk := c.env.Clock
	dc := c.opts.DeviceClock
	if dc == nil {
		dc = c.env.DeviceClock // the harness's per-device clocks (storm clock_skew with devices)
	}
	if dc != nil {
		if x := dc(name); x != nil {
			clk = x
		}
	}
	t := &Transport{c: c, s: &session{c: c, device: name, clk: clk, turn: make(chan struct{}, 1)}}
	c.devices.Store(name, t)
	return t
}

// Seed gives device stored tokens, as an app that starts with the tokens it
// saved last time. AccessExpiry zero means unknown: the backend will say.
func (c *Client) Seed(device string, t Tokens) {
	s := c.device(device).s
	now := s.clk.Now()
	st := newTokenState(t, now, &c.opts)
	s.mu.Lock()
	s.installLocked(st)
	s.mu.Unlock()
}

// Tokens returns device's current tokens, and false when it has none yet.
func (c *Client) Tokens(device string) (Tokens, bool) {
	return c.device(device).s.snapshot()
}

// Do implements client.Client: it sends the call through the device's
// Transport and reads the whole answer.
func (c *Client) Do(ctx context.Context, call client.Call) client.Result {
	w := waitMark{call.Waiting}
	w.add(1) // see waitMark
	defer w.add(-1)
	var resp *http.Response
	if p, q, hasQuery := strings.Cut(call.Path, "?"); c.reqHost != "" && plainPath(p) && plainQuery(q) {
		req, err := c.newRequest(ctx, call.Method, p, q, hasQuery)
		if err != nil {
			return client.Result{Err: fmt.Errorf("tokenstorm/refclient: %w", err)}
		}
		// The call's header is ours (client.Call): send it as it is.
		req.Header = call.Header
		if req.Header == nil {
			req.Header = make(http.Header, 1) // room for the token
		}
		// What RoundTrip does with a request for the backend, except that
		// req is ours to send as it is and the body needs no reading.
		resp, err = c.device(call.Device).roundTrip(req, call.Body, true, w)
		if err != nil {
			return client.Result{Err: err}
		}
	} else {
		var body io.Reader
		if len(call.Body) > 0 {
			body = bytes.NewReader(call.Body)
		}
		req, err := http.NewRequestWithContext(ctx, call.Method, c.env.BackendURL+call.Path, body)
		if err != nil {
			return client.Result{Err: fmt.Errorf("tokenstorm/refclient: %w", err)}
		}
		for k, v := range call.Header {
			req.Header[k] = v
		}
		resp, err = c.device(call.Device).roundTripHTTP(req, w)
		if err != nil {
			return client.Result{Err: err}
		}
	}
	defer resp.Body.Close()
	b, err := client.ReadBody(resp.Body, resp.ContentLength)
	if err != nil {
		return client.Result{Status: resp.StatusCode, Header: resp.Header, Err: fmt.Errorf("tokenstorm/refclient: reading the answer: %w", err)}
	}
	return client.Result{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// newRequest is http.NewRequestWithContext(ctx, method, backend URL + path,
// nil) for a path made of a plain absolute path p (see plainPath) and an
// optional plain query q (see plainQuery): it builds the URL url.Parse would
// from its parts instead of parsing the whole string again. Only for a
// backend URL that is a bare scheme://host (reqHost set), so the request is
// ours.
func (c *Client) newRequest(ctx context.Context, method, p, q string, hasQuery bool) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, "", nil)
	if err != nil {
		return nil, err
	}
	*req.URL = url.URL{Scheme: c.reqScheme, Host: c.reqURLHost, Path: p, RawQuery: q, ForceQuery: hasQuery && q == ""}
	req.Host = c.reqHost
	return req, nil
}

// plainPath reports whether p is an absolute path (not "//…", which would be
// an authority) of characters a URL path keeps as they are, so that url.Parse
// sets Path to p and no RawPath.
func plainPath(p string) bool {
	if len(p) == 0 || p[0] != '/' || strings.HasPrefix(p, "//") {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
			return false
		}
	}
	return true
}

// plainQuery reports whether q is printable ASCII without '?' or '#', so
// that url.Parse takes it as RawQuery unchanged.
func plainQuery(q string) bool {
	for i := 0; i < len(q); i++ {
		if c := q[i]; c <= ' ' || c >= 0x7f || c == '#' || c == '?' {
			return false
		}
	}
	return true
}

// ReturnsOnCancel implements client.Prompt: every wait of the reference client
// selects on the request's context, as long as the base transport is net/http's
// (one given in Options.Base is not vouched for) and no mutant behaviour is on.
func (c *Client) ReturnsOnCancel() bool {
	return c.opts.Base == nil && c.opts.Behaviour == (Behaviour{})
}

// Close stops refreshes under way; later requests fail with ErrClosed. It
// does not close the shared HTTP transport.
func (c *Client) Close() error {
	c.cancel()
	return nil
}

// ours reports whether req goes to the backend and so should carry the token.
func (c *Client) ours(req *http.Request) bool {
	return c.backend != nil && req.URL != nil && req.URL.Host == c.backend.Host && req.URL.Scheme == c.backend.Scheme
}

// noAnswer records that a login/refresh got no answer (timeout, network
// error): if the backend did handle it, the device never got those tokens,
// and the checker counts the next call as a retry (docs/invariants.md).
func (c *Client) noAnswer(device string, fail *AuthFailure) {
	c.env.Ledger.Append(ledger.Event{Source: ledger.SourceClient, Kind: ledger.KindUndelivered, Device: device, Route: fail.Call,
		Detail: "the client's " + fail.Call + " got no answer: " + fail.Err.Error()})
}

// log records a protocol note in the ledger (a nil ledger ignores it).
func (c *Client) log(device, detail string) {
	c.env.Ledger.Append(ledger.Event{Source: ledger.SourceClient, Kind: ledger.KindClientLog, Device: device, Detail: detail})
}
