package backend

import (
	"sync"
	"sync/atomic"
	"time"
)

// family is a refresh-token family: every token descended from one login.
// Revoking it kills its refresh tokens and every access token carrying its id.
type family struct {
	id      string
	subject string
	gen     uint64 // store generation; a Reset orphans older families
	created time.Time

	// mu serialises rotation within the family: two presentations of one
	// refresh token must be decided one after the other, and only families
	// contend, so parallel refreshes of different users never wait on each
	// other.
	mu      sync.Mutex
	revoked atomic.Bool
}

// refreshRecord is what the store keeps of a refresh token: never the token.
type refreshRecord struct {
	id      string // recorded in the ledger
	fam     *family
	issued  time.Time
	expires time.Time

	// guarded by fam.mu
	rotatedAt time.Time // first use; zero while unused
	uses      int       // presentations so far, the first included
}

type accessState int

const (
	stateOK accessState = iota
	stateUnknown
	stateRevoked
	stateAdminExpired
)

// sweepEvery is how many insertions pass between sweeps of expired records,
// which keeps memory flat over long storms at O(1) amortised cost.
const sweepEvery = 4096

// store holds families, refresh records and admin-expire cutoffs. Lock order:
// family.mu before store.mu; store.mu is never held while taking family.mu.
type store struct {
	mu        sync.RWMutex
	gen       uint64
	refresh   map[[32]byte]*refreshRecord
	families  map[string]*family
	bySubject map[string][]*family
	// Access tokens with serial n <= a cutoff are expired (admin expire).
	globalCutoff uint64
	userCutoff   map[string]uint64
	// Single-use access tokens already spent (rotating styles): jti -> exp.
	consumed map[string]time.Time
	inserts  int

	revokedFamilies atomic.Int64
}

func newStore() *store {
	st := &store{}
	st.clear()
	return st
}

func (st *store) clear() {
	st.gen++
	st.refresh = map[[32]byte]*refreshRecord{}
	st.families = map[string]*family{}
	st.bySubject = map[string][]*family{}
	st.globalCutoff = 0
	st.userCutoff = map[string]uint64{}
	st.consumed = map[string]time.Time{}
	st.inserts = 0
	st.revokedFamilies.Store(0)
}

func (st *store) reset() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.clear()
}

func (st *store) newFamily(subject string, now time.Time) *family {
	f := &family{id: randomID("f-", 9), subject: subject, created: now}
	st.mu.Lock()
	defer st.mu.Unlock()
	f.gen = st.gen
	st.families[f.id] = f
	st.bySubject[subject] = append(st.bySubject[subject], f)
	return f
}

// addRefresh issues a refresh token in f and returns its secret.
func (st *store) addRefresh(f *family, now time.Time, ttl time.Duration) (string, *refreshRecord) {
	secret, hash := newRefreshSecret()
	rec := &refreshRecord{id: randomID("r-", 9), fam: f, issued: now, expires: now.Add(ttl)}
	st.mu.Lock()
	defer st.mu.Unlock()
	if f.gen != st.gen {
		return secret, rec // the family was forgotten by Reset: the token will be unknown
	}
	st.refresh[hash] = rec
	st.inserts++
	if st.inserts >= sweepEvery {
		st.sweepLocked(now)
	}
	return secret, rec
}

func (st *store) sweepLocked(now time.Time) {
	st.inserts = 0
	for h, rec := range st.refresh {
		if now.After(rec.expires) {
			delete(st.refresh, h)
		}
	}
	for jti, exp := range st.consumed {
		if now.After(exp) {
			delete(st.consumed, jti)
		}
	}
}

func (st *store) lookup(hash [32]byte) *refreshRecord {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.refresh[hash]
}

// accessState judges the server-side state of a signature-valid access token.
func (st *store) accessState(subject, fam string, n uint64) accessState {
	st.mu.RLock()
	defer st.mu.RUnlock()
	f := st.families[fam]
	switch {
	case f == nil || f.subject != subject:
		return stateUnknown
	case f.revoked.Load():
		return stateRevoked
	case n <= st.globalCutoff || n <= st.userCutoff[subject]:
		return stateAdminExpired
	}
	return stateOK
}

// consume spends a single-use access token; false when it was spent before.
func (st *store) consume(jti string, exp, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, spent := st.consumed[jti]; spent {
		return false
	}
	st.consumed[jti] = exp
	st.inserts++
	if st.inserts >= sweepEvery {
		st.sweepLocked(now)
	}
	return true
}

// expire sets cutoffs so that every access token with serial <= upTo (for the
// given subjects, or everyone when subjects is nil) counts as expired.
func (st *store) expire(upTo uint64, subjects []string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if subjects == nil {
		st.globalCutoff = max(st.globalCutoff, upTo)
		return
	}
	for _, s := range subjects {
		st.userCutoff[s] = max(st.userCutoff[s], upTo)
	}
}

// familiesOf returns the families selected by an admin revoke.
func (st *store) familiesOf(all bool, subjects, ids []string) (found []*family, unknown []string) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	switch {
	case all:
		for _, f := range st.families {
			found = append(found, f)
		}
	case subjects != nil:
		for _, s := range subjects {
			found = append(found, st.bySubject[s]...)
		}
	default:
		for _, id := range ids {
			if f := st.families[id]; f != nil {
				found = append(found, f)
			} else {
				unknown = append(unknown, id)
			}
		}
	}
	return found, unknown
}

// revoke marks f revoked; the caller holds f.mu. False when it already was.
func (st *store) revoke(f *family) bool {
	if !f.revoked.CompareAndSwap(false, true) {
		return false
	}
	st.mu.RLock()
	current := f.gen == st.gen
	st.mu.RUnlock()
	if current {
		st.revokedFamilies.Add(1)
	}
	return true
}

func (st *store) counts() (families, refresh int) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return len(st.families), len(st.refresh)
}
