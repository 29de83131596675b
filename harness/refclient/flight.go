package refclient

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// flight is one refresh (or login) of one device and everyone waiting for it.
type flight struct {
	done  chan struct{} // closed when state/err are set
	state *tokenState
	err   error

	waiters int           // guarded by session.mu
	idle    chan struct{} // signalled when waiters drops to 0
	budget  time.Duration // for all attempts; see flightBudget
}

// errAbandoned ends a flight nobody waits for any more; no one receives it.
var errAbandoned = errors.New("tokenstorm/refclient: refresh abandoned: no request waits for it")

// startLocked starts a flight with the caller as its first waiter. Unless
// Behaviour.NoSingleFlight, it becomes the device's flight that later callers
// join.
func (s *session) startLocked(ctx context.Context) *flight {
	f := &flight{done: make(chan struct{}), idle: make(chan struct{}, 1), waiters: 1, budget: s.c.opts.flightBudget(ctx)}
	if !s.c.opts.Behaviour.NoSingleFlight {
		s.flight = f
	}
	go s.run(f)
	return f
}

// wait blocks until f ends or ctx does; a waiter leaving early does not stop
// the flight for the others.
func (s *session) wait(ctx context.Context, f *flight, w waitMark) (*tokenState, error) {
	select {
	case <-f.done:
		if f.err != nil && s.c.opts.Behaviour.HangOnFailure {
			w.add(-1) // waiting on nothing the servers owe
			defer w.add(1)
			<-ctx.Done() // the defect: a failed refresh never settles its waiters
			return nil, waitErr(ctx.Err())
		}
		return f.state, f.err
	case <-ctx.Done():
		s.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			select {
			case f.idle <- struct{}{}:
			default:
			}
		}
		s.mu.Unlock()
		return nil, waitErr(ctx.Err())
	}
}

// run performs the flight and publishes its outcome.
func (s *session) run(f *flight) {
	st, err := s.obtain(f)
	s.mu.Lock()
	switch {
	case err == nil:
		s.installLocked(st)
	case !errors.Is(err, errAbandoned) && !errors.Is(err, ErrClosed):
		s.failures++
		s.lastErr = err
		s.quietUntil = time.Now().Add(s.c.opts.cooldown(s.failures))
	}
	if s.flight == f {
		s.flight = nil
	}
	f.state, f.err = st, err
	close(f.done)
	s.mu.Unlock()

	switch {
	case err == nil:
		s.c.log(s.device, fmt.Sprintf("refclient: new tokens (generation %d)", st.gen))
	case !errors.Is(err, errAbandoned):
		s.c.log(s.device, err.Error())
	}
}

// obtain gets new tokens: refresh when the device has a usable refresh token,
// log in otherwise or when the refresh token turns out dead. Retryable
// failures are retried with backoff, at most MaxRefreshAttempts per operation
// and within RefreshBudget in all; a rejected code gets one new code.
func (s *session) obtain(f *flight) (*tokenState, error) {
	o, b := &s.c.opts, &s.c.opts.Behaviour
	s.mu.Lock()
	cur := s.cur
	maxAttempts := o.MaxRefreshAttempts
	if s.failures > 0 {
		maxAttempts = 1 // after a failure, one probe per cool-down
	}
	s.mu.Unlock()

	// The flight runs on the client's context, not a caller's: a caller that
	// leaves must not cut a refresh the others wait for (nor lose a rotated
	// refresh token half-way).
	ctx := s.c.ctx
	if !b.RetryForever {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.budget)
		defer cancel()
	}

	op := "login"
	if cur != nil && cur.refreshUsable(s.clk.Now()) {
		op = "refresh"
	}
	attempts, fellBack, freshCode := 0, false, false
	for {
		attempts++
		var ans tokenAnswer
		var fail *AuthFailure
		if op == "refresh" {
			ans, fail = s.c.auth.refresh(ctx, cur.Refresh)
		} else {
			ans, fail = s.login(ctx, freshCode)
		}
		if fail == nil {
			now := s.clk.Now()
			return newTokenState(ans.tokens(now), now, o), nil
		}
		if fail.Status == 0 && fail.Err != nil && (fail.Call == "login" || fail.Call == "refresh") {
			s.c.noAnswer(s.device, fail)
		}
		if s.c.ctx.Err() != nil {
			return nil, ErrClosed
		}
		giveUp := &RefreshError{Device: s.device, Op: op, Attempts: attempts, Last: fail}
		if ctx.Err() != nil {
			giveUp.Budget = f.budget
			return nil, giveUp
		}
		switch {
		case fail.refreshDead() && !fellBack:
			// Dead refresh token: wx.login + /auth/login, once.
			op, attempts, fellBack = "login", 0, true
			continue
		case fail.invalidCode() && !freshCode:
			freshCode = true // codes are single-use and short-lived: try one new code
			continue
		case b.RetryForever || (fail.retryable() && attempts < maxAttempts):
			d := o.backoff(attempts, time.Duration(fail.RetryAfter)*time.Second)
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
				giveUp.Budget = f.budget // no time left for another attempt
				return nil, giveUp
			}
			if !s.backoff(f, d) {
				return nil, errAbandoned
			}
			continue
		}
		return nil, giveUp
	}
}

// login asks wx.login for a code (or, with Behaviour.ReuseCode, reuses the
// previous one unless fresh) and exchanges it with the backend.
func (s *session) login(ctx context.Context, fresh bool) (tokenAnswer, *AuthFailure) {
	s.mu.Lock()
	code := s.lastCode
	s.mu.Unlock()
	if !s.c.opts.Behaviour.ReuseCode || fresh || code == "" {
		var fail *AuthFailure
		if code, fail = s.c.auth.wxLogin(ctx, s.device); fail != nil {
			return tokenAnswer{}, fail
		}
		s.mu.Lock()
		s.lastCode = code
		s.mu.Unlock()
	}
	return s.c.auth.login(ctx, code)
}

// backoff sleeps d before the next attempt. It returns false when the flight
// should stop instead because nobody waits for it any more (checked under the
// lock that joiners take, so a joiner either sees the flight removed or keeps
// it alive). Close wakes it early; the next attempt then ends in ErrClosed.
func (s *session) backoff(f *flight, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-f.idle:
	case <-s.c.ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.waiters > 0 {
		return true
	}
	if s.flight == f {
		s.flight = nil
	}
	return false
}
