package conform

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/cucumber/godog"

	"github.com/tokenstorm/tokenstorm/harness/backendcheck"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// Direct backend steps speak the bearer dialect of SPEC §4 (its routes and
// member names); scenarios using them carry @style:bearer.
const (
	routeLogin   = "/auth/login"
	routeRefresh = "/auth/refresh"
)

func jsonBytes(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func (w *world) needBearer() error {
	if s := w.r.sty.Name; s != style.Default {
		return fmt.Errorf("direct backend steps speak the bearer style, but the backend style is %q; tag the scenario @style:bearer so it is skipped there", s)
	}
	return nil
}

func (w *world) backendURL(ctx context.Context, path string) (string, error) {
	if err := w.needBearer(); err != nil {
		return "", err
	}
	st, err := w.stack(ctx)
	if err != nil {
		return "", err
	}
	return st.BackendURL + path, nil
}

// loginWith posts a code to the login route and keeps the pair on success.
func (w *world) loginWith(ctx context.Context, dev, code string) (*answer, error) {
	u, err := w.backendURL(ctx, routeLogin)
	if err != nil {
		return nil, err
	}
	w.declare(dev)
	a := w.call(ctx, http.MethodPost, u, nil, jsonBytes(map[string]string{"code": code}))
	if a.Err != nil && a.Status == 0 {
		return a, fmt.Errorf("login: %w", a.Err)
	}
	if a.Status == http.StatusOK {
		acc, _ := a.JSON["access_token"].(string)
		ref, _ := a.JSON["refresh_token"].(string)
		w.mu.Lock()
		p := w.pairs[dev]
		if p == nil {
			p = &pair{}
			w.pairs[dev] = p
		}
		p.prevAccess, p.prevRefresh = p.access, p.refresh
		p.access, p.refresh = acc, ref
		w.mu.Unlock()
	}
	return a, nil
}

func (w *world) backendLogin(ctx context.Context, dev string) error {
	code, err := w.mintCode(ctx, dev)
	if err != nil {
		return err
	}
	if code == "" {
		return fmt.Errorf("wx.login gave device %s no code: %s", dev, w.answers[len(w.answers)-1].describe())
	}
	_, err = w.loginWith(ctx, dev, code)
	return err
}

func (w *world) backendLoginLastCode(ctx context.Context, dev string) error {
	code, err := w.code(dev)
	if err != nil {
		return err
	}
	_, err = w.loginWith(ctx, dev, code)
	return err
}

func (w *world) backendLoginCode(ctx context.Context, dev, code string) error {
	_, err := w.loginWith(ctx, dev, code)
	return err
}

func (w *world) backendLoggedIn(ctx context.Context, dev string) error {
	if err := w.backendLogin(ctx, dev); err != nil {
		return err
	}
	a, _ := w.last()
	if a.Status != http.StatusOK {
		return w.fail("direct login", fmt.Sprintf("device %s could not log in to the backend: %s", dev, a.describe()), w.recentEvents(12))
	}
	return nil
}

func (w *world) pair(dev string) (pair, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pairs[dev]
	if p == nil {
		return pair{}, fmt.Errorf("device %s has no tokens from a direct login: add \"Given device %s is logged in to the backend\" first", dev, dev)
	}
	return *p, nil
}

// refreshWith presents a refresh token; on success the pair rotates.
func (w *world) refreshWith(ctx context.Context, dev, token string) (*answer, error) {
	u, err := w.backendURL(ctx, routeRefresh)
	if err != nil {
		return nil, err
	}
	a := w.call(ctx, http.MethodPost, u, nil, jsonBytes(map[string]string{"refresh_token": token}))
	if a.Err != nil && a.Status == 0 {
		return a, fmt.Errorf("refresh: %w", a.Err)
	}
	w.rotate(dev, a)
	return a, nil
}

func (w *world) rotate(dev string, a *answer) {
	if a.Status != http.StatusOK {
		return
	}
	acc, _ := a.JSON["access_token"].(string)
	ref, _ := a.JSON["refresh_token"].(string)
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.pairs[dev]
	if p == nil {
		p = &pair{}
		w.pairs[dev] = p
	}
	p.prevAccess, p.prevRefresh = p.access, p.refresh
	p.access = acc
	if ref != "" {
		p.refresh = ref
	}
}

func (w *world) backendRefresh(ctx context.Context, dev string) error {
	p, err := w.pair(dev)
	if err != nil {
		return err
	}
	_, err = w.refreshWith(ctx, dev, p.refresh)
	return err
}

func (w *world) backendRefreshPrevious(ctx context.Context, dev string) error {
	p, err := w.pair(dev)
	if err != nil {
		return err
	}
	if p.prevRefresh == "" {
		return fmt.Errorf("device %s has no previous refresh token: refresh once first", dev)
	}
	_, err = w.refreshWith(ctx, dev, p.prevRefresh)
	return err
}

// backendParallelRefresh releases n refreshes of one token at once (a
// barrier), the race a client without single-flight causes.
func (w *world) backendParallelRefresh(ctx context.Context, dev, n string) error {
	k, err := count("parallel refreshes", n, 1, 1000)
	if err != nil {
		return err
	}
	p, err := w.pair(dev)
	if err != nil {
		return err
	}
	u, err := w.backendURL(ctx, routeRefresh)
	if err != nil {
		return err
	}
	body := jsonBytes(map[string]string{"refresh_token": p.refresh})
	out := make([]*answer, k)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = w.call(ctx, http.MethodPost, u, nil, body)
		}()
	}
	close(start)
	wg.Wait()
	w.mu.Lock()
	w.parallel = out
	w.mu.Unlock()
	for _, a := range out {
		if a.Status == http.StatusOK {
			w.rotate(dev, a)
			break
		}
	}
	return nil
}

