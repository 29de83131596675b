package storm

import (
	"fmt"
	"io"
	"os"
	"time"
)

// progress writes live figures to stderr: on a terminal one line rewritten
// in place four times a second; otherwise (CI logs) a plain line every two
// seconds, which stays readable when captured.
type progress struct {
	w        io.Writer
	tty      bool
	name     string
	duration time.Duration
	c        *counters
	paced    bool // a schedule exists, so send lag is measured
	began    time.Time
	stop     chan struct{}
	done     chan struct{}

	lastSettled uint64
	lastAt      time.Time
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func startProgress(w io.Writer, name string, duration time.Duration, c *counters, paced bool, began time.Time) *progress {
	p := &progress{w: w, tty: isTerminal(w), name: name, duration: duration, c: c, paced: paced, began: began,
		stop: make(chan struct{}), done: make(chan struct{}), lastAt: began}
	every := 2 * time.Second
	if p.tty {
		every = 250 * time.Millisecond
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.print(false)
			case <-p.stop:
				p.print(true)
				return
			}
		}
	}()
	return p
}

// end prints the final figures and returns when the line is written.
func (p *progress) end() {
	close(p.stop)
	<-p.done
}

func (p *progress) print(final bool) {
	now := time.Now()
	settled := p.c.settled.Load()
	rps := 0.0
	if dt := now.Sub(p.lastAt).Seconds(); dt > 0 {
		rps = float64(settled-p.lastSettled) / dt
	}
	if final {
		if dt := now.Sub(p.began).Seconds(); dt > 0 {
			rps = float64(settled) / dt // the run's average
		}
	}
	p.lastSettled, p.lastAt = settled, now
	lag := time.Duration(p.c.lagPeak.Swap(0))
	if final {
		lag = p.c.lag.Quantile(0.99)
	}
	line := fmt.Sprintf("storm %s %5.1fs/%s  sent %d  settled %d  rps %.0f  refreshes %d  logins %d  errors %d  lost %d  p99 %s",
		p.name, now.Sub(p.began).Seconds(), p.duration, p.c.sent.Load(), settled, rps,
		p.c.refreshes.Load(), p.c.logins.Load(), p.c.errors.Load(), p.c.lost.Load(), roundDur(p.c.latency.Quantile(0.99)))
	if p.paced {
		// Send lag: how late the generator sends what the pacer scheduled.
		// Behind, the load is not the one asked for and latencies
		// understate (coordinated omission): say so on the line itself.
		label := "lag max"
		if final {
			label = "lag p99"
		}
		line += fmt.Sprintf("  %s %s", label, roundDur(lag))
		if lag >= OverloadLag {
			line += "  BEHIND SCHEDULE (coordinated omission: latencies understate)"
		}
	}
	if p.tty {
		end := ""
		if final {
			end = "\n"
		}
		fmt.Fprintf(p.w, "\r\x1b[K%s%s", line, end)
		return
	}
	fmt.Fprintln(p.w, line)
}

// roundDur keeps three significant figures for display.
func roundDur(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
