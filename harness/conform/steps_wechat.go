package conform

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"github.com/tokenstorm/tokenstorm/mockwechat"
)

// wxLogin is what wx.login() does on a phone: a fresh single-use code.
func (w *world) wxLogin(ctx context.Context, dev string) error {
	_, err := w.mintCode(ctx, dev)
	return err
}

func (w *world) mintCode(ctx context.Context, dev string) (string, error) {
	st, err := w.stack(ctx)
	if err != nil {
		return "", err
	}
	w.declare(dev)
	a := w.call(ctx, http.MethodPost, st.WechatURL+"/__mock/wx/login", nil,
		jsonBytes(map[string]string{"appid": st.AppID, "user": w.user(dev)}))
	if a.Err != nil && a.Status == 0 {
		return "", fmt.Errorf("wx.login for %s: %w", dev, a.Err)
	}
	code, _ := a.JSON["code"].(string)
	if a.Status == http.StatusOK && code != "" {
		w.mu.Lock()
		w.codes[dev] = code
		w.mu.Unlock()
	}
	return code, nil
}

func (w *world) code(dev string) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, ok := w.codes[dev]
	if !ok {
		return "", fmt.Errorf("device %s has no wx.login code yet: add \"Given device %s has a wx.login code\" first", dev, dev)
	}
	return c, nil
}

// sessionParams are correct jscode2session parameters for dev's last code.
func (w *world) sessionParams(ctx context.Context, dev string) (url.Values, error) {
	st, err := w.stack(ctx)
	if err != nil {
		return nil, err
	}
	code, err := w.code(dev)
	if err != nil {
		if code, err = w.mintCode(ctx, dev); err != nil {
			return nil, err
		}
	}
	return url.Values{"appid": {st.AppID}, "secret": {st.Secret}, "js_code": {code}, "grant_type": {"authorization_code"}}, nil
}

func (w *world) jscode2session(ctx context.Context, dev, m string, p url.Values) error {
	a := w.call(ctx, m, w.st.WechatURL+"/sns/jscode2session?"+p.Encode(), nil, nil)
	if a.Err != nil && a.Status == 0 {
		return fmt.Errorf("jscode2session: %w", a.Err)
	}
	openid, _ := a.JSON["openid"].(string)
	key, _ := a.JSON["session_key"].(string)
	if openid != "" && key != "" {
		w.mu.Lock()
		w.sessions[dev] = wxSession{openid: openid, key: key}
		w.mu.Unlock()
	}
	return nil
}

func (w *world) exchange(ctx context.Context, dev string) error {
	if _, err := w.stack(ctx); err != nil {
		return err
	}
	if _, err := w.code(dev); err != nil {
		return err
	}
	p, err := w.sessionParams(ctx, dev)
	if err != nil {
		return err
	}
	return w.jscode2session(ctx, dev, http.MethodGet, p)
}

func (w *world) exchangeFresh(ctx context.Context, dev string) error {
	if _, err := w.mintCode(ctx, dev); err != nil {
		return err
	}
	return w.exchange(ctx, dev)
}

func (w *world) exchangeWith(ctx context.Context, dev, param, value string) error {
	p, err := w.sessionParams(ctx, dev)
	if err != nil {
		return err
	}
	if value == "" {
		p.Del(param)
	} else {
		p.Set(param, value)
	}
	return w.jscode2session(ctx, dev, http.MethodGet, p)
}

func (w *world) exchangeMethod(ctx context.Context, dev, m string) error {
	p, err := w.sessionParams(ctx, dev)
	if err != nil {
		return err
	}
	return w.jscode2session(ctx, dev, strings.ToUpper(m), p)
}

// exchangeMany logs in n times within one calendar minute: the quota counts
// calendar minutes, so the clock first moves to a minute's start when fewer
// than 10 seconds of this one are left (the step must not straddle two).
func (w *world) exchangeMany(ctx context.Context, dev, n string) error {
	k, err := count("login count", n, 1, 10000)
	if err != nil {
		return err
	}
	if _, err := w.stack(ctx); err != nil {
		return err
	}
	now := w.clk.Now()
	if left := now.Truncate(time.Minute).Add(time.Minute).Sub(now); left < 10*time.Second {
		w.clk.Shift(left + 10*time.Millisecond)
	}
	for i := 0; i < k; i++ {
		if err := w.exchangeFresh(ctx, dev); err != nil {
			return err
		}
	}
	return nil
}

func (w *world) tokenParams(ctx context.Context) (url.Values, error) {
	st, err := w.stack(ctx)
	if err != nil {
		return nil, err
	}
	return url.Values{"grant_type": {"client_credential"}, "appid": {st.AppID}, "secret": {st.Secret}}, nil
}

func (w *world) getWxToken(ctx context.Context, name string, p url.Values) error {
	a := w.call(ctx, http.MethodGet, w.st.WechatURL+"/cgi-bin/token?"+p.Encode(), nil, nil)
	if a.Err != nil && a.Status == 0 {
		return fmt.Errorf("cgi-bin/token: %w", a.Err)
	}
	if tok, _ := a.JSON["access_token"].(string); tok != "" && name != "" {
		w.mu.Lock()
		w.wxTokens[name] = tok
		w.mu.Unlock()
	}
	return nil
}

func (w *world) wxToken(ctx context.Context, name string) error {
	if name == "" {
		name = "default"
	}
	p, err := w.tokenParams(ctx)
	if err != nil {
		return err
	}
	return w.getWxToken(ctx, name, p)
}

