// Package pending is the register of the logical requests the device driver
// is waiting on, by request id and device, through which the harness's own
// servers (the embedded backend, the tap in front of a backend under test)
// tell the driver that a call is waiting on them. They see every request of
// a call, also from a client whose HTTP the harness cannot see (an exec:
// process): while they serve a request carrying a call's request id, or a
// renewal (login, refresh) of the call's device, the call waits on the
// servers (client.Call.Waiting, SPEC §5), and a request late meanwhile is
// late because the servers or the machine were slow.
package pending

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// shards spreads the register over locks: every request of a storm takes one
// twice (register, drop) and the servers one more per request they serve.
const shards = 64

// Register is the set of pending calls and of the renewals being served.
// The zero value is not ready: use New. A nil *Register registers nothing
// and marks nothing, so a driver or server without one works as before.
type Register struct {
	seed     maphash.Seed
	live     atomic.Int64 // calls registered; 0: servers skip the look-up
	renewals atomic.Int64 // renewals being served; 0: the driver skips the look-up
	calls    [shards]callShard
	renewing [shards]devShard
}

type callShard struct {
	mu sync.Mutex
	m  map[string]*atomic.Int32
	_  [40]byte // a cache line each: the shards are written by every request
}

// devShard counts the renewals being served per device. Only renewals
// touch it (a call's device is looked up only past its deadline), so the
// path of every request pays nothing for it.
type devShard struct {
	mu sync.Mutex
	m  map[string]int
	_  [40]byte
}

// New returns an empty register.
func New() *Register {
	r := &Register{seed: maphash.MakeSeed()}
	for i := range r.calls {
		r.calls[i].m = make(map[string]*atomic.Int32)
		r.renewing[i].m = make(map[string]int)
	}
	return r
}

func (r *Register) shard(key string) int { return int(maphash.String(r.seed, key) % shards) }

// Add registers the call rid, whose waiting counter (its
// client.Call.Waiting) the servers add 1 to while they serve a request of
// it. Every Add is undone by Drop with the same arguments. A request id
// already pending keeps its first call: ids are unique per driver, and a
// second call under one id is simply not marked.
func (r *Register) Add(rid string, waiting *atomic.Int32) {
	if r == nil {
		return
	}
	cs := &r.calls[r.shard(rid)]
	cs.mu.Lock()
	if _, dup := cs.m[rid]; !dup {
		cs.m[rid] = waiting
	}
	cs.mu.Unlock()
	r.live.Add(1)
}

// Drop ends what Add registered (the entry, when it is still the call's).
func (r *Register) Drop(rid string, waiting *atomic.Int32) {
	if r == nil {
		return
	}
	cs := &r.calls[r.shard(rid)]
	cs.mu.Lock()
	if cs.m[rid] == waiting {
		delete(cs.m, rid)
	}
	cs.mu.Unlock()
	r.live.Add(-1)
}

// Serving marks the pending call rid as waiting on the servers while they
// serve one of its requests: it returns the call's counter, already
// incremented, for the server to decrement when its answer is written, or
// nil when no call rid is pending (nothing to undo). Cheap when nothing is
// pending: one atomic load.
func (r *Register) Serving(rid string) *atomic.Int32 {
	if rid == "" || r.Empty() {
		return nil
	}
	cs := &r.calls[r.shard(rid)]
	cs.mu.Lock()
	w := cs.m[rid]
	if w != nil {
		// Under the lock: Drop cannot have run between the look-up and the
		// increment, so the driver's look after Drop sees nothing stale.
		w.Add(1)
	}
	cs.mu.Unlock()
	return w
}

// Renewing marks every pending call of device dev, also one issued
// meanwhile, as waiting on the servers while they serve a renewal of it (a
// login or a refresh, which carries no request id); end, called once when
// the answer is written, takes the mark back. dev "" (the server could not
// tell the device) marks nothing.
func (r *Register) Renewing(dev string) (end func()) {
	if r == nil || dev == "" {
		return func() {}
	}
	ds := &r.renewing[r.shard(dev)]
	ds.mu.Lock()
	ds.m[dev]++
	ds.mu.Unlock()
	r.renewals.Add(1)
	return func() {
		r.renewals.Add(-1)
		ds.mu.Lock()
		if ds.m[dev]--; ds.m[dev] <= 0 {
			delete(ds.m, dev)
		}
		ds.mu.Unlock()
	}
}

// RenewingFor reports whether the servers are serving a renewal of dev.
// Cheap when none is served: one atomic load.
func (r *Register) RenewingFor(dev string) bool {
	if r == nil || r.renewals.Load() == 0 {
		return false
	}
	ds := &r.renewing[r.shard(dev)]
	ds.mu.Lock()
	n := ds.m[dev]
	ds.mu.Unlock()
	return n > 0
}

// Len is how many calls are registered and devices have a renewal being
// served (for tests: nothing is left behind).
func (r *Register) Len() (calls, devices int) {
	if r == nil {
		return 0, 0
	}
	for i := range r.calls {
		r.calls[i].mu.Lock()
		calls += len(r.calls[i].m)
		r.calls[i].mu.Unlock()
		r.renewing[i].mu.Lock()
		devices += len(r.renewing[i].m)
		r.renewing[i].mu.Unlock()
	}
	return calls, devices
}

// Empty reports whether no call is pending: a server then need not read a
// request's id at all.
func (r *Register) Empty() bool { return r == nil || r.live.Load() == 0 }
