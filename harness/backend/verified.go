package backend

import (
	"sync"
	"sync/atomic"
	"time"
)

// verified remembers the claims of access tokens whose signature this server
// has checked, keyed by the token's exact text. A device presents the same
// token for every request until it refreshes, and parsing and verifying a JWT
// (base64, JSON, HMAC) was a tenth of the CPU of a request under a storm.
//
// Only what cannot change is remembered: the key never changes in a
// Server's life, so a token that verified once verifies again, and its
// claims are the same bytes. What can change is judged on every request
// all the same: expiry against the injected clock, and the family's state
// (revoked, expired by admin) in the store.
//
// Every protected call looks a token up, from every core at once, and new
// tokens are rare next to look-ups: a sync.Map reads without a lock whose
// cache line all cores would contend for (an RWMutex's reader count).
type verified struct {
	m   sync.Map // token text -> verifiedClaims
	n   atomic.Int64
	max int
}

// verifiedClaims is what checkToken needs of a verified token.
type verifiedClaims struct {
	subject, jti, fam string
	n                 uint64
	exp               time.Time
}

// maxVerified bounds the cache: about one live token per device of a very
// large fleet. When full it starts over, which costs each token one more
// verification, not a wrong answer.
const maxVerified = 1 << 18

func newVerified(max int) *verified {
	return &verified{max: max}
}

func (v *verified) get(raw string) (verifiedClaims, bool) {
	c, ok := v.m.Load(raw)
	if !ok {
		return verifiedClaims{}, false
	}
	return c.(verifiedClaims), true
}

func (v *verified) put(raw string, c verifiedClaims) {
	if v.n.Add(1) > int64(v.max) {
		// Start over (a racing put may land just before the clear and be
		// forgotten: one more verification of it, no more).
		v.m.Clear()
		v.n.Store(1)
	}
	// A copy of the key: raw is a slice of the request's header and must not
	// keep the whole header alive.
	v.m.Store(string([]byte(raw)), c)
}
