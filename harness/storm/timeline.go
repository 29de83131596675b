package storm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/admingate"
	"github.com/tokenstorm/tokenstorm/harness/clock"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/mockwechat"
)

// timeline plays a scenario's events against the stack over HTTP, through
// the same admin endpoints an external user has (SPEC §3, §4), so it works
// the same against `tokenstorm serve` or a backend under test.
type timeline struct {
	name       string
	events     []Event
	backendURL string
	wechatURL  string
	appID      string
	devices    []string // this run's devices (a shard's: fleet names)
	// shard and fleet say which devices of the whole fleet devices are, so
	// that an event's `devices` fraction selects the same devices whether
	// the storm runs whole or as shards.
	shard Shard
	fleet int
	// sharedWechat: mock WeChat is shared with other shards, so faults for
	// the whole fleet (and clear_faults) are shard 0's to play, once.
	sharedWechat bool
	// sharedBackend: the backend under test serves other shards too, so
	// "all" in expire_all and revoke means this shard's devices.
	sharedBackend bool
	clock         *clock.Shifted // the stack's clock, for clock_skew
	devClocks     *deviceClocks  // the devices' clocks, for clock_skew with devices
	led           *ledger.Ledger
	http          *http.Client
	adminToken    string  // sent on admin calls when the servers are guarded
	byTime        *byTime // non-nil: the backend under test has no admin expire

	mu          sync.Mutex
	errs        []string
	deviceSkews int  // clock_skew events with devices played
	aheadSkew   bool // one of them moved devices' clocks forward
	wg          sync.WaitGroup
}

// run plays every event at began+At until ctx ends; it returns when the
// events (and the fault windows they opened) are done or ctx is.
func (tl *timeline) run(ctx context.Context, began time.Time) {
	for _, e := range tl.events {
		if err := clock.Sleep(ctx, clock.Real(), time.Until(began.Add(e.At))); err != nil {
			break
		}
		if err := tl.do(ctx, e); err != nil {
			tl.fail(e, err)
		}
	}
	tl.wg.Wait()
}

func (tl *timeline) fail(e Event, err error) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.errs = append(tl.errs, fmt.Sprintf("%s at %s (line %d): %v", e.Action, e.At, e.Line, err))
}

// failures lists the events that could not be played.
func (tl *timeline) failures() []string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return append([]string(nil), tl.errs...)
}

func (tl *timeline) mark(e Event, detail string) {
	msg := fmt.Sprintf("storm %s: %s at %s", tl.name, e.Action, e.At)
	if detail != "" {
		msg += " (" + detail + ")"
	}
	tl.led.Append(ledger.Event{Source: ledger.SourceHarness, Kind: ledger.KindEpisodeMarker, Detail: msg})
}

// slice returns the devices of this run an event selects.
func (tl *timeline) slice(e Event) []string {
	lo, hi := tl.bounds(e)
	return tl.devices[lo:hi]
}

// bounds are the indexes [lo, hi) of this run's devices an event selects.
// Of the whole fleet an event never selects none; a shard may have none of
// them.
func (tl *timeline) bounds(e Event) (lo, hi int) {
	if e.To == 0 {
		return 0, len(tl.devices)
	}
	n := max(tl.fleet, len(tl.devices))
	lo = min(int(math.Round(e.From*float64(n))), n-1)
	hi = min(max(int(math.Round(e.To*float64(n))), lo+1), n)
	return tl.shard.localRange(lo, hi)
}

// elsewhere says why this shard leaves an event alone, or "".
func (tl *timeline) elsewhere(e Event) string {
	switch {
	case e.To != 0: // a slice of the fleet: each shard plays its own part
		if lo, hi := tl.bounds(e); lo == hi {
			return fmt.Sprintf("none of its devices is in shard %s", tl.shard)
		}
	case tl.sharedWechat && tl.shard.Index != 0 && (e.Action == ActWechatFault || e.Action == ActClearFaults):
		return "mock WeChat is shared: shard 0 plays it for the fleet"
	}
	return ""
}

func (tl *timeline) openids(devs []string) []string {
	out := make([]string, len(devs))
	for i, d := range devs {
		out[i] = mockwechat.OpenID(tl.appID, d)
	}
	return out
}

func (tl *timeline) do(ctx context.Context, e Event) error {
	if why := tl.elsewhere(e); why != "" {
		tl.mark(e, "not played here: "+why)
		return nil
	}
	switch e.Action {
	case ActExpireAll:
		if bt := tl.byTime; bt != nil {
			if bt.err != nil {
				return bt.err
			}
			tl.mark(e, fmt.Sprintf("by time: the tokens issued before it expire now (access tokens live %s)", bt.ttl))
			return nil
		}
		if tl.sharedBackend {
			tl.mark(e, fmt.Sprintf("shard %s: its %d devices", tl.shard, len(tl.devices)))
			return tl.post(ctx, tl.backendURL+"/__admin/expire", map[string]any{"users": tl.openids(tl.devices)}, nil)
		}
		tl.mark(e, "")
		return tl.post(ctx, tl.backendURL+"/__admin/expire", map[string]any{"all": true}, nil)
	case ActExpireDevices:
		devs := tl.slice(e)
		tl.mark(e, fmt.Sprintf("%d devices", len(devs)))
		return tl.post(ctx, tl.backendURL+"/__admin/expire", map[string]any{"users": tl.openids(devs)}, nil)
	case ActRevoke:
		if e.To == 0 && !tl.sharedBackend {
			tl.mark(e, "every family")
			return tl.post(ctx, tl.backendURL+"/__admin/revoke", map[string]any{"all": true}, nil)
		}
		devs := tl.slice(e)
		tl.mark(e, fmt.Sprintf("%d devices", len(devs)))
		return tl.post(ctx, tl.backendURL+"/__admin/revoke", map[string]any{"users": tl.openids(devs)}, nil)
	case ActClearFaults:
		tl.mark(e, "")
		return tl.send(ctx, http.MethodDelete, tl.wechatURL+"/__admin/faults", nil, nil)
	case ActClockSkew:
		if e.To != 0 {
			return tl.skewDevices(e)
		}
		if tl.clock == nil {
			return fmt.Errorf("the stack's clock cannot be moved")
		}
		tl.mark(e, "stack clock "+signed(e.Skew))
		tl.clock.Shift(e.Skew)
		return nil
	case ActWechatFault:
		return tl.fault(ctx, e)
	}
	return fmt.Errorf("unknown action %q", e.Action)
}

