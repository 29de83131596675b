package jsclient

import (
	"sync"
	"time"
)

// loop is one device's event loop. Its goroutine owns the device's goja
// runtime; every other goroutine reaches JavaScript only by posting a job.
// goja_nodejs/eventloop was considered: it runs timers on the wall clock only,
// starts a goroutine per interval and cannot tell us how many operations are
// still pending, which is exactly what lost-promise detection needs. This loop
// is small enough to own.
type loop struct {
	mu      sync.Mutex
	queue   []func()
	spare   []func() // owner goroutine only: the drained batch, reused
	wake    chan struct{}
	stopped bool
	done    chan struct{} // closed by stop: Go-side helpers waiting to post give up

	// ops counts operations that will post back to the loop later: timers,
	// HTTP requests, logins, deferred callbacks. Owner goroutine only. With no
	// ops and no queued job, nothing can ever run in this runtime again unless
	// the harness posts a new call.
	ops int
	// turns counts jobs run (owner goroutine only).
	turns int

	// turn is watched by the client's watchdog (MaxTurn, MemoryLimit).
	turn *turnState
}

// busyFor is how long the job running now has run (0 when none runs): a
// job that never returns is a busy loop in the JavaScript.
func (l *loop) busyFor() time.Duration {
	if s := l.turn.start.Load(); s != 0 {
		return time.Duration(time.Now().UnixNano() - s)
	}
	return 0
}

func newLoop() *loop {
	return &loop{wake: make(chan struct{}, 1), done: make(chan struct{}), turn: &turnState{}}
}

// post queues fn to run on the loop goroutine, in order. It reports false if
// the loop has stopped (fn will never run). Safe from any goroutine.
func (l *loop) post(fn func()) bool {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return false
	}
	l.queue = append(l.queue, fn)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return true
}

// run executes jobs until stop is called. idle runs each time the queue has
// drained, before the loop blocks.
func (l *loop) run(idle func()) {
	for {
		l.mu.Lock()
		if l.stopped {
			l.queue = nil
			l.mu.Unlock()
			return
		}
		jobs := l.queue
		l.queue = l.spare
		l.mu.Unlock()
		l.spare = nil
		if len(jobs) == 0 {
			l.spare = jobs
			idle()
			select {
			case <-l.wake:
			case <-l.done:
			}
			continue
		}
		for i, job := range jobs {
			if l.isStopped() {
				break
			}
			l.turn.begin()
			job()
			l.turn.end()
			l.turns++
			jobs[i] = nil
		}
		clear(jobs)
		l.spare = jobs[:0]
	}
}

func (l *loop) isStopped() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stopped
}

// stop makes run return after the job in progress. Safe from any goroutine.
func (l *loop) stop() {
	l.mu.Lock()
	if !l.stopped {
		l.stopped = true
		close(l.done)
	}
	l.mu.Unlock()
}

// goAsync runs work on its own goroutine and the continuation it returns back
// on the loop, counting the operation as pending in between. Call it on the
// loop goroutine. If the loop stops first the continuation is dropped.
func (l *loop) goAsync(work func() (then func())) {
	l.ops++
	go func() {
		then := work()
		l.post(func() {
			l.ops--
			then()
		})
	}()
}
