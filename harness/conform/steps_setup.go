package conform

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// --- setup ---

func (w *world) givenDevices(_ context.Context, n string) error {
	k, err := count("device count", n, 1, 10000)
	if err != nil {
		return err
	}
	for i := 1; i <= k; i++ {
		w.declare(fmt.Sprintf("d%d", i))
	}
	return nil
}

func (w *world) givenDevicesLoggedIn(ctx context.Context, n string) error {
	if err := w.givenDevices(ctx, n); err != nil {
		return err
	}
	devs := w.declaredDevices()
	specs := make([]reqSpec, 0, len(devs))
	for _, d := range devs {
		specs = append(specs, reqSpec{dev: d, method: http.MethodGet, path: "/api/profile", name: warmupName(d)})
	}
	names, err := w.sendAll(ctx, specs, false)
	if err != nil {
		return err
	}
	for _, name := range names {
		r, _ := w.request(name)
		if r.out.Lost || r.out.Err != nil || r.out.Status/100 != 2 {
			return w.fail("log-in", fmt.Sprintf("device %s could not log in through the client: its warm-up request %s got %s", r.dev, name, outcomeText(r.out)),
				w.eventsOfRIDs(r.out.RID))
		}
	}
	return nil
}

func (w *world) givenNamedDevice(_ context.Context, name string) error {
	w.declare(name)
	return nil
}

func (w *world) givenReuse(_ context.Context, policy string) error {
	if err := w.needReference("setting the reuse policy"); err != nil {
		return err
	}
	if err := w.needStopped("the reuse policy"); err != nil {
		return err
	}
	w.so.Reuse = policy
	return nil
}

func (w *world) givenAccessTTL(_ context.Context, d string) error {
	v, err := parseSpan(d)
	if err != nil {
		return err
	}
	if err := w.needReference("setting the access-token lifetime"); err != nil {
		return err
	}
	if err := w.needStopped("the access-token lifetime"); err != nil {
		return err
	}
	w.so.AccessTTL = v
	return nil
}

func (w *world) givenRefreshTTL(_ context.Context, d string) error {
	v, err := parseSpan(d)
	if err != nil {
		return err
	}
	if err := w.needReference("setting the refresh-token lifetime"); err != nil {
		return err
	}
	if err := w.needStopped("the refresh-token lifetime"); err != nil {
		return err
	}
	w.so.RefreshTTL = v
	return nil
}

func (w *world) givenQuota(_ context.Context, n string) error {
	k, err := count("quota", n, 1, 1000000)
	if err != nil {
		return err
	}
	if err := w.needStopped("the WeChat minute quota"); err != nil {
		return err
	}
	w.so.MinuteQuota = k
	return nil
}

func (w *world) givenBlocked(ctx context.Context, dev string) error {
	w.declare(dev)
	w.blocked = append(w.blocked, w.user(dev))
	if w.st == nil {
		return nil // applied when the stack starts
	}
	return w.wechatAdmin(ctx, http.MethodPost, "/__admin/blocked", map[string]any{"users": w.blocked})
}

func (w *world) givenSkew(_ context.Context, d, dir string) error {
	v, err := parseSpan(d)
	if err != nil {
		return err
	}
	if w.drv != nil {
		return fmt.Errorf("the device clocks must be set before the first request through the client")
	}
	if dir == "behind" {
		v = -v
	}
	w.skew = v
	return nil
}

func (w *world) givenDeadline(_ context.Context, d string) error {
	v, err := parseSpan(d)
	if err != nil {
		return err
	}
	if v <= 0 || v > 5*time.Minute {
		return fmt.Errorf("request deadline %s: want more than 0 and at most 5 minutes", v)
	}
	if w.drv != nil {
		w.drv.Deadline = v
	}
	w.deadline = v
	return nil
}

// --- time ---

func (w *world) timePasses(_ context.Context, d string) error {
	v, err := parseSpan(d)
	if err != nil {
		return err
	}
	if v <= 0 {
		return fmt.Errorf("%q: time only moves forward", d)
	}
	// The shared clock drives mock WeChat and the embedded backend. An
	// external backend keeps its own time: scenarios that need it to move
	// are tagged @admin and do not run there.
	w.clk.Shift(v)
	w.mark(v.String() + " pass")
	return nil
}

