package backend

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/style"
)

// ExpireAll makes every access token issued so far expired from now on (the
// storm trigger). Tokens issued after the call are unaffected: each token
// carries a serial number n and the call records the current serial as a
// cutoff. It returns the cutoff.
func (s *Server) ExpireAll() uint64 {
	upTo := s.serial.Load()
	s.store.expire(upTo, nil)
	s.rec.Append(ledger.Event{Kind: ledger.KindExpire, Detail: "all"})
	return upTo
}

// ExpireUsers is ExpireAll for the given openids only.
func (s *Server) ExpireUsers(openids ...string) uint64 {
	upTo := s.serial.Load()
	if openids == nil {
		openids = []string{}
	}
	s.store.expire(upTo, openids)
	for _, u := range openids {
		s.rec.Append(ledger.Event{Kind: ledger.KindExpire, Subject: u})
	}
	return upTo
}

// RevokeAll revokes every family; it returns how many were newly revoked.
func (s *Server) RevokeAll() int { return s.revoke(true, nil, nil) }

// RevokeUsers revokes every family of the given openids.
func (s *Server) RevokeUsers(openids ...string) int {
	if openids == nil {
		openids = []string{}
	}
	return s.revoke(false, openids, nil)
}

// RevokeFamilies revokes families by id (ledger Family); unknown ids are ignored.
func (s *Server) RevokeFamilies(ids ...string) int { return s.revoke(false, nil, ids) }

func (s *Server) revoke(all bool, users, ids []string) int {
	fams, _ := s.store.familiesOf(all, users, ids)
	n := 0
	for _, f := range fams {
		f.mu.Lock() // decided in order with any refresh of the family
		if s.store.revoke(f) {
			n++
			s.rec.Append(ledger.Event{Kind: ledger.KindRevoke, Family: f.id, Subject: f.subject, Detail: reasonAdmin})
		}
		f.mu.Unlock()
	}
	return n
}

// SetConfig changes TTLs, reuse policy and style; zero fields are left as
// they are. Invalid values change nothing and return a *ConfigError. New
// TTLs apply to tokens issued afterwards.
func (s *Server) SetConfig(rc RuntimeConfig) error {
	for {
		cur := s.set.Load()
		next, err := cur.apply(rc)
		if err != nil {
			return err
		}
		if s.set.CompareAndSwap(cur, next) {
			return nil
		}
	}
}

// CurrentConfig returns the settings in force.
func (s *Server) CurrentConfig() RuntimeConfig { return s.set.Load().runtimeConfig() }

// Reset forgets every token, family, cutoff, effect and count, as if the
// server had just started (the signing key and the ledger stay). Tokens
// issued before are then unknown, hence invalid.
func (s *Server) Reset() {
	s.store.reset()
	s.stats.reset()
	s.effects.Store(0)
}

// adminBody decodes an admin request body, refusing members not in allowed.
func adminBody(w http.ResponseWriter, r *http.Request, allowed ...string) (map[string]json.RawMessage, *reqError) {
	body, rerr := readBody(w, r)
	if rerr != nil {
		return nil, rerr
	}
	m, rerr := decodeObject(body)
	if rerr != nil {
		return nil, rerr
	}
	for k := range m {
		if !contains(allowed, k) {
			return nil, &reqError{status: http.StatusBadRequest, code: "invalid_request", desc: fmt.Sprintf("unknown member %q (want one of %v)", k, allowed), field: k}
		}
	}
	return m, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// selector is the {"all":true} | {"users":[...]} | {"families":[...]} body.
type selector struct {
	all      bool
	users    []string
	families []string
}

func parseSelector(m map[string]json.RawMessage) (selector, *reqError) {
	var sel selector
	given := 0
	for k, raw := range m {
		var err error
		switch k {
		case "all":
			err = json.Unmarshal(raw, &sel.all)
			if err == nil && !sel.all {
				return sel, &reqError{status: http.StatusBadRequest, code: "invalid_request", desc: `"all" must be true when given`, field: k}
			}
		case "users":
			err = unmarshalIDs(raw, &sel.users)
		case "families":
			err = unmarshalIDs(raw, &sel.families)
		}
		if err != nil {
			return sel, &reqError{status: http.StatusBadRequest, code: "invalid_request", desc: fmt.Sprintf("%s: %v", k, err), field: k}
		}
		given++
	}
	if given != 1 {
		return sel, invalidRequest("give exactly one of %s", selectorHelp(m))
	}
	return sel, nil
}

func selectorHelp(m map[string]json.RawMessage) string {
	if _, ok := m["families"]; ok {
		return `"all":true, "users":[...] or "families":[...]`
	}
	return `"all":true or "users":[...]`
}

// unmarshalIDs reads a non-empty array of non-empty strings.
func unmarshalIDs(raw json.RawMessage, out *[]string) error {
	if err := json.Unmarshal(raw, out); err != nil {
		return errors.New("want an array of strings")
	}
	if len(*out) == 0 {
		return errors.New("empty list")
	}
	for _, v := range *out {
		if v == "" {
			return errors.New("empty id")
		}
	}
	return nil
}

func (s *Server) handleExpire(w http.ResponseWriter, r *http.Request, _ *settings) string {
	m, rerr := adminBody(w, r, "all", "users")
	if rerr == nil {
		var sel selector
		if sel, rerr = parseSelector(m); rerr == nil {
			o := newObj().boolean("ok", true)
			if sel.all {
				o.num("serial", int64(s.ExpireAll())).boolean("all", true)
			} else {
				o.num("serial", int64(s.ExpireUsers(sel.users...))).any("users", sel.users)
			}
			writeJSON(w, http.StatusOK, o.bytes())
			return "ok"
		}
	}
	writeReqError(w, rerr, "")
	return rerr.code
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request, _ *settings) string {
	m, rerr := adminBody(w, r, "all", "users", "families")
	if rerr == nil {
		var sel selector
		if sel, rerr = parseSelector(m); rerr == nil {
			o := newObj().boolean("ok", true)
			switch {
			case sel.all:
				o.num("revoked", int64(s.RevokeAll()))
			case sel.users != nil:
				o.num("revoked", int64(s.RevokeUsers(sel.users...)))
			default:
				_, unknown := s.store.familiesOf(false, nil, sel.families)
				o.num("revoked", int64(s.RevokeFamilies(sel.families...)))
				if unknown != nil {
					o.any("unknown", unknown)
				}
			}
			writeJSON(w, http.StatusOK, o.bytes())
			return "ok"
		}
	}
	writeReqError(w, rerr, "")
	return rerr.code
}

func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request, _ *settings) string {
	b, _ := json.Marshal(s.Stats())
	writeJSON(w, http.StatusOK, append(b, '\n'))
	return "ok"
}

