package backend

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// A token is verified once, then judged from what was remembered: expiry,
// admin expiry and revocation still apply to the remembered token.
func TestVerifiedTokenStillJudgedEveryTime(t *testing.T) {
	e := newEnv(t, Config{AccessTTL: time.Hour})
	p := e.login("alice")
	_, ok := e.s.verified.get(p.Access)
	require.False(t, ok, "issuing does not vouch for a token: the first request verifies it")

	require.Equal(t, 200, e.do("GET", "/api/orders?rid=r1", "", bearer(p.Access)).Code)
	c, ok := e.s.verified.get(p.Access)
	require.True(t, ok, "a verified token is remembered")
	assert.Equal(t, openid("alice"), c.subject)
	assert.True(t, t0.Add(time.Hour).Equal(c.exp), "exp %s", c.exp)

	e.s.ExpireUsers(openid("alice"))
	require.Equal(t, 401, e.do("GET", "/api/orders?rid=r2", "", bearer(p.Access)).Code)
	assert.Equal(t, "expired by admin", e.lastEvent(ledger.KindAPI).Detail[:len("expired by admin")])

	q := e.login("alice")
	require.Equal(t, 200, e.do("GET", "/api/orders?rid=r3", "", bearer(q.Access)).Code)
	e.s.RevokeUsers(openid("alice"))
	require.Equal(t, 401, e.do("GET", "/api/orders?rid=r4", "", bearer(q.Access)).Code)
	assert.Equal(t, ledger.OutcomeInvalid, e.lastEvent(ledger.KindAPI).Outcome)

	r := e.login("alice")
	require.Equal(t, 200, e.do("GET", "/api/orders?rid=r5", "", bearer(r.Access)).Code)
	e.clk.Advance(time.Hour) // exactly exp: expired, as jwt decides
	require.Equal(t, 401, e.do("GET", "/api/orders?rid=r6", "", bearer(r.Access)).Code)
	assert.Equal(t, ledger.OutcomeExpired, e.lastEvent(ledger.KindAPI).Outcome)
}

// A token that fails verification is never remembered, so it fails again.
func TestRefusedTokenNotRemembered(t *testing.T) {
	e := newEnv(t, Config{})
	p := e.login("alice")
	i := len(p.Access) - 10 // inside the signature
	swap := byte('A')
	if p.Access[i] == 'A' {
		swap = 'B'
	}
	forged := p.Access[:i] + string(swap) + p.Access[i+1:]
	for range 2 {
		require.Equal(t, 401, e.do("GET", "/api/orders?rid=r1", "", bearer(forged)).Code)
		assert.Equal(t, "bad signature or algorithm", e.lastEvent(ledger.KindAPI).Detail[:len("bad signature or algorithm")])
	}
	_, ok := e.s.verified.get(forged)
	assert.False(t, ok)
}

func TestVerifiedStartsOverWhenFull(t *testing.T) {
	v := newVerified(2)
	v.put("a", verifiedClaims{jti: "a"})
	v.put("b", verifiedClaims{jti: "b"})
	v.put("c", verifiedClaims{jti: "c"})
	_, okA := v.get("a")
	c, okC := v.get("c")
	assert.False(t, okA)
	assert.True(t, okC)
	assert.Equal(t, "c", c.jti)
	n := 0
	v.m.Range(func(any, any) bool { n++; return true })
	assert.LessOrEqual(t, n, 2)
}
