package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/backend"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/stack"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/mockwechat"
)

func cmdServe(ctx context.Context, argv []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("serve", "[flags]",
		"Serve mock WeChat and the reference token backend on real ports until interrupted.\n"+
			"Point a backend under test at the printed WeChat URL, or a client under test at the backend URL.",
		stdout,
		"tokenstorm serve",
		"tokenstorm serve --wechat-addr 127.0.0.1:0 --backend-addr 127.0.0.1:0 --access-ttl 30s --reuse grace:10s")
	wechatAddr := fs.String("wechat-addr", "127.0.0.1:9400", "listen address of mock WeChat (port 0 picks a free port)")
	backendAddr := fs.String("backend-addr", "127.0.0.1:9401", "listen address of the reference backend (port 0 picks a free port)")
	appid := fs.String("appid", mockwechat.DefaultAppID, "mini-program appid the mock accepts")
	secret := fs.String("secret", mockwechat.DefaultSecret, "app secret the mock accepts")
	accessTTL := fs.Duration("access-ttl", 2*time.Hour, "access token lifetime")
	refreshTTL := fs.Duration("refresh-ttl", 30*24*time.Hour, "refresh token lifetime")
	reuse := fs.String("reuse", "strict", "refresh token reuse policy: strict | grace:DURATION | reuse:N")
	style_ := fs.String("style", "bearer", "backend style: a built-in name ("+strings.Join(style.Names(), ", ")+") or a YAML file (docs/styles.md)")
	quota := fs.Int("minute-quota", 100, "jscode2session calls per user per minute before WeChat answers 45011 (negative: no limit)")
	adminToken := fs.String("admin-token", "", "require Authorization: Bearer TOKEN on /__admin/… of both servers (needed to bind a non-loopback address; default: $TOKENSTORM_ADMIN_TOKEN)")
	pos, err := parse(fs, argv)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("serve takes no arguments, got %q", pos)
	}
	if *appid == "" || *secret == "" {
		// An empty value would print as empty while the mock still used
		// its defaults: refuse rather than mislead.
		return usagef("--appid and --secret must not be empty (leave them out for the defaults %s / %s)", mockwechat.DefaultAppID, mockwechat.DefaultSecret)
	}
	if _, err := backend.ParseReuse(*reuse); err != nil {
		return usagef("--reuse %q: %v", *reuse, err)
	}
	if *quota == 0 {
		// The mock reads 0 as its default, 100: refuse rather than mislead.
		return usagef("--minute-quota 0: must be at least 1, or negative for no limit (leave it out for %d)", mockwechat.DefaultMinuteQuota)
	}
	if *accessTTL <= 0 || *refreshTTL <= 0 {
		return usagef("--access-ttl and --refresh-ttl must be positive")
	}
	sty, err := style.LoadContext(ctx, *style_)
	if err != nil {
		return badInput(ctx, "--style: %v", err)
	}
	if *adminToken == "" {
		// The environment keeps the token out of ps and shell history.
		*adminToken = os.Getenv("TOKENSTORM_ADMIN_TOKEN")
	}
	led := ledger.New(ledger.Options{})
	defer led.Close()
	st, err := stack.Start(ctx, stack.Options{
		WechatAddr: *wechatAddr, BackendAddr: *backendAddr, AppID: *appid, Secret: *secret,
		AccessTTL: *accessTTL, RefreshTTL: *refreshTTL, Reuse: *reuse, Style: *style_, MinuteQuota: *quota,
		Ledger: led, AdminToken: *adminToken,
	})
	if err != nil {
		return usagef("serve: %v", err)
	}
	fmt.Fprintf(stdout, `tokenstorm serve
  mock WeChat:       %[1]s   (jscode2session: %[1]s/sns/jscode2session, wx.login: POST %[1]s/__mock/wx/login)
  reference backend: %[2]s   (%[9]s)
  appid:             %[3]s
  secret:            %[4]s
  access ttl %[5]s, refresh ttl %[6]s, reuse %[7]s, style %[8]s
  metrics:           %[1]s/metrics  %[2]s/metrics
  admin API:         %[10]s
Press Ctrl-C to stop.
`, st.WechatURL, st.BackendURL, *appid, *secret, *accessTTL, *refreshTTL, *reuse, *style_, styleRoutes(st.BackendURL, sty), adminBanner(*adminToken))
	<-ctx.Done()
	fmt.Fprintln(stderr, "tokenstorm serve: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return st.Shutdown(sctx)
}

// adminBanner says how the admin API is guarded, without printing the token.
func adminBanner(token string) string {
	if token == "" {
		return "/__admin/… open (loopback only; --admin-token to guard it)"
	}
	return "/__admin/… needs Authorization: Bearer <admin token>"
}

// styleRoutes lists where the style's routes are, for the start-up banner.
func styleRoutes(base string, st *style.Style) string {
	rq := &st.Requests
	parts := []string{rq.Login.Method + " " + base + rq.Login.Path}
	if rq.Refresh.Path != "" {
		parts = append(parts, rq.Refresh.Method+" "+rq.Refresh.Path)
	}
	if rq.Verify.Path != "" {
		parts = append(parts, rq.Verify.Method+" "+rq.Verify.Path)
	}
	return strings.Join(append(parts, st.Routes.Resource+"…"), ", ")
}
