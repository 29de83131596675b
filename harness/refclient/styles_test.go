package refclient_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/refclient"
	"github.com/tokenstorm/tokenstorm/harness/stack"
	"github.com/tokenstorm/tokenstorm/harness/style"
)

// styledStack is the real mockwechat and reference backend speaking style.
func styledStack(t *testing.T, styleName string) (*realStack, *clock.Shifted) {
	t.Helper()
	clk := clock.NewShifted()
	led := ledger.New(ledger.Options{Memory: true, Clock: clk})
	st, err := stack.Start(context.Background(), stack.Options{Ledger: led, Clock: clk, Style: styleName})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	env := st.Env()
	env.HTTP = &http.Client{Transport: tr}
	return &realStack{env: env, wx: st.Wechat, be: st.Backend, led: led}, clk
}

// The reference client speaks every built-in style: it places the token as
// the style says, recognises the style's expiry signal (an HTTP 200 with a
// code in body-code, a 403 in status-403), renews once per device through the
// style's routes and replays; with single-use tokens it follows the chain of
// handed-over tokens.
func TestReferenceClientSpeaksEveryBuiltinStyle(t *testing.T) {
	for _, name := range style.Names() {
		t.Run(name, func(t *testing.T) {
			rs, clk := styledStack(t, name)
			spec := style.MustLoad(name)
			res := spec.Routes.Resource
			c := refclient.New(rs.env, refclient.Options{ProactiveSkew: -1})
			defer c.Close()
			devs := []string{"ann", "ben"}
			for _, d := range devs {
				r := do(t, c, call(d, "GET", res+"profile", "warm-"+d, ""))
				require.NoError(t, r.Err)
				require.Equal(t, style.SignalSuccess, spec.Classify(r.Status, r.Body), "%d %s", r.Status, r.Body)
			}
			rs.be.ExpireAll()

			const perDev = 6
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			results := concurrently(ctx, c, perDev*len(devs), func(i int) client.Call {
				d := devs[i%len(devs)]
				if i%3 == 0 {
					return call(d, "POST", res+"orders", rid("p", i), fmt.Sprintf(`{"i":%d}`, i))
				}
				return call(d, "GET", res+"orders", rid("g", i), "")
			})
			for i, r := range results {
				require.NoError(t, r.Err, i)
				assert.Equal(t, style.SignalSuccess, spec.Classify(r.Status, r.Body), "%d: %d %s", i, r.Status, r.Body)
			}
			renewals := rs.count(ledger.KindRefresh, "") + rs.count(ledger.KindBackendLogin, "")
			assert.Equal(t, 2*len(devs), renewals, "one login per device, then one renewal per device for the expiry")
			assert.Equal(t, perDev*len(devs)/3, rs.count(ledger.KindEffect, ""), "every POST executed once")
			assert.GreaterOrEqual(t, rs.count(ledger.KindAPI, ledger.OutcomeExpired), len(devs), "every device met the expiry")
			for _, e := range rs.led.Events() {
				if e.Kind == ledger.KindAPI && e.Outcome == ledger.OutcomeInvalid {
					t.Errorf("no request may carry a bad or already used token: %+v", e)
				}
			}
			if spec.Routes.Refresh == "" {
				assert.Zero(t, rs.count(ledger.KindRefresh, ""), "no refresh route: the client logs in again")
			}

			// A refusal that is not about the token reaches the caller untouched.
			r := do(t, c, call("ann", "GET", res+"reauth", "nt", ""))
			require.NoError(t, r.Err)
			assert.Equal(t, style.SignalNotToken, spec.Classify(r.Status, r.Body), "%d %s", r.Status, r.Body)
			assert.Len(t, rs.apiTokens("nt"), 1, "not retried")

			// Past the access TTL on the shared clock: the backend's signal, not
			// a proactive refresh, drives the renewal.
			clk.Shift(3 * time.Hour)
			r = do(t, c, call("ben", "GET", res+"late", "after-ttl", ""))
			require.NoError(t, r.Err)
			assert.Equal(t, style.SignalSuccess, spec.Classify(r.Status, r.Body), "%d %s", r.Status, r.Body)
			assert.Len(t, rs.apiTokens("after-ttl"), 2, "one expired attempt, one replay")
		})
	}
}

// With single-use tokens a device's requests go one at a time, each with the
// token the previous answer handed over.
func TestRotatingStyleFollowsTheTokenChain(t *testing.T) {
	rs, _ := styledStack(t, "rotating")
	c := refclient.New(rs.env, refclient.Options{})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	results := concurrently(ctx, c, 8, func(i int) client.Call { return call("eve", "GET", "/api/items", rid("c", i), "") })
	seen := map[string]bool{}
	for i, r := range results {
		require.NoError(t, r.Err, i)
		require.Equal(t, 200, r.Status, "%d: %s", i, r.Body)
		toks := rs.apiTokens(rid("c", i))
		require.Len(t, toks, 1)
		assert.False(t, seen[toks[0]], "token %s used twice", toks[0])
		seen[toks[0]] = true
	}
	assert.Equal(t, 1, rs.count(ledger.KindBackendLogin, ""))
	tok, ok := c.Tokens("eve")
	require.True(t, ok)
	assert.False(t, strings.Contains(tok.Access, " "))
}
