// Package backendcheck looks at a token backend from the outside, the way a
// client would, and needs nothing from it but the routes its style describes:
// no admin API, no ledger, no shared clock. It is what judges a backend under
// test (--backend URL --style FILE), which writes no ledger events of its own.
//
// It logs a device in through the style's login route with a real wx.login
// code (the backend must call mock WeChat's jscode2session), calls a
// protected resource with the token (it must succeed), with a tampered, a
// garbage and no token, an unsigned (alg none) JWT and a JWT signed with a
// foreign key carrying the same claims (each must get the style's invalid —
// or expired — signal), and, when an expire hook works or the access token
// lives at most MaxWait, with an expired token (it must get the expired signal). Every
// answer to a bad token is recorded as a ledger event (Source harness, Kind
// api, Outcome invalid/missing/expired, Status, Detail naming the signal seen)
// so that the checker's expiry-signalled judges it like the reference
// backend's own events.
package backendcheck

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/admingate"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/style"
)

// DefaultMaxWait is how long Run waits at most for an access token to expire
// by its own TTL.
const DefaultMaxWait = 10 * time.Second

// Config says what to check.
type Config struct {
	BackendURL string
	WechatURL  string // mock WeChat: wx.login is POST {WechatURL}/__mock/wx/login
	AppID      string
	Style      *style.Style
	Device     string         // the WeChat user to log in as; also the ledger Device
	HTTP       *http.Client   // default: a client with a 10s timeout
	Ledger     *ledger.Ledger // where observations go; nil records nothing
	// Resource is the path below the style's resource prefix that is called;
	// default "orders".
	Resource string
	// Expire, when set, expires the device's access tokens now (the reference
	// backend's POST /__admin/expire). When it is nil or fails, Run waits for
	// the token's expires_in instead, if that is at most MaxWait.
	Expire  func(ctx context.Context) error
	MaxWait time.Duration // default DefaultMaxWait; negative: never wait
	// AccessTTL is the access tokens' lifetime as the user knows it, used
	// when the login answer carries no expires_in (a backend that does not
	// say); 0 = unknown.
	AccessTTL time.Duration
	// GraceBound is the longest grace window Profile measures; default
	// DefaultGraceBound.
	GraceBound time.Duration
	// AdminToken is sent on the calls to mock WeChat's admin API (faults)
	// when its servers are guarded (--admin-token).
	AdminToken string
}

// Check is one observation.
type Check struct {
	Name    string // "valid token", "tampered token", …
	Want    string // the signals that pass
	Seen    string // the signal the answer carried (style.SignalNone when none)
	Status  int
	Body    string // the answer, shortened
	OK      bool
	Skipped string // why the check did not run
}

func (c Check) String() string {
	if c.Skipped != "" {
		return fmt.Sprintf("%s: not checked (%s)", c.Name, c.Skipped)
	}
	verdict := "ok"
	if !c.OK {
		verdict = "WRONG"
	}
	return fmt.Sprintf("%s: HTTP %d, %s signal (want %s) %s", c.Name, c.Status, c.Seen, c.Want, verdict)
}

// Report is what Run saw.
type Report struct {
	Checks []Check
}

// Failed returns the checks whose answer was wrong.
func (r *Report) Failed() []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Skipped == "" && !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// Summary is one line per check.
func (r *Report) Summary() string {
	parts := make([]string, len(r.Checks))
	for i, c := range r.Checks {
		parts[i] = c.String()
	}
	return strings.Join(parts, "; ")
}

// Run performs the checks. Its error is for a backend that cannot be checked
// at all: the login or the call with a valid token failed. Wrong answers to
// bad tokens are not errors: they are in the Report and, as ledger events,
// violations of expiry-signalled.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Style == nil {
		return nil, errors.New("backendcheck: Config.Style is required")
	}
	if cfg.HTTP == nil {
		cfg.HTTP = defaultHTTP()
		defer cfg.HTTP.CloseIdleConnections()
	}
	if cfg.Resource == "" {
		cfg.Resource = "orders"
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.Device == "" {
		cfg.Device = "backend-check"
	}
	r := &runner{cfg: cfg, st: cfg.Style, rep: &Report{}}
	return r.rep, r.run(ctx)
}

