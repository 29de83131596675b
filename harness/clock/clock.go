// Package clock is the time source of every part of tokenstorm. Servers and
// clients take a Clock instead of calling time.Now so that a test can expire a
// two-hour token without waiting two hours.
package clock

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Clock tells the time and wakes waiters. Real time and Manual time both satisfy it.
type Clock interface {
	Now() time.Time
	// After behaves like time.After on this clock's time line.
	After(d time.Duration) <-chan time.Time
}

// Real is the wall clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Sleep waits d on c, or until ctx is done (then it returns ctx.Err()).
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-c.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Offset is a clock that runs d ahead of base (negative d runs behind): a device
// whose phone clock is skewed.
func Offset(base Clock, d time.Duration) Clock { return offsetClock{base, d} }

type offsetClock struct {
	base Clock
	d    time.Duration
}

func (o offsetClock) Now() time.Time                         { return o.base.Now().Add(o.d) }
func (o offsetClock) After(d time.Duration) <-chan time.Time { return o.base.After(d) }

// Manual is a clock that moves only when told to. Waiters registered with After
// fire when Advance or Set moves the time past their deadline.
type Manual struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// NewManual returns a manual clock standing at start.
func NewManual(start time.Time) *Manual { return &Manual{now: start} }

// Now returns the clock's current time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// After returns a channel that receives once the clock has been moved d forward.
func (m *Manual) After(d time.Duration) <-chan time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := make(chan time.Time, 1)
	at := m.now.Add(d)
	if d <= 0 {
		ch <- m.now
		return ch
	}
	m.waiters = append(m.waiters, waiter{at, ch})
	return ch
}

// Advance moves the clock forward by d and fires every waiter that became due.
func (m *Manual) Advance(d time.Duration) { m.Set(m.Now().Add(d)) }

// Set moves the clock to t (never backwards for waiters: past deadlines fire).
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	m.now = t
	sort.Slice(m.waiters, func(i, j int) bool { return m.waiters[i].at.Before(m.waiters[j].at) })
	var due []waiter
	keep := m.waiters[:0]
	for _, w := range m.waiters {
		if !w.at.After(t) {
			due = append(due, w)
		} else {
			keep = append(keep, w)
		}
	}
	m.waiters = keep
	m.mu.Unlock()
	for _, w := range due {
		w.ch <- t
	}
}

// Waiters reports how many After calls are still pending; tests use it to know
// that a goroutine is parked on the clock before advancing it.
func (m *Manual) Waiters() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.waiters)
}

// Shifted is real time plus an offset that tests and probes move forward:
// tokens expire "two hours later" at once, while timers, backoffs and
// deadlines keep running in real time, so nothing waits on a manual Advance.
type Shifted struct {
	offset atomic.Int64 // nanoseconds; read on every ledger event
}

// NewShifted returns a clock that reads real time until shifted.
func NewShifted() *Shifted { return &Shifted{} }

// Now is real time plus the offset.
func (s *Shifted) Now() time.Time {
	return time.Now().Add(time.Duration(s.offset.Load()))
}

// After waits d of real time.
func (s *Shifted) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Shift jumps the clock by d (forward; a negative d jumps back). Shifts
// accumulate.
func (s *Shifted) Shift(d time.Duration) {
	s.offset.Add(int64(d))
}

// Offset is how far the clock runs ahead of real time (behind when negative).
func (s *Shifted) Offset() time.Duration { return time.Duration(s.offset.Load()) }
