package ledger

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/clock"
)

func TestAppendScanBothStores(t *testing.T) {
	for _, mem := range []bool{true, false} {
		t.Run(fmt.Sprintf("memory=%v", mem), func(t *testing.T) {
			clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			l := New(Options{Memory: mem, Clock: clk, Tail: 3})
			defer l.Close()
			for i := 0; i < 5; i++ {
				e := l.Append(Event{Source: SourceBackend, Kind: KindAPI, RID: fmt.Sprintf("r%d", i)})
				assert.Equal(t, uint64(i+1), e.Seq)
				assert.Equal(t, clk.Now(), e.Time)
			}
			evs := l.Events()
			require.Len(t, evs, 5)
			assert.Equal(t, "r4", evs[4].RID)
			tail := l.Tail()
			require.Len(t, tail, 3)
			assert.Equal(t, []string{"r2", "r3", "r4"}, []string{tail[0].RID, tail[1].RID, tail[2].RID})
			assert.NoError(t, l.Err())

			var buf bytes.Buffer
			require.NoError(t, l.WriteNDJSON(&buf))
			assert.Equal(t, 5, strings.Count(buf.String(), "\n"))
			var back []Event
			require.NoError(t, ReadNDJSON(&buf, func(e Event) error { back = append(back, e); return nil }))
			assert.Equal(t, evs, back)

			l.Reset()
			assert.Zero(t, l.Len())
			assert.Empty(t, l.Events())
			assert.Equal(t, uint64(1), l.Append(Event{Kind: KindAPI}).Seq)
		})
	}
}

func TestSubscribersSeeEveryEventInOrder(t *testing.T) {
	l := New(Options{})
	defer l.Close()
	var got []uint64
	cancel := l.Subscribe(func(e Event) { got = append(got, e.Seq) })
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				l.Append(Event{Kind: KindAPI})
			}
		}()
	}
	wg.Wait()
	cancel()
	l.Append(Event{Kind: KindAPI})
	require.Len(t, got, 4000)
	for i, s := range got {
		require.Equal(t, uint64(i+1), s, "subscribers see events in sequence order")
	}
	n := 0
	require.NoError(t, l.Scan(func(Event) error { n++; return nil }))
	assert.Equal(t, 4001, n)
}

func TestReadNDJSONNamesTheBadLine(t *testing.T) {
	err := ReadNDJSON(strings.NewReader("{\"seq\":1}\n{oops\n"), func(Event) error { return nil })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "event 2")
}

func TestHashBody(t *testing.T) {
	assert.Equal(t, "", HashBody(nil))
	assert.Len(t, HashBody([]byte("x")), 16)
	assert.NotEqual(t, HashBody([]byte("a")), HashBody([]byte("b")))
}

// The spill file keeps memory flat however long the run.
func BenchmarkAppend(b *testing.B) {
	l := New(Options{})
	defer l.Close()
	e := Event{Source: SourceBackend, Kind: KindAPI, RID: "r123", Token: "abcdefghijkl", Route: "/api/orders", Method: "GET", Status: 200, Outcome: OutcomeOK}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		l.Append(e)
	}
}

// TestSpillKeepsOrderAcrossChunks: concurrent appenders fill several spill
// chunks (written by the spill goroutine); a Scan in the middle and one at
// the end see every event once, in sequence order, with its own members.
func TestSpillKeepsOrderAcrossChunks(t *testing.T) {
	l := New(Options{})
	defer l.Close()
	const writers, each = 8, 1500
	detail := strings.Repeat("x", 200) // ~2.4 MB in all: about ten chunks
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				l.Append(Event{Source: SourceClient, Kind: KindIssue, RID: fmt.Sprintf("w%d-%d", w, i), Detail: detail})
				if w == 0 && i == each/2 {
					n := 0
					require.NoError(t, l.Scan(func(Event) error { n++; return nil }))
					assert.Positive(t, n)
				}
			}
		}()
	}
	wg.Wait()
	var seq uint64
	seen := map[string]bool{}
	require.NoError(t, l.Scan(func(e Event) error {
		seq++
		require.Equal(t, seq, e.Seq, "events come back in sequence order")
		require.Equal(t, detail, e.Detail)
		require.False(t, seen[e.RID], "event %s twice", e.RID)
		seen[e.RID] = true
		return nil
	}))
	assert.EqualValues(t, writers*each, seq)
	require.NoError(t, l.Err())

	// After Close the ledger keeps working in memory.
	require.NoError(t, l.Close())
	assert.EqualValues(t, writers*each+1, l.Append(Event{Kind: KindAPI}).Seq)
}

func TestRecorderMarksAndStampsWithItsOwnClock(t *testing.T) {
	ledgerClk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ownClk := clock.NewManual(time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC))
	l := New(Options{Memory: true, Clock: ledgerClk})
	defer l.Close()
	r := Recorder{Ledger: l, Source: SourceBackend, Clock: ownClk}

	e := r.Append(Event{Kind: KindAPI, Source: SourceClient})
	assert.Equal(t, SourceBackend, e.Source, "the recorder's source wins")
	assert.Equal(t, ownClk.Now(), e.Time, "stamped with the component's clock, not the ledger's")
	given := time.Date(2027, 3, 3, 0, 0, 0, 0, time.UTC)
	assert.Equal(t, given, r.Append(Event{Kind: KindAPI, Time: given}).Time, "a time the event carries is kept")
	assert.Equal(t, ledgerClk.Now(), Recorder{Ledger: l, Source: SourceWechat}.Append(Event{Kind: KindAPI}).Time, "no clock: the ledger's")
	require.Len(t, l.Events(), 3)

	none := Recorder{Source: SourceBackend, Clock: ownClk}
	assert.Zero(t, none.Append(Event{Kind: KindAPI}).Seq, "no ledger: nothing recorded, no panic")
}
