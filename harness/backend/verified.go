package backend

import (
	"sync"
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
type verified struct {
	mu  sync.RWMutex
	m   map[string]verifiedClaims
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
	return &verified{m: make(map[string]verifiedClaims), max: max}
}

func (v *verified) get(raw string) (verifiedClaims, bool) {
	v.mu.RLock()
	c, ok := v.m[raw]
	v.mu.RUnlock()
	return c, ok
}

func (v *verified) put(raw string, c verifiedClaims) {
	// A copy of the key: raw is a slice of the request's header and must not
	// keep the whole header alive.
	raw = string([]byte(raw))
	v.mu.Lock()
	if len(v.m) >= v.max {
		clear(v.m)
	}
	v.m[raw] = c
	v.mu.Unlock()
}
