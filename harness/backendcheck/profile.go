package backendcheck

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// ParallelRefreshes is how many refreshes Profile sends at once with one
// refresh token (Keycloak's test: exactly one may succeed under strict
// rotation).
const ParallelRefreshes = 8

// reuseBurst is how often Profile presents a rotated refresh token again
// right after its rotation. A reuse count of k < reuseBurst (Keycloak's
// "Refresh Token Max Reuse" is typically 1..10) is refused at the (k+1)th
// presentation and so measured exactly, up to MaxReuseCount; accepted every
// time, the policy is a grace window or a larger count, told apart by time.
const reuseBurst = MaxReuseCount + 1

// MaxReuseCount is the largest reuse count Profile measures exactly.
const MaxReuseCount = 16

// revokedRecheck is how long after a revocation Profile presents the
// family's newest refresh token again.
const revokedRecheck = time.Second

// DefaultGraceBound is the longest grace window Profile measures: a rotated
// refresh token accepted reuseBurst times at once and still this long after
// its rotation is reported "tolerated" (a longer window, or a reuse count
// above MaxReuseCount).
const DefaultGraceBound = 4 * time.Second

// graceSteps is how many bisections Profile makes inside the bracket a
// doubling delay found: the window is known to within an eighth of it.
const graceSteps = 3

// Profile measures a backend through its public routes: the lifetimes its
// login announces, whether a refresh rotates the refresh token, what
// presenting a rotated token again gets (strict, a reuse count, a grace
// window: measureReuse; and whether a refused reuse revokes the family),
// and how many of ParallelRefreshes parallel refreshes with
// one token succeed. Everything is tried, nothing is configured; what
// cannot be measured is said in Notes.
func Profile(ctx context.Context, cfg Config) (*summary.BackendProfile, error) {
	if cfg.Style == nil {
		return nil, errors.New("backendcheck: Config.Style is required")
	}
	if cfg.HTTP == nil {
		cfg.HTTP = defaultHTTP()
		defer cfg.HTTP.CloseIdleConnections()
	}
	if cfg.Device == "" {
		cfg.Device = "backend-profile"
	}
	r := &runner{cfg: cfg, st: cfg.Style, rep: &Report{}}
	p := &summary.BackendProfile{Style: cfg.Style.Name, Signals: map[string]int{}}
	var (
		mu                sync.Mutex // the parallel refreshes record too
		logins, refreshes []float64
	)

	login := func() (style.TokenAnswer, error) {
		began := time.Now()
		t, err := r.loginTokens(ctx)
		logins = append(logins, ms(time.Since(began)))
		if err == nil {
			p.Signals[style.SignalSuccess]++
		}
		return t, err
	}
	refresh := func(token string) (style.TokenAnswer, string, error) {
		began := time.Now()
		a, err := r.styled(ctx, &r.st.Requests.Refresh, token)
		mu.Lock()
		defer mu.Unlock()
		refreshes = append(refreshes, ms(time.Since(began)))
		if err != nil {
			return style.TokenAnswer{}, "", err
		}
		sig := orNone(r.st.Classify(a.status, a.body))
		p.Signals[sig]++
		if sig != style.SignalSuccess {
			return style.TokenAnswer{}, sig, nil
		}
		return r.st.ReadTokens(a.header, a.body), sig, nil
	}

	first, err := login()
	if err != nil {
		return nil, err
	}
	r.loginChecks(ctx, p)
	p.AccessTTLSeconds, p.RefreshTTLSeconds = first.ExpiresIn, first.RefreshExpiresIn
	if !first.HasExpiresIn {
		p.Notes = append(p.Notes, "the login answer does not say how long the access token lives (no expires_in)")
	}
	defer func() {
		p.LoginMS, p.RefreshMS = percentiles(logins), percentiles(refreshes)
	}()
	if r.st.Requests.Refresh.Path == "" {
		p.Rotation = "none"
		p.Notes = append(p.Notes, "the style has no refresh route: clients log in again")
		return p, nil
	}
	if first.RefreshToken == "" {
		p.Notes = append(p.Notes, "the login answer carries no refresh token: rotation and reuse not measured")
		return p, nil
	}

	// Rotation, then the rotated token presented again.
	sent := time.Now()
	next, sig, err := refresh(first.RefreshToken)
	answered := time.Now()
	switch {
	case err != nil:
		return p, fmt.Errorf("backendcheck: refresh at %s: %w", r.st.Requests.Refresh.Path, err)
	case sig != style.SignalSuccess:
		p.Notes = append(p.Notes, fmt.Sprintf("a fresh refresh token was refused (%s signal): rotation not measured", sig))
		return p, nil
	case next.RefreshToken == "" || next.RefreshToken == first.RefreshToken:
		p.Rotation = "keeps"
	default:
		p.Rotation = "rotates"
	}
	if p.Rotation == "rotates" {
		reuse := func(token string) (bool, error) {
			_, sig, err := refresh(token)
			return err == nil && sig == style.SignalSuccess, err
		}
		r.measureReuse(ctx, p, first.RefreshToken, sent, answered, reuse)
		if p.Reuse == "strict" {
			_, sig, err := refresh(next.RefreshToken)
			if err == nil {
				revoked := sig != style.SignalSuccess
				p.FamilyRevokedOnReuse = &revoked
				// A revocation must last, not just refuse the retry at once:
				// the newest token again after a pause.
				if revoked && sleep(ctx, revokedRecheck) {
					if _, sig, err := refresh(next.RefreshToken); err == nil {
						stays := sig != style.SignalSuccess
						p.FamilyStaysRevoked = &stays
					}
				}
			}
		}
	}

	// Parallel refreshes with one token.
	fresh, err := login()
	if err != nil {
		return p, err
	}
	var wg sync.WaitGroup
	succeeded := make(chan bool, ParallelRefreshes)
	p.ParallelRefreshes = ParallelRefreshes
	for range ParallelRefreshes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, sig, err := refresh(fresh.RefreshToken)
			succeeded <- err == nil && sig == style.SignalSuccess
		}()
	}
	wg.Wait()
	close(succeeded)
	for s := range succeeded {
		if s {
			p.ParallelSucceeded++
		}
	}
	return p, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// percentiles of a few samples (nearest rank).
