package mockwechat

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tokenstorm/tokenstorm/harness/clock"
)

// FuzzJSCode2Session: any method, query and body must get a WeChat-shaped
// answer (or 413), never a panic or a 500. "CODE" in the query is replaced by
// a freshly minted code so the fuzzer also walks the success paths.
func FuzzJSCode2Session(f *testing.F) {
	f.Add("GET", "appid="+DefaultAppID+"&secret="+DefaultSecret+"&js_code=CODE&grant_type=authorization_code", "")
	f.Add("POST", "", "appid="+DefaultAppID+"&secret="+DefaultSecret+"&js_code=CODE&grant_type=authorization_code")
	f.Add("GET", "appid=%zz;secret=&&&js_code=CODE&js_code=x", "")
	f.Add("DELETE", "appid=a&appid=b", "a=%")
	f.Add("GET", "", "")
	s := New(Config{Clock: clock.NewManual(t0), MinuteQuota: -1})
	defer s.Close()
	f.Fuzz(func(t *testing.T, method, rawQuery, body string) {
		if !validMethod(method) {
			method = http.MethodGet
		}
		if strings.Contains(rawQuery, "CODE") || strings.Contains(body, "CODE") {
			code, err := s.Login("", "fuzz")
			if err != nil {
				t.Fatal(err)
			}
			rawQuery = strings.ReplaceAll(rawQuery, "CODE", code)
			body = strings.ReplaceAll(body, "CODE", code)
		}
		req := &http.Request{
			Method:        method,
			URL:           &url.URL{Path: "/sns/jscode2session", RawQuery: rawQuery},
			Header:        http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
			Body:          io.NopCloser(strings.NewReader(body)),
			ContentLength: int64(len(body)),
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req.WithContext(t.Context()))
		if rec.Code == http.StatusRequestEntityTooLarge {
			return
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q", rec.Body)
		}
		_, isErr := m["errcode"]
		_, isOK := m["session_key"]
		if isErr == isOK {
			t.Fatalf("want exactly one of errcode / session_key: %v", m)
		}
	})
}

// FuzzMockJSON: the JSON bodies of the device, admin and stable_token
// endpoints. Whatever the bytes, no panic, no 500, and a JSON answer.
func FuzzMockJSON(f *testing.F) {
	f.Add(uint8(0), `{"appid":"`+DefaultAppID+`","user":"d1"}`)
	f.Add(uint8(1), `{"api":"jscode2session","errcode":-1,"latency":"1ms","users":["d1"]}`)
	f.Add(uint8(1), `{"api":"*","latency_min":"1ms","latency_max":"2ms","probability":0.5}`)
	f.Add(uint8(2), `{"grant_type":"client_credential","appid":"`+DefaultAppID+`","secret":"`+DefaultSecret+`","force_refresh":true}`)
	f.Add(uint8(3), `{"users":["a","b"]}`)
	f.Add(uint8(0), `{"user":"\ud800"}`)
	f.Add(uint8(1), `{"api":"*","errcode":1e999}`)
	targets := []string{"/__mock/wx/login", "/__admin/faults", "/cgi-bin/stable_token", "/__admin/blocked"}
	s := New(Config{Clock: clock.NewManual(t0), MinuteQuota: -1})
	defer s.Close()
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		target := targets[int(which)%len(targets)]
		req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		s.ClearFaults() // a rule added here must not slow later inputs
		if rec.Code == http.StatusInternalServerError || rec.Code == 0 {
			t.Fatalf("%s %q: status %d: %s", target, body, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) || !utf8.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s: answer is not JSON: %q", target, rec.Body)
		}
	})
}

func validMethod(m string) bool {
	if m == "" || len(m) > 16 {
		return false
	}
	for _, r := range m {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}