func (w *world) iWait(ctx context.Context, d string) error {
	v, err := parseSpan(d)
	if err != nil {
		return err
	}
	if v > maxRealWait {
		return fmt.Errorf("waiting %s of real time: at most %s", v, maxRealWait)
	}
	return sleep(ctx, v)
}

func (w *world) clockBeforeExpiry(ctx context.Context, d string) error {
	v, err := parseSpan(d)
	if err != nil {
		return err
	}
	if err := w.needReference("moving the clock to the access-token expiry"); err != nil {
		return err
	}
	w.waitBG(w.deadline + 2*time.Second)
	// The earliest expiry among the tokens the devices currently hold.
	vw := w.view()
	latest := map[string]time.Time{}
	for _, e := range vw.events {
		if e.Source != ledger.SourceBackend || e.Outcome != ledger.OutcomeOK ||
			(e.Kind != ledger.KindBackendLogin && e.Kind != ledger.KindRefresh) {
			continue
		}
		exp := e.Expires
		if exp.IsZero() { // the event does not say: the configured lifetime does
			exp = e.Time.Add(w.accessTTL())
		}
		if dev := vw.deviceOf(e); dev != "" {
			latest[dev] = exp
		}
	}
	if len(latest) == 0 {
		return fmt.Errorf("no device holds an access token yet (log devices in first)")
	}
	var target time.Time
	for _, t := range latest {
		if target.IsZero() || t.Before(target) {
			target = t
		}
	}
	shift := target.Add(-v).Sub(w.clk.Now())
	if shift < 0 {
		return fmt.Errorf("the earliest access token expires at %s, less than %s from now: the clock cannot go back", target.Format(time.RFC3339), v)
	}
	w.clk.Shift(shift)
	w.mark(fmt.Sprintf("clock to %s before access-token expiry", v))
	return nil
}

// --- expiry and revocation ---

func (w *world) expireAll(ctx context.Context) error {
	w.mark("expire all access tokens")
	w.disrupted()
	return w.backendAdmin(ctx, "expiring tokens", "/__admin/expire", map[string]any{"all": true})
}

func (w *world) expireDevice(ctx context.Context, dev string) error {
	w.mark("expire the access tokens of " + dev)
	w.disrupted()
	return w.backendAdmin(ctx, "expiring tokens", "/__admin/expire", map[string]any{"users": []string{w.openid(dev)}})
}

func (w *world) revokeAll(ctx context.Context) error {
	w.mark("revoke every refresh token family")
	w.disrupted()
	return w.backendAdmin(ctx, "revoking refresh tokens", "/__admin/revoke", map[string]any{"all": true})
}

func (w *world) revokeDevice(ctx context.Context, dev string) error {
	w.mark("revoke the refresh token families of " + dev)
	w.disrupted()
	return w.backendAdmin(ctx, "revoking refresh tokens", "/__admin/revoke", map[string]any{"users": []string{w.openid(dev)}})
}

// --- WeChat faults ---

func (w *world) faultAlways(ctx context.Context, api, errcode string) error {
	n, err := strconv.Atoi(errcode)
	if err != nil {
		return fmt.Errorf("errcode %q is not a number", errcode)
	}
	w.disrupted()
	return w.wechatAdmin(ctx, http.MethodPost, "/__admin/faults", map[string]any{"api": api, "errcode": n})
}

func (w *world) faultCount(ctx context.Context, api, errcode, times string) error {
	n, err := strconv.Atoi(errcode)
	if err != nil {
		return fmt.Errorf("errcode %q is not a number", errcode)
	}
	k, err := parseTimes(times)
	if err != nil {
		return err
	}
	w.disrupted()
	return w.wechatAdmin(ctx, http.MethodPost, "/__admin/faults", map[string]any{"api": api, "errcode": n, "count": k})
}

