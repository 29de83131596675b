package jsclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/dop251/goja"
)

// jsLogin is n.login(done): what wx.login does on a phone. The code comes
// from mockwechat for this device's user: POST {WechatURL}/__mock/wx/login
// {"appid","user"} → {"code"}. done(err, code) runs back on the loop.
func (d *device) jsLogin(fc goja.FunctionCall) goja.Value {
	vm := d.vm
	done, ok := goja.AssertFunction(fc.Argument(0))
	if !ok {
		panic(vm.NewTypeError("login: callback missing"))
	}
	f := d.takeOff("", nil) // a renewal: every call of the device may wait on it
	d.loop.goAsync(func() func() {
		code, err := d.mintCode()
		f.land()
		return func() {
			d.grounded(f)
			var args []goja.Value
			if err != nil {
				args = []goja.Value{vm.ToValue(err.Error())}
			} else {
				d.mu.Lock()
				d.session = true
				d.mu.Unlock()
				args = []goja.Value{goja.Null(), vm.ToValue(code)}
			}
			if _, err := done(goja.Undefined(), args...); err != nil {
				d.uncaught("wx.login callback", err)
			}
		}
	})
	return goja.Undefined()
}

// mintCode runs off the loop goroutine.
func (d *device) mintCode() (string, error) {
	if d.c.env.WechatURL == "" {
		return "", fmt.Errorf("no WeChat URL configured (Env.WechatURL)")
	}
	ctx, cancel := context.WithTimeout(d.ctx, d.c.opts.LoginTimeout)
	defer cancel()
	body, _ := json.Marshal(map[string]string{"appid": d.c.env.AppID, "user": d.name})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		strings.TrimRight(d.c.env.WechatURL, "/")+"/__mock/wx/login", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s", failReason(err))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var out struct {
		Code    string `json:"code"`
		Errcode int    `json:"errcode"`
		Errmsg  string `json:"errmsg"`
	}
	_ = json.Unmarshal(raw, &out)
	switch {
	case out.Errcode != 0:
		return "", fmt.Errorf("%d %s", out.Errcode, out.Errmsg)
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("HTTP %d %s", resp.StatusCode, trimTo(strings.TrimSpace(string(raw)), 200))
	case out.Code == "":
		return "", fmt.Errorf("no code in answer %s", trimTo(string(raw), 200))
	}
	return out.Code, nil
}

// jsCheckSession is n.checkSession(): valid after a successful wx.login until
// the harness expires it (Client.ExpireSession).
func (d *device) jsCheckSession(goja.FunctionCall) goja.Value {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.vm.ToValue(d.session)
}
