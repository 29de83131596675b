package backend

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenstorm/tokenstorm/harness/style"
)

// TestHostileInputs sends malformed and hostile requests; each gets an exact
// status and JSON body (never a 500, never an empty 200), and the server
// keeps serving afterwards.
func TestHostileInputs(t *testing.T) {
	key := []byte("hostile-test-key-0123456789abcdef")
	e := newEnv(t, Config{SigningKey: key})
	alice, bob := e.login("alice"), e.login("bob")
	rotated := alice.Refresh
	decodePair(t, e.refresh(rotated))
	bc := claimsOf(t, bob.Access)
	past := jwt.MapClaims{"sub": bc["sub"], "jti": "old", "fam": bc["fam"], "n": 1e9, "iat": t0.Add(-3 * time.Hour).Unix(), "exp": t0.Add(-time.Hour).Unix()}
	expiredJWT := forge(t, jwt.SigningMethodHS256, key, past)
	otherKeyJWT := forge(t, jwt.SigningMethodHS256, []byte("not-the-key-not-the-key-not-the-k"), jwt.MapClaims(bc))
	noneJWT := forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims(bc))
	parts := strings.Split(bob.Access, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]
	huge := `{"code":"` + strings.Repeat("a", MaxBody) + `"}`
	good := bearer(bob.Access)

	const tooLarge = `{"error":"request_too_large","error_description":"request body exceeds 1048576 bytes"}`
	notObject := `{"error":"invalid_request","error_description":"the request body must be a JSON object"}`
	cases := []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		want                     string
		allow                    string // expected Allow header
		challenge                string // expected WWW-Authenticate
	}{
		{"login no body", "POST", "/auth/login", "", nil, 400, notObject, "", ""},
		{"login truncated JSON", "POST", "/auth/login", `{"code":`, nil, 400, `{"error":"invalid_request","error_description":"bad JSON: unexpected end of JSON input"}`, "", ""},
		{"login array", "POST", "/auth/login", `["code"]`, nil, 400, notObject, "", ""},
		{"login string body", "POST", "/auth/login", `"code"`, nil, 400, notObject, "", ""},
		{"login code number", "POST", "/auth/login", `{"code":123}`, nil, 400, `{"error":"invalid_request","error_description":"code must be a string","field":"code"}`, "", ""},
		{"login duplicated code", "POST", "/auth/login", `{"code":"a.1","code":"b.2"}`, nil, 400, `{"error":"invalid_request","error_description":"duplicate member \"code\"","field":"code"}`, "", ""},
		{"login empty code", "POST", "/auth/login", `{"code":"  "}`, nil, 400, `{"error":"invalid_request","error_description":"empty code","field":"code"}`, "", ""},
		{"login null code", "POST", "/auth/login", `{"code":null}`, nil, 400, `{"error":"invalid_request","error_description":"missing code","field":"code"}`, "", ""},
		{"login trailing data", "POST", "/auth/login", `{"code":"a.9"} {}`, nil, 400, `{"error":"invalid_request","error_description":"bad JSON: invalid character '{' after top-level value"}`, "", ""},
		{"login code too long", "POST", "/auth/login", `{"code":"` + strings.Repeat("c", 5000) + `"}`, nil, 400, `{"error":"invalid_request","error_description":"code is too long","field":"code"}`, "", ""},
		{"login huge body", "POST", "/auth/login", huge, nil, 413, tooLarge, "", ""},
		{"login wrong method", "GET", "/auth/login", "", nil, 405, `{"error":"method_not_allowed","error_description":"GET is not allowed on /auth/login","allowed":["POST"]}`, "POST", ""},
		{"refresh missing token", "POST", "/auth/refresh", `{"token":"x"}`, nil, 400, `{"error":"invalid_request","error_description":"missing refresh_token","field":"refresh_token"}`, "", ""},
		{"refresh bad JSON", "POST", "/auth/refresh", `{refresh_token:1}`, nil, 400, `{"error":"invalid_request","error_description":"bad JSON: invalid character 'r' looking for beginning of object key string"}`, "", ""},
		{"refresh reused token", "POST", "/auth/refresh", `{"refresh_token":"` + rotated + `"}`, nil, 401, invalidGrant("reuse of rotated refresh token"), "", ""},
		{"refresh reused again", "POST", "/auth/refresh", `{"refresh_token":"` + rotated + `"}`, nil, 401, invalidGrant("refresh token family revoked"), "", ""},
		{"refresh with access token", "POST", "/auth/refresh", `{"refresh_token":"` + bob.Access + `"}`, nil, 401, invalidGrant("unknown refresh token"), "", ""},
		{"tampered JWT", "GET", "/api/x", "", []string{bearer(tampered)}, 401, invalidBody, "", invalidChallenge},
		{"alg none JWT", "GET", "/api/x", "", []string{bearer(noneJWT)}, 401, invalidBody, "", invalidChallenge},
		{"JWT other key", "GET", "/api/x", "", []string{bearer(otherKeyJWT)}, 401, invalidBody, "", invalidChallenge},
		{"expired JWT", "GET", "/api/x", "", []string{bearer(expiredJWT)}, 401, expiredBody, "", expiredChallenge},
		{"basic scheme", "GET", "/api/x", "", []string{"Authorization: Basic Ym9iOg=="}, 401, invalidBody, "", invalidChallenge},
		{"bearer without token", "GET", "/api/x", "", []string{"Authorization: Bearer"}, 401, invalidBody, "", invalidChallenge},
		{"two authorization headers", "GET", "/api/x", "", []string{good, good}, 401, invalidBody, "", invalidChallenge},
		{"delay_ms not a number", "GET", "/api/x?delay_ms=soon", "", []string{good}, 400, `{"error":"invalid_request","error_description":"delay_ms must be an integer from 0 to 10000","field":"delay_ms"}`, "", ""},
		{"delay_ms too big", "GET", "/api/x?delay_ms=10001", "", []string{good}, 400, `{"error":"invalid_request","error_description":"delay_ms must be an integer from 0 to 10000","field":"delay_ms"}`, "", ""},
		{"delay_ms negative", "GET", "/api/x?delay_ms=-1&rid=n1", "", []string{good}, 400, `{"error":"invalid_request","error_description":"delay_ms must be an integer from 0 to 10000","field":"delay_ms","rid":"n1"}`, "", ""},
		{"conflicting rid", "GET", "/api/x?rid=a&rid=b", "", []string{good}, 400, `{"error":"invalid_request","error_description":"conflicting values for query parameter rid","field":"rid"}`, "", ""},
		{"repeated equal params", "GET", "/api/x?rid=a&rid=a&delay_ms=0&delay_ms=0", "", []string{good}, 200, `{"rid":"a","path":"/api/x","user":"` + openid("bob") + `","items":[{"id":1,"name":"x 1"},{"id":2,"name":"x 2"},{"id":3,"name":"x 3"}]}`, "", ""},
		{"rid too long", "GET", "/api/x?rid=" + strings.Repeat("r", 300), "", []string{good}, 400, `{"error":"invalid_request","error_description":"rid longer than 256 bytes","field":"rid"}`, "", ""},
		{"rid control chars", "GET", "/api/x?rid=a%0Db", "", []string{good}, 400, `{"error":"invalid_request","error_description":"rid contains control characters","field":"rid"}`, "", ""},
		{"api huge body", "POST", "/api/orders?rid=big", huge, []string{good}, 413, `{"error":"request_too_large","error_description":"request body exceeds 1048576 bytes","rid":"big"}`, "", ""},
		{"api wrong method", "OPTIONS", "/api/x", "", nil, 405, `{"error":"method_not_allowed","error_description":"OPTIONS is not allowed on /api/x","allowed":["GET","HEAD","POST","PUT","PATCH","DELETE"]}`, "GET, HEAD, POST, PUT, PATCH, DELETE", ""},
		{"verify wrong method", "POST", "/auth/verify", "", nil, 405, `{"error":"method_not_allowed","error_description":"POST is not allowed on /auth/verify","allowed":["GET","HEAD"]}`, "GET, HEAD", ""},
		{"unknown route", "GET", "/nope", "", nil, 404, `{"error":"not_found","error_description":"no route /nope"}`, "", ""},
		{"unknown admin route", "POST", "/__admin/nuke", "", nil, 404, `{"error":"not_found","error_description":"no route /__admin/nuke"}`, "", ""},
		{"expire empty", "POST", "/__admin/expire", `{}`, nil, 400, `{"error":"invalid_request","error_description":"give exactly one of \"all\":true or \"users\":[...]"}`, "", ""},
		{"expire all false", "POST", "/__admin/expire", `{"all":false}`, nil, 400, `{"error":"invalid_request","error_description":"\"all\" must be true when given","field":"all"}`, "", ""},
		{"expire users not list", "POST", "/__admin/expire", `{"users":"x"}`, nil, 400, `{"error":"invalid_request","error_description":"users: want an array of strings","field":"users"}`, "", ""},
		{"expire users empty", "POST", "/__admin/expire", `{"users":[]}`, nil, 400, `{"error":"invalid_request","error_description":"users: empty list","field":"users"}`, "", ""},
		{"expire unknown member", "POST", "/__admin/expire", `{"everyone":true}`, nil, 400, `{"error":"invalid_request","error_description":"unknown member \"everyone\" (want one of [all users])","field":"everyone"}`, "", ""},
		{"revoke two selectors", "POST", "/__admin/revoke", `{"all":true,"users":["x"]}`, nil, 400, `{"error":"invalid_request","error_description":"give exactly one of \"all\":true or \"users\":[...]"}`, "", ""},
		{"config bad duration", "PUT", "/__admin/config", `{"access_ttl":"soon"}`, nil, 400, `{"error":"invalid_config","error_description":"\"soon\" is not a duration such as \"2h\" or \"90s\"","field":"access_ttl"}`, "", ""},
		{"config negative ttl", "PUT", "/__admin/config", `{"refresh_ttl":"-1h"}`, nil, 400, `{"error":"invalid_config","error_description":"-1h0m0s is out of range (0, 87600h0m0s]","field":"refresh_ttl"}`, "", ""},
		{"config number ttl", "PUT", "/__admin/config", `{"access_ttl":3600}`, nil, 400, `{"error":"invalid_config","error_description":"must be a non-empty string","field":"access_ttl"}`, "", ""},
		{"config bad reuse", "PUT", "/__admin/config", `{"reuse":"lenient"}`, nil, 400, `{"error":"invalid_config","error_description":"reuse policy \"lenient\": want strict, grace:\u003cduration\u003e or reuse:\u003cn\u003e","field":"reuse"}`, "", ""},
		{"config unknown member", "PUT", "/__admin/config", `{"ttl":"1h"}`, nil, 400, `{"error":"invalid_config","error_description":"unknown member \"ttl\" (want one of [access_ttl refresh_ttl reuse style])","field":"ttl"}`, "", ""},
		{"config unknown style", "PUT", "/__admin/config", `{"style":"nosuch"}`, nil, 400, `{"error":"invalid_config","error_description":"style: no built-in style \"nosuch\" (built in: ` + strings.Join(style.Names(), ", ") + `; over HTTP a style is a built-in name or an inline document, never a file)","field":"style"}`, "", ""},
		{"config wrong method", "POST", "/__admin/config", `{}`, nil, 405, `{"error":"method_not_allowed","error_description":"POST is not allowed on /__admin/config","allowed":["GET","HEAD","PUT"]}`, "GET, HEAD, PUT", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := e.do(c.method, c.path, c.body, c.hdr...)
			expectJSON(t, w, c.status, c.want)
			assert.Equal(t, c.allow, w.Header().Get("Allow"))
			assert.Equal(t, c.challenge, w.Header().Get("WWW-Authenticate"))
			// still serving, and nothing was changed by the refused request
			require.Equal(t, 200, e.do("GET", "/api/x", "", good).Code)
		})
	}
	assert.GreaterOrEqual(t, len(cases), 25)
	rc := e.s.CurrentConfig()
	assert.Equal(t, RuntimeConfig{AccessTTL: DefaultAccessTTL, RefreshTTL: DefaultRefreshTTL, Reuse: "strict", Style: "bearer"}, rc, "refused config changes changed nothing")
	assert.Zero(t, e.s.Stats().Effects, "refused requests executed nothing")
}