func (w *world) backendCall(ctx context.Context, dev, m, path, kind string) error {
	return w.protected(ctx, dev, m, path, kind, nil)
}

func (w *world) backendCallBody(ctx context.Context, dev, m, path string, doc *godog.DocString) error {
	return w.protected(ctx, dev, m, path, "its access token", doc)
}

func (w *world) protected(ctx context.Context, dev, m, path, kind string, doc *godog.DocString) error {
	u, err := w.backendURL(ctx, path)
	if err != nil {
		return err
	}
	h := http.Header{}
	if kind != "no token" {
		p, err := w.pair(dev)
		if err != nil {
			return err
		}
		tok := p.access
		switch kind {
		case "its previous access token":
			if p.prevAccess == "" {
				return fmt.Errorf("device %s has no previous access token: refresh once first", dev)
			}
			tok = p.prevAccess
		case "a tampered access token":
			tok = tamper(tok)
		case "an unsigned access token":
			tok = unsigned(tok)
		}
		h.Set("Authorization", "Bearer "+tok)
	}
	var body []byte
	if doc != nil {
		var ct string
		body, ct = docBody(doc)
		if ct != "" {
			h.Set("Content-Type", ct)
		}
	}
	a := w.call(ctx, m, u, h, body)
	if a.Err != nil && a.Status == 0 {
		return fmt.Errorf("%s %s: %w", m, path, a.Err)
	}
	return nil
}

// tamper changes one character in the middle of a JWT's signature, so the
// token is well-formed but its signature no longer verifies. (The last
// character is avoided: its low bits may be padding that decodes the same.)
func tamper(jwt string) string {
	i := strings.LastIndexByte(jwt, '.')
	if i < 0 || len(jwt)-i < 8 {
		return jwt + "x"
	}
	b := []byte(jwt)
	k := i + (len(jwt)-i)/2
	if b[k] == 'A' {
		b[k] = 'B'
	} else {
		b[k] = 'A'
	}
	return string(b)
}

// unsigned re-issues a JWT's claims with alg "none" and no signature, the
// classic downgrade a backend must refuse.
func unsigned(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return jwt
	}
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	return head + "." + parts[1] + "."
}

func (w *world) parallelSucceeded(_ context.Context, n string) error {
	return w.parallelAnswered(context.Background(), n, "200")
}