// defaultHTTP has a connection pool of its own: mock WeChat is restarted on
// the same address for each probe of a run, and a keep-alive connection
// pooled by an earlier probe (http.DefaultTransport) would answer a POST with
// EOF.
func defaultHTTP() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: http.DefaultTransport.(*http.Transport).Clone()}
}

type runner struct {
	cfg Config
	st  *style.Style
	rep *Report
	n   int
}

func (r *runner) run(ctx context.Context) error {
	// A valid token must work: otherwise nothing else means anything.
	tok, ttl, ans, err := r.fresh(ctx, "valid token")
	if err != nil {
		return err
	}
	seen := r.st.Classify(ans.status, ans.body)
	r.rep.Checks = append(r.rep.Checks, Check{Name: "valid token", Want: style.SignalSuccess, Seen: orNone(seen), Status: ans.status, Body: shorten(ans.body), OK: seen == style.SignalSuccess})
	if seen != style.SignalSuccess {
		return fmt.Errorf("backendcheck: the backend refused a fresh token from its own login: GET %s answered HTTP %d %s (style %s expects its success signal %s)",
			r.path(), ans.status, shorten(ans.body), r.st.Name, describe(&r.st.Signals.Success))
	}
	if next := r.next(ans.header); next != "" {
		tok = next // single-use: the presented token is spent
	}

	tampered := tamper(tok)
	for _, bad := range []struct {
		name, token, outcome string
	}{
		{"tampered token", tampered, ledger.OutcomeInvalid},
		{"garbage token", "tokenstorm-garbage-" + randomHex(12), ledger.OutcomeInvalid},
		{"unsigned token (alg none)", unsignedJWT(tok, r.cfg.Device), ledger.OutcomeInvalid},
		{"token signed with another key", foreignJWT(tok, r.cfg.Device, []byte(randomHex(16))), ledger.OutcomeInvalid},
		{"no token", "", ledger.OutcomeMissing},
	} {
		if err := r.bad(ctx, bad.name, bad.token, bad.outcome); err != nil {
			return err
		}
	}

	how := r.expire(ctx, ttl)
	if how == "" {
		r.rep.Checks = append(r.rep.Checks, Check{Name: "expired token", Want: style.SignalExpired, Skipped: r.whyNoExpiry(ttl)})
		return nil
	}
	if err := r.bad(ctx, "expired token ("+how+")", tok, ledger.OutcomeExpired); err != nil {
		return err
	}
	// The backend recovers: a new login gets a working token.
	_, _, ans, err = r.fresh(ctx, "valid token after expiry")
	if err != nil {
		return err
	}
	if seen := r.st.Classify(ans.status, ans.body); seen != style.SignalSuccess {
		return fmt.Errorf("backendcheck: after the expiry a fresh login's token was refused: HTTP %d %s", ans.status, shorten(ans.body))
	}
	return nil
}

// whyNoExpiry says why the expired-token check cannot be made.
func (r *runner) whyNoExpiry(ttl time.Duration) string {
	if ttl <= 0 {
		member := r.st.Answers.ExpiresIn.String()
		if member == "" {
			member = "expires_in: the style names none"
		}
		return fmt.Sprintf("the login answer does not say how long the access token lives (no %s), no access TTL was given (--access-ttl), and the backend has no admin expire", member)
	}
	return fmt.Sprintf("the access token lives %s, longer than the %s the check may wait, and the backend has no admin expire", ttl, r.cfg.MaxWait)
}

