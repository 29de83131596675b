package storm

import (
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// headerSlot carries the device picked by the targeter to the transport
// inside vegeta's request; the transport removes it before the client under
// test sees the request.
const headerSlot = "X-Tokenstorm-Device"

// errStopped ends a hit that never got a device because the attack stopped.
// Such hits were never sent, so they are not written to results.bin.
var errStopped = errors.New("tokenstorm: attack stopped")

// slots bounds the requests in flight per device. It is a FIFO of free
// (device, slot) tokens holding each device in_flight times: taking a token
// is sending a request for that device, returning it is the request having
// settled. The queue starts grouped (d0 d0 d0 d0 d1 d1 …) and tokens return
// in completion order, so consecutive hits go to the same device the way a
// page fires its requests together — which is what makes them meet an
// expiry together — and the fleet is visited round-robin. When every slot
// is busy the targeter waits, and the wait shows up as send lag.
type slots struct {
	free chan int32
	stop chan struct{}
}

func newSlots(devices, inFlight int) *slots {
	s := &slots{free: make(chan int32, devices*inFlight), stop: make(chan struct{})}
	for d := range devices {
		for range inFlight {
			s.free <- int32(d)
		}
	}
	return s
}

func (s *slots) acquire() (int, bool) {
	select {
	case d := <-s.free:
		return int(d), true
	case <-s.stop:
		return -1, false
	}
}

// release never blocks: the channel holds every token there is.
func (s *slots) release(d int) { s.free <- int32(d) }

// mixTable spreads the mix entries by weight with smooth weighted
// round-robin (nginx's): weights 3:1 give a b a a, not a a a b, and the
// sequence is deterministic, so runs are repeatable.
func mixTable(mix []Request) []int {
	total := 0
	for _, m := range mix {
		total += m.Weight
	}
	cur := make([]int, len(mix))
	out := make([]int, 0, total)
	for range total {
		best := 0
		for i, m := range mix {
			cur[i] += m.Weight
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		out = append(out, best)
	}
	return out
}

// targeter hands vegeta one hit: a free device slot and the next request of
// the mix.
type targeter struct {
	slots *slots
	mix   []Request
	table []int
	n     atomic.Uint64
	// urls are baseURL + path of every mix entry; headers the header naming
	// each device slot. Built once: vegeta copies what it sends.
	urls    []string
	headers []http.Header
}

func newTargeter(sl *slots, mix []Request, baseURL string, devices int) *targeter {
	t := &targeter{slots: sl, mix: mix, table: mixTable(mix), urls: make([]string, len(mix)), headers: make([]http.Header, devices)}
	for i, m := range mix {
		t.urls[i] = baseURL + m.Path
	}
	for d := range t.headers {
		t.headers[d] = http.Header{headerSlot: []string{strconv.Itoa(d)}}
	}
	return t
}

func (t *targeter) target(tgt *vegeta.Target) error {
	d, ok := t.slots.acquire()
	if !ok {
		return errStopped
	}
	i := t.table[(t.n.Add(1)-1)%uint64(len(t.table))]
	m := &t.mix[i]
	tgt.Method = m.Method
	tgt.URL = t.urls[i]
	tgt.Body = m.Body
	tgt.Header = t.headers[d]
	return nil
}
