package hostile

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/backend"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/stack"
	"github.com/tokenstorm/tokenstorm/mockwechat"
)

// startKeyedBackend runs the reference backend with a known signing key on
// loopback, logging in through wechatURL: hostile tokens can then be signed
// genuinely, so that their claims reach the claim checks.
func startKeyedBackend(t *testing.T, wechatURL string, key []byte) string {
	t.Helper()
	s, err := backend.New(backend.Config{WechatURL: wechatURL, AppID: mockwechat.DefaultAppID, Secret: mockwechat.DefaultSecret,
		SigningKey: key, Ledger: ledger.New(ledger.Options{Memory: true})})
	require.NoError(t, err)
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := stack.NewHTTPServer(s, "", stack.Timeouts{})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); _ = s.Close() })
	return "http://" + ln.Addr().String()
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// Hostile access tokens at a protected route: every one is a JSON 401 with
// a token signal (never a 5xx), signed with the server's own key or not.
func TestHostileJWTClaims(t *testing.T) {
	st := start(t, stack.Options{})
	key := []byte("hostile-key-hostile-key-hostile!")
	base := startKeyedBackend(t, st.WechatURL, key)

	var code struct{ Code string }
	postJSON(t, st.WechatURL+"/__mock/wx/login", `{"user":"jwt"}`, "", &code)
	var pair struct {
		AccessToken string `json:"access_token"`
	}
	postJSON(t, base+"/auth/login", `{"code":"`+code.Code+`"}`, "", &pair)
	parts := strings.Split(pair.AccessToken, ".")
	require.Len(t, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var genuine map[string]any
	require.NoError(t, json.Unmarshal(raw, &genuine))

	hs256 := b64(`{"alg":"HS256","typ":"JWT"}`)
	sign := func(head, claims string) string {
		sig, err := jwt.SigningMethodHS256.Sign(head+"."+claims, key)
		require.NoError(t, err)
		return head + "." + claims + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	// with is the genuine claims with one member replaced (raw JSON).
	with := func(member, value string) string {
		m := map[string]json.RawMessage{}
		for k, v := range genuine {
			b, _ := json.Marshal(v)
			m[k] = b
		}
		if value == "" {
			delete(m, member)
		} else {
			m[member] = json.RawMessage(value)
		}
		b, err := json.Marshal(m)
		require.NoError(t, err)
		return b64(string(b))
	}
	tokens := map[string]string{
		"alg none":                b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + ".",
		"alg NONE":                b64(`{"alg":"NONE"}`) + "." + parts[1] + ".",
		"alg none with signature": b64(`{"alg":"none"}`) + "." + parts[1] + "." + parts[2],
		"alg HS512 same key": func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims(genuine)).SignedString(key)
			return s
		}(),
		"alg RS256 header":     b64(`{"alg":"RS256"}`) + "." + parts[1] + "." + parts[2],
		"alg a number":         sign(b64(`{"alg":256}`), parts[1]),
		"header not JSON":      sign(b64(`alg=HS256`), parts[1]),
		"header an array":      sign(b64(`["HS256"]`), parts[1]),
		"header huge kid":      sign(b64(`{"alg":"HS256","kid":"`+strings.Repeat("k", 20000)+`"}`), parts[1]),
		"header crit unknown":  sign(b64(`{"alg":"HS256","crit":["exp"],"exp":1}`), parts[1]),
		"header kid traversal": sign(b64(`{"alg":"HS256","kid":"../../etc/passwd"}`), parts[1]),
		"claims bad base64":    hs256 + ".!!!." + parts[2],
		"claims padded base64": sign(hs256, parts[1]+"=="),
		"claims std base64":    sign(hs256, base64.StdEncoding.EncodeToString(raw)+"+/"),
		"signature bad base64": parts[0] + "." + parts[1] + ".***",
		"signature empty":      parts[0] + "." + parts[1] + ".",
		"signature of other key": func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(genuine)).SignedString([]byte("other"))
			return s
		}(),
		"two segments":                parts[0] + "." + parts[1],
		"four segments":               pair.AccessToken + ".x",
		"empty segments":              "..",
		"claims not JSON":             sign(hs256, b64("sub=x")),
		"claims an array":             sign(hs256, b64(`[1,2]`)),
		"claims null":                 sign(hs256, b64(`null`)),
		"claims empty object":         sign(hs256, b64(`{}`)),
		"claims duplicate exp":        sign(hs256, b64(strings.TrimSuffix(string(raw), "}")+`,"exp":1}`)),
		"exp a string":                sign(hs256, with("exp", `"9999999999"`)),
		"exp 1e300":                   sign(hs256, with("exp", `1e300`)),
		"exp 1e400":                   sign(hs256, with("exp", `1e400`)),
		"exp -9e18":                   sign(hs256, with("exp", `-9e18`)),
		"exp a bool":                  sign(hs256, with("exp", `true`)),
		"exp null":                    sign(hs256, with("exp", `null`)),
		"exp an object":               sign(hs256, with("exp", `{"$date":1}`)),
		"exp missing":                 sign(hs256, with("exp", "")),
		"exp in the past":             sign(hs256, with("exp", `1`)),
		"nbf far future":              sign(hs256, with("nbf", `9e15`)),
		"nbf a string":                sign(hs256, with("nbf", `"now"`)),
		"nbf NaN-ish":                 sign(hs256, with("nbf", `1e999`)),
		"iat a string":                sign(hs256, with("iat", `"yesterday"`)),
		"iat 1e300":                   sign(hs256, with("iat", `1e300`)),
		"iat an array":                sign(hs256, with("iat", `[1]`)),
		"n a string":                  sign(hs256, with("n", `"1"`)),
		"n negative":                  sign(hs256, with("n", `-1`)),
		"n 2^64":                      sign(hs256, with("n", `18446744073709551616`)),
		"n fractional":                sign(hs256, with("n", `1.5`)),
		"n huge":                      sign(hs256, with("n", `1e30`)),
		"sub a number":                sign(hs256, with("sub", `12`)),
		"sub another user":            sign(hs256, with("sub", `"o-someone-else"`)),
		"sub NUL":                     sign(hs256, with("sub", `"\u0000"`)),
		"fam an array":                sign(hs256, with("fam", `["f"]`)),
		"fam unknown":                 sign(hs256, with("fam", `"f-forged"`)),
		"jti an object":               sign(hs256, with("jti", `{"a":1}`)),
		"aud a number":                sign(hs256, with("aud", `5`)),
		"claims deep nesting":         sign(hs256, with("x", strings.Repeat("[", 5000)+strings.Repeat("]", 5000))),
		"claims invalid UTF-8":        sign(hs256, b64("{\"sub\":\"\xff\xfe\",\"exp\":9999999999}")),
		"token with spaces":           "a b c",
		"token 64 KiB":                sign(hs256, b64(`{"exp":9999999999,"pad":"`+strings.Repeat("p", 48<<10)+`"}`)),
		"genuine token, other header": sign(b64(`{"typ":"JWT","alg":"HS256"}`), parts[1]),
	}
	mayPass := map[string]bool{"genuine token, other header": true, "header crit unknown": true, "header huge kid": true,
		"header kid traversal": true, "iat 1e300": true, "claims deep nesting": true, "exp a string": true}
	for name, tok := range tokens {
		req, err := http.NewRequest("GET", base+"/api/orders", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hc.Do(req)
		require.NoError(t, err, name)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var body struct{ Error string }
		assert.NoError(t, json.Unmarshal(b, &body), "%s: not JSON: %s", name, clip(b))
		if mayPass[name] {
			// Signed with the key and still naming a serial, subject and
			// family it issued, not expired: only the key holder can make
			// these, and the server's rule (FuzzJWTClaims) lets them in.
			assert.Contains(t, []int{200, 401}, resp.StatusCode, name)
			continue
		}
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s: %s", name, clip(b))
		assert.Contains(t, []string{"invalid_token", "token_expired"}, body.Error, name)
	}
	healthyVia(t, st.WechatURL, base, "")
}
