package check

// What the checker keeps per device and per request while a storm runs
// (issue 18): a storm's live heap grew with every request until the settled
// window filled, and the checker's state was half of it. Fed straight from
// a script, so the figure does not depend on how busy the machine is.
//
//	go test -run '^$' -bench CheckerMemory -benchtime 1x ./harness/check/

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// feedStorm plays a 4-in-flight synchronized-expiry storm over devices
// into c, device by device within each phase as a storm interleaves them:
// a login, a clean request per slot, then every slot meets the expiry, one
// refresh, every slot replayed, and two more clean requests. 7 requests a
// device, one expiry episode each.
func feedStorm(c *Checker, devices int) (requests int) {
	s := newScript()
	var seq uint64
	flush := func() {
		for _, e := range s.evs {
			seq++
			e.Seq = seq
			c.Observe(e)
		}
		s.evs = s.evs[:0]
	}
	dev := func(d int) string { return fmt.Sprintf("storm-d%d", d+1) }
	rid := func(d, n int) string { return fmt.Sprintf("storm-r%d", d*16+n) }
	for d := range devices {
		s.login(dev(d), fmt.Sprintf("c%d", d), fmt.Sprintf("A%d", d), fmt.Sprintf("F%d", d))
		flush()
	}
	for d := range devices {
		for slot := range 4 {
			r := rid(d, slot)
			s.issue(dev(d), r, "POST", "h"+r)
			s.api(dev(d), r, "POST", "h"+r, fmt.Sprintf("A%d", d), ledger.OutcomeOK)
			s.settle(dev(d), r, 200, ledger.OutcomeOK)
		}
		flush()
	}
	for d := range devices {
		old, fresh := fmt.Sprintf("A%d", d), fmt.Sprintf("B%d", d)
		for slot := range 4 {
			r := rid(d, 4+slot)
			s.issue(dev(d), r, "POST", "h"+r)
			s.api(dev(d), r, "POST", "h"+r, old, ledger.OutcomeExpired)
		}
		s.refresh(dev(d), "R"+old, fresh, fmt.Sprintf("F%d", d), ledger.OutcomeOK)
		for slot := range 4 {
			r := rid(d, 4+slot)
			s.api(dev(d), r, "POST", "h"+r, fresh, ledger.OutcomeOK)
			s.settle(dev(d), r, 200, ledger.OutcomeOK)
		}
		flush()
	}
	for d := range devices {
		for n := range 2 {
			r := rid(d, 8+n)
			s.get(dev(d), r, fmt.Sprintf("B%d", d))
		}
		flush()
	}
	return devices * 10
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func BenchmarkCheckerMemory(b *testing.B) {
	for _, devices := range []int{1_000, 10_000} {
		b.Run(fmt.Sprintf("devices=%d", devices), func(b *testing.B) {
			var perDev, perReq float64
			for b.Loop() {
				before := liveHeap()
				c := New(Options{})
				n := feedStorm(c, devices)
				held := float64(liveHeap() - before)
				perDev, perReq = held/float64(devices), held/float64(n)
				runtime.KeepAlive(c)
			}
			b.ReportMetric(perDev, "B/device")
			b.ReportMetric(perReq, "B/request")
		})
	}
}