func (w *world) wxTokenWith(ctx context.Context, param, value string) error {
	p, err := w.tokenParams(ctx)
	if err != nil {
		return err
	}
	if value == "" {
		p.Del(param)
	} else {
		p.Set(param, value)
	}
	return w.getWxToken(ctx, "", p)
}

func (w *world) session(dev string) (wxSession, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.sessions[dev]
	if !ok {
		return s, fmt.Errorf("device %s has no WeChat session yet: exchange one of its codes with jscode2session first", dev)
	}
	return s, nil
}

func (w *world) checkSessionWith(ctx context.Context, dev, tokenName, key string) error {
	sess, err := w.session(dev)
	if err != nil {
		return err
	}
	if tokenName == "" {
		tokenName = "default"
		w.mu.Lock()
		_, have := w.wxTokens[tokenName]
		w.mu.Unlock()
		if !have {
			if err := w.wxToken(ctx, tokenName); err != nil {
				return err
			}
		}
	}
	w.mu.Lock()
	tok, ok := w.wxTokens[tokenName]
	w.mu.Unlock()
	if !ok {
		return fmt.Errorf("no WeChat access token named %q: add \"When I request a WeChat access token as %s\" first", tokenName, tokenName)
	}
	if key == "" {
		key = sess.key
	}
	p := url.Values{"access_token": {tok}, "openid": {sess.openid}, "signature": {mockwechat.Signature(key)}, "sig_method": {"hmac_sha256"}}
	a := w.call(ctx, http.MethodGet, w.st.WechatURL+"/wxa/checksession?"+p.Encode(), nil, nil)
	if a.Err != nil && a.Status == 0 {
		return fmt.Errorf("checksession: %w", a.Err)
	}
	return nil
}

func (w *world) checkSession(ctx context.Context, dev, tokenName string) error {
	return w.checkSessionWith(ctx, dev, tokenName, "")
}

func (w *world) checkSessionWrong(ctx context.Context, dev string) error {
	return w.checkSessionWith(ctx, dev, "", "bm90LXRoZS1zZXNzaW9uLWtleQ==")
}

// --- raw calls with placeholders ---

var placeholder = regexp.MustCompile(`\{([a-z_]+)(?::([\w.-]+))?\}`)

// expand fills {appid}, {secret}, {code:d1}, {openid:d1}, {session_key:d1},
// {user:d1}, {access_token:d1}, {refresh_token:d1} and {wechat_token:A}.
func (w *world) expand(s string) (string, error) {
	var firstErr error
	out := placeholder.ReplaceAllStringFunc(s, func(m string) string {
		sub := placeholder.FindStringSubmatch(m)
		name, arg := sub[1], sub[2]
		v, err := w.placeholderValue(name, arg)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("placeholder %s: %w", m, err)
		}
		return v
	})
	return out, firstErr
}

func (w *world) placeholderValue(name, arg string) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	needArg := func() error {
		if arg == "" {
			return fmt.Errorf("needs a device, e.g. {%s:d1}", name)
		}
		return nil
	}
	switch name {
	case "appid":
		return w.st.AppID, nil
	case "secret":
		return w.st.Secret, nil
	case "user":
		if err := needArg(); err != nil {
			return "", err
		}
		return w.user(arg), nil
	case "code":
		if err := needArg(); err != nil {
			return "", err
		}
		if c, ok := w.codes[arg]; ok {
			return c, nil
		}
		return "", fmt.Errorf("device %s has no wx.login code yet", arg)
	case "openid":
		if err := needArg(); err != nil {
			return "", err
		}
		return mockwechat.OpenID(w.st.AppID, w.user(arg)), nil
	case "session_key":
		if err := needArg(); err != nil {
			return "", err
		}
		if s, ok := w.sessions[arg]; ok {
			return s.key, nil
		}
		return "", fmt.Errorf("device %s has no WeChat session yet", arg)
	case "access_token", "refresh_token":
		if err := needArg(); err != nil {
			return "", err
		}
		p := w.pairs[arg]
		if p == nil {
			return "", fmt.Errorf("device %s has not logged in to the backend directly", arg)
		}
		if name == "access_token" {
			return p.access, nil
		}
		return p.refresh, nil
	case "wechat_token":
		if arg == "" {
			arg = "default"
		}
		if t, ok := w.wxTokens[arg]; ok {
			return t, nil
		}
		return "", fmt.Errorf("no WeChat access token named %q", arg)
	}
	return "", fmt.Errorf("unknown placeholder (known: appid, secret, user:D, code:D, openid:D, session_key:D, access_token:D, refresh_token:D, wechat_token:NAME)")
}

func (w *world) sendRaw(ctx context.Context, m, path, target string) error {
	return w.sendRawBody(ctx, m, path, target, nil)
}

func (w *world) sendRawBody(ctx context.Context, m, path, target string, doc *godog.DocString) error {
	st, err := w.stack(ctx)
	if err != nil {
		return err
	}
	p, err := w.expand(path)
	if err != nil {
		return err
	}
	var body []byte
	h := http.Header{}
	if doc != nil {
		b, err := w.expand(doc.Content)
		if err != nil {
			return err
		}
		body = []byte(b)
		if _, ct := docBody(doc); ct != "" {
			h.Set("Content-Type", ct)
		}
	}
	base := st.WechatURL
	if target == "the backend" {
		base = st.BackendURL
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	a := w.call(ctx, m, base+p, h, body)
	if a.Err != nil && a.Status == 0 {
		return fmt.Errorf("%s %s: %w", m, p, a.Err)
	}
	return nil
}
