// Command oauth2 is a tokenstorm exec client built on golang.org/x/oauth2
// exactly as its documentation shows: a plain oauth2.Config whose
// Endpoint.TokenURL is the backend's refresh route, and per device the
// *http.Client of Config.Client, which refreshes an expired token through
// the token endpoint (RFC 6749 §6) before sending. It has no token code of
// its own: it is what "a textbook OAuth 2 client" does against
// --style oauth2 (docs/exec-protocol.md, docs/styles.md).
//
//	go build -o bin/exec-client-oauth2 ./examples/exec/oauth2
//	tokenstorm run --style oauth2 --client exec:bin/exec-client-oauth2
//
// What it still fails, and why: x/oauth2 decides expiry by its own clock
// (the token's Expiry, from expires_in). When the backend refuses a token
// before then (revoked, expired early, the storm's expire_all) the 401
// reaches the caller unchanged: it neither refreshes nor replays on a 401,
// so correct-replay fails (and the device keeps its dead token until its
// Expiry passes). The first login is not OAuth 2 at all (wx.login → the
// backend's login route), so it is the one piece written by hand here.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

type hello struct {
	Type       string          `json:"type"`
	Protocol   int             `json:"protocol"`
	BackendURL string          `json:"backend_url"`
	WechatURL  string          `json:"wechat_url"`
	AppID      string          `json:"appid"`
	StyleSpec  json.RawMessage `json:"style_spec"`
}

type call struct {
	Type    string            `json:"type"`
	ID      string            `json:"id"`
	Device  string            `json:"device"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers"`
	Body    *string           `json:"body"`
}

type answer struct {
	ID      string              `json:"id"`
	Status  int                 `json:"status,omitempty"`
	Headers map[string][]string `json:"headers,omitempty"`
	Body    *string             `json:"body,omitempty"`
	Error   string              `json:"error,omitempty"`
}

// client holds one oauth2 *http.Client per device.
type client struct {
	h        hello
	loginURL string // the style's login route: POST {"code"} (bearer, oauth2)
	conf     *oauth2.Config
	base     *http.Client

	mu      sync.Mutex
	devices map[string]*device
}

type device struct {
	once sync.Once
	hc   *http.Client
	err  error
}

func main() {
	in := bufio.NewReader(os.Stdin)
	var h hello
	line, err := in.ReadBytes('\n')
	if err != nil || json.Unmarshal(line, &h) != nil || h.Type != "hello" || h.Protocol < 1 || h.Protocol > 2 {
		fmt.Fprintf(os.Stderr, "oauth2-client: expected a hello, got %q (%v)\n", line, err)
		os.Exit(2)
	}
	var spec struct {
		Requests struct {
			Login   struct{ Path string } `json:"login"`
			Refresh struct{ Path string } `json:"refresh"`
		} `json:"requests"`
	}
	_ = json.Unmarshal(h.StyleSpec, &spec)
	tokenURL := h.BackendURL + spec.Requests.Refresh.Path
	if spec.Requests.Refresh.Path == "" {
		tokenURL = h.BackendURL + "/auth/refresh"
	}
	c := &client{h: h, devices: map[string]*device{}, loginURL: h.BackendURL + spec.Requests.Login.Path,
		base: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}},
		// The whole OAuth 2 configuration: no client secret, no scopes.
		conf: &oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: tokenURL}},
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	send := func(v any) {
		b, _ := json.Marshal(v)
		mu.Lock()
		defer mu.Unlock()
		w.Write(append(b, '\n'))
		w.Flush()
	}
	send(map[string]any{"type": "hello", "protocol": h.Protocol, "name": "go-x-oauth2"})

	var wg sync.WaitGroup
	for {
		line, err := in.ReadBytes('\n')
		var cl call
		if len(line) > 0 && json.Unmarshal(line, &cl) == nil && cl.Type == "call" {
			wg.Add(1)
			go func() {
				defer wg.Done()
				send(c.handle(cl))
			}()
		}
		if err != nil {
			break // EOF: finish what is in flight and exit
		}
	}
	wg.Wait()
}

func (c *client) handle(cl call) answer {
	hc, err := c.device(cl.Device)
	if err != nil {
		return answer{ID: cl.ID, Error: err.Error()}
	}
	var body io.Reader
	if cl.Body != nil {
		body = strings.NewReader(*cl.Body)
	}
	req, err := http.NewRequest(cl.Method, c.h.BackendURL+cl.Path, body)
	if err != nil {
		return answer{ID: cl.ID, Error: err.Error()}
	}
	for k, v := range cl.Headers {
		if !strings.EqualFold(k, "Authorization") && !strings.EqualFold(k, "Content-Length") {
			req.Header.Set(k, v)
		}
	}
	res, err := hc.Do(req) // oauth2.Transport: refresh if expired, then send
	if err != nil {
		return answer{ID: cl.ID, Error: err.Error()}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return answer{ID: cl.ID, Error: err.Error()}
	}
	text := string(b)
	return answer{ID: cl.ID, Status: res.StatusCode, Headers: res.Header, Body: &text}
}

// device logs the device in once and returns its oauth2 client.
func (c *client) device(name string) (*http.Client, error) {
	c.mu.Lock()
	d, ok := c.devices[name]
	if !ok {
		d = &device{}
		c.devices[name] = d
	}
	c.mu.Unlock()
	d.once.Do(func() {
		var tok *oauth2.Token
		if tok, d.err = c.login(name); d.err == nil {
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, c.base)
			d.hc = c.conf.Client(ctx, tok)
		}
	})
	return d.hc, d.err
}

// login is the part OAuth 2 does not cover: wx.login on the phone, then the
// backend's login route, whose answer is an RFC 6749 token response.
func (c *client) login(dev string) (*oauth2.Token, error) {
	var wx struct{ Code string }
	if err := c.postJSON(c.h.WechatURL+"/__mock/wx/login", map[string]string{"appid": c.h.AppID, "user": dev}, &wx); err != nil || wx.Code == "" {
		return nil, fmt.Errorf("wx.login failed: %v", err)
	}
	var t struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int64  `json:"expires_in"`
	}
	if err := c.postJSON(c.loginURL, map[string]string{"code": wx.Code}, &t); err != nil {
		return nil, fmt.Errorf("login failed: %w", err)
	}
	if t.AccessToken == "" {
		return nil, errors.New("login failed: no access_token")
	}
	return &oauth2.Token{AccessToken: t.AccessToken, TokenType: t.TokenType, RefreshToken: t.RefreshToken,
		Expiry: time.Now().Add(time.Duration(t.ExpiresIn) * time.Second)}, nil
}

func (c *client) postJSON(url string, in, out any) error {
	b, _ := json.Marshal(in)
	res, err := c.base.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d %s", res.StatusCode, bytes.TrimSpace(raw))
	}
	return json.Unmarshal(raw, out)
}
