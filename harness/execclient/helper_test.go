package execclient

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The fake clients of the protocol tests are this test binary re-executed
// with TS_EXEC_HELPER naming a behaviour: no node, no go run, no files to
// build, and each behaviour is plain Go next to the test that uses it.
const helperEnv = "TS_EXEC_HELPER"

func TestMain(m *testing.M) {
	if b := os.Getenv(helperEnv); b != "" {
		os.Exit(runHelper(b))
	}
	os.Exit(m.Run())
}

// helperCmd is the exec: command line that runs behaviour b; extra is put
// before it (environment assignments, a background job).
func helperCmd(t *testing.T, b string, extra ...string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// GORACE: a -race binary otherwise sleeps 1s before exiting.
	return strings.TrimSpace(fmt.Sprintf("%s GORACE=atexit_sleep_ms=0 %s=%s exec %s", strings.Join(extra, " "), helperEnv, b, shellQuote(exe)))
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// wireCall is a call as the helper sees it on its stdin.
type wireCall struct {
	Type          string            `json:"type"`
	Protocol      int               `json:"protocol"`
	ID            string            `json:"id"`
	Device        string            `json:"device"`
	Method        string            `json:"method"`
	Path          string            `json:"path"`
	Headers       map[string]string `json:"headers"`
	Body          *string           `json:"body"`
	BodyBase64    string            `json:"body_base64"`
	ClockOffsetMS int64             `json:"clock_offset_ms,omitempty"`
}

type helper struct {
	in  *bufio.Scanner
	out *bufio.Writer
}

func (h *helper) send(v any) {
	switch v := v.(type) {
	case string:
		h.out.WriteString(v + "\n")
	default:
		b, _ := json.Marshal(v)
		h.out.Write(append(b, '\n'))
	}
	h.out.Flush()
}

func (h *helper) next() (wireCall, bool) {
	for h.in.Scan() {
		var c wireCall
		if err := json.Unmarshal(h.in.Bytes(), &c); err != nil {
			fmt.Fprintf(os.Stderr, "helper: bad line from harness: %v\n", err)
			os.Exit(9)
		}
		return c, true
	}
	return wireCall{}, false
}

func (h *helper) hello(name string) {
	c, ok := h.next()
	if !ok || c.Type != "hello" || c.Protocol < MinProtocolVersion || c.Protocol > ProtocolVersion {
		fmt.Fprintf(os.Stderr, "helper: expected hello, got %+v\n", c)
		os.Exit(8)
	}
	answer := c.Protocol // the hello's version, unless TS_PROTOCOL says otherwise
	if v, err := strconv.Atoi(os.Getenv("TS_PROTOCOL")); err == nil {
		answer = v
	}
	h.send(map[string]any{"type": "hello", "protocol": answer, "name": name})
}

// forward sends c to the backend (TOKENSTORM_BACKEND_URL) as it is and
// answers with what came back, as an exec client doing its own HTTP does.
func forward(c wireCall) map[string]any {
	var body io.Reader
	if c.Body != nil {
		body = strings.NewReader(*c.Body)
	}
	req, err := http.NewRequest(c.Method, os.Getenv("TOKENSTORM_BACKEND_URL")+c.Path, body)
	if err != nil {
		return map[string]any{"id": c.ID, "error": err.Error()}
	}
	for k, v := range c.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return map[string]any{"id": c.ID, "error": err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return map[string]any{"id": c.ID, "status": resp.StatusCode, "body": string(b)}
}

// echo is the answer a well-behaved fake gives: the call itself as the body.
func echo(c wireCall) map[string]any {
	a := map[string]any{"id": c.ID, "status": 200, "headers": map[string]any{"X-Echo-Device": c.Device, "X-Multi": []string{"a", "b"}}}
	if c.BodyBase64 != "" {
		a["body_base64"] = c.BodyBase64
		return a
	}
	b, _ := json.Marshal(c)
	a["body"] = string(b)
	return a
}

func runHelper(behaviour string) int {
	h := &helper{in: bufio.NewScanner(os.Stdin), out: bufio.NewWriter(os.Stdout)}
	h.in.Buffer(make([]byte, 1<<20), 64<<20)
	switch behaviour {
	case "echo": // answers in batches of TS_HOLD calls, last first
		h.hello("echo-helper")
		hold, _ := strconv.Atoi(os.Getenv("TS_HOLD"))
		var held []wireCall
		for {
			c, ok := h.next()
			if !ok {
				return 0
			}
			held = append(held, c)
			if len(held) >= max(hold, 1) {
				for i := len(held) - 1; i >= 0; i-- {
					h.send(echo(held[i]))
				}
				held = held[:0]
			}
		}
	case "env":
		h.hello(strings.Join([]string{os.Getenv("TOKENSTORM_BACKEND_URL"), os.Getenv("TOKENSTORM_WECHAT_URL"),
			os.Getenv("TOKENSTORM_APPID"), os.Getenv("TOKENSTORM_PROTOCOL"), os.Getenv("TOKENSTORM_STYLE"), os.Getenv("EXTRA")}, "|"))
		for {
			if _, ok := h.next(); !ok {
				return 0
			}
		}
	case "garbage":
		h.hello("garbage")
		for c, ok := h.next(); ok; c, ok = h.next() {
			h.send("this is not json")
			h.send(echo(c))
		}
		return 0
	case "unknown-id":
		h.hello("unknown-id")
		for c, ok := h.next(); ok; c, ok = h.next() {
			h.send(`{"id":"nope","status":200,"body":""}`)
			h.send(echo(c))
		}
		return 0
	case "noisy": // every kind of protocol error around a correct answer
		h.hello("noisy")
		for c, ok := h.next(); ok; c, ok = h.next() {
			h.send("garbage line")
			h.send(`{"id":"never-sent","status":200}`)
			h.send(`{"id":` + strconv.Quote(c.ID) + `,"status":200,"body":"` + strings.Repeat("x", 5000) + `"}`)
			h.send(echo(c))
			h.send(echo(c))
		}
		return 0
	case "duplicate":
		h.hello("duplicate")
		for c, ok := h.next(); ok; c, ok = h.next() {
			h.send(echo(c))
			h.send(echo(c))
		}
		return 0
	case "odd-answers": // the device picks the answer
		h.hello("odd")
		for c, ok := h.next(); ok; c, ok = h.next() {
			switch c.Device {
			case "error":
				h.send(map[string]any{"id": c.ID, "error": "refresh failed: wechat busy (-1)"})
			case "no-status":
				h.send(map[string]any{"id": c.ID, "body": "x"})
			case "string-status":
				h.send(map[string]any{"id": c.ID, "status": "200"})
			case "bad-base64":
				h.send(map[string]any{"id": c.ID, "status": 200, "body_base64": "!!"})
			case "numeric-id":
				h.send(`{"id":5,"status":200}`)
				h.send(echo(c))
			case "mystery":
				h.send(`{"type":"ping"}`)
				h.send(map[string]any{"type": "log", "device": c.Device, "message": "about to answer"})
				h.send(echo(c))
			}
		}
		return 0
	case "exit-on-third": // answers two calls, dies on the third
		h.hello("crasher")
		for n := 1; ; n++ {
			c, ok := h.next()
			if !ok {
				return 0
			}
			if n == 3 {
				fmt.Fprintln(os.Stderr, "boom: cannot refresh token for "+c.Device)
				fmt.Fprint(os.Stderr, "    at refresh (client.mjs:42)") // no final newline: a crash mid-line
				return 1
			}
			h.send(echo(c))
		}
	case "crash-after": // collects TS_N calls without answering, then dies
		h.hello("crasher")
		n, _ := strconv.Atoi(os.Getenv("TS_N"))
		for i := 0; i < n; i++ {
			if _, ok := h.next(); !ok {
				return 0
			}
		}
		fmt.Fprintln(os.Stderr, "panic: out of tokens")
		return 2
	case "spam-stderr":
		h.hello("spam")
		for i := 1; i <= 50; i++ {
			fmt.Fprintf(os.Stderr, "stderr line %d\n", i)
		}
		return 3
	case "exit-before-hello":
		fmt.Fprintln(os.Stderr, "fatal: cannot read config")
		return 3
	case "no-hello":
		fmt.Fprintln(os.Stderr, "waiting for something")
		for {
			if _, ok := h.next(); !ok {
				return 0
			}
		}
	case "bad-protocol":
		h.next()
		h.send(`{"type":"hello","protocol":99,"name":"future"}`)
		for {
			if _, ok := h.next(); !ok {
				return 0
			}
		}
	case "answer-first":
		h.send(`{"id":"r1","status":200}`)
		time.Sleep(time.Minute)
	case "hang": // handshakes, then never answers; exits on EOF
		h.hello("hang")
		for {
			if _, ok := h.next(); !ok {
				return 0
			}
		}
	case "ignore-eof": // never exits by itself; has a child of its own
		child := exec.Command("sleep", "300")
		if err := child.Start(); err != nil {
			return 7
		}
		h.hello(strconv.Itoa(child.Process.Pid))
		for {
			if _, ok := h.next(); !ok {
				break
			}
		}
		time.Sleep(time.Hour)
	case "killed": // answers hello, then dies of a signal on the first call
		h.hello("crasher")
		if _, ok := h.next(); ok {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Hour)
		}
		return 0
	case "setsid-child": // starts a grandchild in its own session, then serves
		h.hello("spawner")
		gc := exec.Command("setsid", "sleep", "300")
		if err := gc.Start(); err == nil {
			fmt.Fprintln(os.Stderr, "grandchild", gc.Process.Pid)
		}
		for c, ok := h.next(); ok; c, ok = h.next() {
			h.send(echo(c))
		}
		time.Sleep(time.Hour)
		return 0
	case "close-stdout-later": // serves a while, then closes its stdout
		h.hello("quitter")
		time.Sleep(400 * time.Millisecond)
		os.Stdout.Close()
		time.Sleep(time.Hour)
	case "close-stdout":
		h.hello("quitter")
		os.Stdout.Close()
		time.Sleep(time.Hour)
	case "http": // a plain client: each call's request straight to the backend, answered when it answers
		h.hello("http")
		var mu sync.Mutex
		for c, ok := h.next(); ok; c, ok = h.next() {
			go func() {
				a := forward(c)
				mu.Lock()
				defer mu.Unlock()
				h.send(a)
			}()
		}
		return 0
	case "exit-1-at-eof":
		h.hello("grumpy")
		for {
			if _, ok := h.next(); !ok {
				fmt.Fprintln(os.Stderr, "stdin closed, giving up")
				return 1
			}
		}
	}
	fmt.Fprintf(os.Stderr, "helper: unknown behaviour %q\n", behaviour)
	return 99
}

// helperCmdViaShell runs behaviour b under sh without exec, so sh stays the
// parent (what a user's `exec:'./client'` inside a script does).
func helperCmdViaShell(t *testing.T, b string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("GORACE=atexit_sleep_ms=0 %s=%s %s; true", helperEnv, b, shellQuote(exe))
}
