package backend

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var c map[string]any
	require.NoError(t, json.Unmarshal(b, &c))
	return c
}

func TestAccessTokenShape(t *testing.T) {
	e := newEnv(t, Config{})
	p := e.login("alice")
	parts := strings.Split(p.Access, ".")
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	assert.JSONEq(t, `{"alg":"HS256","typ":"JWT"}`, string(hdr))
	c := claimsOf(t, p.Access)
	assert.Equal(t, openid("alice"), c["sub"])
	assert.NotEmpty(t, c["jti"])
	assert.NotEmpty(t, c["fam"])
	assert.EqualValues(t, t0.Unix(), c["iat"])
	assert.EqualValues(t, t0.Add(2*time.Hour).Unix(), c["exp"])
	assert.EqualValues(t, 1, c["n"])
	ev := e.lastEvent(ledger.KindBackendLogin)
	assert.Equal(t, c["jti"], ev.Token)
	assert.Equal(t, c["fam"], ev.Family)
	assert.NotContains(t, e.led.Events()[0].Token, ".", "ledger holds ids, not tokens")

	p2 := e.login("alice")
	assert.EqualValues(t, 2, claimsOf(t, p2.Access)["n"], "serial is monotonic")
	assert.NotEqual(t, c["fam"], claimsOf(t, p2.Access)["fam"], "each login starts a family")
}

func TestExpiryWithManualClock(t *testing.T) {
	e := newEnv(t, Config{AccessTTL: time.Hour})
	p := e.login("alice")

	w := e.do("GET", "/auth/verify", "", bearer(p.Access))
	expectJSON(t, w, 200, `{"valid":true,"expires_in":3600}`)
	e.clk.Advance(59*time.Minute + 30*time.Second)
	expectJSON(t, e.do("GET", "/auth/verify", "", bearer(p.Access)), 200, `{"valid":true,"expires_in":30}`)
	assert.Equal(t, 200, e.do("GET", "/api/orders?rid=r1", "", bearer(p.Access)).Code)

	e.clk.Advance(30 * time.Second) // exactly exp: expired
	w = e.do("GET", "/api/orders?rid=r2", "", bearer(p.Access))
	expectJSON(t, w, 401, `{"error":"token_expired","rid":"r2"}`)
	assert.Equal(t, expiredChallenge, w.Header().Get("WWW-Authenticate"))
	assert.Equal(t, "r2", w.Header().Get("X-Request-ID"))
	ev := e.lastEvent(ledger.KindAPI)
	assert.Equal(t, ledger.OutcomeExpired, ev.Outcome)
	assert.Equal(t, claimsOf(t, p.Access)["jti"], ev.Token)
	assert.Equal(t, "r2", ev.RID)
	assert.Equal(t, 401, ev.Status)

	w = e.do("GET", "/auth/verify", "", bearer(p.Access))
	expectJSON(t, w, 401, expiredBody)
	assert.Equal(t, expiredChallenge, w.Header().Get("WWW-Authenticate"))
	assert.Equal(t, ledger.OutcomeExpired, e.lastEvent(ledger.KindVerify).Outcome)

	// the refresh token outlives the access token
	p2 := decodePair(t, e.refresh(p.Refresh))
	assert.Equal(t, 200, e.do("GET", "/api/orders", "", bearer(p2.Access)).Code)
}

func TestAdminExpireSerialCutoff(t *testing.T) {
	e := newEnv(t, Config{})
	a1, b1 := e.login("alice"), e.login("bob")

	e.s.ExpireUsers(openid("alice"))
	expectJSON(t, e.do("GET", "/api/x", "", bearer(a1.Access)), 401, expiredBody)
	assert.Equal(t, 200, e.do("GET", "/api/x", "", bearer(b1.Access)).Code, "other users unaffected")
	a2 := decodePair(t, e.refresh(a1.Refresh))
	assert.Equal(t, 200, e.do("GET", "/api/x", "", bearer(a2.Access)).Code, "tokens issued after the call are valid")

	w := e.do("POST", "/__admin/expire", `{"all":true}`)
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.JSONEq(t, `{"ok":true,"serial":3,"all":true}`, w.Body.String())
	for _, tok := range []string{a2.Access, b1.Access} {
		w := e.do("GET", "/api/x", "", bearer(tok))
		expectJSON(t, w, 401, expiredBody)
		assert.Equal(t, expiredChallenge, w.Header().Get("WWW-Authenticate"))
	}
	b2 := decodePair(t, e.refresh(b1.Refresh))
	a3 := e.login("alice")
	assert.Equal(t, 200, e.do("GET", "/api/x", "", bearer(b2.Access)).Code)
	assert.Equal(t, 200, e.do("GET", "/api/x", "", bearer(a3.Access)).Code)

	w = e.do("POST", "/__admin/expire", `{"users":["`+openid("bob")+`"]}`)
	require.Equal(t, 200, w.Code, w.Body.String())
	expectJSON(t, e.do("GET", "/api/x", "", bearer(b2.Access)), 401, expiredBody)
	assert.Equal(t, 200, e.do("GET", "/api/x", "", bearer(a3.Access)).Code)

	evs := e.events(ledger.KindExpire)
	require.Len(t, evs, 3)
	assert.Equal(t, openid("alice"), evs[0].Subject)
	assert.Equal(t, "all", evs[1].Detail)
	assert.Equal(t, openid("bob"), evs[2].Subject)
}

