// Command go is a correct tokenstorm exec client written in Go with only the
// standard library: an example of an external client in another code base
// (it imports nothing from tokenstorm). It speaks protocol 3 of
// docs/exec-protocol.md (and reads a protocol 1 or 2 hello) on stdin/stdout and talks
// to the backend in whatever style the harness announces in its hello
// ("style_spec": every built-in, or a --style FILE in format v1 or v2).
//
//	go build -o bin/exec-client-go ./examples/exec/go
//	tokenstorm conform --client exec:'bin/exec-client-go'
//
// The token logic (per-device storage, single-flight renewal, one replay,
// renewal shortly before expiry by each device's clock, one request at a
// time per device for single-use tokens) lives in
// session.go, reading the style is style.go; this file is the protocol loop.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
	"unicode/utf8"
)

const protocol = 3 // and 1, 2: a protocol 1 hello's style_spec is read the v1 way

// helloIn is the harness's first line.
type helloIn struct {
	Type       string          `json:"type"`
	Protocol   int             `json:"protocol"`
	BackendURL string          `json:"backend_url"`
	WechatURL  string          `json:"wechat_url"`
	AppID      string          `json:"appid"`
	StyleSpec  json.RawMessage `json:"style_spec"` // absent from older harnesses: bearer
}

// helloOut is our answer to it.
type helloOut struct {
	Type     string `json:"type"`
	Protocol int    `json:"protocol"`
	Name     string `json:"name"`
}

// call is one request to make for one device.
type call struct {
	Type       string            `json:"type"`
	ID         string            `json:"id"`
	Device     string            `json:"device"`
	Method     string            `json:"method"`
	Path       string            `json:"path"`
	Headers    map[string]string `json:"headers"`
	Body       *string           `json:"body"`
	BodyBase64 *string           `json:"body_base64"`
	// ClockOffsetMS is how far this device's clock is from ours (protocol
	// 3; absent: 0): a phone whose clock is wrong judges its token by it.
	ClockOffsetMS int64 `json:"clock_offset_ms"`
}

// answer settles a call: an HTTP answer or an error.
type answer struct {
	ID         string              `json:"id"`
	Status     int                 `json:"status,omitempty"`
	Headers    map[string][]string `json:"headers,omitempty"`
	Body       *string             `json:"body,omitempty"`
	BodyBase64 string              `json:"body_base64,omitempty"`
	Error      string              `json:"error,omitempty"`
}

// out serialises whole lines from many goroutines onto stdout.
type out struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (o *out) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-client: encode:", err)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.w.Write(append(b, '\n'))
	o.w.Flush()
}

func main() {
	in := bufio.NewReader(os.Stdin)
	stdout := &out{w: bufio.NewWriter(os.Stdout)}

	var h helloIn
	line, err := in.ReadBytes('\n')
	if err != nil || json.Unmarshal(line, &h) != nil || h.Type != "hello" || h.Protocol < 1 || h.Protocol > protocol {
		fmt.Fprintf(os.Stderr, "go-client: expected a protocol %d hello, got %q (%v)\n", protocol, line, err)
		os.Exit(2)
	}
	st, err := parseStyle(h.StyleSpec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-client: unusable style_spec in the hello:", err)
		os.Exit(2)
	}
	s := newSessions(h.BackendURL, h.WechatURL, h.AppID, st, &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second},
	})
	// Our own version, whatever the hello's: 3 tells the harness that we
	// keep each device's time by the calls' clock_offset_ms.
	stdout.send(helloOut{Type: "hello", Protocol: protocol, Name: "go-example (" + st.Name + " style)"})

	var wg sync.WaitGroup
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 {
			var c call
			if jerr := json.Unmarshal(line, &c); jerr != nil {
				fmt.Fprintln(os.Stderr, "go-client: unreadable line from the harness:", jerr)
			} else if c.Type == "call" {
				wg.Add(1)
				go func() {
					defer wg.Done()
					stdout.send(handle(s, c))
				}()
			}
		}
		if err == io.EOF {
			break // the harness closed stdin: finish what is in flight and exit
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "go-client: read stdin:", err)
			break
		}
	}
	wg.Wait()
}

func handle(s *sessions, c call) answer {
	body := []byte(nil)
	switch {
	case c.BodyBase64 != nil:
		b, err := base64.StdEncoding.DecodeString(*c.BodyBase64)
		if err != nil {
			return answer{ID: c.ID, Error: "bad body_base64: " + err.Error()}
		}
		body = b
	case c.Body != nil:
		body = []byte(*c.Body)
	}
	res, err := s.do(c.Device, time.Duration(c.ClockOffsetMS)*time.Millisecond, c.Method, c.Path, c.Headers, body)
	if err != nil {
		return answer{ID: c.ID, Error: err.Error()}
	}
	a := answer{ID: c.ID, Status: res.status, Headers: res.header}
	if utf8.Valid(res.body) {
		text := string(res.body)
		a.Body = &text
	} else {
		a.BodyBase64 = base64.StdEncoding.EncodeToString(res.body)
	}
	return a
}
