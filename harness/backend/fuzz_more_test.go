package backend

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzReuse: a parsed reuse policy prints as text that parses back to it.
func FuzzReuse(f *testing.F) {
	for _, s := range []string{"strict", "grace:30s", "reuse:3", "grace:-1s", "reuse:0", "reuse:99999999999999999999", "grace:", "GRACE:1s", "reuse:1e3", "grace:1h1h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReuse(s)
		if err != nil {
			return
		}
		again, err := ParseReuse(r.String())
		if err != nil || again != r {
			t.Fatalf("%q → %q does not round-trip (%v)", s, r.String(), err)
		}
	})
}

// FuzzJWTClaims signs arbitrary claim sets with the server's own key: the
// backend answers 200 only for claims it issued (a known serial, subject and
// family, not expired) and a JSON 401 otherwise, never a 500.
func FuzzJWTClaims(f *testing.F) {
	key := []byte("fuzz-key-fuzz-key-fuzz-key-fuzz!")
	e := newEnv(f, Config{SigningKey: key})
	p := e.login("alice")
	parts := strings.Split(p.Access, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		f.Fatal(err)
	}
	// The claims are judged without a ledger: it would keep one event per
	// exec (a million execs: hundreds of MB, every exec slower than the last).
	e.s.ledger = nil
	good, _ := json.Marshal(c)
	f.Add(good)
	for _, s := range []string{`{}`, `{"sub":1}`, `{"exp":"soon"}`, `{"exp":1e300}`, `{"n":-1,"sub":"x"}`, `{"fam":null}`, `[]`, `null`, `{"sub":"` + c["sub"].(string) + `","n":1e30}`, `{"iat":-9e18,"exp":9e18}`} {
		f.Add([]byte(s))
	}
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	f.Fuzz(func(t *testing.T, claims []byte) {
		unsigned := head + "." + base64.RawURLEncoding.EncodeToString(claims)
		sig, err := jwt.SigningMethodHS256.Sign(unsigned, key)
		if err != nil {
			t.Fatal(err)
		}
		w := e.do("GET", "/api/x", "", "Authorization: Bearer "+unsigned+"."+base64.RawURLEncoding.EncodeToString(sig))
		var body map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("status %d, body not JSON: %q", w.Code, w.Body.String())
		}
		switch w.Code {
		case 200:
			var m map[string]any
			if json.Unmarshal(claims, &m) != nil || m["sub"] != c["sub"] {
				t.Fatalf("200 for claims it never issued: %s", claims)
			}
		case 401:
		default:
			t.Fatalf("status %d for claims %s", w.Code, claims)
		}
	})
}
