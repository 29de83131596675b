package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/refclient"
)

// The exec clients of the CLI tests are this test binary re-executed with
// execHelperEnv naming a behaviour: a real client (the reference one, over
// the exec protocol) with whatever misbehaviour the test needs around it.
const execHelperEnv = "TS_CLI_EXEC_HELPER"

func TestMain(m *testing.M) {
	if b := os.Getenv(execHelperEnv); b != "" {
		os.Exit(runExecHelper(b))
	}
	os.Exit(m.Run())
}

// execHelperClient is the --client spec that runs behaviour b.
func execHelperClient(t *testing.T, b string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// GORACE: a -race binary otherwise sleeps 1s before exiting.
	return fmt.Sprintf("exec:GORACE=atexit_sleep_ms=0 %s=%s exec '%s'", execHelperEnv, b, strings.ReplaceAll(exe, "'", `'\''`))
}

// oversizedLine is longer than the exec protocol's 16 MiB line limit.
const oversizedLine = 16<<20 + 1

// runExecHelper serves the exec protocol with the reference client. "noisy"
// writes, around each correct answer, a garbage line, an answer to an id
// never sent and the answer a second time, and once an oversized line: each
// a protocol error the run must count and show.
func runExecHelper(behaviour string) int {
	if behaviour != "noisy" {
		fmt.Fprintf(os.Stderr, "exec helper: unknown behaviour %q\n", behaviour)
		return 3
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	send := func(lines ...string) {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range lines {
			out.WriteString(l + "\n")
		}
		out.Flush()
	}

	var hello struct {
		Type       string `json:"type"`
		BackendURL string `json:"backend_url"`
		WechatURL  string `json:"wechat_url"`
		AppID      string `json:"appid"`
		Style      string `json:"style"`
	}
	if !in.Scan() || json.Unmarshal(in.Bytes(), &hello) != nil || hello.Type != "hello" {
		fmt.Fprintf(os.Stderr, "exec helper: expected hello, got %q\n", in.Text())
		return 4
	}
	if hello.Style != "" {
		fmt.Fprintf(os.Stderr, "exec helper: speaks bearer only, got style %q\n", hello.Style)
		return 5
	}
	send(`{"type":"hello","protocol":1,"name":"noisy-ref"}`)
	ref := refclient.New(client.Env{BackendURL: hello.BackendURL, WechatURL: hello.WechatURL, AppID: hello.AppID}, refclient.Options{})
	defer ref.Close()

	var wg sync.WaitGroup
	var once sync.Once
	for in.Scan() {
		var c struct {
			Type       string            `json:"type"`
			ID         string            `json:"id"`
			Device     string            `json:"device"`
			Method     string            `json:"method"`
			Path       string            `json:"path"`
			Headers    map[string]string `json:"headers"`
			Body       string            `json:"body"`
			BodyBase64 string            `json:"body_base64"`
		}
		if err := json.Unmarshal(in.Bytes(), &c); err != nil || c.Type != "call" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := []byte(c.Body)
			if c.BodyBase64 != "" {
				body, _ = base64.StdEncoding.DecodeString(c.BodyBase64)
			}
			h := http.Header{}
			for k, v := range c.Headers {
				h.Set(k, v)
			}
			res := ref.Do(context.Background(), client.Call{ID: c.ID, Device: c.Device, Method: c.Method, Path: c.Path, Header: h, Body: body})
			answer := answerLine(c.ID, res)
			once.Do(func() { send(strings.Repeat("x", oversizedLine)) })
			send("garbage line", `{"id":"never-sent-`+c.ID+`","status":200}`, answer, answer)
		}()
	}
	wg.Wait()
	return 0
}

func answerLine(id string, res client.Result) string {
	a := map[string]any{"id": id}
	if res.Err != nil {
		a["error"] = res.Err.Error()
	} else {
		a["status"] = res.Status
		hs := map[string]string{}
		for k, v := range res.Header {
			hs[k] = strings.Join(v, ", ")
		}
		a["headers"] = hs
		if utf8.Valid(res.Body) {
			a["body"] = string(res.Body)
		} else {
			a["body_base64"] = base64.StdEncoding.EncodeToString(res.Body)
		}
	}
	b, _ := json.Marshal(a)
	return string(b)
}
