package check

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// Whatever an event holds, the checker gives back the event that came:
// packed where its fields fit, whole where they do not.
func TestPackedEventsUnpackToTheEventThatCame(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 123456789, time.UTC)
	full := ledger.Event{Seq: 7, Time: at, Source: ledger.SourceBackend, Kind: ledger.KindAPI, Device: "d1",
		Subject: "o-d1", RID: "r1", Attempt: 2, Token: "A1", Family: "F1", Route: "/api/orders", Method: "POST",
		Status: 401, Outcome: ledger.OutcomeExpired, Errcode: 40163, Code: "c1", BodyHash: "h1",
		Detail: "note", Expires: at.Add(time.Hour), LatencyNS: 5e6}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.FixedZone("CET", 3600)
	}
	for name, tc := range map[string]struct {
		e      ledger.Event
		packed bool
	}{
		"every field":          {full, true},
		"zero event":           {ledger.Event{}, true},
		"no expiry":            {ledger.Event{Seq: 1, Time: at, Kind: ledger.KindIssue}, true},
		"another location":     {ledger.Event{Seq: 2, Time: at.In(paris)}, false},
		"far future expiry":    {ledger.Event{Seq: 3, Time: at, Expires: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}, false},
		"huge status":          {ledger.Event{Seq: 4, Time: at, Status: math.MaxInt32 + 1}, false},
		"negative errcode":     {ledger.Event{Seq: 5, Time: at, Errcode: -1}, true},
		"the epoch":            {ledger.Event{Seq: 6, Time: time.Unix(0, 0).UTC()}, false},
		"a route of megabytes": {ledger.Event{Seq: 8, Time: at, Route: "/" + strings.Repeat("x", 1<<20)}, true},
	} {
		t.Run(name, func(t *testing.T) {
			var tab strtab
			tab.pack(&ledger.Event{Seq: 100, Time: at}) // the table's location: UTC
			p := tab.pack(&tc.e)
			assert.Equal(t, tc.packed, p.full == nil, "packed")
			got := tab.unpack(&p)
			require.Equal(t, tc.e, got)
		})
	}
}

// Past maxInterned distinct strings, events are kept whole: a client that
// invents a route per request cannot grow the table without bound.
func TestStringTableIsBounded(t *testing.T) {
	var tab strtab
	for i := range maxInterned + 10 {
		_, _ = tab.intern("/r/" + strconv.Itoa(i))
	}
	require.Equal(t, maxInterned, len(tab.strs), "strings interned")
	e := ledger.Event{Seq: 1, Route: "/a-new-one"}
	p := tab.pack(&e)
	require.NotNil(t, p.full)
	assert.Equal(t, e, tab.unpack(&p))
}

// The ring and a request's evidence keep the same event: packed once.
func TestTheSameEventIsPackedOnce(t *testing.T) {
	var tab strtab
	e := ledger.Event{Seq: 9, RID: "r1", Detail: "x", Route: "/a"}
	a, b := tab.pack(&e), tab.pack(&e)
	assert.Equal(t, a, b)
	e2 := e
	e2.Detail = "y" // a different event under the same number (two ledgers)
	assert.Equal(t, "y", tab.unpack(new(tab.pack(&e2))).Detail)
}
