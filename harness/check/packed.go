package check

import (
	"math"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// packedEvent is a ledger.Event as the checker keeps it for evidence: in a
// device's ring of recent events and in a request's own evidence. A storm
// keeps tens of thousands of both at once (every request that met the
// expiry holds its evidence for the whole settled window), and at 296
// bytes an event they were most of the checker's memory. Packed, an event
// is 176 bytes: times as Unix nanoseconds, small numbers as int32, and the
// fields with few distinct values (source, kind, outcome, method, route,
// device, subject) as indexes into the checker's string table. An event
// any of whose fields does not fit is kept whole (full), so unpacking
// always gives back the event that came.
type packedEvent struct {
	seq                      uint64
	at, expires, latency     int64 // expires 0: none
	full                     *ledger.Event
	attempt, status, errcode int32
	source, kind, outcome    uint32
	method, route            uint32
	device, subject          uint32
	rid, token, family       string
	code, bodyHash, detail   string
}

// maxInterned bounds the string table: past it (a client inventing a new
// route per request), events are kept whole instead.
const maxInterned = 1 << 20

// strtab interns the packed fields' strings; index 0 is "".
type strtab struct {
	ids  map[string]uint32
	strs []string
	// loc is the location of the first packed time: times elsewhere are
	// kept whole, so an event unpacks in the location it came with.
	loc *time.Location
	// last is the last event packed: the same event is usually kept twice
	// (the device's ring and its request's evidence).
	last packedEvent
}

func (t *strtab) intern(s string) (uint32, bool) {
	if s == "" {
		return 0, true
	}
	if id, ok := t.ids[s]; ok {
		return id, true
	}
	if len(t.strs) >= maxInterned {
		return 0, false
	}
	if t.ids == nil {
		t.ids = map[string]uint32{}
		t.strs = []string{""}
	}
	id := uint32(len(t.strs))
	t.ids[s] = id
	t.strs = append(t.strs, s)
	return id, true
}

// unixNano is t in nanoseconds when t can come back from them exactly (in
// the table's location, within int64's range of years).
func (t *strtab) unixNano(at time.Time) (int64, bool) {
	if at.IsZero() {
		return 0, true
	}
	if y := at.Year(); y < 1700 || y > 2200 {
		return 0, false
	}
	if t.loc == nil {
		t.loc = at.Location()
	}
	n := at.UnixNano()
	return n, at.Location() == t.loc && n != 0
}

func small(n int) (int32, bool) { return int32(n), n >= math.MinInt32 && n <= math.MaxInt32 }

func (t *strtab) pack(e *ledger.Event) packedEvent {
	if e.Seq != 0 && t.last.seq == e.Seq && t.last.full == nil && t.last.rid == e.RID && t.last.detail == e.Detail {
		return t.last
	}
	p := packedEvent{seq: e.Seq, latency: e.LatencyNS, rid: e.RID, token: e.Token, family: e.Family,
		code: e.Code, bodyHash: e.BodyHash, detail: e.Detail}
	ok := true
	fit := func(v uint32, fits bool) uint32 { ok = ok && fits; return v }
	fit32 := func(v int32, fits bool) int32 { ok = ok && fits; return v }
	fit64 := func(v int64, fits bool) int64 { ok = ok && fits; return v }
	p.at, p.expires = fit64(t.unixNano(e.Time)), fit64(t.unixNano(e.Expires))
	p.attempt, p.status, p.errcode = fit32(small(e.Attempt)), fit32(small(e.Status)), fit32(small(e.Errcode))
	p.source, p.kind, p.outcome = fit(t.intern(e.Source)), fit(t.intern(e.Kind)), fit(t.intern(e.Outcome))
	p.method, p.route = fit(t.intern(e.Method)), fit(t.intern(e.Route))
	p.device, p.subject = fit(t.intern(e.Device)), fit(t.intern(e.Subject))
	if !ok {
		whole := *e
		p = packedEvent{seq: e.Seq, full: &whole}
	}
	t.last = p
	return p
}

func (t *strtab) str(id uint32) string {
	if id == 0 {
		return ""
	}
	return t.strs[id]
}

func (t *strtab) when(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).In(t.loc)
}

func (t *strtab) unpack(p *packedEvent) ledger.Event {
	if p.full != nil {
		return *p.full
	}
	return ledger.Event{Seq: p.seq, Time: t.when(p.at), Source: t.str(p.source), Kind: t.str(p.kind),
		Device: t.str(p.device), Subject: t.str(p.subject), RID: p.rid, Attempt: int(p.attempt),
		Token: p.token, Family: p.family, Route: t.str(p.route), Method: t.str(p.method),
		Status: int(p.status), Outcome: t.str(p.outcome), Errcode: int(p.errcode), Code: p.code,
		BodyHash: p.bodyHash, Detail: p.detail, Expires: t.when(p.expires), LatencyNS: p.latency}
}

func (t *strtab) unpackAll(ps []packedEvent) []ledger.Event {
	if len(ps) == 0 {
		return nil
	}
	out := make([]ledger.Event, len(ps))
	for i := range ps {
		out[i] = t.unpack(&ps[i])
	}
	return out
}

// appendPacked appends p to s; a full s grows to capacity grow (the caller's
// bound), not to what append's doubling rounds up to: the checker holds tens
// of thousands of these buffers at once.
func appendPacked(s []packedEvent, p packedEvent, grow int) []packedEvent {
	if len(s) == cap(s) {
		grown := make([]packedEvent, len(s), max(grow, len(s)+1))
		copy(grown, s)
		s = grown
	}
	return append(s, p)
}
