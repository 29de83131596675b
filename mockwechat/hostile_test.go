package mockwechat

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHostileInput throws malformed and hostile requests at every endpoint.
// Each must get its exact answer (WeChat errcode or mock status), never a 500,
// and the server must keep serving afterwards.
func TestHostileInput(t *testing.T) {
	f := newFixture(t)
	big := strings.Repeat("a", maxBody+1)
	longCode := strings.Repeat("Z", 100_000)
	const creds = "appid=" + DefaultAppID + "&secret=" + DefaultSecret + "&grant_type=authorization_code"
	cases := []struct {
		name    string
		method  string
		target  string
		body    string
		ctype   string
		status  int
		errcode int // checked when status is 200 and the answer is WeChat-shaped
	}{
		// jscode2session
		{"js: empty query", "GET", "/sns/jscode2session", "", "", 200, ErrcodeAppIDMissing},
		{"js: bad %-escape drops the pair", "GET", "/sns/jscode2session?appid=%zz&secret=s&grant_type=authorization_code", "", "", 200, ErrcodeAppIDMissing},
		{"js: semicolon separators", "GET", "/sns/jscode2session?appid=" + DefaultAppID + ";secret=x", "", "", 200, ErrcodeAppIDMissing},
		{"js: duplicate appid, first wins", "GET", "/sns/jscode2session?appid=wxnope&appid=" + DefaultAppID + "&secret=s&grant_type=authorization_code&js_code=c", "", "", 200, ErrcodeInvalidAppID},
		{"js: duplicate secret, first wins", "GET", "/sns/jscode2session?" + creds + "&secret=bad&js_code=c", "", "", 200, ErrcodeInvalidCode},
		{"js: 100 KB code", "GET", "/sns/jscode2session?" + creds + "&js_code=" + longCode, "", "", 200, ErrcodeInvalidCode},
		{"js: NUL and unicode in code", "GET", "/sns/jscode2session?" + creds + "&js_code=%00%E2%98%83%FF", "", "", 200, ErrcodeInvalidCode},
		{"js: empty js_code", "GET", "/sns/jscode2session?" + creds + "&js_code=", "", "", 200, ErrcodeCodeMissing},
		{"js: params in wrong case", "GET", "/sns/jscode2session?AppID=" + DefaultAppID, "", "", 200, ErrcodeAppIDMissing},
		{"js: OPTIONS", "OPTIONS", "/sns/jscode2session", "", "", 200, ErrcodeRequireGET},
		{"js: POST with JSON body is not a form", "POST", "/sns/jscode2session", `{"appid":"` + DefaultAppID + `"}`, "application/json", 200, ErrcodeAppIDMissing},
		{"js: POST form over 1 MiB", "POST", "/sns/jscode2session", "appid=" + big, "application/x-www-form-urlencoded", 413, 0},
		{"js: wrong path case", "GET", "/sns/jsCode2Session?" + creds, "", "", 200, ErrcodeInvalidURL},
		{"js: trailing slash", "GET", "/sns/jscode2session/?" + creds, "", "", 200, ErrcodeInvalidURL},
		// tokens and checksession
		{"token: garbage query", "GET", "/cgi-bin/token?%%%%&&&==", "", "", 200, ErrcodeAppIDMissing},
		{"stable: truncated JSON", "POST", "/cgi-bin/stable_token", `{"appid":`, "application/json", 200, ErrcodeDataFormat},
		{"stable: deeply nested JSON", "POST", "/cgi-bin/stable_token", strings.Repeat("[", 10000) + strings.Repeat("]", 10000), "application/json", 200, ErrcodeDataFormat},
		{"stable: null", "POST", "/cgi-bin/stable_token", `null`, "application/json", 200, ErrcodeAppIDMissing},
		{"stable: body over 1 MiB", "POST", "/cgi-bin/stable_token", big, "application/json", 413, 0},
		{"check: token only", "GET", "/wxa/checksession?access_token=%00", "", "", 200, ErrcodeInvalidCredential},
		// device side
		{"login: empty body", "POST", "/__mock/wx/login", "", "application/json", 400, 0},
		{"login: whitespace body", "POST", "/__mock/wx/login", " \n\t ", "application/json", 400, 0},
		{"login: trailing garbage", "POST", "/__mock/wx/login", `{"user":"d1"} xyz`, "application/json", 400, 0},
		{"login: two objects", "POST", "/__mock/wx/login", `{"user":"d1"}{"user":"d2"}`, "application/json", 400, 0},
		{"login: user too long", "POST", "/__mock/wx/login", `{"user":"` + strings.Repeat("u", 257) + `"}`, "application/json", 400, 0},
		// encoding/json would turn invalid UTF-8 into U+FFFD, mapping every
		// such name to one user: refused instead.
		{"login: invalid UTF-8 user", "POST", "/__mock/wx/login", "{\"user\":\"\xff\xfe\"}", "application/json", 400, 0},
		{"login: other invalid UTF-8 user", "POST", "/__mock/wx/login", "{\"user\":\"\xc3\x28\"}", "application/json", 400, 0},
		{"login: escaped U+FFFD is a real name", "POST", "/__mock/wx/login", `{"user":"\ufffd"}`, "application/json", 200, 0},
		{"login: user null", "POST", "/__mock/wx/login", `{"user":null}`, "application/json", 400, 0},
		{"login: array", "POST", "/__mock/wx/login", `[{"user":"d1"}]`, "application/json", 400, 0},
		{"login: body over 1 MiB", "POST", "/__mock/wx/login", `{"user":"` + big + `"}`, "application/json", 413, 0},
		{"login: PUT", "PUT", "/__mock/wx/login", `{"user":"d1"}`, "application/json", 405, 0},
		// admin
		{"admin: faults PUT", "PUT", "/__admin/faults", `{}`, "application/json", 405, 0},
		{"admin: faults bad JSON", "POST", "/__admin/faults", `{"api":`, "application/json", 400, 0},
		{"admin: faults huge number", "POST", "/__admin/faults", `{"api":"*","errcode":1e400}`, "application/json", 400, 0},
		{"admin: faults body over 1 MiB", "POST", "/__admin/faults", big, "application/json", 413, 0},
		{"admin: delete unknown rule", "DELETE", "/__admin/faults/../../etc/passwd", "", "", 404, 0},
		{"admin: blocked not a list", "POST", "/__admin/blocked", `{"users":"d1"}`, "application/json", 400, 0},
		{"admin: blocked missing users", "POST", "/__admin/blocked", `{}`, "application/json", 400, 0},
		{"admin: stats POST", "POST", "/__admin/stats", "", "", 405, 0},
		{"admin: unknown endpoint", "GET", "/__admin/nope", "", "", 404, 0},
		{"mock: unknown endpoint", "GET", "/__mock/nope", "", "", 404, 0},
		{"unknown API path", "GET", "/cgi-bin/nope", "", "", 200, ErrcodeInvalidURL},
		{"root", "GET", "/", "", "", 200, ErrcodeInvalidURL},
	}
	require.GreaterOrEqual(t, len(cases), 25)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hdr []string
			if tc.ctype != "" {
				hdr = []string{"Content-Type", tc.ctype}
			}
			rec := f.do(tc.method, tc.target, tc.body, hdr...)
			require.Equal(t, tc.status, rec.Code, clip(rec.Body.String(), 300))
			if tc.status == http.StatusOK {
				assert.Equal(t, tc.errcode, errcodeOf(t, rec))
			} else {
				assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
				assert.NotEmpty(t, decode(t, rec.Body.Bytes())["error"])
			}
			f.healthy()
		})
	}
}

// TestDeclaredLengthTooLarge: a Content-Length over the cap is refused before
// anything is read.
func TestDeclaredLengthTooLarge(t *testing.T) {
	f := newFixture(t)
	req := httptest.NewRequest(http.MethodPost, "/__mock/wx/login", strings.NewReader(`{"user":"d1"}`))
	req.ContentLength = maxBody + 1
	rec := httptest.NewRecorder()
	f.s.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	f.healthy()
}

// TestNilBody: requests built in-process may have no body at all.
func TestNilBody(t *testing.T) {
	f := newFixture(t)
	for _, target := range []string{"/cgi-bin/stable_token", "/__mock/wx/login", "/__admin/faults", "/sns/jscode2session"} {
		req, err := http.NewRequest(http.MethodPost, target, nil)
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		f.s.ServeHTTP(rec, req)
		assert.NotEqual(t, http.StatusInternalServerError, rec.Code, target)
	}
}
