package hostile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/execclient"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/stack"
)

// The hostile exec client is this test binary re-executed with
// hostileExecEnv set: it forwards each call to the backend and, before the
// answer, writes the lines the call's X-Hostile header carries.
const hostileExecEnv = "TS_HOSTILE_EXEC"

func TestMain(m *testing.M) {
	if os.Getenv(hostileExecEnv) != "" {
		os.Exit(hostileExec(os.Stdin, os.Stdout))
	}
	os.Exit(m.Run())
}

// hostileExec speaks protocol 1. X-Hostile is base64 of a JSON array of
// lines ({{id}} is the call's id; "LONG:N" is an answer line of N bytes,
// "NULS:N" a line of N NUL bytes);
// X-Hostile-Answer: no writes no real answer.
func hostileExec(stdin io.Reader, stdout io.Writer) int {
	in := bufio.NewScanner(stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := bufio.NewWriter(stdout)
	if !in.Scan() {
		return 3
	}
	var hello struct {
		BackendURL string `json:"backend_url"`
	}
	if json.Unmarshal(in.Bytes(), &hello) != nil {
		return 4
	}
	fmt.Fprintln(out, `{"type":"hello","protocol":1,"name":"hostile"}`)
	out.Flush()
	for in.Scan() {
		var c struct {
			ID, Method, Path string
			Headers          map[string]string
			Body             string
		}
		if json.Unmarshal(in.Bytes(), &c) != nil {
			return 5
		}
		if h := c.Headers["X-Hostile"]; h != "" {
			raw, _ := base64.StdEncoding.DecodeString(h)
			var lines []string
			_ = json.Unmarshal(raw, &lines)
			for _, l := range lines {
				if n, ok := strings.CutPrefix(l, "LONG:"); ok {
					size, _ := strconv.Atoi(n)
					l = `{"id":"{{id}}","status":200,"body":"` + strings.Repeat("x", size) + `"}`
				}
				if n, ok := strings.CutPrefix(l, "NULS:"); ok {
					size, _ := strconv.Atoi(n)
					l = strings.Repeat("\x00", size)
				}
				out.WriteString(strings.ReplaceAll(l, "{{id}}", c.ID) + "\n")
			}
		}
		answer := c.Headers["X-Hostile-Answer"] != "no"
		delete(c.Headers, "X-Hostile")
		delete(c.Headers, "X-Hostile-Answer")
		if answer {
			out.Write(forward(hello.BackendURL, c.ID, c.Method, c.Path, c.Headers, c.Body))
		}
		out.Flush()
	}
	return 0
}

func forward(base, id, method, path string, hdr map[string]string, body string) []byte {
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		b, _ := json.Marshal(map[string]any{"id": id, "error": err.Error()})
		return append(b, '\n')
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b, _ := json.Marshal(map[string]any{"id": id, "error": err.Error()})
		return append(b, '\n')
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	b, _ := json.Marshal(map[string]any{"id": id, "status": resp.StatusCode, "headers": resp.Header, "body": string(rb)})
	return append(b, '\n')
}

type execCase struct {
	name   string
	lines  []string
	answer bool     // a real answer follows the lines
	fails  bool     // a line answers the call badly first: it fails with a ProtocolError
	status int      // the call's status when it does not fail; default the backend's 401
	kinds  []string // the protocol errors counted, in order
}

// Hostile answer lines from a client process: each is counted as the
// protocol error it is (never a panic, never a hang), the call gets its
// real answer or, when the line answers its id badly, an error saying why,
// and the client still logs in and makes a protected request afterwards.
func TestHostileExecLines(t *testing.T) {
	st := start(t, stack.Options{})
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := fmt.Sprintf("GORACE=atexit_sleep_ms=0 %s=1 exec '%s'", hostileExecEnv, strings.ReplaceAll(exe, "'", `'\''`))
	led := ledger.New(ledger.Options{Memory: true})
	env := client.Env{BackendURL: st.BackendURL, WechatURL: st.WechatURL, Ledger: led}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := execclient.New(ctx, cmd, env, execclient.Options{MaxLineBytes: 1 << 20})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })

	G, O, U, M, D, X := ledger.ProtocolGarbage, ledger.ProtocolOversized, ledger.ProtocolUnknownID, ledger.ProtocolMalformed, ledger.ProtocolDuplicate, ledger.ProtocolOther
	cases := []execCase{
		{name: "not JSON", lines: []string{"hello world"}, answer: true, kinds: []string{G}},
		{name: "truncated JSON", lines: []string{`{"id":"{{id}}","status":`}, answer: true, kinds: []string{G}},
		{name: "JSON array", lines: []string{`[{"id":"{{id}}"}]`}, answer: true, kinds: []string{G}},
		{name: "raw NUL bytes", lines: []string{"\x00\x00{\"id\":\"{{id}}\"}\x00"}, answer: true, kinds: []string{G}},
		{name: "NUL escaped in id", lines: []string{`{"id":"{{id}}\u0000","status":200}`}, answer: true, kinds: []string{U}},
		{name: "invalid UTF-8", lines: []string{"{\"id\":\"\xff\xfe\",\"status\":200}"}, answer: true, kinds: []string{U}},
		{name: "id a number", lines: []string{`{"id":5,"status":200}`}, answer: true, kinds: []string{M}},
		{name: "id an object", lines: []string{`{"id":{"a":1},"status":200}`}, answer: true, kinds: []string{M}},
		{name: "no id", lines: []string{`{"status":200}`}, answer: true, kinds: []string{M}},
		{name: "unknown id", lines: []string{`{"id":"never-sent","status":200}`}, answer: true, kinds: []string{U}},
		{name: "unknown type", lines: []string{`{"type":"evil","id":"{{id}}"}`}, answer: true, kinds: []string{X}},
		{name: "second hello", lines: []string{`{"type":"hello","protocol":3}`}, answer: true, kinds: []string{X}},
		{name: "type a number", fails: true, lines: []string{`{"type":5,"id":"{{id}}","status":"x"}`}, answer: true, kinds: []string{M, D}},
		{name: "very long line", lines: []string{"LONG:" + strconv.Itoa(2<<20)}, answer: true, kinds: []string{O}},
		{name: "very long garbage", lines: []string{"NULS:" + strconv.Itoa(3<<20)}, answer: true, kinds: []string{O}},
		{name: "log line huge message", lines: []string{`{"type":"log","device":"d","message":"` + strings.Repeat("m", 100<<10) + `"}`}, answer: true},
		{name: "status a string", fails: true, lines: []string{`{"id":"{{id}}","status":"200"}`}, answer: true, kinds: []string{M, D}},
		{name: "status huge number", fails: true, lines: []string{`{"id":"{{id}}","status":1e400}`}, answer: true, kinds: []string{M, D}},
		{name: "status 2^63", fails: true, lines: []string{`{"id":"{{id}}","status":9223372036854775808}`}, answer: true, kinds: []string{M, D}},
		{name: "status negative", fails: true, lines: []string{`{"id":"{{id}}","status":-200}`}, answer: true, kinds: []string{M, D}},
		{name: "status fractional", fails: true, lines: []string{`{"id":"{{id}}","status":200.5}`}, answer: true, kinds: []string{M, D}},
		{name: "status 0 no error", fails: true, lines: []string{`{"id":"{{id}}","status":0}`}, answer: false, kinds: []string{M}},
		{name: "headers a list", fails: true, lines: []string{`{"id":"{{id}}","status":200,"headers":["a"]}`}, answer: false, kinds: []string{M}},
		{name: "header value a number", fails: true, lines: []string{`{"id":"{{id}}","status":200,"headers":{"a":[1]}}`}, answer: false, kinds: []string{M}},
		{name: "body a number", fails: true, lines: []string{`{"id":"{{id}}","status":200,"body":12}`}, answer: false, kinds: []string{M}},
		{name: "body_base64 invalid", fails: true, lines: []string{`{"id":"{{id}}","status":200,"body_base64":"!!"}`}, answer: false, kinds: []string{M}},
		{name: "body and body_base64", fails: true, lines: []string{`{"id":"{{id}}","status":200,"body":"a","body_base64":"YQ=="}`}, answer: false, kinds: []string{M}},
		{name: "deep nesting", lines: []string{`{"id":"{{id}}","status":200,"x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`}, answer: true, kinds: []string{G}},
		{name: "duplicate answer", status: 204, lines: []string{`{"id":"{{id}}","status":204}`}, answer: true, kinds: []string{D}},
		{name: "error an object", lines: []string{`{"id":"{{id}}","error":{"code":1}}`}, answer: false},
		{name: "many garbage lines", lines: strings.Split(strings.Repeat("junk\n", 200), "\n")[:200], answer: true, kinds: repeat(G, 200)},
	}
	for i, k := range cases {
		before := len(c.Errors())
		enc, _ := json.Marshal(k.lines)
		h := http.Header{"X-Hostile": {base64.StdEncoding.EncodeToString(enc)}}
		if !k.answer {
			h.Set("X-Hostile-Answer", "no")
		}
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		res := c.Do(cctx, client.Call{ID: fmt.Sprintf("h%d", i), Device: "d", Method: "GET", Path: "/api/orders", Header: h})
		ccancel()
		require.NoError(t, c.Err(), "%s: the client is still usable", k.name)
		var pe *execclient.ProtocolError
		switch {
		case k.fails:
			require.True(t, errors.As(res.Err, &pe), "%s: %v", k.name, res.Err)
			assert.NotEmpty(t, pe.Msg, k.name)
		case k.answer:
			want := k.status
			if want == 0 {
				want = 401 // no token: the backend's real answer
			}
			assert.NoError(t, res.Err, k.name)
			assert.Equal(t, want, res.Status, k.name)
		default:
			assert.Error(t, res.Err, k.name) // the client's own error answer
		}
		assert.Eventually(t, func() bool { return len(c.Errors()) == min(before+len(k.kinds), 1000) }, 5*time.Second, 5*time.Millisecond,
			"%s: %d protocol errors counted, want %d", k.name, len(c.Errors())-before, len(k.kinds))
		if got := c.Errors(); len(got) == before+len(k.kinds) {
			for j, e := range got[before:] {
				var pe *execclient.ProtocolError
				require.True(t, errors.As(e, &pe), k.name)
				kind := pe.Kind
				if kind == "" {
					kind = X
				}
				assert.Equal(t, k.kinds[j], kind, "%s: error %d: %v", k.name, j, e)
			}
		}
	}
	// The client process still carries a full login and a protected call.
	var code struct{ Code string }
	postJSON(t, st.WechatURL+"/__mock/wx/login", `{"user":"exec-healthy"}`, "", &code)
	res := c.Do(ctx, client.Call{ID: "login", Device: "d", Method: "POST", Path: "/auth/login",
		Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"code":"` + code.Code + `"}`)})
	require.NoError(t, res.Err)
	require.Equal(t, 200, res.Status, string(res.Body))
	var pair struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(bytes.NewReader(res.Body)).Decode(&pair))
	res = c.Do(ctx, client.Call{ID: "api", Device: "d", Method: "GET", Path: "/api/orders", Header: http.Header{"Authorization": {"Bearer " + pair.AccessToken}}})
	require.NoError(t, res.Err)
	assert.Equal(t, 200, res.Status)
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}
