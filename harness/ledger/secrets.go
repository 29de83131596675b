package ledger

import (
	"cmp"
	"hash/maphash"
	"strings"
	"sync"
)

// The servers note every live secret they hand out (codes, session keys,
// access and refresh tokens) so that WriteRedactedNDJSON can hide one wherever
// it turns up, above all in client output that printed it: a console line or
// an exec log message is free text, and only an exact match tells a token
// from an id. Only 64-bit hashes are kept (maphash: noting is on the
// servers' hot path, and a collision merely hides a harmless string), in two
// generations of at most maxSecrets each: a storm minting millions of tokens
// keeps 2*maxSecrets (the forgotten ones are the oldest, the likeliest to
// have expired).
type secretSet struct {
	mu       sync.Mutex
	seed     maphash.Seed
	cur, old map[uint64]struct{}
	max      int // per generation; 0 = maxSecrets (tests set less)
}

const (
	maxSecrets = 1 << 18
	// minSecret is the shortest secret looked for: a session_key has 24
	// characters, codes 32, tokens more; shorter runs are words and ids.
	minSecret = 16
)

// NoteSecret records s as a live secret that the admin API must never show.
// Call it when handing out a code or token; "" and short strings are ignored.
func (l *Ledger) NoteSecret(s string) {
	if l == nil || len(s) < minSecret {
		return
	}
	set := &l.secrets
	set.mu.Lock()
	defer set.mu.Unlock()
	if set.cur == nil {
		set.seed, set.cur = maphash.MakeSeed(), map[uint64]struct{}{}
	}
	if len(set.cur) >= cmp.Or(set.max, maxSecrets) {
		set.old, set.cur = set.cur, map[uint64]struct{}{}
	}
	set.cur[maphash.String(set.seed, s)] = struct{}{}
}

func (set *secretSet) has(s string) bool {
	k := maphash.String(set.seed, s)
	_, ok := set.cur[k]
	if !ok {
		_, ok = set.old[k]
	}
	return ok
}

// tokenChar is a character a code or token may contain: base64 (standard and
// URL-safe), JWT dots, and the alphanumerics of codes.
func tokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '+' || c == '/' || c == '=' || c == '~'
}

// scrub replaces every noted secret in s with its RedactSecret hash. A
// secret is found as a run of token characters, or the part of one after a
// '=' or '/' (token=…, a path), with a trailing '.' (end of a sentence) cut.
func (set *secretSet) scrub(s string) string {
	if len(s) < minSecret {
		return s
	}
	var b strings.Builder
	last := 0 // s[:last] is written (or kept) already
	for i := 0; i < len(s); {
		if !tokenChar(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && tokenChar(s[j]) {
			j++
		}
		if from, to, ok := set.find(s[i:j]); ok {
			b.WriteString(s[last : i+from])
			b.WriteString(RedactSecret(s[i+from : i+to]))
			last = i + to
		}
		i = j
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// find returns where in run a noted secret is: the whole run, or what
// follows a '=' or '/' in it, either without a trailing '.'.
func (set *secretSet) find(run string) (from, to int, ok bool) {
	if len(run) < minSecret {
		return 0, 0, false
	}
	try := func(from int) (int, int, bool) {
		c := run[from:]
		if len(c) >= minSecret && set.has(c) {
			return from, len(run), true
		}
		if t := strings.TrimRight(c, "."); len(t) != len(c) && len(t) >= minSecret && set.has(t) {
			return from, from + len(t), true
		}
		return 0, 0, false
	}
	if f, t, ok := try(0); ok {
		return f, t, true
	}
	for k := 0; k < len(run)-minSecret; k++ {
		if (run[k] == '=' || run[k] == '/') && run[k+1] != '=' {
			if f, t, ok := try(k + 1); ok {
				return f, t, true
			}
		}
	}
	return 0, 0, false
}

// redact is e.Redacted with every noted secret hashed in its text fields.
func (l *Ledger) redact(e Event) Event {
	e = e.Redacted()
	set := &l.secrets
	set.mu.Lock()
	defer set.mu.Unlock()
	if len(set.cur) == 0 {
		return e
	}
	for _, f := range []*string{&e.Device, &e.Subject, &e.RID, &e.Token, &e.Family, &e.Route, &e.Method, &e.BodyHash, &e.Detail} {
		*f = set.scrub(*f)
	}
	return e
}