// forge signs claims with any method and key.
func forge(t *testing.T, m jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(m, c).SignedString(key)
	require.NoError(t, err)
	return tok
}

func TestRejectedAlgorithmsAndKeys(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	e := newEnv(t, Config{SigningKey: key})
	p := e.login("alice")
	c := claimsOf(t, p.Access)
	claims := jwt.MapClaims{}
	for k, v := range c {
		claims[k] = v
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	none := forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims)
	tampered := func() string {
		parts := strings.Split(p.Access, ".")
		c2 := map[string]any{}
		for k, v := range c {
			c2[k] = v
		}
		c2["sub"] = openid("mallory")
		b, _ := json.Marshal(c2)
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
	}()
	cases := map[string]string{
		"alg none":          none,
		"alg none no sig":   strings.TrimSuffix(none, "."),
		"HS384 same key":    forge(t, jwt.SigningMethodHS384, key, claims),
		"HS256 other key":   forge(t, jwt.SigningMethodHS256, []byte("another-key-another-key-another!!"), claims),
		"ES256":             forge(t, jwt.SigningMethodES256, ec, claims),
		"tampered payload":  tampered,
		"not a jwt":         "hello",
		"two segments":      "a.b",
		"unknown family":    forge(t, jwt.SigningMethodHS256, key, jwt.MapClaims{"sub": c["sub"], "jti": "x", "fam": "f-nope", "n": 1, "exp": c["exp"]}),
		"missing fam claim": forge(t, jwt.SigningMethodHS256, key, jwt.MapClaims{"sub": c["sub"], "jti": "x", "n": 1, "exp": c["exp"]}),
		"missing exp":       forge(t, jwt.SigningMethodHS256, key, jwt.MapClaims{"sub": c["sub"], "jti": "x", "fam": c["fam"], "n": 1}),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			w := e.do("GET", "/api/x", "", bearer(tok))
			expectJSON(t, w, 401, invalidBody)
			assert.Equal(t, invalidChallenge, w.Header().Get("WWW-Authenticate"))
			assert.Equal(t, ledger.OutcomeInvalid, e.lastEvent(ledger.KindAPI).Outcome)
		})
	}
	// The genuine token still works and the same claims signed right are accepted.
	assert.Equal(t, 200, e.do("GET", "/api/x", "", bearer(p.Access)).Code)
	assert.Equal(t, 200, e.do("GET", "/api/x", "", bearer(forge(t, jwt.SigningMethodHS256, key, claims))).Code)
}

func TestMissingTokenSignal(t *testing.T) {
	e := newEnv(t, Config{})
	w := e.do("GET", "/api/x?rid=r9", "")
	expectJSON(t, w, 401, `{"error":"invalid_token","rid":"r9"}`)
	assert.Equal(t, invalidChallenge, w.Header().Get("WWW-Authenticate"))
	ev := e.lastEvent(ledger.KindAPI)
	assert.Equal(t, ledger.OutcomeMissing, ev.Outcome)
	assert.Equal(t, "", ev.Token)
	expectJSON(t, e.do("GET", "/auth/verify", ""), 401, invalidBody)
}

func TestExpiredTokenOfRevokedFamilyIsInvalid(t *testing.T) {
	e := newEnv(t, Config{})
	p := e.login("alice")
	e.clk.Advance(3 * time.Hour)
	expectJSON(t, e.do("GET", "/api/x", "", bearer(p.Access)), 401, expiredBody)
	assert.Equal(t, 1, e.s.RevokeUsers(openid("alice")))
	expectJSON(t, e.do("GET", "/api/x", "", bearer(p.Access)), 401, invalidBody)
}
