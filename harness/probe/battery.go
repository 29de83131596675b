package probe

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/backendcheck"
	"github.com/tokenstorm/tokenstorm/harness/check"
	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/device"
	"github.com/tokenstorm/tokenstorm/harness/style"
)

// All returns the built-in battery, in the order `tokenstorm run` runs it.
func All() []Probe {
	return []Probe{
		{"one-at-expiry", "one request meets an expired token: one refresh, one replay", oneAtExpiry},
		{"concurrent-expiry", "many requests in flight per device when the token expires: refresh storm, lost requests", concurrentExpiry},
		{"post-at-expiry", "a POST meets expiry: replay with the same body, executed once", postAtExpiry},
		{"late-401", "a slow request's 401 arrives after the refresh finished", late401},
		{"proactive-window", "requests inside the proactive-refresh window", proactiveWindow},
		{"stored-expired-token", "the app starts with a stored, already expired token", storedExpired},
		{"app-relaunch", "the app is reopened with its stored token expired: the runtime restarts, App onLaunch/onShow run again", appRelaunch},
		{"refresh-token-dead", "the refresh token is dead: fall back to wx.login", refreshTokenDead},
		{"wechat-busy", "WeChat answers -1 and 45011 while the client re-logs in: bounded retry", wechatBusy},
		{"refresh-fails", "refresh and re-login fail for good: every waiter gets a clear error", refreshFails},
		{"concurrent-first-login", "many requests at first start: one login per device, codes used once", concurrentFirstLogin},
		{"wx-login-fails", "wx.login itself fails (its fail callback) while requests wait for a re-login: every waiter gets a clear error", wxLoginFails},
		{"network-fails-refresh", "the refresh answer is lost on the way back (network error) after the backend rotated: a bounded retry, every request settles", networkFailsRefresh},
		{"network-fails-resource", "a resource's answer is lost on the way back (network error): the caller gets a clear error, nothing is made up", networkFailsResource},
		{"non-token-401", "a 401 that is not about the token: surfaced, not retried", nonToken401},
		{"backend-signals", "the backend answers tampered, garbage, missing and expired tokens with the style's signals, never an empty success", backendSignals},
	}
}

// Find returns the probes with the given names (all when names is empty).
func Find(names []string) ([]Probe, error) {
	if len(names) == 0 {
		return All(), nil
	}
	by := map[string]Probe{}
	for _, p := range All() {
		by[p.Name] = p
	}
	var out []Probe
	for _, n := range names {
		p, ok := by[n]
		if !ok {
			return nil, fmt.Errorf("unknown probe %q", n)
		}
		out = append(out, p)
	}
	return out, nil
}

func oneAtExpiry(ctx context.Context, p *P) error {
	d := p.Devices(1)
	if err := p.Warm(ctx, d); err != nil {
		return err
	}
	p.Mark("expire all tokens")
	if err := p.ExpireAll(ctx); err != nil {
		return err
	}
	o := p.Do(ctx, d[0], p.Get("orders"))
	return p.wantOK(o)
}

func concurrentExpiry(ctx context.Context, p *P) error {
	devs := p.Devices(p.cfg.Devices)
	if err := p.Warm(ctx, devs); err != nil {
		return err
	}
	p.Mark("expire all tokens")
	if err := p.ExpireAll(ctx); err != nil {
		return err
	}
	return p.wantAll(p.Burst(ctx, devs, p.cfg.Concurrency, p.Get("orders")))
}

func postAtExpiry(ctx context.Context, p *P) error {
	devs := p.Devices(3)
	if err := p.Warm(ctx, devs); err != nil {
		return err
	}
	if err := p.ExpireAll(ctx); err != nil {
		return err
	}
	p.Mark("expire all tokens")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var outs []device.Outcome
	for i, d := range devs {
		for k := 0; k < 3; k++ {
			wg.Add(1)
			go func(d string, n int) {
				defer wg.Done()
				body := fmt.Sprintf(`{"item":"sku-%d","qty":%d,"note":"créme brûlée"}`, n, n+1)
				o := p.Do(ctx, d, device.Request{Method: "POST", Path: p.Path("orders"), Body: []byte(body)})
				mu.Lock()
				outs = append(outs, o)
				mu.Unlock()
			}(d, i*10+k)
		}
	}
	wg.Wait()
	return p.wantAll(outs)
}

func late401(ctx context.Context, p *P) error {
	d := p.Devices(1)
	if err := p.Warm(ctx, d); err != nil {
		return err
	}
	if err := p.ExpireAll(ctx); err != nil {
		return err
	}
	p.Mark("expire; one slow request, then a fast one")
	var wg sync.WaitGroup
	var slow device.Outcome
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Its 401 is decided now but delivered 400ms later, after the refresh.
		slow = p.Do(ctx, d[0], p.Get("orders?delay_ms=400"))
	}()
	time.Sleep(50 * time.Millisecond)
	fast := p.Do(ctx, d[0], p.Get("orders"))
	wg.Wait()
	if err := p.wantAll([]device.Outcome{slow, fast}); err != nil {
		return err
	}
	// A follow-up request that must not trigger anything.
	return p.wantOK(p.Do(ctx, d[0], p.Get("orders")))
}

