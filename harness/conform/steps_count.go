package conform

import (
	"context"
	"fmt"
	"time"

	"github.com/tokenstorm/tokenstorm/mockwechat"
)

// Counting from a point of the scenario. Count steps count from the
// scenario's start — the warm-up of "Given N devices logged in" is one login
// (and one wx.login and jscode2session) per device — unless they end in
// "since counting started": then they count from the last "counting starts"
// step, so a scenario can say "after the expiry, exactly 1 refresh" without
// doing arithmetic on its set-up.

// countMark is where counting starts: a ledger position and mock WeChat's
// counters at that moment.
type countMark struct {
	seq   uint64
	stats mockwechat.Stats
	set   bool
}

// what says what a count covered, for failure messages.
func (m countMark) what() string {
	if m.set {
		return "since counting started"
	}
	return "since the scenario started (warm-up logins included)"
}

const sinceSuffix = " since counting started"

func (w *world) countingStarts(ctx context.Context) error {
	// Requests in flight belong to what came before.
	w.settle()
	if _, err := w.stack(ctx); err != nil {
		return err
	}
	m := countMark{stats: w.st.Wechat.Stats(), set: true}
	w.mark("counting starts")
	if ev := w.led.Events(); len(ev) > 0 {
		m.seq = ev[len(ev)-1].Seq
	}
	w.mu.Lock()
	w.counting = m
	w.mu.Unlock()
	return nil
}

// countFrom is the mark a count step counts from: the scenario's start, or
// the last "counting starts" when the step says "since counting started".
func (w *world) countFrom(since string) (countMark, error) {
	if since == "" {
		return countMark{}, nil
	}
	w.mu.Lock()
	m := w.counting
	w.mu.Unlock()
	if !m.set {
		return m, fmt.Errorf("%q needs an earlier \"When counting starts\" step", since)
	}
	return m, nil
}

// sinceAt: capture i is the optional " since counting started"; it needs a
// "counting starts" step before it.
func sinceAt(i int) vetFn {
	return func(v *vetScenario, s vetStep) error {
		if s.args[i] != "" && !v.counting {
			return fmt.Errorf("%q needs an earlier \"When counting starts\" step in this scenario", sinceSuffix[1:])
		}
		return nil
	}
}

func vetCountingStarts(v *vetScenario, _ vetStep) error {
	v.counting = true
	return nil
}

// --- settling within a time ---

func (w *world) settledWithin(_ context.Context, name, d string) error {
	limit, err := parseSpan(d)
	if err != nil {
		return err
	}
	w.settle()
	r, err := w.request(name)
	if err != nil {
		return err
	}
	if !r.done || r.out.Lost || r.out.Latency > limit {
		return w.fail("request "+name+" settled within "+d,
			fmt.Sprintf("request %s should settle within %s, but took %s: %s", name, limit, r.out.Latency.Round(time.Millisecond), outcomeText(r.out)), w.eventsOfRIDs(r.out.RID))
	}
	return nil
}

func (w *world) everySettledWithin(_ context.Context, d string) error {
	limit, err := parseSpan(d)
	if err != nil {
		return err
	}
	rs, err := w.needRequests()
	if err != nil {
		return err
	}
	var bad []reqRec
	for _, r := range rs {
		if !r.done || r.out.Lost || r.out.Latency > limit {
			bad = append(bad, r)
		}
	}
	if len(bad) > 0 {
		return w.reqFailure("every request settled within "+d, bad, len(rs), func(r reqRec) string {
			return fmt.Sprintf("took %s: %s", r.out.Latency.Round(time.Millisecond), outcomeText(r.out))
		})
	}
	return nil
}

// --- one device's requests ---

func (w *world) everyOfDevice(_ context.Context, dev, which string) error {
	rs, err := w.needRequests()
	if err != nil {
		return err
	}
	if which == "failed with a clear error" {
		// As "every request failed with a clear error": the requests since
		// the last expiry, fault or revocation step, not the warm-up.
		w.mu.Lock()
		rs = rs[min(w.since, len(rs)):]
		w.mu.Unlock()
	}
	var mine, bad []reqRec
	for _, r := range rs {
		if r.dev != dev {
			continue
		}
		mine = append(mine, r)
		ok := succeeded(r)
		switch which {
		case "settled":
			ok = r.done && !r.out.Lost
		case "failed with a clear error":
			ok = failedClearly(r)
		}
		if !ok {
			bad = append(bad, r)
		}
	}
	if len(mine) == 0 {
		return fmt.Errorf("device %s sent no request through the client in this scenario", dev)
	}
	if len(bad) > 0 {
		return w.reqFailure("every request of device "+dev+" "+which, bad, len(mine), func(r reqRec) string { return outcomeText(r.out) })
	}
	return nil
}
