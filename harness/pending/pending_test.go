package pending

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A request of a pending call marks that call only, while it is served; a
// call that ended is marked no more, and leaves nothing behind.
func TestServingMarksThePendingCallOnly(t *testing.T) {
	r := New()
	var w1, w2 atomic.Int32
	r.Add("r1", &w1)
	r.Add("r2", &w2)
	got := r.Serving("r1")
	require.NotNil(t, got)
	assert.EqualValues(t, 1, w1.Load())
	assert.Zero(t, w2.Load())
	got.Add(-1)
	assert.Nil(t, r.Serving("nope"), "an unknown id marks nothing")
	assert.Nil(t, r.Serving(""), "no id marks nothing")

	r.Drop("r1", &w1)
	assert.Nil(t, r.Serving("r1"), "a call that ended is not marked")
	r.Drop("r2", &w2)
	calls, devs := r.Len()
	assert.Zero(t, calls)
	assert.Zero(t, devs)
	assert.True(t, r.Empty())
}

// A renewal marks its device, for every call of it, pending or issued
// while it is served, and no other device; renewals of one device nest.
func TestRenewingMarksItsDevice(t *testing.T) {
	r := New()
	assert.False(t, r.RenewingFor("d1"))
	end := r.Renewing("d1")
	assert.True(t, r.RenewingFor("d1"))
	assert.False(t, r.RenewingFor("d2"))
	end2 := r.Renewing("d1")
	end()
	assert.True(t, r.RenewingFor("d1"), "the second renewal is still served")
	end2()
	assert.False(t, r.RenewingFor("d1"))
	r.Renewing("")()
	calls, devs := r.Len()
	assert.Zero(t, calls)
	assert.Zero(t, devs)
}

// A second call under an id already pending does not take the first one's
// entry, nor remove it when it ends.
func TestDuplicateIDKeepsTheFirstCall(t *testing.T) {
	r := New()
	var first, second atomic.Int32
	r.Add("r1", &first)
	r.Add("r1", &second)
	r.Drop("r1", &second)
	w := r.Serving("r1")
	require.Same(t, &first, w)
	w.Add(-1)
	r.Drop("r1", &first)
	calls, devs := r.Len()
	assert.Zero(t, calls)
	assert.Zero(t, devs)
}

// A nil register registers and marks nothing (a driver or server without one).
func TestNilRegisterDoesNothing(t *testing.T) {
	var r *Register
	var w atomic.Int32
	r.Add("r1", &w)
	assert.Nil(t, r.Serving("r1"))
	r.Renewing("d1")()
	assert.False(t, r.RenewingFor("d1"))
	r.Drop("r1", &w)
	assert.True(t, r.Empty())
}

// Concurrent calls, requests and renewals (run with -race) leave nothing.
func TestConcurrentUseLeavesNothing(t *testing.T) {
	r := New()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := "d" + strconv.Itoa(g%3)
			for i := 0; i < 500; i++ {
				rid := strconv.Itoa(g) + "-" + strconv.Itoa(i)
				var w atomic.Int32
				r.Add(rid, &w)
				if s := r.Serving(rid); s != nil {
					s.Add(-1)
				}
				end := r.Renewing(dev)
				_ = r.RenewingFor(dev)
				end()
				r.Drop(rid, &w)
			}
		}()
	}
	wg.Wait()
	calls, devs := r.Len()
	assert.Zero(t, calls)
	assert.Zero(t, devs)
}

// BenchmarkCallRoundTrip is what the register adds to one request: the
// driver's Add and Drop, and one request served.
func BenchmarkCallRoundTrip(b *testing.B) {
	r := New()
	rids := make([]string, 1024)
	for i := range rids {
		rids[i] = "r" + strconv.Itoa(i)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var w atomic.Int32
		base := int(next.Add(512))
		for i := 0; pb.Next(); i++ {
			rid := rids[(base+i%512)%len(rids)]
			r.Add(rid, &w)
			if s := r.Serving(rid); s != nil {
				s.Add(-1)
			}
			r.Drop(rid, &w)
		}
	})
}
