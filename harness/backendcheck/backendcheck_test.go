package backendcheck

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/stack"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

func startStack(t *testing.T, styleName string, ttl time.Duration) (*stack.Stack, Config) {
	t.Helper()
	led := ledger.New(ledger.Options{Memory: true})
	t.Cleanup(func() { _ = led.Close() })
	st, err := stack.Start(context.Background(), stack.Options{Style: styleName, Ledger: led, AccessTTL: ttl})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st, Config{BackendURL: st.BackendURL, WechatURL: st.WechatURL, AppID: st.AppID, Style: style.MustLoad(styleName), Device: "checker", Ledger: led}
}

func harnessEvents(l *ledger.Ledger) []ledger.Event {
	var out []ledger.Event
	for _, e := range l.Events() {
		if e.Source == ledger.SourceHarness {
			out = append(out, e)
		}
	}
	return out
}

func TestReferenceBackendPassesInEveryStyle(t *testing.T) {
	for _, name := range style.Names() {
		t.Run(name, func(t *testing.T) {
			st, cfg := startStack(t, name, 0)
			cfg.Expire = func(ctx context.Context) error {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, st.BackendURL+"/__admin/expire", strings.NewReader(`{"all":true}`))
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				return err
			}
			rep, err := Run(context.Background(), cfg)
			require.NoError(t, err)
			assert.Empty(t, rep.Failed(), rep.Summary())
			require.Len(t, rep.Checks, 7, rep.Summary())
			assert.Equal(t, "unsigned token (alg none)", rep.Checks[3].Name)
			assert.Equal(t, "token signed with another key", rep.Checks[4].Name)
			assert.Equal(t, "expired token (expired by admin)", rep.Checks[6].Name)
			evs := harnessEvents(st.Ledger)
			require.Len(t, evs, 6, "tampered, garbage, unsigned, foreign, missing, expired")
			for _, e := range evs {
				assert.Equal(t, ledger.KindAPI, e.Kind)
				assert.Equal(t, "checker", e.Device)
				noted, ok := style.NotedSignal(e.Detail)
				assert.True(t, ok, e.Detail)
				assert.Contains(t, []string{style.SignalInvalid, style.SignalExpired}, noted, e.Detail)
			}
			assert.Equal(t, ledger.OutcomeMissing, evs[4].Outcome)
			assert.Equal(t, ledger.OutcomeExpired, evs[5].Outcome)
		})
	}
}

// Without an admin expire and with a TTL longer than MaxWait the expired
// token cannot be checked: the report says why, nothing is recorded for it.
func TestExpiryNotCheckableIsReportedNotFailed(t *testing.T) {
	st, cfg := startStack(t, "bearer", 0)
	cfg.Expire = func(context.Context) error { return assert.AnError }
	rep, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	last := rep.Checks[len(rep.Checks)-1]
	assert.Equal(t, "expired token", last.Name)
	assert.Contains(t, last.Skipped, "the access token lives 2h0m0s, longer than the 10s the check may wait")
	assert.Len(t, harnessEvents(st.Ledger), 5, "tampered, garbage, unsigned, foreign, missing")
}

// A short TTL is waited out in real time.
func TestShortTTLIsWaitedOut(t *testing.T) {
	st, cfg := startStack(t, "status-403", time.Second)
	cfg.MaxWait = 2 * time.Second
	rep, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	assert.Empty(t, rep.Failed(), rep.Summary())
	assert.Contains(t, rep.Summary(), "expired token (waited out its 1s TTL): HTTP 403, expired signal (want expired) ok")
	_ = st
}

func TestLoginFailureIsAnError(t *testing.T) {
	_, cfg := startStack(t, "bearer", 0)
	cfg.Style = style.MustLoad("body-code") // the backend speaks bearer: /user/login is a 404
	_, err := Run(context.Background(), cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "backendcheck: login at /user/login with a fresh wx.login code answered HTTP 404")
}

func TestTamperChangesOneCharacter(t *testing.T) {
	for _, tok := range []string{"abc.def.ghi", "0123456789abcdef", "A", "x.y"} {
		got := tamper(tok)
		assert.Len(t, got, len(tok))
		assert.NotEqual(t, tok, got)
		diff := 0
		for i := range tok {
			if tok[i] != got[i] {
				diff++
			}
		}
		assert.Equal(t, 1, diff, tok)
	}
	assert.True(t, bytes.Equal([]byte(tamper("")), []byte("x")))
}

