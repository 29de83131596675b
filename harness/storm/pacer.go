package storm

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// VegetaPacer returns the vegeta pacer the rate describes.
func (r Rate) VegetaPacer() vegeta.Pacer {
	per := r.Per
	if per <= 0 {
		per = time.Second
	}
	switch r.Pacer {
	case "linear":
		// vegeta's Slope is in hits per second per second; Start in hits per Per.
		return vegeta.LinearPacer{StartAt: vegeta.Rate{Freq: r.Start, Per: per}, Slope: r.Slope}
	case "sine":
		return vegeta.SinePacer{
			Period:  r.Period,
			Mean:    vegeta.Rate{Freq: r.Mean, Per: per},
			Amp:     vegeta.Rate{Freq: r.Amp, Per: per},
			StartAt: phases[r.Phase],
		}
	default:
		return vegeta.ConstantPacer{Freq: r.Freq, Per: per}
	}
}

// Unthrottled reports whether the rate is "as fast as the slots allow".
func (r Rate) Unthrottled() bool {
	return (r.Pacer == "constant" || r.Pacer == "") && r.Freq == 0
}

// String describes the rate for summaries: "constant 800/1s",
// "linear 200/1s +600/s²", "sine 500±200/1s period 4s mean_up".
func (r Rate) String() string {
	switch r.Pacer {
	case "linear":
		return fmt.Sprintf("linear %d/%s %+g/s²", r.Start, r.Per, r.Slope)
	case "sine":
		return fmt.Sprintf("sine %d±%d/%s period %s %s", r.Mean, r.Amp, r.Per, r.Period, r.Phase)
	default:
		if r.Freq == 0 {
			return "constant max"
		}
		return fmt.Sprintf("constant %d/%s", r.Freq, r.Per)
	}
}

// schedule wraps a pacer to remember when each hit was due, so that the
// transport can measure how late it was actually sent (the send lag).
//
// vegeta's Result.Timestamp is taken when a worker picks up a tick, so an
// overloaded generator — every worker busy, the pacer blocked on handing out
// the next tick — silently sends later than scheduled and its latencies look
// better than what users would see (coordinated omission). The due time of
// hit n is a pure function of the pacer: asking Pace at the previous hit's
// due time tells how long after it hit n is due, whatever time it is now.
type schedule struct {
	inner vegeta.Pacer
	last  time.Duration // due time of the previous hit; pacer goroutine only
	next  uint64        // hits whose due time is known
	ring  []atomic.Int64
}

const ringSize = 1 << 16 // far more than the ticks ever outstanding

func newSchedule(p vegeta.Pacer) *schedule {
	return &schedule{inner: p, ring: make([]atomic.Int64, ringSize)}
}

// Pace implements vegeta.Pacer. vegeta calls it once per hit, from one
// goroutine, with hits counting up from 0.
func (s *schedule) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	for s.next <= hits {
		w, stop := s.inner.Pace(s.last, s.next)
		if stop {
			break
		}
		if w > 0 {
			s.last += w
		}
		s.ring[s.next%ringSize].Store(int64(s.last))
		s.next++
	}
	return s.inner.Pace(elapsed, hits)
}

// Rate implements vegeta.Pacer.
func (s *schedule) Rate(elapsed time.Duration) float64 { return s.inner.Rate(elapsed) }

// due returns when the hit with vegeta sequence number seq was scheduled,
// as time since the start of the attack.
func (s *schedule) due(seq uint64) time.Duration {
	return time.Duration(s.ring[seq%ringSize].Load())
}

// seqOf reads vegeta's X-Vegeta-Seq header.
func seqOf(v string) (uint64, bool) {
	n, err := strconv.ParseUint(v, 10, 64)
	return n, err == nil
}
