package backend

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

func TestAPIGetDeterministic(t *testing.T) {
	e := newEnv(t, Config{})
	p := e.login("alice")
	w1 := e.do("GET", "/api/orders?rid=r1", "", bearer(p.Access))
	want := `{"rid":"r1","path":"/api/orders","user":"` + openid("alice") + `","items":[{"id":1,"name":"orders 1"},{"id":2,"name":"orders 2"},{"id":3,"name":"orders 3"}]}`
	expectJSON(t, w1, 200, want)
	assert.Equal(t, "r1", w1.Header().Get("X-Request-ID"))
	w2 := e.do("GET", "/api/orders?rid=r1", "", bearer(p.Access))
	assert.Equal(t, w1.Body.String(), w2.Body.String(), "byte-identical")

	ev := e.lastEvent(ledger.KindAPI)
	assert.Equal(t, ledger.OutcomeOK, ev.Outcome)
	assert.Equal(t, "r1", ev.RID)
	assert.Equal(t, "GET", ev.Method)
	assert.Equal(t, "/api/orders", ev.Route)
	assert.Equal(t, claimsOf(t, p.Access)["jti"], ev.Token)
	assert.Equal(t, openid("alice"), ev.Subject)
	assert.Equal(t, 200, ev.Status)
	assert.Empty(t, e.events(ledger.KindEffect), "GET has no effect")

	// rid from the header when the query has none; the query wins otherwise
	w := e.do("GET", "/api/a", "", bearer(p.Access), "X-Request-ID: h1")
	assert.Equal(t, "h1", w.Header().Get("X-Request-ID"))
	assert.Contains(t, w.Body.String(), `"rid":"h1"`)
	w = e.do("GET", "/api/a?rid=q1", "", bearer(p.Access), "X-Request-ID: h1")
	assert.Equal(t, "q1", w.Header().Get("X-Request-ID"))
	assert.Equal(t, 200, e.do("HEAD", "/api/a", "", bearer(p.Access)).Code)
}

func TestAPIEffects(t *testing.T) {
	e := newEnv(t, Config{})
	p := e.login("alice")
	for i, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		w := e.do(m, "/api/orders?rid=w"+m, `{"item":42}`, bearer(p.Access))
		expectJSON(t, w, 200, `{"rid":"w`+m+`","ok":true,"effect":`+string(rune('1'+i))+`}`)
	}
	effs := e.events(ledger.KindEffect)
	require.Len(t, effs, 4)
	assert.Equal(t, "wPOST", effs[0].RID)
	assert.Equal(t, "POST", effs[0].Method)
	assert.Equal(t, "/api/orders", effs[0].Route)
	assert.Equal(t, ledger.HashBody([]byte(`{"item":42}`)), effs[0].BodyHash)
	assert.Equal(t, claimsOf(t, p.Access)["jti"], effs[0].Token)
	assert.Equal(t, effs[0].BodyHash, e.events(ledger.KindAPI)[0].BodyHash)
	assert.EqualValues(t, 4, e.s.Stats().Effects)

	// an expired token executes nothing
	e.clk.Advance(3 * time.Hour)
	expectJSON(t, e.do("POST", "/api/orders?rid=late", `{}`, bearer(p.Access)), 401, `{"error":"token_expired","rid":"late"}`)
	assert.Len(t, e.events(ledger.KindEffect), 4)
	assert.Equal(t, ledger.HashBody([]byte(`{}`)), e.lastEvent(ledger.KindAPI).BodyHash, "refused attempts carry their body hash")
}

func TestAPIReauthIsNotATokenProblem(t *testing.T) {
	e := newEnv(t, Config{})
	p := e.login("alice")
	w := e.do("POST", "/api/reauth?rid=p1", `{}`, bearer(p.Access))
	expectJSON(t, w, 401, `{"error":"password_required","rid":"p1"}`)
	assert.Empty(t, w.Header().Get("WWW-Authenticate"), "no invalid_token challenge")
	ev := e.lastEvent(ledger.KindAPI)
	assert.Equal(t, ledger.OutcomeOK, ev.Outcome)
	assert.Equal(t, 401, ev.Status)
	assert.Equal(t, "not_token", ev.Detail)
	assert.Empty(t, e.events(ledger.KindEffect))
	// with a bad token the token problem wins
	expectJSON(t, e.do("GET", "/api/reauth", ""), 401, invalidBody)
}

func TestAPIDelay(t *testing.T) {
	e := newEnv(t, Config{})
	p := e.login("alice")
	start := time.Now()
	w := e.do("GET", "/api/x?delay_ms=60&rid=d", "", bearer(p.Access))
	assert.Equal(t, 200, w.Code)
	assert.GreaterOrEqual(t, time.Since(start), 60*time.Millisecond)

	// The token is checked before the delay: a late 401 for a token that
	// was valid-or-not at arrival, whatever happens meanwhile.
	e.clk.Advance(3 * time.Hour)
	w = e.do("GET", "/api/x?delay_ms=10", "", bearer(p.Access))
	expectJSON(t, w, 401, expiredBody)

	// The wait is cancelled with the request.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	r := httptest.NewRequest("GET", "/api/x?delay_ms=10000", nil).WithContext(ctx)
	r.Header.Set("Authorization", "Bearer "+e.login("bob").Access)
	rec := httptest.NewRecorder()
	start = time.Now()
	e.s.ServeHTTP(rec, r)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Equal(t, 0, rec.Body.Len(), "nothing written to a client that left")
}

func TestAPIDelayInterruptedByClose(t *testing.T) {
	e := newEnv(t, Config{})
	p := e.login("alice")
	go func() { time.Sleep(20 * time.Millisecond); _ = e.s.Close() }()
	w := e.do("GET", "/api/x?delay_ms=10000", "", bearer(p.Access))
	expectJSON(t, w, 503, `{"error":"shutting_down","error_description":"the backend is closing"}`)
}

func TestAPIUnicodePath(t *testing.T) {
	e := newEnv(t, Config{})
	p := e.login("alice")
	w := e.do("GET", "/api/%E8%AE%A2%E5%8D%95/%FF%22x?rid=%E2%80%A8", "", bearer(p.Access))
	require.Equal(t, 200, w.Code)
	assert.True(t, strings.Contains(w.Body.String(), `\ufffd\"x`), w.Body.String())
	assert.Contains(t, w.Body.String(), `"rid":"\u2028"`)
	assert.Contains(t, w.Body.String(), `"/api/订单/`)
}
