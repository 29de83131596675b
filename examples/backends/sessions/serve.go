package sessions

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Main parses the command line shared by good/ and broken/, serves until
// SIGINT/SIGTERM, and returns the exit code. Flags fall back to environment
// variables so that a CI job can configure the backend either way.
func Main(name string, defect bool, args []string) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	addr := fs.String("addr", env("SESSIONS_ADDR", "127.0.0.1:8080"), "listen address (port 0 picks a free port; the URL is printed) [$SESSIONS_ADDR]")
	wechat := fs.String("wechat", env("WECHAT_BASE_URL", "http://127.0.0.1:9400"), "base URL of (mock) WeChat: tokenstorm's --wechat-addr [$WECHAT_BASE_URL]")
	appid := fs.String("appid", env("WECHAT_APPID", "wx7e57570c3e5a1b2c"), "mini-program appid (tokenstorm's mock default) [$WECHAT_APPID]")
	secret := fs.String("secret", env("WECHAT_SECRET", "tokenstorm-secret-0123456789abcdef"), "app secret (tokenstorm's mock default) [$WECHAT_SECRET]")
	ttl := fs.Duration("session-ttl", envDuration("SESSION_TTL", 10*time.Minute), "how long a session id works; a few seconds lets tokenstorm see it expire [$SESSION_TTL]")
	renewTTL := fs.Duration("renew-ttl", envDuration("RENEW_TTL", 24*time.Hour), "how long a renew_key works [$RENEW_TTL]")
	reuse := fs.String("reuse", env("RENEW_REUSE", "strict"), "renew_key policy: strict | never-rotates | grace:D | reuse:N [$RENEW_REUSE]")
	omitTTL := fs.Bool("omit-ttl", false, "leave ttl out of the answers (a backend that does not say how long a session lives)")
	loginBug := fs.String("login-bug", "", "a deliberate login defect for tokenstorm to catch: reused-code-ok | wechat-500 (default none)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *loginBug != "" && *loginBug != "reused-code-ok" && *loginBug != "wechat-500" {
		fmt.Fprintf(os.Stderr, "%s: -login-bug %q: want reused-code-ok or wechat-500\n", name, *loginBug)
		return 2
	}
	if _, _, err := ParseReuse(*reuse); err != nil {
		fmt.Fprintf(os.Stderr, "%s: -reuse: %v\n", name, err)
		return 2
	}
	srv := New(Config{WechatURL: *wechat, AppID: *appid, Secret: *secret, SessionTTL: *ttl, RenewTTL: *renewTTL, SwallowBadSessions: defect,
		Reuse: *reuse, OmitTTL: *omitTTL, LoginBug: *loginBug})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	fmt.Printf("%s: listening on http://%s (WeChat %s, session ttl %s)\n", name, ln.Addr(), *wechat, *ttl)
	hs := newHTTPServer(srv, defaultTimeouts)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envDuration(key string, def time.Duration) time.Duration {
	if v := os.Getenv(key); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

// timeouts bound what one client can hold: a trickled header or body, a
// slow reader of the answer, an idle keep-alive connection. Write leaves
// room for a WeChat call that times out (5s) behind a slow request.
type timeouts struct{ readHeader, read, write, idle time.Duration }

var defaultTimeouts = timeouts{readHeader: 10 * time.Second, read: 30 * time.Second, write: 60 * time.Second, idle: 90 * time.Second}

func newHTTPServer(h http.Handler, t timeouts) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: t.readHeader, ReadTimeout: t.read, WriteTimeout: t.write, IdleTimeout: t.idle, MaxHeaderBytes: 64 << 10}
}
