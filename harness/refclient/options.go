package refclient

import (
	"context"
	"net/http"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/clock"
)

// Defaults of Options.
const (
	DefaultProactiveSkew      = 30 * time.Second
	DefaultMaxRefreshAttempts = 3
	DefaultBackoffBase        = 50 * time.Millisecond
	DefaultBackoffMax         = time.Second
	DefaultRequestTimeout     = 5 * time.Second
	DefaultRefreshBudget      = 8 * time.Second
)

// Options tune a Client. The zero value is the reference configuration.
type Options struct {
	// ProactiveSkew: refresh before sending when the access token expires
	// within this window. 0 means DefaultProactiveSkew; a negative value turns
	// proactive refresh off, so the client only reacts to the backend's signal
	// (what boundary-race probes want). The window is never more than half the
	// token's lifetime, so a short TTL does not make every request refresh.
	ProactiveSkew time.Duration
	// MaxRefreshAttempts bounds how often one refresh (or login) is tried when
	// the backend answers a retryable failure (503 with Retry-After, 429, 5xx,
	// network error). 0 means DefaultMaxRefreshAttempts.
	MaxRefreshAttempts int
	// BackoffBase is the wait before the second attempt; it doubles per attempt
	// up to BackoffMax. A longer Retry-After is honoured up to BackoffMax, so a
	// failing refresh settles its waiters in bounded time.
	//
	// After a refresh has failed, the device cools down: for BackoffMax
	// (doubling per consecutive failure, up to 32×BackoffMax) requests that
	// need new tokens get the last error at once instead of calling the
	// backend again, and the first refresh after the cool-down is a single
	// probe attempt. A failing backend thus sees a few calls per device, not
	// a tight loop driven by the request rate.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// RequestTimeout bounds each call the client makes on its own behalf
	// (wx.login, /auth/login, /auth/refresh). Callers' requests are bounded by
	// their own context. 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// RefreshBudget bounds the whole of one refresh or login, all attempts and
	// backoffs included, so that its waiters get an error before their own
	// deadlines even when WeChat hangs. A refresh started by a request whose
	// context has a nearer deadline gets 90% of that request's remaining time
	// instead (at least minFlightBudget). 0 means DefaultRefreshBudget.
	RefreshBudget time.Duration
	// DeviceClock gives the clock of one device (e.g. clock.Offset for a phone
	// whose clock is skewed). nil means env.DeviceClock, and env.Clock where
	// that is nil too.
	DeviceClock func(device string) clock.Clock
	// Style knows how the backend wants the token and how it signals expiry.
	// nil means the dialect env.Style names (NewDialect of style.Load), bearer
	// by default. Login and refresh routes and members always follow env.Style.
	Style Style
	// Base sends the callers' requests. nil means env.HTTP's transport, else
	// http.DefaultTransport. (env.HTTP itself, with its Timeout, sends the
	// client's own wx.login/login/refresh calls.)
	Base http.RoundTripper
	// Behaviour injects deliberate defects (harness/mutant). Leave it zero.
	Behaviour Behaviour
}

// Behaviour holds deliberate defects, one per failure of SPEC §1, so that every
// invariant of SPEC §5 is proven able to fail. The zero value is the reference
// behaviour; harness/mutant sets exactly one field per mutant. Never set these
// outside the harness.
type Behaviour struct {
	// NoSingleFlight (storm): every request that meets an expiry runs its own
	// refresh (or login) instead of sharing one per device.
	NoSingleFlight bool
	// SingleSlot (single-slot): one pending-replay slot per device; a request
	// that meets an expiry overwrites it, and requests whose entry was
	// overwritten are never replayed nor settled until their context ends.
	SingleSlot bool
	// NoReplay (no-replay): after refreshing, the original 401 is delivered.
	NoReplay bool
	// StaleReplay (stale-replay): the replay carries the rejected token.
	StaleReplay bool
	// DropBody (drop-body): the replay is sent without its body.
	DropBody bool
	// DoubleReplay (double-replay): the request is replayed twice.
	DoubleReplay bool
	// RetryForever (retry-forever): a failed refresh is retried until the
	// context ends (no attempt bound, no RefreshBudget), and any 401 — even one not about the token — triggers
	// refresh and replay again and again.
	RetryForever bool
	// HangOnFailure (hang-on-failure): when the refresh fails its waiters are
	// never settled; they block until their context ends.
	HangOnFailure bool
	// RefreshOnLate401 (late-401): a 401 for an already-replaced token starts
	// another refresh instead of replaying with the current token.
	RefreshOnLate401 bool
	// ReuseCode (code-reuse): a login sends the device's previous wx.login code
	// again instead of asking for a new one (the retry after invalid_code does
	// get a fresh code, so only code-single-use breaks).
	ReuseCode bool
	// Fabricate (fabricate): a request that meets an expiry is answered to
	// its caller with an invented empty success (HTTP 200 {"items":[]}),
	// never refreshed nor replayed: the client-side swallowed expiry.
	Fabricate bool
}

// withDefaults fills the zero fields.
func (o Options) withDefaults() Options {
	if o.ProactiveSkew == 0 {
		o.ProactiveSkew = DefaultProactiveSkew
	}
	if o.MaxRefreshAttempts <= 0 {
		o.MaxRefreshAttempts = DefaultMaxRefreshAttempts
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	if o.BackoffMax < o.BackoffBase {
		o.BackoffMax = o.BackoffBase
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.RefreshBudget <= 0 {
		o.RefreshBudget = DefaultRefreshBudget
	}
	if o.Style == nil {
		o.Style = Bearer{}
	}
	return o
}

// minFlightBudget is the least time a refresh gets, however close the
// deadline of the request that started it: less could not even log in.
const minFlightBudget = 500 * time.Millisecond

// flightBudget is the time a refresh started by a request with ctx may take:
// RefreshBudget, or less so that the request gets the refresh's error, not
// its own timeout.
func (o Options) flightBudget(ctx context.Context) time.Duration {
	b := o.RefreshBudget
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left -= left / 10; left < b {
			b = max(left, min(minFlightBudget, o.RefreshBudget))
		}
	}
	return b
}

// cooldown is how long a device waits after its k-th consecutive failed
// refresh before calling the backend again.
func (o Options) cooldown(k int) time.Duration {
	d := o.BackoffMax
	for i := 1; i < k && i <= 5; i++ {
		d *= 2
	}
	return d
}

// backoff is the wait before attempt n+1 after n failed attempts.
func (o Options) backoff(n int, retryAfter time.Duration) time.Duration {
	d := o.BackoffBase
	for i := 1; i < n && d < o.BackoffMax; i++ {
		d *= 2
	}
	if retryAfter > d {
		d = retryAfter
	}
	return min(d, o.BackoffMax)
}