// faultTable turns each row into the JSON of POST /__admin/faults. Types are
// converted per documented field; an unknown column is passed through so the
// mock's own validation names it.
func (w *world) faultTable(ctx context.Context, t *godog.Table) error {
	if t == nil || len(t.Rows) < 2 {
		return fmt.Errorf("the fault table needs a header row (api, errcode, count, …) and at least one rule row")
	}
	var head []string
	for _, c := range t.Rows[0].Cells {
		head = append(head, strings.TrimSpace(c.Value))
	}
	w.disrupted()
	for i, row := range t.Rows[1:] {
		rule := map[string]any{}
		for j, c := range row.Cells {
			if j >= len(head) {
				break
			}
			k, v := head[j], strings.TrimSpace(c.Value)
			if v == "" {
				continue
			}
			switch k {
			case "errcode", "status", "count":
				n, err := strconv.Atoi(v)
				if err != nil {
					return fmt.Errorf("fault row %d: %s %q is not a whole number", i+1, k, v)
				}
				rule[k] = n
			case "probability":
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return fmt.Errorf("fault row %d: probability %q is not a number", i+1, v)
				}
				rule[k] = f
			case "reset", "hang":
				b, err := strconv.ParseBool(v)
				if err != nil {
					return fmt.Errorf("fault row %d: %s %q is not true/false", i+1, k, v)
				}
				rule[k] = b
			case "users":
				var us []string
				for _, u := range strings.Split(v, ",") {
					if u = strings.TrimSpace(u); u != "" {
						us = append(us, w.user(u))
					}
				}
				rule[k] = us
			default:
				rule[k] = v
			}
		}
		if err := w.wechatAdmin(ctx, http.MethodPost, "/__admin/faults", rule); err != nil {
			return fmt.Errorf("fault row %d: %w", i+1, err)
		}
	}
	return nil
}

func (w *world) wechatUnreachable(ctx context.Context) error {
	w.disrupted()
	return w.wechatAdmin(ctx, http.MethodPost, "/__admin/faults", map[string]any{"api": "jscode2session", "reset": true})
}

func (w *world) clearFaults(ctx context.Context) error {
	return w.wechatAdmin(ctx, http.MethodDelete, "/__admin/faults", nil)
}

// --- parsing helpers ---

func count(what, s string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s %q: want a whole number from %d to %d", what, s, lo, hi)
	}
	return n, nil
}

// parseTimes reads "once", "twice", "3 times", "1 time".
func parseTimes(s string) (int, error) {
	switch s {
	case "once":
		return 1, nil
	case "twice":
		return 2, nil
	}
	f := strings.Fields(s)
	if len(f) == 2 && strings.HasPrefix(f[1], "time") {
		if n, err := strconv.Atoi(f[0]); err == nil && n >= 0 {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%q: want once, twice or <n> times", s)
}

var spanUnits = map[string]time.Duration{
	"ms": time.Millisecond, "millisecond": time.Millisecond, "milliseconds": time.Millisecond,
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

// parseSpan reads durations the way a QA engineer writes them: "2 hours",
// "1 hour 59 minutes and 50 seconds", "an hour", "90s", "1h30m", "500 ms".
func parseSpan(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if d, err := time.ParseDuration(strings.ReplaceAll(in, " ", "")); err == nil {
		return d, nil
	}
	f := strings.Fields(strings.NewReplacer(",", " ", " and ", " ").Replace(strings.ToLower(in)))
	var total time.Duration
	seen := false
	for i := 0; i < len(f); i++ {
		var n float64
		switch f[i] {
		case "a", "an", "one":
			n = 1
		default:
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return 0, fmt.Errorf("duration %q: %q is not a number (write e.g. \"2 hours\", \"90 seconds\", \"1h30m\")", s, f[i])
			}
			n = v
		}
		if i+1 >= len(f) {
			return 0, fmt.Errorf("duration %q: %q has no unit (ms, seconds, minutes, hours, days)", s, f[i])
		}
		unit, ok := spanUnits[f[i+1]]
		if !ok {
			return 0, fmt.Errorf("duration %q: unknown unit %q (ms, seconds, minutes, hours, days)", s, f[i+1])
		}
		total += time.Duration(n * float64(unit))
		seen = true
		i++
	}
	if !seen {
		return 0, fmt.Errorf("duration %q: write e.g. \"2 hours\", \"90 seconds\", \"1h30m\"", s)
	}
	return total, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
