package backend

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Reuse modes: what a second presentation of an already rotated refresh token
// does. Real servers differ here (SPEC §1), so the backend can play each.
const (
	// ReuseStrict: single use; a rotated token presented again revokes its
	// whole family (RFC 9700 §4.14.2, Keycloak, ory/fosite).
	ReuseStrict = "strict"
	// ReuseGrace: within Grace after rotation the old token still works (Auth0
	// rotation overlap, Okta grace period, Hydra rotation_grace_period);
	// afterwards reuse revokes the family.
	ReuseGrace = "grace"
	// ReuseCount: a token may be presented Max more times after its first use
	// (Keycloak "refresh token max reuse"); beyond that reuse revokes the family.
	ReuseCount = "reuse"
)

// Reuse is a parsed reuse policy.
type Reuse struct {
	Mode  string        // ReuseStrict | ReuseGrace | ReuseCount
	Grace time.Duration // ReuseGrace
	Max   int           // ReuseCount
}

// maxReuse bounds reuse:<n> so that a typo like reuse:1000000000000 is caught.
const maxReuse = 1_000_000

// ParseReuse parses "strict", "grace:<duration>" or "reuse:<n>". "" is strict.
func ParseReuse(s string) (Reuse, error) {
	mode, arg, hasArg := strings.Cut(strings.TrimSpace(s), ":")
	switch mode {
	case "", ReuseStrict:
		if hasArg {
			return Reuse{}, fmt.Errorf("reuse policy %q: strict takes no argument", s)
		}
		return Reuse{Mode: ReuseStrict}, nil
	case ReuseGrace:
		d, err := time.ParseDuration(arg)
		if err != nil || d < 0 {
			return Reuse{}, fmt.Errorf("reuse policy %q: want grace:<duration> such as grace:30s", s)
		}
		return Reuse{Mode: ReuseGrace, Grace: d}, nil
	case ReuseCount:
		n, err := strconv.Atoi(arg)
		if err != nil || n < 0 || n > maxReuse {
			return Reuse{}, fmt.Errorf("reuse policy %q: want reuse:<n> with 0 <= n <= %d", s, maxReuse)
		}
		return Reuse{Mode: ReuseCount, Max: n}, nil
	}
	return Reuse{}, fmt.Errorf("reuse policy %q: want strict, grace:<duration> or reuse:<n>", s)
}

// String is the form ParseReuse reads.
func (r Reuse) String() string {
	switch r.Mode {
	case ReuseGrace:
		return ReuseGrace + ":" + r.Grace.String()
	case ReuseCount:
		return ReuseCount + ":" + strconv.Itoa(r.Max)
	}
	return ReuseStrict
}

// allows reports whether a token rotated at rotatedAt may be presented for
// the uses-th time (uses counts every presentation, the first included) at now.
func (r Reuse) allows(uses int, rotatedAt, now time.Time) bool {
	switch r.Mode {
	case ReuseGrace:
		return now.Sub(rotatedAt) < r.Grace // the window is [rotation, rotation+Grace): grace:0s is strict
	case ReuseCount:
		return uses-1 <= r.Max
	}
	return false
}
