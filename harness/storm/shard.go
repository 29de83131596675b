package storm

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Shard selects devices I, I+N, I+2N, … (0-based) of a scenario's fleet
// (SPEC §11). Devices are independent and every invariant is per device, so
// N shards judged together equal the whole run. The zero Shard is the whole
// fleet.
type Shard struct {
	Index int `json:"index"` // I, 0 ≤ I < N
	Count int `json:"count"` // N; 0 or 1 is unsharded
}

// ParseShard reads "I/N" (the form of --shard and of a Kubernetes Indexed
// Job's $JOB_COMPLETION_INDEX/N).
func ParseShard(s string) (Shard, error) {
	is, ns, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Shard{}, fmt.Errorf("shard %q: want I/N, e.g. 0/3 (shard I of N, I from 0)", s)
	}
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	switch {
	case err1 != nil || err2 != nil:
		return Shard{}, fmt.Errorf("shard %q: I and N must be whole numbers, e.g. 0/3", s)
	case n < 1:
		return Shard{}, fmt.Errorf("shard %q: N must be at least 1", s)
	case i < 0 || i >= n:
		return Shard{}, fmt.Errorf("shard %q: I must be in 0..%d (shards count from 0)", s, n-1)
	}
	return Shard{Index: i, Count: n}, nil
}

func (s Shard) count() int { return max(s.Count, 1) }

// Sharded reports whether s is a part of the fleet rather than all of it.
func (s Shard) Sharded() bool { return s.Count > 1 }

func (s Shard) String() string { return strconv.Itoa(s.Index) + "/" + strconv.Itoa(s.count()) }

// Devices is how many of a fleet of total devices this shard runs.
func (s Shard) Devices(total int) int {
	if total <= s.Index {
		return 0
	}
	return (total - s.Index + s.count() - 1) / s.count()
}

// Global is the fleet index of this shard's device i.
func (s Shard) Global(i int) int { return s.Index + i*s.count() }

// Local is this shard's index of fleet device g, if the shard has it.
func (s Shard) Local(g int) (int, bool) {
	d := g - s.Index
	if d < 0 || d%s.count() != 0 {
		return 0, false
	}
	return d / s.count(), true
}

// localRange maps the fleet's devices [lo, hi) to this shard's: the local
// indexes whose fleet index is in the range (possibly none).
func (s Shard) localRange(lo, hi int) (int, int) {
	first := func(g int) int { // this shard's first local index at or after fleet index g
		if g <= s.Index {
			return 0
		}
		return (g - s.Index + s.count() - 1) / s.count()
	}
	return first(lo), max(first(lo), first(hi))
}

// requests is this shard's share of n requests over a fleet of total
// devices: request k belongs to device k mod total, so the shares of all
// shards sum to n exactly.
func (s Shard) requests(n uint64, total int) uint64 {
	if n == 0 || !s.Sharded() {
		return n
	}
	t := uint64(total)
	return n/t*uint64(s.Devices(total)) + uint64(s.Devices(int(n%t)))
}

// share is the rate of part of a fleet of total devices: every figure of the
// pacer scaled by part/total, exactly (Per grows by total, counts by part),
// so the shards' rates sum to the scenario's.
func (r Rate) share(part, total int) Rate {
	if part == total || total <= 0 {
		return r
	}
	per := r.Per
	if per <= 0 {
		per = time.Second
	}
	out := r
	out.Per = per * time.Duration(total)
	out.Freq = r.Freq * part
	out.Start = r.Start * part
	out.Mean = r.Mean * part
	out.Amp = r.Amp * part
	out.Slope = r.Slope * float64(part) / float64(total)
	return out
}
