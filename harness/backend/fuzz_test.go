package backend

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// FuzzAuthorization throws arbitrary Authorization values at a protected
// route: the answer is always a JSON 401 with a token signal, unless the
// value is exactly the genuine token.
func FuzzAuthorization(f *testing.F) {
	e := newEnv(f, Config{SigningKey: []byte("fuzz-key-fuzz-key-fuzz-key-fuzz!")})
	p := e.login("alice")
	e.s.ledger = nil // one event per exec would pile up over a million execs
	parts := strings.Split(p.Access, ".")
	for _, s := range []string{
		"", "Bearer", "Bearer ", "Bearer " + p.Access, "bearer " + p.Access, "Bearer  " + p.Access,
		"Bearer " + parts[0] + ".." + parts[2], "Bearer " + parts[0] + "." + parts[1] + ".",
		"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "Basic YWJjOg==", "Bearer a.b.c.d",
		"Bearer " + strings.Repeat("A", 5000), "Bearer \x00\xff", "Bearer e30.e30.e30",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, auth string) {
		if !validHeaderValue(auth) {
			t.Skip() // net/http would refuse to send it
		}
		w := e.do("GET", "/api/x", "", "Authorization: "+auth)
		var body map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("status %d, body not JSON: %q", w.Code, w.Body.String())
		}
		switch w.Code {
		case 200:
			if tok, err := e.s.Style().TokenFrom(http.Header{"Authorization": {strings.TrimSpace(auth)}}); err != nil || tok != p.Access {
				t.Fatalf("200 for %q", auth)
			}
		case 401:
			if body["error"] != "invalid_token" && body["error"] != "token_expired" {
				t.Fatalf("401 without a token signal: %v", body)
			}
			if w.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("401 without a challenge")
			}
		default:
			t.Fatalf("status %d for %q", w.Code, auth)
		}
	})
}

func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// FuzzRequestBodies throws arbitrary bodies at every route that reads one:
// never a 500, always a JSON answer, and the server keeps serving.
//
// Each exec starts from the same state (server, ledger and fake WeChat
// reset, alice logged in afresh): memory stays flat over a million execs and
// a crasher replays alone as it ran. refreshHole in a body stands for
// alice's current refresh token, so the refresh route sees a live one.
func FuzzRequestBodies(f *testing.F) {
	e := newEnv(f, Config{})
	routes := []struct{ method, path string }{
		{"POST", "/auth/login"}, {"POST", "/auth/refresh"}, {"POST", "/api/orders"},
		{"POST", "/__admin/expire"}, {"POST", "/__admin/revoke"}, {"PUT", "/__admin/config"},
	}
	for i, b := range []string{
		`{"code":"bob.1"}`, `{"refresh_token":"` + refreshHole + `"}`, `{"x":1}`, `{"users":["a"]}`,
		`{"families":["f-x"]}`, `{"access_ttl":"1h","reuse":"grace:1s"}`, `{"code":"a","code":"a"}`,
		`[]`, `null`, `{"code":{"nested":[1,2,{}]}}`, "\xff\xfe", `{"all":true}`, `{"style":"bearer"}`,
	} {
		f.Add(uint8(i), b)
	}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		e.s.Reset()
		e.led.Reset()
		e.wx.reset()
		e.t = t // execs run one after another in a worker
		_ = e.s.SetConfig(RuntimeConfig{Style: "bearer", AccessTTL: DefaultAccessTTL, Reuse: "strict"})
		p := e.login("alice")
		body = strings.ReplaceAll(body, refreshHole, p.Refresh)
		rt := routes[int(route)%len(routes)]
		w := e.do(rt.method, rt.path, body, bearer(p.Access))
		if w.Code >= 500 && !(rt.path == "/auth/login" && (w.Code == 502 || w.Code == 503)) {
			t.Fatalf("%s %s %q: status %d %s", rt.method, rt.path, body, w.Code, w.Body.String())
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %s: body not JSON: %q", rt.method, rt.path, w.Body.String())
		}
		_ = e.s.SetConfig(RuntimeConfig{Style: "bearer", AccessTTL: DefaultAccessTTL, Reuse: "strict"})
		if w := e.do("GET", "/__admin/stats", ""); w.Code != 200 {
			t.Fatalf("server stopped serving: %d", w.Code)
		}
	})
}

const refreshHole = "{{refresh}}"