func (s *Server) handleLedger(w http.ResponseWriter, _ *http.Request, _ *settings) string {
	if s.ledger == nil {
		writeReqError(w, &reqError{status: http.StatusNotFound, code: "no_ledger", desc: errNoLedger.Error()}, "")
		return "no_ledger"
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	// Served redacted: an unexchanged wx.login code logs in as its user.
	if err := s.ledger.WriteRedactedNDJSON(w); err != nil {
		// The status is sent already; a cut stream is what the reader sees.
		slog.Warn("backend: streaming the ledger", "err", err)
	}
	return "ok"
}

// configJSON is the body of GET and PUT /__admin/config.
type configJSON struct {
	AccessTTL  string `json:"access_ttl"`
	RefreshTTL string `json:"refresh_ttl"`
	Reuse      string `json:"reuse"`
	Style      string `json:"style"`
}

func (s *Server) writeConfig(w http.ResponseWriter) {
	rc := s.CurrentConfig()
	b, _ := json.Marshal(configJSON{AccessTTL: rc.AccessTTL.String(), RefreshTTL: rc.RefreshTTL.String(), Reuse: rc.Reuse, Style: rc.Style})
	writeJSON(w, http.StatusOK, append(b, '\n'))
}

func (s *Server) handleConfig(w http.ResponseWriter, r *http.Request, _ *settings) string {
	if r.Method != http.MethodPut {
		s.writeConfig(w)
		return "ok"
	}
	m, rerr := adminBody(w, r, "access_ttl", "refresh_ttl", "reuse", "style")
	if rerr != nil {
		if rerr.field != "" && rerr.status == http.StatusBadRequest {
			rerr.code = "invalid_config"
		}
		writeReqError(w, rerr, "")
		return rerr.code
	}
	var rc RuntimeConfig
	for k, raw := range m {
		if k == "style" {
			st, err := styleFromRequest(raw)
			if err != nil {
				return badConfig(w, k, err.Error())
			}
			rc.StyleSpec = st
			continue
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil || v == "" {
			return badConfig(w, k, "must be a non-empty string")
		}
		switch k {
		case "access_ttl", "refresh_ttl":
			d, err := time.ParseDuration(v)
			if err != nil {
				return badConfig(w, k, fmt.Sprintf("%q is not a duration such as \"2h\" or \"90s\"", v))
			}
			if err := checkTTL(d); err != nil {
				return badConfig(w, k, err.Error())
			}
			if k == "access_ttl" {
				rc.AccessTTL = d
			} else {
				rc.RefreshTTL = d
			}
		case "reuse":
			rc.Reuse = v
		}
	}
	if err := s.SetConfig(rc); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			return badConfig(w, ce.Field, ce.Err.Error())
		}
		return badConfig(w, "", err.Error())
	}
	s.writeConfig(w)
	return "ok"
}

// styleFromRequest reads the "style" member of PUT /__admin/config: a
// built-in name, or a whole style document inline (YAML text, or a JSON
// object). It never opens a file: whatever names a path over HTTP is just an
// unknown name, so neither content nor existence of a file can leak.
func styleFromRequest(raw json.RawMessage) (*style.Style, error) {
	if len(raw) > 0 && raw[0] == '{' {
		return style.ParseInline("style", raw)
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil || strings.TrimSpace(v) == "" {
		return nil, errors.New("must be a built-in style name, inline style YAML, or a JSON object")
	}
	if !strings.ContainsAny(v, ":\n{") {
		return style.Builtin(v)
	}
	return style.ParseInline("style", []byte(v))
}

func badConfig(w http.ResponseWriter, field, msg string) string {
	writeReqError(w, &reqError{status: http.StatusBadRequest, code: "invalid_config", desc: msg, field: field}, "")
	return "invalid_config"
}

func (s *Server) handleReset(w http.ResponseWriter, _ *http.Request, _ *settings) string {
	s.Reset()
	writeJSON(w, http.StatusOK, newObj().boolean("ok", true).bytes())
	return "ok"
}
