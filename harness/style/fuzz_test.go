package style

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzStyle: any bytes either parse into a style every part can use, or are
// refused with a located *Error; never a panic.
func FuzzStyle(f *testing.F) {
	files, _ := filepath.Glob("../../examples/styles/*.yaml")
	builtins, _ := filepath.Glob("builtin/*.yaml")
	for _, p := range append(files, builtins...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("name: x\nroutes: {login: {path: /l, method: GET, code: 'query:c', extra: {'header:X': 1}}, resource: /r/}\n"))
	f.Add([]byte("signals: {invalid: {same_as: expired}, expired: {any_of: [{status: 401}, {status: 419, members: {a.b: [1, 2]}}]}}"))
	// Hostile inputs (issue 15): a BOM, alias bombs, deep nesting, NUL.
	for _, s := range []string{
		"\xEF\xBB\xBFname: x\n", "a: &a [*a]\n", strings.Repeat("{", 300), "name: [1, 2]\n", "---\n---\n",
		"x0: &a0 [q, q, q, q, q, q, q, q, q, q]\nx1: &a1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]\nx2: [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]\n",
		"\x00", "version: 99\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T, want *Error: %v", err, err)
			}
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if _, err := json.Marshal(s); err != nil {
			t.Fatalf("a parsed style must marshal as style_spec: %v", err)
		}
		_ = s.Outline()
		for _, ns := range s.Signals.Named() {
			status, _, _ := ns.Signal.Written()
			if status < 100 || status > 599 {
				t.Fatalf("signal %s writes status %d", ns.Name, status)
			}
		}
		body := []byte(`{"code":0,"data":{"token":"t"},"error":"x"}`)
		_ = s.Classify(200, body)
		_ = s.ReadTokens(nil, body)
		for _, rq := range []*Request{&s.Requests.Login, &s.Requests.Refresh, &s.Requests.Verify} {
			if rq.Path != "" {
				roundTripOK(t, s, rq, "tok-1.A_b")
			}
		}
	})
}

// FuzzRequestTemplate: the template renderer and its reader agree on any
// value in every style: what NewRequest sends, ReadValue reads back (or
// refuses clearly); neither panics.
func FuzzRequestTemplate(f *testing.F) {
	f.Add(0, 0, "code-1")
	f.Add(3, 1, "a b")
	f.Add(5, 2, "é\"\\\x00;,=")
	f.Add(7, 0, strings.Repeat("x", 5000))
	var styles []*Style
	for _, n := range Names() {
		styles = append(styles, MustLoad(n))
	}
	files, _ := filepath.Glob("../../examples/styles/*.yaml")
	for _, p := range files {
		if s, err := Load(p); err == nil {
			styles = append(styles, s)
		}
	}
	f.Fuzz(func(t *testing.T, si, ri int, value string) {
		if si < 0 {
			si = -si
		}
		if ri < 0 {
			ri = -ri
		}
		s := styles[si%len(styles)]
		rq := []*Request{&s.Requests.Login, &s.Requests.Refresh, &s.Requests.Verify}[ri%3]
		if rq.Path == "" {
			return
		}
		req, err := s.NewRequest(t.Context(), "http://b.test", rq, value)
		if err != nil {
			return
		}
		body := readAll(t, req)
		got, err := s.ReadValue(rq, req, body)
		if err != nil {
			if _, ok := err.(*RequestError); !ok && err != ErrNoToken && err != ErrMalformedToken {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if tokenAlphabet(value) && got != value {
			t.Fatalf("%s %s: sent %q, read back %q", s.Name, rq.Path, value, got)
		}
	})
}

func roundTripOK(t *testing.T, s *Style, rq *Request, value string) {
	req, err := s.NewRequest(t.Context(), "http://b.test", rq, value)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	got, err := s.ReadValue(rq, req, readAll(t, req))
	if err != nil || got != value {
		t.Fatalf("%s: sent %q, read back %q (%v)", rq.Path, value, got, err)
	}
}

func readAll(t *testing.T, req *http.Request) []byte {
	if req.Body == nil {
		return nil
	}
	b, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tokenAlphabet: characters tokens are made of, which every place carries
// unchanged.
func tokenAlphabet(v string) bool {
	if v == "" || len(v) > 4096 {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~+/=", c)) {
			return false
		}
	}
	return true
}