func percentiles(v []float64) summary.Latency {
	if len(v) == 0 {
		return summary.Latency{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	at := func(q float64) float64 { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return summary.Latency{P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: s[len(s)-1]}
}

// loginChecks tries the login route the ways it fails in the wild: a code
// used twice (WeChat 40163), an unknown code (40029), and WeChat busy (-1),
// rate limited (45011) and unreachable, injected through mock WeChat's
// faults for this device only.
func (r *runner) loginChecks(ctx context.Context, p *summary.BackendProfile) {
	check := func(name, want, code string) {
		a, err := r.styled(ctx, &r.st.Requests.Login, code)
		c := summary.ProfileCheck{Name: name, Want: want, Seen: "no answer"}
		if err == nil {
			c.Seen, c.Status = orNone(r.st.Classify(a.status, a.body)), a.status
			c.OK = c.Seen == want
			p.Signals[c.Seen]++
			if want == style.SignalUnavailable && c.OK {
				has := a.header.Get("Retry-After") != ""
				if p.RetryAfter == nil || !has {
					p.RetryAfter = &has
				}
			}
		}
		p.Logins = append(p.Logins, c)
	}
	code, err := r.wxCode(ctx)
	if err != nil {
		p.Notes = append(p.Notes, "login checks not made: "+err.Error())
		return
	}
	if a, err := r.styled(ctx, &r.st.Requests.Login, code); err == nil && r.st.Classify(a.status, a.body) == style.SignalSuccess {
		check(CheckReusedCode, style.SignalInvalidCode, code)
	} else {
		p.Notes = append(p.Notes, CheckReusedCode+": not checked, the first login with the code did not succeed")
	}
	check(CheckUnknownCode, style.SignalInvalidCode, "tokenstorm-unknown-"+randomHex(8))
	for _, f := range []struct {
		name  string
		fault map[string]any
	}{
		{"WeChat busy (-1)", map[string]any{"errcode": -1}},
		{"WeChat rate limit (45011)", map[string]any{"errcode": 45011}},
		{"WeChat unreachable (connection reset)", map[string]any{"reset": true}},
	} {
		// A few firings: a backend (or its HTTP client) may retry once.
		f.fault["api"], f.fault["count"], f.fault["users"] = "jscode2session", 3, []string{r.cfg.Device}
		a, err := r.post(ctx, r.cfg.WechatURL+"/__admin/faults", f.fault)
		if err != nil || a.status/100 != 2 {
			p.Notes = append(p.Notes, f.name+": mock WeChat refused the fault")
			continue
		}
		code, err := r.wxCode(ctx)
		if err != nil {
			continue
		}
		check(f.name, style.SignalUnavailable, code)
		_, _ = r.send(ctx, http.MethodDelete, r.cfg.WechatURL+"/__admin/faults")
	}
}

// The login checks' names (summary.json backend_profile.logins[].name).
const (
	CheckReusedCode  = "code used twice (WeChat 40163)"
	CheckUnknownCode = "unknown code (WeChat 40029)"
)

// LoginProbe is the name of the scenario that gates a run on the profile's
// login checks.
const LoginProbe = "backend-login"

// LoginScenario turns the profile's login checks into a verdict, the
// scenario "backend-login" (kind probe) of a backend run: a check answered
// with another signal than the one it wants — a reused or unknown code
// accepted or answered with a 5xx, WeChat busy/rate limited/unreachable
// answered with a 5xx or a success, no answer at all — fails it, and so the
// run. No checks made (mock WeChat refused, no profile): skip, with why.
func LoginScenario(p *summary.BackendProfile) summary.Scenario {
	sc := summary.Scenario{Name: LoginProbe, Kind: "probe", Verdict: summary.Pass}
	if p == nil || len(p.Logins) == 0 {
		sc.Verdict, sc.Detail = summary.Skip, "the login checks were not made"
		if p != nil && len(p.Notes) > 0 {
			sc.Detail += ": " + strings.Join(p.Notes, "; ")
		}
		return sc
	}
	var wrong, fine []string
	for _, c := range p.Logins {
		if c.OK {
			fine = append(fine, c.Name)
			continue
		}
		seen := c.Seen // "no answer"
		if c.Status != 0 {
			seen = fmt.Sprintf("HTTP %d, %s signal", c.Status, c.Seen)
		}
		wrong = append(wrong, fmt.Sprintf("%s: %s (want %s)", c.Name, seen, c.Want))
		sc.Failed = append(sc.Failed, c.Name)
	}
	if len(wrong) > 0 {
		sc.Verdict = summary.Fail
		sc.Detail = "login route answered wrongly — " + strings.Join(wrong, "; ")
		return sc
	}
	sc.Detail = "login route answered with the style's signals: " + strings.Join(fine, ", ")
	return sc
}

// measureReuse presents the rotated token up to reuseBurst times in a row,
// as fast as the backend answers, and stops at the first refusal. The
// backend rotated it between sent and answered (the rotating refresh's
// request and answer), so times are taken the way that keeps a bracket
// true: an acceptance counts from answered to the presentation's request,
// a refusal from sent to its answer.
//   - refused at once: "strict";
//   - accepted k times, then refused: a reuse count of k, or a grace window
//     that closed during the burst. A count does not care about time, a
//     window does: a fresh family's rotated token is presented once, after
//     twice the time the refusal came at. Accepted: "count" with k;
//     refused: "grace", the window between the last acceptance and the
//     refusal;
//   - accepted every time: a window or a count above MaxReuseCount, which
//     measureGrace tells apart by delays.
func (r *runner) measureReuse(ctx context.Context, p *summary.BackendProfile, token string, sent, answered time.Time, reuse func(token string) (bool, error)) {
	var lastAccepted, refusedAt time.Duration
	for i := range reuseBurst {
		at := time.Since(answered)
		ok, err := reuse(token)
		if err != nil {
			p.Notes = append(p.Notes, fmt.Sprintf("reuse policy not measured: presentation %d of a rotated refresh token got no answer (%v)", i+1, err))
			return
		}
		if !ok {
			refusedAt = time.Since(sent)
			break
		}
		p.ReuseAccepted++
		lastAccepted = at
	}
	switch {
	case p.ReuseAccepted == 0:
		p.Reuse = "strict"
	case p.ReuseAccepted < reuseBurst:
		// Not capped by the grace bound: a pause shorter than the refusal
		// came at cannot tell a window that closed during the burst from a
		// count (the burst lasts at most reuseBurst round-trips).
		delay := max(2*refusedAt, 100*time.Millisecond)
		accepted, ok := r.reuseAfter(ctx, delay, func(t string) bool { a, _ := reuse(t); return a })
		switch {
		case !ok:
			p.Reuse = "count"
			p.Notes = append(p.Notes, fmt.Sprintf("reuse count %d: accepted %d more times right after the rotation, then refused (not told from a grace window shorter than %s: a login or refresh failed)", p.ReuseAccepted, p.ReuseAccepted, refusedAt.Round(time.Millisecond)))
		case accepted:
			p.Reuse = "count"
			p.Notes = append(p.Notes, fmt.Sprintf("reuse count %d: a rotated refresh token is accepted %d more times in a row and refused at presentation %d, yet still accepted once %s after a rotation (a time window would have closed by then)", p.ReuseAccepted, p.ReuseAccepted, p.ReuseAccepted+1, delay.Round(time.Millisecond)))
		default:
			p.Reuse = "grace"
			p.ReuseGraceSeconds = lastAccepted.Seconds()
			p.Notes = append(p.Notes, fmt.Sprintf("grace window: a rotated refresh token is accepted again for between %s and %s after its rotation (%d presentations in a row accepted, then refused; refused once %s after a rotation)",
				lastAccepted.Round(time.Millisecond), refusedAt.Round(time.Millisecond), p.ReuseAccepted, delay.Round(time.Millisecond)))
		}
	default:
		r.measureGrace(ctx, p, func(t string) bool { a, _ := reuse(t); return a })
	}
}

func (r *runner) graceBound() time.Duration {
	if r.cfg.GraceBound > 0 {
		return r.cfg.GraceBound
	}
	return DefaultGraceBound
}

// reuseAfter rotates a fresh family and presents its old refresh token once
// after delay (a fresh family because a refused reuse may revoke the
// family). ok is false when the login or the rotation failed.
func (r *runner) reuseAfter(ctx context.Context, delay time.Duration, reuse func(token string) bool) (accepted, ok bool) {
	t, err := r.loginTokens(ctx)
	if err != nil || t.RefreshToken == "" {
		return false, false
	}
	a, err := r.styled(ctx, &r.st.Requests.Refresh, t.RefreshToken)
	if err != nil || r.st.Classify(a.status, a.body) != style.SignalSuccess {
		return false, false
	}
	if !sleep(ctx, delay) {
		return false, false
	}
	return reuse(t.RefreshToken), true
}

// measureGrace measures a grace window by delays: each trial (reuseAfter)
// presents a fresh family's old refresh token once after a delay, which
// doubles from 250 ms up to the bound until a reuse is refused, then
// bisects between the last accepted and the first refused delay. Accepted
// at every delay up to the bound: "tolerated". With the default bound it
// sleeps at most 0.25+0.5+1+2+4 s and graceSteps bisections below 4 s:
// about 20 s, only against a backend that accepted the whole burst.
func (r *runner) measureGrace(ctx context.Context, p *summary.BackendProfile, reuse func(token string) bool) {
	bound := r.graceBound()
	p.Reuse = "tolerated"
	var lo, hi time.Duration // the window is in [lo, hi)
	for d := 250 * time.Millisecond; ; d *= 2 {
		d = min(d, bound)
		accepted, ok := r.reuseAfter(ctx, d, reuse)
		if !ok {
			p.Notes = append(p.Notes, fmt.Sprintf("reuse after %s not measured (a login or refresh failed): grace window unknown", d))
			return
		}
		if !accepted {
			hi = d
			break
		}
		lo = d
		if d == bound {
			p.Notes = append(p.Notes, fmt.Sprintf("a rotated refresh token was accepted %d times in a row and still %s after its rotation (the longest delay tried): a grace window of at least %s, or a reuse count above %d", p.ReuseAccepted, bound, bound, MaxReuseCount))
			return
		}
	}
	for range graceSteps {
		mid := lo + (hi-lo)/2
		accepted, ok := r.reuseAfter(ctx, mid, reuse)
		if !ok {
			break
		}
		if accepted {
			lo = mid
		} else {
			hi = mid
		}
	}
	p.Reuse = "grace"
	p.ReuseGraceSeconds = lo.Seconds()
	p.Notes = append(p.Notes, fmt.Sprintf("grace window: a rotated refresh token is accepted again for between %s and %s after its rotation (%d presentations in a row accepted at once)", lo, hi, p.ReuseAccepted))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
