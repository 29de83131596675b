package refclient

import (
	"errors"
	"fmt"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/style"
)

// ErrRefreshFailed matches (errors.Is) every RefreshError.
var ErrRefreshFailed = errors.New("tokenstorm/refclient: refresh failed")

// ErrClosed is returned for requests made after Close.
var ErrClosed = errors.New("tokenstorm/refclient: client closed")

// RefreshError is what every request waiting for a device's tokens receives
// when the refresh (or login) gave up. Its text names the operation, how often
// it was tried and the last answer, e.g.
//
//	tokenstorm/refclient: refresh failed after 3 attempts: backend answered 503 upstream_unavailable (wechat_errcode -1)
type RefreshError struct {
	Device   string
	Op       string // "refresh" or "login"
	Attempts int
	Last     *AuthFailure  // the last failure
	Budget   time.Duration // set when RefreshBudget ran out before the attempts did
}

func (e *RefreshError) Error() string {
	s := "s"
	if e.Attempts == 1 {
		s = ""
	}
	msg := fmt.Sprintf("tokenstorm/refclient: %s failed after %d attempt%s: %v", e.Op, e.Attempts, s, e.Last)
	if e.Budget > 0 {
		msg += fmt.Sprintf(" (gave up after %s)", e.Budget)
	}
	return msg
}

// Is makes errors.Is(err, ErrRefreshFailed) true.
func (e *RefreshError) Is(target error) bool { return target == ErrRefreshFailed }

// Unwrap gives the last failure.
func (e *RefreshError) Unwrap() error { return e.Last }

// AuthFailure is one failed call of wx.login, /auth/login or /auth/refresh.
type AuthFailure struct {
	Call          string // "wx.login", "login" or "refresh"
	Status        int    // HTTP status; 0 when no answer arrived
	Code          string // the backend's "error" key, e.g. "upstream_unavailable", else Signal
	Signal        string // the style signal the answer carried (style.SignalInvalidGrant, …); "" when none
	WechatErrcode *int   // the backend's "wechat_errcode", or wx.login's errcode
	Msg           string // wx.login's errmsg or an unexpected body, shortened
	RetryAfter    int64  // seconds, from Retry-After; 0 when absent
	Err           error  // transport or decoding error
}

func (f *AuthFailure) Error() string {
	if f.Err != nil {
		return f.Err.Error()
	}
	who := "backend"
	if f.Call == "wx.login" {
		who = "wx.login"
	}
	s := fmt.Sprintf("%s answered %d", who, f.Status)
	if f.Code != "" {
		s += " " + f.Code
	}
	if f.WechatErrcode != nil {
		if f.Call == "wx.login" {
			s += fmt.Sprintf(" (errcode %d)", *f.WechatErrcode)
		} else {
			s += fmt.Sprintf(" (wechat_errcode %d)", *f.WechatErrcode)
		}
	}
	if f.Msg != "" {
		s += ": " + f.Msg
	}
	return s
}

func (f *AuthFailure) Unwrap() error { return f.Err }

// retryable: worth another attempt after a backoff — the failure says
// "not now", not "never".
func (f *AuthFailure) retryable() bool {
	if f.Err != nil {
		return true
	}
	switch f.Signal {
	case style.SignalUnavailable:
		return true
	case "":
	default:
		return false // the style says what it is, and it is not "later"
	}
	switch f.Status {
	case 408, 429, 500, 502, 503, 504:
		return true
	}
	return false
}

// refreshDead: the refresh token will never work again (rotated, revoked,
// expired): log in instead.
func (f *AuthFailure) refreshDead() bool {
	if f.Call != "refresh" {
		return false
	}
	switch f.Signal {
	case style.SignalInvalidGrant, style.SignalExpired, style.SignalInvalid:
		return true
	}
	return f.Status == 401 || f.Code == "invalid_grant"
}

// invalidCode: WeChat rejected the code (40029, 40163, ...): a new code may work.
func (f *AuthFailure) invalidCode() bool {
	return f.Call == "login" && (f.Signal == style.SignalInvalidCode || (f.Status == 400 && f.Code == "invalid_code"))
}