// A login answer without expires_in: the check says so (never "lives 0s"),
// and waits out the lifetime the user declares instead.
func TestNoExpiresInNeedsADeclaredTTL(t *testing.T) {
	const file = "testdata/no-expires-in.yaml"
	led := ledger.New(ledger.Options{Memory: true})
	st, err := stack.Start(context.Background(), stack.Options{Style: file, Ledger: led, AccessTTL: time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	sty, err := style.Load(file)
	require.NoError(t, err)
	cfg := Config{BackendURL: st.BackendURL, WechatURL: st.WechatURL, AppID: st.AppID, Style: sty, Device: "checker", Ledger: led, MaxWait: 2 * time.Second}

	rep, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	last := rep.Checks[len(rep.Checks)-1]
	assert.Equal(t, "expired token", last.Name)
	assert.Contains(t, last.Skipped, "the login answer does not say how long the access token lives (no expires_in: the style names none), no access TTL was given (--access-ttl)")
	assert.NotContains(t, last.Skipped, "0s")

	cfg.AccessTTL = time.Second
	rep, err = Run(context.Background(), cfg)
	require.NoError(t, err)
	assert.Empty(t, rep.Failed(), rep.Summary())
	assert.Contains(t, rep.Summary(), "expired token (waited out its 1s TTL): HTTP 401, expired signal (want expired) ok")
}

// The profile measures the reference backend's real policy through its
// public routes: strict rotation revokes the family, one of the parallel
// refreshes wins; a grace policy tolerates reuse.
func TestProfileMeasuresTheReusePolicy(t *testing.T) {
	for _, c := range []struct {
		reuse, want string
		accepted    int
		revoked     bool
		parallelMin int
	}{
		{"strict", "strict", 0, true, 1},
		{"grace:30s", "tolerated", reuseBurst, false, ParallelRefreshes},
	} {
		led := ledger.New(ledger.Options{Memory: true})
		st, err := stack.Start(context.Background(), stack.Options{Style: "oauth2", Ledger: led, Reuse: c.reuse, AccessTTL: 90 * time.Second})
		require.NoError(t, err)
		cfg := Config{BackendURL: st.BackendURL, WechatURL: st.WechatURL, AppID: st.AppID, Style: style.MustLoad("oauth2")}
		p, err := Profile(context.Background(), cfg)
		require.NoError(t, err, c.reuse)
		_ = st.Close()
		assert.Equal(t, int64(90), p.AccessTTLSeconds, c.reuse)
		assert.Positive(t, p.RefreshTTLSeconds, c.reuse)
		assert.Equal(t, "rotates", p.Rotation, c.reuse)
		assert.Equal(t, c.want, p.Reuse, c.reuse)
		assert.Equal(t, c.accepted, p.ReuseAccepted, c.reuse)
		if c.want == "strict" {
			require.NotNil(t, p.FamilyRevokedOnReuse)
			assert.Equal(t, c.revoked, *p.FamilyRevokedOnReuse)
			require.NotNil(t, p.FamilyStaysRevoked)
			assert.True(t, *p.FamilyStaysRevoked, "still revoked a second later")
			assert.Equal(t, 1, p.ParallelSucceeded, "strict: exactly one parallel refresh wins")
			assert.Positive(t, p.Signals[style.SignalInvalidGrant])
		} else {
			assert.Nil(t, p.FamilyRevokedOnReuse)
			assert.Equal(t, c.parallelMin, p.ParallelSucceeded, "grace: every parallel refresh inside the window wins")
		}
		assert.Equal(t, ParallelRefreshes, p.ParallelRefreshes)
		assert.Positive(t, p.LoginMS.Max, c.reuse)
		assert.Positive(t, p.RefreshMS.P50, c.reuse)
		require.Len(t, p.Logins, 5, "%+v %v", p.Logins, p.Notes)
		for _, l := range p.Logins {
			assert.True(t, l.OK, "%+v", l)
		}
		assert.Equal(t, "code used twice (WeChat 40163)", p.Logins[0].Name)
		assert.Equal(t, style.SignalUnavailable, p.Logins[4].Seen, "unreachable WeChat is the upstream signal, not a 500")
		require.NotNil(t, p.RetryAfter)
		assert.True(t, *p.RetryAfter)
	}
}

// LoginScenario fails on any wrong login answer, naming it, and is skip
// (never pass) when no check was made.
func TestLoginScenario(t *testing.T) {
	ok := summary.ProfileCheck{Name: CheckUnknownCode, Want: style.SignalInvalidCode, Seen: style.SignalInvalidCode, Status: 400, OK: true}
	bad := summary.ProfileCheck{Name: "WeChat busy (-1)", Want: style.SignalUnavailable, Seen: style.SignalNone, Status: 500}
	lost := summary.ProfileCheck{Name: "WeChat unreachable (connection reset)", Want: style.SignalUnavailable, Seen: "no answer"}

	sc := LoginScenario(&summary.BackendProfile{Logins: []summary.ProfileCheck{ok}})
	assert.Equal(t, summary.Pass, sc.Verdict)
	assert.Equal(t, LoginProbe, sc.Name)
	assert.Equal(t, "probe", sc.Kind)

	sc = LoginScenario(&summary.BackendProfile{Logins: []summary.ProfileCheck{ok, bad, lost}})
	assert.Equal(t, summary.Fail, sc.Verdict)
	assert.Equal(t, []string{bad.Name, lost.Name}, sc.Failed)
	assert.Contains(t, sc.Detail, "WeChat busy (-1): HTTP 500, none signal (want upstream_unavailable)")
	assert.Contains(t, sc.Detail, "WeChat unreachable (connection reset): no answer (want upstream_unavailable)")

	sc = LoginScenario(&summary.BackendProfile{Notes: []string{"login checks not made: x"}})
	assert.Equal(t, summary.Skip, sc.Verdict)
	assert.Contains(t, sc.Detail, "login checks not made: x")
	assert.Equal(t, summary.Skip, LoginScenario(nil).Verdict)
}

// A reuse count is measured exactly up to MaxReuseCount and told from a
// grace window by time: the reference backend's reuse:N accepts N extra
// presentations at once (and one after a pause), its grace:1500ms accepts
// any number up to 1.5 s after the rotation and none after; a window so
// short that it closes during the burst is still a window; a count above
// MaxReuseCount still accepted at the bound is "tolerated".
func TestProfileTellsACountFromAGraceWindow(t *testing.T) {
	profile := func(reuse string, cfg Config) *summary.BackendProfile {
		st, err := stack.Start(context.Background(), stack.Options{Style: "oauth2", Ledger: ledger.New(ledger.Options{Memory: true}), Reuse: reuse, AccessTTL: 90 * time.Second})
		require.NoError(t, err)
		defer st.Close()
		cfg.BackendURL, cfg.WechatURL, cfg.AppID, cfg.Style = st.BackendURL, st.WechatURL, st.AppID, style.MustLoad("oauth2")
		p, err := Profile(context.Background(), cfg)
		require.NoError(t, err, reuse)
		return p
	}
	for _, n := range []int{1, 5, 15, MaxReuseCount} {
		reuse := fmt.Sprintf("reuse:%d", n)
		t.Run(reuse, func(t *testing.T) {
			p := profile(reuse, Config{})
			assert.Equal(t, "count", p.Reuse, "%v", p.Notes)
			assert.Equal(t, n, p.ReuseAccepted)
			assert.Zero(t, p.ReuseGraceSeconds)
			assert.Nil(t, p.FamilyRevokedOnReuse, "only measured under strict")
			assert.Contains(t, strings.Join(p.Notes, "\n"), fmt.Sprintf("reuse count %d: a rotated refresh token is accepted %d more times in a row and refused at presentation %d, yet still accepted once", n, n, n+1))
		})
	}
	t.Run("grace:1500ms", func(t *testing.T) {
		p := profile("grace:1500ms", Config{})
		assert.Equal(t, "grace", p.Reuse, "%v", p.Notes)
		assert.Equal(t, reuseBurst, p.ReuseAccepted, "a window accepts every presentation inside it")
		assert.GreaterOrEqual(t, p.ReuseGraceSeconds, 1.0, "bisection between 1 s (accepted) and 2 s (refused)")
		assert.Less(t, p.ReuseGraceSeconds, 1.5, "never longer than the real window: %v", p.Notes)
		assert.Contains(t, strings.Join(p.Notes, "\n"), "grace window: a rotated refresh token is accepted again for between")
	})
	t.Run("a window that closes during the burst", func(t *testing.T) {
		// Every call takes 25 ms more: 17 presentations outlast a 100 ms window.
		p := profile("grace:100ms", Config{HTTP: &http.Client{Timeout: 10 * time.Second, Transport: slowTransport{25 * time.Millisecond}}})
		assert.Equal(t, "grace", p.Reuse, "%v", p.Notes)
		assert.Positive(t, p.ReuseAccepted)
		assert.Less(t, p.ReuseAccepted, MaxReuseCount, "the window closed during the burst")
		assert.Less(t, p.ReuseGraceSeconds, 0.1, "%v", p.Notes)
		assert.Contains(t, strings.Join(p.Notes, "\n"), "presentations in a row accepted, then refused; refused once")
	})
	t.Run("a window longer than the bound that closes during a slow burst", func(t *testing.T) {
		// 17 presentations of 50 ms outlast a 600 ms window; the bound (400
		// ms) is shorter than the refusal came at: the pause that tells a
		// window from a count must still outlast the refusal.
		p := profile("grace:600ms", Config{GraceBound: 400 * time.Millisecond, HTTP: &http.Client{Timeout: 10 * time.Second, Transport: slowTransport{50 * time.Millisecond}}})
		assert.Equal(t, "grace", p.Reuse, "%v", p.Notes)
		assert.Less(t, p.ReuseAccepted, MaxReuseCount, "the window closed during the burst")
		assert.Less(t, p.ReuseGraceSeconds, 0.6, "%v", p.Notes)
	})
	t.Run("count above the burst", func(t *testing.T) {
		p := profile("reuse:40", Config{GraceBound: 500 * time.Millisecond})
		assert.Equal(t, "tolerated", p.Reuse, "%v", p.Notes)
		assert.Equal(t, reuseBurst, p.ReuseAccepted)
		assert.Contains(t, strings.Join(p.Notes, "\n"), "a rotated refresh token was accepted 17 times in a row and still 500ms after its rotation (the longest delay tried): a grace window of at least 500ms, or a reuse count above 16")
	})
}

type slowTransport struct{ d time.Duration }

func (s slowTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	time.Sleep(s.d)
	return http.DefaultTransport.RoundTrip(r)
}

// The forged tokens keep a JWT's claims: only the header and signature
// change, so a backend that skips verification would accept them.
func TestForgedTokens(t *testing.T) {
	hdr := b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	payload := b64.EncodeToString([]byte(`{"sub":"dev-1","exp":9999999999}`))
	tok := hdr + "." + payload + ".c2lnbmF0dXJl"

	none := strings.Split(unsignedJWT(tok, "d"), ".")
	require.Len(t, none, 3)
	h, err := b64.DecodeString(none[0])
	require.NoError(t, err)
	assert.JSONEq(t, `{"alg":"none","typ":"JWT"}`, string(h))
	assert.Equal(t, payload, none[1])
	assert.Empty(t, none[2])

	key := []byte("another-key")
	foreign := foreignJWT(tok, "d", key)
	parts := strings.Split(foreign, ".")
	require.Len(t, parts, 3)
	assert.Equal(t, payload, parts[1])
	m := hmac.New(sha256.New, key)
	m.Write([]byte(parts[0] + "." + parts[1]))
	assert.Equal(t, b64.EncodeToString(m.Sum(nil)), parts[2], "HS256 with the foreign key")

	// An opaque token gets plausible claims for the device.
	c, err := b64.DecodeString(strings.Split(unsignedJWT("opaque123", "dev-9"), ".")[1])
	require.NoError(t, err)
	assert.Contains(t, string(c), `"sub":"dev-9"`)
}

// With --admin-token the mock WeChat's admin API is guarded: the profile
// sends the token, so its WeChat-trouble login checks are still made.
func TestProfileSendsTheAdminToken(t *testing.T) {
	for _, token := range []string{"s3cret", ""} {
		st, err := stack.Start(context.Background(), stack.Options{Style: "bearer", AdminToken: "s3cret"})
		require.NoError(t, err)
		p, err := Profile(context.Background(), Config{BackendURL: st.BackendURL, WechatURL: st.WechatURL, AppID: st.AppID, Style: style.MustLoad("bearer"), AdminToken: token})
		_ = st.Close()
		require.NoError(t, err)
		if token != "" {
			require.Len(t, p.Logins, 5, "%+v %v", p.Logins, p.Notes)
			for _, l := range p.Logins {
				assert.True(t, l.OK, "%+v", l)
			}
		} else {
			assert.Less(t, len(p.Logins), 5, "without the token the fault checks cannot be made: %+v", p.Logins)
		}
	}
}