func (w *world) parallelAnswered(_ context.Context, n, status string) error {
	want, err := count("count", n, 0, 1000)
	if err != nil {
		return err
	}
	st, err := count("status", status, 100, 599)
	if err != nil {
		return err
	}
	w.mu.Lock()
	par := append([]*answer(nil), w.parallel...)
	w.mu.Unlock()
	if len(par) == 0 {
		return fmt.Errorf("no parallel refreshes were sent in this scenario")
	}
	got := 0
	var lines []string
	for i, a := range par {
		if a.Status == st {
			got++
		}
		lines = append(lines, fmt.Sprintf("  %2d. %s", i+1, a.describe()))
	}
	if got != want {
		what := fmt.Sprintf("%d of the parallel refreshes were answered %d", want, st)
		if st == 200 {
			what = fmt.Sprintf("%d of the parallel refreshes succeeded", want)
		}
		return w.fail(what, fmt.Sprintf("%s: got %d of %d\nanswers:\n%s", what, got, len(par), strings.Join(lines, "\n")), w.eventsOfKind("refresh"))
	}
	return nil
}

// backendSignals runs the backend check (harness/backendcheck) against the
// scenario's backend — the embedded one or a backend under test — in the
// run's style, and requires expiry-signalled to hold: tampered, garbage and
// missing tokens get the style's invalid (or expired) signal and an expired
// token its expired signal, never a success or an answer matching no signal.
// It needs nothing but the style's routes, so it runs against --backend too.
func (w *world) backendSignals(ctx context.Context) error {
	st, err := w.stack(ctx)
	if err != nil {
		return err
	}
	dev := "backend-check"
	w.declare(dev)
	w.mark("backend check: valid, tampered, garbage, missing and expired tokens")
	cfg := backendcheck.Config{
		BackendURL: st.BackendURL, WechatURL: st.WechatURL, AppID: st.AppID,
		Style: w.r.sty, Device: w.user(dev), HTTP: w.hc, Ledger: w.led,
		// The reference backend's admin API; a backend under test without
		// it is waited out instead (an access-token lifetime of at most
		// MaxWait).
		Expire: func(ctx context.Context) error {
			return w.admin(ctx, http.MethodPost, st.BackendURL+style.AdminPrefix+"expire", map[string]any{"all": true})
		},
	}
	rep, err := backendcheck.Run(ctx, cfg)
	if rep != nil {
		w.mark(rep.Summary())
		w.observeGlobal()
	}
	what := summary.ExpirySignalled
	if err != nil {
		return w.fail(what, fmt.Sprintf("the backend check could not judge the backend at %s (style %s): %v", st.BackendURL, w.r.sty.Name, err), w.recentEvents(12))
	}
	s, err := w.judge()
	if err != nil {
		return err
	}
	if inv := s.Invariants[what]; inv.Violations > 0 {
		text, ev := w.formatViolations(what, inv)
		return w.failWithText(what, text+"\nbackend check: "+w.featureText(rep.Summary()), ev)
	}
	for _, c := range rep.Checks {
		if c.Skipped != "" {
			return w.fail(what, fmt.Sprintf("the backend check could not see an expired token: %s. Start the backend under test with a short access-token lifetime (at most %s; docs/styles.md, \"Gate your backend\") or serve POST %sexpire {\"all\":true}.\nbackend check: %s",
				c.Skipped, backendcheck.DefaultMaxWait, style.AdminPrefix, w.featureText(rep.Summary())), nil)
		}
	}
	return nil
}

// observeGlobal feeds the backend check's observations to the run's checker
// (Options.Global), so that summary.json's expiry-signalled judges them as in
// `tokenstorm run`'s backend-signals probe. Only the harness's own api events
// are fed: the rest of a backend scenario's ledger (direct logins, parallel
// refreshes) is no client's behaviour.
func (w *world) observeGlobal() {
	g := w.r.opts.Global
	if g == nil || w.unsub != nil { // an @client scenario feeds it already
		return
	}
	g.SetScenario(w.name)
	for _, e := range w.led.Events() {
		if e.Source == ledger.SourceHarness && e.Kind == ledger.KindAPI {
			g.Observe(e)
		}
	}
}