func proactiveWindow(ctx context.Context, p *P) error {
	devs := p.Devices(5)
	if err := p.Warm(ctx, devs); err != nil {
		return err
	}
	// Move to 10 seconds before the 2-hour access token expires.
	p.Mark("clock to 10s before expiry")
	if err := p.Shift(2*time.Hour - 10*time.Second); err != nil {
		return err
	}
	return p.wantAll(p.Burst(ctx, devs, p.cfg.Concurrency, p.Get("orders")))
}

func appRelaunch(ctx context.Context, p *P) error {
	if err := p.needsEmbedded("controllable clock"); err != nil {
		return err
	}
	rl, ok := p.Client.(client.Relauncher)
	if !ok {
		return Skip("this client kind has no app runtime to restart (only js: clients can be relaunched); stored-expired-token covers the stored token")
	}
	devs := p.Devices(5)
	if err := p.Warm(ctx, devs); err != nil {
		return err
	}
	if err := p.Shift(2*time.Hour + time.Minute); err != nil {
		return err
	}
	p.Mark("clock past access expiry; every device relaunched with its storage kept")
	if err := rl.Relaunch(ctx, devs...); err != nil {
		return fmt.Errorf("relaunching the devices: %w", err)
	}
	return p.wantAll(p.Burst(ctx, devs, p.cfg.Concurrency, p.Get("orders")))
}

func storedExpired(ctx context.Context, p *P) error {
	devs := p.Devices(5)
	if err := p.Warm(ctx, devs); err != nil {
		return err
	}
	p.Mark("clock past access expiry (app restarts with the stored token)")
	if err := p.Shift(2*time.Hour + time.Minute); err != nil {
		return err
	}
	return p.wantAll(p.Burst(ctx, devs, p.cfg.Concurrency, p.Get("orders")))
}

// loggedInWithDeadRefresh logs n devices in, then revokes every refresh
// token family and expires every access token: the next request of each
// device needs a new wx.login.
func loggedInWithDeadRefresh(ctx context.Context, p *P, n int) ([]string, error) {
	devs := p.Devices(n)
	if err := p.Warm(ctx, devs); err != nil {
		return nil, err
	}
	p.Mark("revoke every refresh token family, expire every access token")
	if err := p.Revoke(ctx); err != nil {
		return nil, err
	}
	return devs, p.ExpireAll(ctx)
}

func refreshTokenDead(ctx context.Context, p *P) error {
	devs, err := loggedInWithDeadRefresh(ctx, p, 5)
	if err != nil {
		return err
	}
	return p.wantAll(p.Burst(ctx, devs, 4, p.Get("orders")))
}

func wechatBusy(ctx context.Context, p *P) error {
	devs, err := loggedInWithDeadRefresh(ctx, p, 3)
	if err != nil {
		return err
	}
	p.Mark("WeChat busy: -1 then 45011, twice per user")
	for _, d := range devs {
		if err := p.Fault(ctx, map[string]any{"api": "jscode2session", "errcode": -1, "count": 1, "users": []string{d}}); err != nil {
			return err
		}
		if err := p.Fault(ctx, map[string]any{"api": "jscode2session", "errcode": 45011, "count": 1, "users": []string{d}}); err != nil {
			return err
		}
	}
	// Two busy answers per user are within any reasonable retry bound.
	return p.wantAll(p.Burst(ctx, devs, 4, p.Get("orders")))
}

func refreshFails(ctx context.Context, p *P) error {
	devs, err := loggedInWithDeadRefresh(ctx, p, 3)
	if err != nil {
		return err
	}
	p.Mark("WeChat down for good (-1 on every jscode2session)")
	if err := p.Fault(ctx, map[string]any{"api": "jscode2session", "errcode": -1}); err != nil {
		return err
	}
	return p.wantSettledWithError(p.Burst(ctx, devs, 4, p.Get("orders")), "WeChat was down for good")
}

func wxLoginFails(ctx context.Context, p *P) error {
	devs, err := loggedInWithDeadRefresh(ctx, p, 3)
	if err != nil {
		return err
	}
	p.Mark("wx.login fails for good (the device side of WeChat answers -1)")
	if err := p.Fault(ctx, map[string]any{"api": "wx.login", "errcode": -1}); err != nil {
		return err
	}
	return p.wantSettledWithError(p.Burst(ctx, devs, 4, p.Get("orders")), "wx.login failed")
}

