package tap

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"
)

// claims are what a token's own text says about it, when it is a JWT.
type claims struct {
	id      string // jti, or a short hash of the token
	subject string // sub, when a JWT has one
	exp     time.Time
}

// readToken names a token the way the reference backend's ledger does: by
// its JWT jti when there is one, else by a short hash ("h-…"), so the
// ledger never holds a usable token. The JWT is not verified: the tap only
// names tokens, the backend under test judges them.
func readToken(tok string) claims {
	if tok == "" {
		return claims{}
	}
	if c, ok := jwtClaims(tok); ok && c.id != "" {
		return c
	}
	sum := sha256.Sum256([]byte(tok))
	return claims{id: "h-" + hex.EncodeToString(sum[:6])}
}

// maxJWT bounds the tokens whose payload is decoded.
const maxJWT = 8 << 10

func jwtClaims(tok string) (claims, bool) {
	if len(tok) > maxJWT || strings.Count(tok, ".") != 2 {
		return claims{}, false
	}
	_, rest, _ := strings.Cut(tok, ".")
	payload, _, _ := strings.Cut(rest, ".")
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(payload, "="))
	if err != nil {
		return claims{}, false
	}
	var c struct {
		JTI any    `json:"jti"`
		Sub string `json:"sub"`
		Exp any    `json:"exp"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return claims{}, false
	}
	out := claims{subject: c.Sub}
	switch v := c.JTI.(type) {
	case string:
		out.id = v
	case float64:
		out.id = strconv.FormatFloat(v, 'f', -1, 64)
	}
	if len(out.id) > 128 {
		out.id = "" // not an id the ledger should carry: hash the token instead
	}
	if f, ok := c.Exp.(float64); ok && f > 0 && f < 1e11 {
		out.exp = time.Unix(int64(f), 0)
	}
	return out, true
}

// family is a refresh-token family as seen on the wire: a login starts one,
// and every refresh token handed out in answer to one of its refresh tokens
// joins it.
type family struct {
	id      string
	device  string // whose login started it, when the tap could tell (Config.DeviceOfCode)
	revoked bool   // a presentation of one of its tokens was refused after a reuse
}

// refreshRec is what the tap knows of one refresh token.
type refreshRec struct {
	fam      *family
	uses     int // presentations the backend accepted after it rotated the token
	inflight int // presentations sent to the backend and not yet answered
}

// families maps refresh token ids to their families. Memory is bounded:
// the map is two generations of at most genSize ids each, and a token not
// presented for two generations is forgotten (its family is then unknown,
// as an expired token's is to the backend).
type families struct {
	mu        sync.Mutex
	cur, prev map[string]*refreshRec
	genSize   int
	next      uint64
	forgotten int // ids dropped with a generation: a miss may be one of them
}

func newFamilies(genSize int) *families {
	return &families{cur: map[string]*refreshRec{}, prev: map[string]*refreshRec{}, genSize: genSize}
}

// start opens a family for a login of device (when known) and registers
// its refresh token, if any.
func (f *families) start(refreshID, device string) *family {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	fam := &family{id: "tf-" + strconv.FormatUint(f.next, 10), device: device}
	if refreshID != "" {
		f.putLocked(refreshID, &refreshRec{fam: fam})
	}
	return fam
}

// presented is the record of a presented refresh token, nil when unknown.
// What the backend answered is noted with accepted/refused.
func (f *families) lookup(id string) *refreshRec {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r := f.cur[id]; r != nil {
		return r
	}
	if r := f.prev[id]; r != nil {
		delete(f.prev, id)
		f.putLocked(id, r) // still in use: keep it
		return r
	}
	return nil
}

// accepted notes that the backend accepted rec (nil: an unknown token),
// presented as presentedID, and handed out newID. A newID of "" or
// presentedID is a backend that keeps its refresh tokens: presenting the
// token again is then no reuse. It returns the family and how many times
// rec has been accepted since it was rotated, this time included (1 when
// it was not).
func (f *families) accepted(rec *refreshRec, presentedID, newID string) (*family, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var fam *family
	uses := 1
	if rec != nil {
		fam = rec.fam
		if newID != "" && newID != presentedID {
			rec.uses++
			uses = rec.uses
		}
	} else {
		f.next++
		fam = &family{id: "tf-" + strconv.FormatUint(f.next, 10)}
	}
	if newID != "" {
		if r := f.cur[newID]; r == nil || r.fam != fam {
			f.putLocked(newID, &refreshRec{fam: fam})
		}
	}
	return fam, uses
}

// present notes that a refresh token is being presented, and returns its
// record (nil when unknown); settled ends the presentation.
func (f *families) present(id string) *refreshRec {
	rec := f.lookup(id)
	if rec != nil {
		f.mu.Lock()
		rec.inflight++
		f.mu.Unlock()
	}
	return rec
}

// forgot reports whether the tap has dropped any id: an id it does not
// know may then be one it was handed out and forgot.
func (f *families) forgot() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.forgotten > 0
}

func (f *families) settled(rec *refreshRec) {
	if rec == nil {
		return
	}
	f.mu.Lock()
	rec.inflight--
	f.mu.Unlock()
}

// refused notes that the backend refused rec (a presentation of it, still
// in flight); it returns whether this was a reuse — rec had been rotated
// before, or was presented concurrently (the losers of a race to rotate
// it, refused before the winner's answer reached the tap) — and whether
// the family was already known revoked.
func (f *families) refused(rec *refreshRec) (reuse, concurrent, revoked bool) {
	if rec == nil {
		return false, false, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	revoked = rec.fam.revoked
	concurrent = rec.uses == 0 && rec.inflight > 1
	reuse = rec.uses > 0 || concurrent
	if reuse {
		rec.fam.revoked = true
	}
	return reuse, concurrent, revoked
}

func (f *families) putLocked(id string, r *refreshRec) {
	if len(f.cur) >= f.genSize {
		f.forgotten += len(f.prev)
		f.prev, f.cur = f.cur, make(map[string]*refreshRec, f.genSize/4)
	}
	f.cur[id] = r
}
