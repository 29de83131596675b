package backend

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// benchEnv is newEnv with a spilling ledger, as in a real run: a memory
// ledger would grow with b.N and measure the garbage collector instead.
func benchEnv(b *testing.B) *tenv {
	led := ledger.New(ledger.Options{})
	b.Cleanup(func() { _ = led.Close() })
	return newEnv(b, Config{Ledger: led})
}

type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

func BenchmarkLogin(b *testing.B) {
	e := benchEnv(b)
	bodies := make([]string, b.N)
	for i := range bodies {
		bodies[i] = `{"code":"u` + strconv.Itoa(i%1000) + `.` + strconv.Itoa(i) + `"}`
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := httptest.NewRequest("POST", "/auth/login", strings.NewReader(bodies[i]))
		w := httptest.NewRecorder()
		e.s.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}

func BenchmarkProtectedGET(b *testing.B) {
	e := benchEnv(b)
	p := e.login("alice")
	r := httptest.NewRequest("GET", "/api/orders?rid=bench", nil)
	r.Header.Set("Authorization", "Bearer "+p.Access)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clear(w.h)
		e.s.ServeHTTP(w, r)
	}
}

func BenchmarkProtectedGETParallel(b *testing.B) {
	e := benchEnv(b)
	tokens := make([]string, 64)
	for i := range tokens {
		tokens[i] = e.login("user" + strconv.Itoa(i)).Access
	}
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest("GET", "/api/orders?rid=bench", nil)
		r.Header.Set("Authorization", "Bearer "+tokens[int(next.Add(1))%len(tokens)])
		w := &discard{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			e.s.ServeHTTP(w, r)
		}
	})
}

func BenchmarkRefresh(b *testing.B) {
	e := benchEnv(b)
	rt := e.login("alice").Refresh
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := httptest.NewRequest("POST", "/auth/refresh", strings.NewReader(`{"refresh_token":"`+rt+`"}`))
		w := httptest.NewRecorder()
		e.s.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body.String())
		}
		var p pair
		_ = json.Unmarshal(w.Body.Bytes(), &p)
		rt = p.Refresh
	}
}
