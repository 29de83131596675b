package refclient

import (
	"net/http"
	"time"
)

// Tokens are what a device holds after a login or refresh.
type Tokens struct {
	Access        string
	Refresh       string
	AccessExpiry  time.Time // by the device's clock; zero when unknown (no proactive refresh)
	RefreshExpiry time.Time // zero when unknown
}

// tokenState is one generation of a device's tokens. It is never modified
// after it is installed, so a request can keep a pointer to the generation it
// was sent with and later tell whether its 401 is late (the state was replaced
// meanwhile).
type tokenState struct {
	Tokens
	gen       uint64
	refreshAt time.Time     // proactive refresh from here on; zero = never
	life      time.Duration // AccessExpiry - issue time; 0 when unknown
	// credName and credValue are the header carrying Access, computed once per
	// generation so the hot path does not build it per request; credKey and
	// credVals are the same as a header entry (canonical key, shared value
	// that nobody modifies).
	credName, credValue string
	credKey             string
	credVals            []string
}

func newTokenState(t Tokens, issuedAt time.Time, o *Options) *tokenState {
	st := &tokenState{Tokens: t}
	st.credName, st.credValue = o.Style.Credential(t.Access)
	st.credKey, st.credVals = http.CanonicalHeaderKey(st.credName), []string{st.credValue}
	if !t.AccessExpiry.IsZero() {
		st.life = t.AccessExpiry.Sub(issuedAt)
	}
	if o.ProactiveSkew > 0 && !t.AccessExpiry.IsZero() {
		window := o.ProactiveSkew
		// Never refresh earlier than half-way through the lifetime: with a TTL
		// shorter than the skew every request would refresh again.
		if life := t.AccessExpiry.Sub(issuedAt); life > 0 && window > life/2 {
			window = life / 2
		}
		st.refreshAt = t.AccessExpiry.Add(-window)
	}
	return st
}

// expired reports whether the access token is past its expiry at now.
func (st *tokenState) expired(now time.Time) bool {
	return !st.AccessExpiry.IsZero() && !now.Before(st.AccessExpiry)
}

// expiring reports whether the token should be refreshed before use at now.
func (st *tokenState) expiring(now time.Time) bool {
	return !st.refreshAt.IsZero() && !now.Before(st.refreshAt)
}

// refreshUsable reports whether the refresh token is worth presenting at now.
func (st *tokenState) refreshUsable(now time.Time) bool {
	return st.Refresh != "" && (st.RefreshExpiry.IsZero() || now.Before(st.RefreshExpiry))
}
