package mockwechat

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/clock"
)

// benchLogin is one full device login, in-process: POST /__mock/wx/login, then
// the backend's GET /sns/jscode2session.
func benchLogin(b *testing.B, s *Server, user string) {
	// http.NewRequest, not httptest.NewRequest: the latter parses a request
	// text through a 4 KiB bufio.Reader and would dominate the numbers.
	req, _ := http.NewRequest(http.MethodPost, "/__mock/wx/login", strings.NewReader(`{"user":"`+user+`"}`))
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	code := rec.Body.Bytes()[len(`{"code":"`) : len(`{"code":"`)+32]
	req, _ = http.NewRequest(http.MethodGet, "/sns/jscode2session?appid="+DefaultAppID+"&secret="+DefaultSecret+"&js_code="+string(code)+"&grant_type=authorization_code", nil)
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if !bytes.HasPrefix(rec.Body.Bytes(), []byte(`{"session_key"`)) {
		b.Fatalf("exchange: %s", rec.Body)
	}
}

// BenchmarkJSCode2Session: mint + exchange. 1000 users keep every call under
// the minute quota, and the clock jumps past the code TTL every 10k logins so
// the sweep keeps memory flat, as in a long storm.
func BenchmarkJSCode2Session(b *testing.B) {
	clk := clock.NewManual(t0)
	s := New(Config{Clock: clk})
	defer s.Close()
	users := make([]string, 1000)
	for i := range users {
		users[i] = "dev" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%10_000 == 9_999 {
			clk.Advance(DefaultCodeTTL + time.Second)
		}
		benchLogin(b, s, users[i%len(users)])
	}
}

func BenchmarkJSCode2SessionParallel(b *testing.B) {
	s := New(Config{Clock: clock.NewManual(t0), MinuteQuota: -1})
	defer s.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			benchLogin(b, s, "dev")
		}
	})
}

// BenchmarkLoginGo: the Go-side wx.login alone (mint).
func BenchmarkLoginGo(b *testing.B) {
	clk := clock.NewManual(t0)
	s := New(Config{Clock: clk})
	defer s.Close()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%10_000 == 9_999 {
			clk.Advance(DefaultCodeTTL + time.Second)
		}
		if _, err := s.Login("", "dev"); err != nil {
			b.Fatal(err)
		}
	}
}
