package probe

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/device"
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
		{"refresh-token-dead", "the refresh token is dead: fall back to wx.login", refreshTokenDead},
		{"wechat-busy", "WeChat answers -1 and 45011 while the client re-logs in: bounded retry", wechatBusy},
		{"refresh-fails", "refresh and re-login fail for good: every waiter gets a clear error", refreshFails},
		{"concurrent-first-login", "many requests at first start: one login per device, codes used once", concurrentFirstLogin},
		{"non-token-401", "a 401 that is not about the token: surfaced, not retried", nonToken401},
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

var get = device.Request{Method: "GET", Path: "/api/orders"}

func oneAtExpiry(ctx context.Context, p *P) error {
	d := p.Devices(1)
	if err := p.Warm(ctx, d); err != nil {
		return err
	}
	p.Mark("expire all tokens")
	if err := p.ExpireAll(ctx); err != nil {
		return err
	}
	o := p.Do(ctx, d[0], get)
	return wantOK(o)
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
	p.Burst(ctx, devs, p.cfg.Concurrency, get)
	return nil
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
	for i, d := range devs {
		for k := 0; k < 3; k++ {
			wg.Add(1)
			go func(d string, n int) {
				defer wg.Done()
				body := fmt.Sprintf(`{"item":"sku-%d","qty":%d,"note":"créme brûlée"}`, n, n+1)
				p.Do(ctx, d, device.Request{Method: "POST", Path: "/api/orders", Body: []byte(body)})
			}(d, i*10+k)
		}
	}
	wg.Wait()
	return nil
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
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Its 401 is decided now but delivered 400ms later, after the refresh.
		p.Do(ctx, d[0], device.Request{Method: "GET", Path: "/api/orders?delay_ms=400"})
	}()
	time.Sleep(50 * time.Millisecond)
	p.Do(ctx, d[0], get)
	wg.Wait()
	// A follow-up request that must not trigger anything.
	return wantOK(p.Do(ctx, d[0], get))
}

func proactiveWindow(ctx context.Context, p *P) error {
	devs := p.Devices(5)
	if err := p.Warm(ctx, devs); err != nil {
		return err
	}
	// Move to 10 seconds before the 2-hour access token expires.
	p.Mark("clock to 10s before expiry")
	p.Clock.Shift(2*time.Hour - 10*time.Second)
	p.Burst(ctx, devs, p.cfg.Concurrency, get)
	return nil
}

func storedExpired(ctx context.Context, p *P) error {
	devs := p.Devices(5)
	if err := p.Warm(ctx, devs); err != nil {
		return err
	}
	p.Mark("clock past access expiry (app restarts with the stored token)")
	p.Clock.Shift(2*time.Hour + time.Minute)
	p.Burst(ctx, devs, p.cfg.Concurrency, get)
	return nil
}

func refreshTokenDead(ctx context.Context, p *P) error {
	devs := p.Devices(5)
	if err := p.Warm(ctx, devs); err != nil {
		return err
	}
	p.Mark("revoke every refresh token family")
	if err := p.Revoke(ctx); err != nil {
		return err
	}
	if err := p.ExpireAll(ctx); err != nil {
		return err
	}
	p.Burst(ctx, devs, 4, get)
	return nil
}

func wechatBusy(ctx context.Context, p *P) error {
	devs := p.Devices(3)
	if err := p.Warm(ctx, devs); err != nil {
		return err
	}
	if err := p.Revoke(ctx); err != nil {
		return err
	}
	if err := p.ExpireAll(ctx); err != nil {
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
	p.Burst(ctx, devs, 4, get)
	return nil
}

func refreshFails(ctx context.Context, p *P) error {
	devs := p.Devices(3)
	if err := p.Warm(ctx, devs); err != nil {
		return err
	}
	if err := p.Revoke(ctx); err != nil {
		return err
	}
	if err := p.ExpireAll(ctx); err != nil {
		return err
	}
	p.Mark("WeChat down for good (-1 on every jscode2session)")
	if err := p.Fault(ctx, map[string]any{"api": "jscode2session", "errcode": -1}); err != nil {
		return err
	}
	outs := p.Burst(ctx, devs, 4, get)
	for _, o := range outs {
		if o.Err == nil && o.Status == 200 {
			return errors.New("a request succeeded although WeChat was down: the probe did not provoke a failed refresh")
		}
	}
	return nil
}

func concurrentFirstLogin(ctx context.Context, p *P) error {
	devs := p.Devices(p.cfg.Devices)
	p.Mark("first start: every device at once")
	p.Burst(ctx, devs, p.cfg.Concurrency, get)
	return nil
}

func nonToken401(ctx context.Context, p *P) error {
	d := p.Devices(1)
	if err := p.Warm(ctx, d); err != nil {
		return err
	}
	o := p.Do(ctx, d[0], device.Request{Method: "GET", Path: "/api/reauth"})
	if o.Err == nil && o.Status != 401 {
		return fmt.Errorf("the caller got HTTP %d for a non-token 401; it should get the 401 itself", o.Status)
	}
	return nil
}

func wantOK(o device.Outcome) error {
	if o.Err != nil {
		return fmt.Errorf("request %s failed: %v", o.RID, o.Err)
	}
	if o.Status != 200 {
		return fmt.Errorf("request %s answered HTTP %d, want 200", o.RID, o.Status)
	}
	return nil
}