// fresh logs in and calls the resource with the new token. A token whose
// short lifetime ran out between the login and the call (a loaded machine)
// proves nothing about the backend: log in again, a few times.
func (r *runner) fresh(ctx context.Context, what string) (string, time.Duration, answer, error) {
	for attempt := 1; ; attempt++ {
		issued := time.Now()
		tok, ttl, err := r.login(ctx)
		if err != nil {
			return "", 0, answer{}, err
		}
		ans, err := r.call(ctx, what, tok, true)
		if err != nil {
			return "", 0, answer{}, err
		}
		late := ttl > 0 && time.Since(issued) >= ttl
		if !late || attempt == 3 || r.st.Classify(ans.status, ans.body) != style.SignalExpired {
			return tok, ttl, ans, nil
		}
	}
}

// bad sends token (one the backend must refuse) and records what came back.
func (r *runner) bad(ctx context.Context, name, token, outcome string) error {
	ans, err := r.call(ctx, name, token, token != "")
	if err != nil {
		return err
	}
	seen := orNone(r.st.Classify(ans.status, ans.body))
	want := style.SignalInvalid + " or " + style.SignalExpired
	ok := seen == style.SignalInvalid || seen == style.SignalExpired
	if outcome == ledger.OutcomeExpired {
		want, ok = style.SignalExpired, seen == style.SignalExpired
	}
	r.rep.Checks = append(r.rep.Checks, Check{Name: name, Want: want, Seen: seen, Status: ans.status, Body: shorten(ans.body), OK: ok})
	r.cfg.Ledger.Append(ledger.Event{
		Source: ledger.SourceHarness, Kind: ledger.KindAPI, Device: r.cfg.Device, RID: ans.rid,
		Method: http.MethodGet, Route: r.path(), Outcome: outcome, Status: ans.status,
		Detail: style.WithNote(fmt.Sprintf("backend check, %s: answered HTTP %d %s", name, ans.status, shorten(ans.body)), style.SignalNote(seen)),
	})
	return nil
}

// expire makes tok's expiry happen: through the hook, or by waiting out a
// short TTL. It returns how, or "" when neither is possible.
func (r *runner) expire(ctx context.Context, ttl time.Duration) string {
	if r.cfg.Expire != nil && r.cfg.Expire(ctx) == nil {
		return "expired by admin"
	}
	if ttl <= 0 || r.cfg.MaxWait < 0 || ttl > r.cfg.MaxWait {
		return ""
	}
	// JWT-style expiry is whole seconds: wait a little past it.
	t := time.NewTimer(ttl + 1100*time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ""
	}
	return fmt.Sprintf("waited out its %s TTL", ttl)
}

// login does wx.login on mock WeChat and the style's login call.
func (r *runner) login(ctx context.Context) (string, time.Duration, error) {
	t, err := r.loginTokens(ctx)
	if err != nil {
		return "", 0, err
	}
	if !t.HasExpiresIn || t.ExpiresIn <= 0 {
		return t.AccessToken, r.cfg.AccessTTL, nil // what the user says, or unknown
	}
	return t.AccessToken, time.Duration(t.ExpiresIn) * time.Second, nil
}

// loginTokens does wx.login on mock WeChat and the style's login call, and
// returns what the login answer handed over.
func (r *runner) loginTokens(ctx context.Context) (style.TokenAnswer, error) {
	code, err := r.wxCode(ctx)
	if err != nil {
		return style.TokenAnswer{}, err
	}
	route := r.st.Routes.Login
	a, err := r.styled(ctx, &r.st.Requests.Login, code)
	if err != nil {
		return style.TokenAnswer{}, fmt.Errorf("backendcheck: login at %s: %w", route, err)
	}
	if sig := r.st.Classify(a.status, a.body); sig != style.SignalSuccess {
		return style.TokenAnswer{}, fmt.Errorf("backendcheck: login at %s with a fresh wx.login code answered HTTP %d %s, not the style's success signal %s (is the backend configured with mock WeChat's URL %s?)",
			route, a.status, shorten(a.body), describe(&r.st.Signals.Success), r.cfg.WechatURL)
	}
	t := r.st.ReadTokens(a.header, a.body)
	if t.AccessToken == "" {
		return style.TokenAnswer{}, fmt.Errorf("backendcheck: login at %s answered %s without the access token at %q", route, shorten(a.body), r.st.Answers.AccessToken.String())
	}
	return t, nil
}

