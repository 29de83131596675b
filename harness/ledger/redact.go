package ledger

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"strings"
)

// RedactedPrefix starts a redacted value: what follows is the first 16 hex
// digits of the SHA-256 of the secret.
const RedactedPrefix = "sha256:"

// RedactSecret replaces a live secret (a wx.login code logs in as its user
// until it is exchanged) with a short hash of it. Equal secrets give equal
// hashes, so a reader can still count code reuse; "" stays "".
func RedactSecret(s string) string {
	if s == "" || strings.HasPrefix(s, RedactedPrefix) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return RedactedPrefix + hex.EncodeToString(sum[:8])
}

// Redacted returns e with its live secrets hashed. Only codes are secrets:
// the Token and Family members are ids (a JWT's jti, "r-…" for a refresh
// token) that the backend records instead of the token itself, and they
// grant nothing.
func (e Event) Redacted() Event {
	e.Code = RedactSecret(e.Code)
	return e
}

// WriteRedactedNDJSON is WriteNDJSON with every event Redacted and every
// secret noted with NoteSecret hashed wherever it appears (a client that
// printed its token): what the admin API serves to whoever can reach it.
func (l *Ledger) WriteRedactedNDJSON(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	if err := l.Scan(func(e Event) error { r := l.redact(e); return enc.Encode(&r) }); err != nil {
		return err
	}
	return bw.Flush()
}