// skewDevices moves the clocks of the selected devices only; the stack's
// clock and the other devices keep their time.
func (tl *timeline) skewDevices(e Event) error {
	if tl.devClocks == nil {
		return fmt.Errorf("the devices' clocks cannot be moved")
	}
	lo, hi := tl.bounds(e)
	which := "1 device, " + tl.devices[lo]
	if hi-lo > 1 {
		which = fmt.Sprintf("%d devices, %s…%s", hi-lo, tl.devices[lo], tl.devices[hi-1])
	}
	detail := fmt.Sprintf("devices %s–%s (%s): device clock %s", percent(e.From), percent(e.To), which, signed(e.Skew))
	if !tl.devClocks.asked.Load() {
		// Say so where the skew is shown, not only in the notes: a client
		// that keeps its own time (exec: before protocol 3) never sees this.
		detail += "; the client has taken no device clock so far (exec clients before protocol 3 keep their own time)"
	}
	tl.mark(e, detail)
	tl.devClocks.shift(lo, hi, e.Skew, tl.led)
	tl.mu.Lock()
	tl.deviceSkews++
	tl.aheadSkew = tl.aheadSkew || e.Skew > 0
	tl.mu.Unlock()
	return nil
}

// skewedDevices reports whether a clock_skew with devices was played, and
// whether one moved clocks forward.
func (tl *timeline) skewedDevices() (any, ahead bool) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.deviceSkews > 0, tl.aheadSkew
}

// signed writes a duration with its sign: +3h0m0s, -5m0s.
func signed(d time.Duration) string {
	if d < 0 {
		return d.String()
	}
	return "+" + d.String()
}

// percent writes a device fraction as a percentage: 0.25 → 25%.
func percent(f float64) string { return strconv.FormatFloat(f*100, 'g', 4, 64) + "%" }

// fault adds a mock WeChat fault rule and, with `for`, removes it again when
// the window closes.
func (tl *timeline) fault(ctx context.Context, e Event) error {
	rule := map[string]any{"api": e.API}
	if e.Errcode != 0 {
		rule["errcode"] = e.Errcode
	}
	if e.Status != 0 {
		rule["status"] = e.Status
	}
	if e.Probability > 0 {
		rule["probability"] = e.Probability
	}
	if e.Count > 0 {
		rule["count"] = e.Count
	}
	if e.Latency > 0 {
		rule["latency"] = e.Latency.String()
	}
	if e.To != 0 {
		rule["users"] = tl.slice(e)
	}
	var added struct {
		ID string `json:"id"`
	}
	desc, _ := json.Marshal(rule)
	tl.mark(e, string(desc))
	if err := tl.post(ctx, tl.wechatURL+"/__admin/faults", rule, &added); err != nil {
		return err
	}
	if e.For <= 0 {
		return nil
	}
	if added.ID == "" {
		return fmt.Errorf("mock WeChat did not return the fault's id; cannot end its window")
	}
	tl.wg.Add(1)
	go func() {
		defer tl.wg.Done()
		// The window closes even when the run is ending, so that a stack
		// that outlives the run is left clean.
		select {
		case <-time.After(e.For):
		case <-ctx.Done():
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		end := e
		end.At += e.For
		tl.led.Append(ledger.Event{Source: ledger.SourceHarness, Kind: ledger.KindEpisodeMarker,
			Detail: fmt.Sprintf("storm %s: wechat_fault %s ends", tl.name, added.ID)})
		err := tl.send(dctx, http.MethodDelete, tl.wechatURL+"/__admin/faults/"+added.ID, nil, nil)
		var gone *statusError
		if errors.As(err, &gone) && gone.status == http.StatusNotFound {
			err = nil // a clear_faults got there first
		}
		if err != nil {
			tl.fail(end, fmt.Errorf("ending the fault window: %w", err))
		}
	}()
	return nil
}

// statusError is an admin endpoint's refusal.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func (tl *timeline) post(ctx context.Context, url string, body, out any) error {
	return tl.send(ctx, http.MethodPost, url, body, out)
}

func (tl *timeline) send(ctx context.Context, method, url string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	admingate.Header(req, tl.adminToken)
	resp, err := tl.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin %s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return &statusError{status: resp.StatusCode, msg: fmt.Sprintf("admin %s %s answered %d: %s", method, url, resp.StatusCode, bytes.TrimSpace(msg))}
	}
	if out != nil {
		if err := json.Unmarshal(msg, out); err != nil {
			return fmt.Errorf("admin %s %s: %w", method, url, err)
		}
	}
	return nil
}