// wxCode is what wx.login() gives the device: a fresh code from mock WeChat.
func (r *runner) wxCode(ctx context.Context) (string, error) {
	var wx struct {
		Code string `json:"code"`
	}
	a, err := r.post(ctx, r.cfg.WechatURL+"/__mock/wx/login", map[string]string{"appid": r.cfg.AppID, "user": r.cfg.Device})
	if err != nil {
		return "", fmt.Errorf("backendcheck: wx.login on mock WeChat: %w", err)
	}
	if json.Unmarshal(a.body, &wx) != nil || wx.Code == "" {
		return "", fmt.Errorf("backendcheck: wx.login on mock WeChat answered HTTP %d %s", a.status, shorten(a.body))
	}
	return wx.Code, nil
}

// send makes a body-less admin call.
func (r *runner) send(ctx context.Context, method, url string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return answer{}, err
	}
	r.admin(req)
	return r.do(req)
}

// admin adds the admin token to a call of an admin endpoint.
func (r *runner) admin(req *http.Request) {
	if strings.HasPrefix(req.URL.Path, admingate.Prefix+"/") {
		admingate.Header(req, r.cfg.AdminToken)
	}
}

// styled makes a login, refresh or verify call as the style's template says.
func (r *runner) styled(ctx context.Context, rq *style.Request, value string) (answer, error) {
	req, err := r.st.NewRequest(ctx, r.cfg.BackendURL, rq, value)
	if err != nil {
		return answer{}, err
	}
	return r.do(req)
}

type answer struct {
	status int
	header http.Header
	body   []byte
	rid    string
}

func (r *runner) path() string { return r.st.Routes.Resource + r.cfg.Resource }

// call GETs the protected resource with token placed as the style says
// (withToken false: no token at all).
func (r *runner) call(ctx context.Context, what, token string, withToken bool) (answer, error) {
	r.n++
	rid := fmt.Sprintf("%s-check%d", r.cfg.Device, r.n)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.BackendURL+r.path()+"?rid="+rid, nil)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("X-Request-ID", rid)
	if withToken {
		r.st.SetToken(req.Header, token)
	}
	a, err := r.do(req)
	if err != nil {
		return answer{}, fmt.Errorf("backendcheck: GET %s with a %s: %w", r.path(), what, err)
	}
	a.rid = rid
	return a, nil
}

func (r *runner) post(ctx context.Context, url string, in any) (answer, error) {
	b, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	r.admin(req)
	return r.do(req)
}

func (r *runner) do(req *http.Request) (answer, error) {
	resp, err := r.cfg.HTTP.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return answer{}, err
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

func (r *runner) next(h http.Header) string {
	if r.st.Token.NextHeader == "" {
		return ""
	}
	return strings.TrimSpace(h.Get(r.st.Token.NextHeader))
}

// tamper changes one character in the middle of tok (the payload of a JWT,
// the random part of an opaque token), keeping its alphabet.
func tamper(tok string) string {
	if tok == "" {
		return "x"
	}
	b := []byte(tok)
	i := len(b) / 2
	for j := i; j < len(b); j++ { // skip separators such as the dots of a JWT
		if isAlnum(b[j]) {
			i = j
			break
		}
	}
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func orNone(sig string) string {
	if sig == "" {
		return style.SignalNone
	}
	return sig
}

// describe renders a signal for messages: HTTP 200 with "code": 0.
func describe(sig *style.Signal) string { return "(" + sig.String() + ")" }

func shorten(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "(empty body)"
	}
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
