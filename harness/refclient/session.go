package refclient

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/clock"
)

// session is one device's token state. All fields after mu are guarded by it.
//
// Single flight is a generation-counted mutex rather than x/sync/singleflight
// because two things are needed that singleflight does not give: deciding
// "does this 401 need a refresh?" and "join or start the refresh" atomically
// against the generation a request was sent with (so a late 401 never starts
// a second refresh), and letting each waiter leave on its own context while
// the refresh itself carries on for the others.
type session struct {
	c      *Client
	device string
	clk    clock.Clock

	mu     sync.Mutex
	cur    *tokenState // nil before the first login
	bad    bool        // the backend rejected cur: it must be replaced before use
	gen    uint64      // generation of the last installed state
	flight *flight     // the refresh or login under way, shared by all waiters

	// After a failed refresh: how many in a row, the error, and until when
	// (real time) requests get that error instead of a new refresh.
	failures   int
	lastErr    error
	quietUntil time.Time

	// turn serialises the protected requests of the device when the style's
	// access tokens are single-use: each request must carry the token the
	// previous answer handed over. A buffered channel of one, so a waiter
	// can give up on its context.
	turn chan struct{}

	lastCode string // last wx.login code (reused only by Behaviour.ReuseCode)
	slot     uint64 // Behaviour.SingleSlot: who owns the pending-replay slot
	slotSeq  uint64
}

// token returns the tokens to send a new request with. It logs in first when
// the device has none, refreshes first when the backend rejected them or they
// are about to expire, and queues behind a refresh already under way.
func (s *session) token(ctx context.Context, w waitMark) (*tokenState, error) {
	now := s.clk.Now()
	s.mu.Lock()
	cur, f := s.cur, s.flight
	switch {
	case f != nil:
		f.waiters++
	case cur == nil || s.bad || cur.expiring(now):
		if s.coolingLocked() {
			err, keep := s.lastErr, cur != nil && !s.bad && !cur.expired(now)
			s.mu.Unlock()
			if keep {
				return cur, nil // only a proactive refresh was due: keep the token
			}
			return s.failFast(ctx, err, w)
		}
		f = s.startLocked(ctx)
	default:
		s.mu.Unlock()
		return cur, nil // the hot path
	}
	s.mu.Unlock()

	st, err := s.wait(ctx, f, w)
	if err == nil || ctx.Err() != nil {
		return st, err
	}
	// A failed proactive refresh is not fatal while the old token still works
	// by our clock: send it and let the backend decide.
	s.mu.Lock()
	cur, bad := s.cur, s.bad
	s.mu.Unlock()
	if cur != nil && !bad && !cur.expired(s.clk.Now()) {
		return cur, nil
	}
	return nil, err
}

// renew returns the tokens to replay a request with after the backend
// rejected the generation it carried.
func (s *session) renew(ctx context.Context, rejected *tokenState, w waitMark) (*tokenState, error) {
	b := &s.c.opts.Behaviour
	s.mu.Lock()
	f := s.flight
	late := s.cur != nil && s.cur.gen != rejected.gen
	switch {
	case f != nil && !b.NoSingleFlight:
		f.waiters++ // a refresh is under way: queue behind it
	case late && !s.bad && !b.RefreshOnLate401 && !b.NoSingleFlight:
		// A late 401: the token it carried was replaced after it was sent.
		// Replay with the current one; refreshing again would be a second
		// refresh for the same expiry.
		cur := s.cur
		s.mu.Unlock()
		return cur, nil
	default:
		if !late || b.RefreshOnLate401 {
			s.bad = true
		}
		if s.coolingLocked() {
			err := s.lastErr
			s.mu.Unlock()
			return s.failFast(ctx, err, w)
		}
		f = s.startLocked(ctx)
	}
	s.mu.Unlock()
	return s.wait(ctx, f, w)
}

// coolingLocked reports whether a recent failed refresh forbids starting
// another one yet (see Options.BackoffMax).
func (s *session) coolingLocked() bool {
	return s.failures > 0 && !s.c.opts.Behaviour.RetryForever && time.Now().Before(s.quietUntil)
}

// failFast settles a request during the cool-down with the last refresh error.
func (s *session) failFast(ctx context.Context, err error, w waitMark) (*tokenState, error) {
	if s.c.opts.Behaviour.HangOnFailure {
		w.add(-1) // waiting on nothing the servers owe
		defer w.add(1)
		<-ctx.Done() // the defect, as in wait
		return nil, waitErr(ctx.Err())
	}
	return nil, err
}

// rotate installs the access token an answer handed over (a rotating
// style's next_header) in place of the one the request used, keeping the
// refresh token. When the device's tokens were replaced meanwhile (a refresh
// finished), the newer tokens stay. An answer without a next token leaves the
// token as it is: if it was used up after all, the backend's invalid signal
// on the next request renews it.
func (s *session) rotate(used *tokenState, next string) {
	if next == "" || next == used.Access {
		return
	}
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != used || s.bad {
		return
	}
	t := used.Tokens
	t.Access = next
	if used.life > 0 {
		t.AccessExpiry = now.Add(used.life) // a rotated token lives as long as the one it replaces
	}
	s.installLocked(newTokenState(t, now, &s.c.opts))
}

// takeTurn waits until the device may send its next protected request
// (single-use tokens); release gives the turn back.
func (s *session) takeTurn(ctx context.Context) (release func(), err error) {
	select {
	case s.turn <- struct{}{}:
		return func() { <-s.turn }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("tokenstorm/refclient: gave up waiting for the device's single-use token: %w", ctx.Err())
	}
}

// install makes t the device's current tokens (Seed, or a finished flight).
func (s *session) installLocked(st *tokenState) {
	s.gen++
	st.gen = s.gen
	s.cur = st
	s.bad = false
	s.failures, s.lastErr = 0, nil
}

// snapshot returns the current tokens.
func (s *session) snapshot() (Tokens, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return Tokens{}, false
	}
	return s.cur.Tokens, true
}

// claimSlot writes the caller into the device's single pending-replay slot,
// overwriting whoever was there (Behaviour.SingleSlot only).
func (s *session) claimSlot() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slotSeq++
	s.slot = s.slotSeq
	return s.slot
}

// takeSlot reports whether the caller still owns the slot, and empties it.
func (s *session) takeSlot(mine uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.slot != mine {
		return false
	}
	s.slot = 0
	return true
}

// waitErr wraps the reason a waiter gave up.
func waitErr(err error) error {
	return fmt.Errorf("tokenstorm/refclient: gave up waiting for the token refresh: %w", err)
}