// wantSettledWithError requires every outcome to be an error surfaced to
// its caller (or a non-success answer): nothing may succeed while cause,
// and nothing may be left without an answer.
func (p *P) wantSettledWithError(outs []device.Outcome, cause string) error {
	for _, o := range outs {
		switch {
		case o.Lost:
			return fmt.Errorf("request %s got no answer: when %s every waiter must get a clear error", o.RID, cause)
		case o.Err == nil && p.Style.Classify(o.Status, o.Body) == style.SignalSuccess:
			return fmt.Errorf("request %s succeeded although %s: the probe did not provoke the failure", o.RID, cause)
		}
	}
	if len(outs) == 0 {
		return errors.New("no request was issued")
	}
	return nil
}

func networkFailsRefresh(ctx context.Context, p *P) error {
	if err := p.needsEmbedded("servers, to cut a connection"); err != nil {
		return err
	}
	if p.Style.Routes.Refresh == "" {
		return Skip("the " + p.Style.Name + " style has no refresh route")
	}
	devs := p.Devices(3)
	if err := p.Warm(ctx, devs); err != nil {
		return err
	}
	if err := p.ExpireAll(ctx); err != nil {
		return err
	}
	p.Mark("expire; the answer of the next refresh of each device is lost after the backend rotated")
	p.Stack.DropAnswers(p.Style.Routes.Refresh, len(devs))
	outs := p.Burst(ctx, devs, 4, p.Get("orders"))
	for _, o := range outs {
		if o.Lost {
			return fmt.Errorf("request %s got no answer after a refresh failed with a network error", o.RID)
		}
	}
	return nil
}

func networkFailsResource(ctx context.Context, p *P) error {
	if err := p.needsEmbedded("servers, to cut a connection"); err != nil {
		return err
	}
	d := p.Devices(1)
	if err := p.Warm(ctx, d); err != nil {
		return err
	}
	p.Mark("the answer of the next resource request is lost on the way back")
	p.Stack.DropAnswers(p.Style.Routes.Resource, 1)
	o := p.Do(ctx, d[0], p.Get("orders"))
	if o.Lost {
		return fmt.Errorf("request %s got no answer after a network error: the caller must get a clear error", o.RID)
	}
	// A retry that succeeds is fine too; what is required is an answer.
	return p.wantOK(p.Do(ctx, d[0], p.Get("orders")))
}

func concurrentFirstLogin(ctx context.Context, p *P) error {
	devs := p.Devices(p.cfg.Devices)
	p.Mark("first start: every device at once")
	return p.wantAll(p.Burst(ctx, devs, p.cfg.Concurrency, p.Get("orders")))
}

func nonToken401(ctx context.Context, p *P) error {
	// The reference backend answers <resource>reauth with the style's
	// not_token signal; a backend under test has no such route.
	if err := p.needsEmbedded(p.Path("reauth") + " route (a refusal that is not about the token)"); err != nil {
		return err
	}
	d := p.Devices(1)
	if err := p.Warm(ctx, d); err != nil {
		return err
	}
	o := p.Do(ctx, d[0], p.Get("reauth"))
	if why := check.NotTokenRefusal(p.Style, check.Answer{Status: o.Status, Body: o.Body, Err: o.Err, Lost: o.Lost}); why != "" {
		return fmt.Errorf("request %s: %s", o.RID, why)
	}
	return nil
}

// backendSignals looks at the backend from the outside (harness/backendcheck):
// it needs no admin API, ledger or clock of the backend, so it is how a
// backend under test is judged. Its observations are ledger events that
// expiry-signalled judges.
func backendSignals(ctx context.Context, p *P) error {
	cfg := backendcheck.Config{
		BackendURL: p.Stack.BackendURL, WechatURL: p.Stack.WechatURL, AppID: p.Stack.AppID,
		Style: p.Style, Device: p.Device(0), HTTP: p.http, Ledger: p.Stack.Ledger,
		MaxWait: p.cfg.MaxExpiryWait, AccessTTL: p.cfg.AccessTTL,
		Expire: func(ctx context.Context) error {
			return p.admin(ctx, p.Stack.BackendURL+style.AdminPrefix+"expire", map[string]any{"all": true})
		},
	}
	p.Mark("backend check: valid, tampered, garbage, missing and expired tokens")
	rep, err := backendcheck.Run(ctx, cfg)
	if rep != nil {
		p.Mark(rep.Summary())
	}
	if err != nil {
		return err
	}
	// An expiry that could not be seen is not a pass: the probe says why.
	for _, c := range rep.Checks {
		if c.Skipped != "" {
			return Skip(fmt.Sprintf("%s not checked: %s; the other checks held (%d). Give --access-ttl D (the backend's token lifetime, at most --expiry-wait) or start the backend with a short one (docs/ci.md)", c.Name, c.Skipped, len(rep.Checks)-1))
		}
	}
	return nil
}
