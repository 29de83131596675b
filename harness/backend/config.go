package backend

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/style"
)

// Defaults of Config.
const (
	DefaultAccessTTL  = 2 * time.Hour
	DefaultRefreshTTL = 720 * time.Hour
	// MaxTTL bounds configured lifetimes so that exp stays a sane JWT NumericDate.
	MaxTTL = 10 * 365 * 24 * time.Hour
	// MaxBody is the largest request body any route accepts.
	MaxBody = 1 << 20
	// MaxDelay bounds the delay_ms query parameter.
	MaxDelay = 10 * time.Second
)

// Config configures a Server. Only WechatURL is needed to log in; the rest has
// defaults.
type Config struct {
	WechatURL string // base URL of (mock) WeChat, e.g. http://127.0.0.1:8081
	AppID     string
	Secret    string

	Clock  clock.Clock    // nil = real time
	Ledger *ledger.Ledger // nil = no ledger

	AccessTTL  time.Duration // 0 = 2h
	RefreshTTL time.Duration // 0 = 720h
	Reuse      string        // "strict" (default) | "grace:<duration>" | "reuse:<n>"
	// Style is a built-in style name or a YAML file path; "" = bearer.
	Style string

	HTTPClient *http.Client // outbound to WechatURL; nil = a default with timeouts
	SigningKey []byte       // HS256 key; nil = 32 random bytes per run

	// Renewing, when set, is told of every login and refresh while it is
	// served, as soon as the backend knows whose it is: a login by its
	// wx.login code (before the code is exchanged), a refresh by the
	// subject (openid) of the presented token's family. The function it
	// returns is called when the answer has been written. The harness
	// marks the user's pending calls as waiting on the servers meanwhile
	// (harness/pending).
	Renewing func(code, subject string) (end func())
}

// RuntimeConfig is the part of the configuration that PUT /__admin/config and
// SetConfig may change while the server runs.
type RuntimeConfig struct {
	AccessTTL  time.Duration
	RefreshTTL time.Duration
	Reuse      string // as ParseReuse reads it
	Style      string // style name or file (in-process callers only; HTTP never names a file)
	// StyleSpec, when set, is the style to speak (already parsed); Style is
	// then only its display name.
	StyleSpec *style.Style
}

// settings is the validated RuntimeConfig; swapped atomically as a whole so a
// request never sees half an update.
type settings struct {
	accessTTL  time.Duration
	refreshTTL time.Duration
	reuse      Reuse
	style      *style.Style
	styleName  string
}

// ConfigError names the setting that was refused.
type ConfigError struct {
	Field string // access_ttl, refresh_ttl, reuse, style, ...
	Err   error
}

func (e *ConfigError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// apply validates rc on top of base: zero fields keep base's value.
func (base *settings) apply(rc RuntimeConfig) (*settings, error) {
	next := *base
	if rc.AccessTTL != 0 {
		if err := checkTTL(rc.AccessTTL); err != nil {
			return nil, &ConfigError{"access_ttl", err}
		}
		next.accessTTL = rc.AccessTTL
	}
	if rc.RefreshTTL != 0 {
		if err := checkTTL(rc.RefreshTTL); err != nil {
			return nil, &ConfigError{"refresh_ttl", err}
		}
		next.refreshTTL = rc.RefreshTTL
	}
	if rc.Reuse != "" {
		r, err := ParseReuse(rc.Reuse)
		if err != nil {
			return nil, &ConfigError{"reuse", err}
		}
		next.reuse = r
	}
	if rc.StyleSpec != nil {
		next.style, next.styleName = rc.StyleSpec, rc.Style
		if next.styleName == "" {
			next.styleName = rc.StyleSpec.Name
		}
	} else if rc.Style != "" {
		st, err := style.Load(rc.Style)
		if err != nil {
			return nil, &ConfigError{"style", err}
		}
		next.style, next.styleName = st, rc.Style
	}
	return &next, nil
}

func checkTTL(d time.Duration) error {
	if d <= 0 || d > MaxTTL {
		return fmt.Errorf("%s is out of range (0, %s]", d, MaxTTL)
	}
	return nil
}

func (s *settings) runtimeConfig() RuntimeConfig {
	return RuntimeConfig{AccessTTL: s.accessTTL, RefreshTTL: s.refreshTTL, Reuse: s.reuse.String(), Style: s.styleName}
}

// defaultHTTPClient is the outbound client to WeChat: bounded in time (a hung
// WeChat must become a 503, not a hung login) and with enough idle
// connections for a login storm over loopback.
func defaultHTTPClient() *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment, // loopback is never proxied
		DialContext:           (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 5 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: 8 * time.Second}
}
