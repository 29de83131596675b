package style

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
)

// fieldError is a validation problem of one field; Parse adds its position.
type fieldError struct {
	field, msg string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func bad(field, format string, args ...any) error {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// Reserved paths the backend serves in every style.
const (
	AdminPrefix = "/__admin/"
	MetricsPath = "/metrics"
)

// Validate checks a Style built in Go (Parse already validates YAML).
func (s *Style) Validate() error { return s.validate() }

func (s *Style) validate() error {
	if strings.TrimSpace(s.Name) == "" {
		return bad("name", "required")
	}
	if err := s.validateRoutes(); err != nil {
		return err
	}
	if err := s.validateFields(); err != nil {
		return err
	}
	if err := s.validateToken(); err != nil {
		return err
	}
	return s.validateSignals()
}

func (s *Style) validateRoutes() error {
	r := s.Routes
	check := func(field, p string, required bool) error {
		if p == "" {
			if required {
				return bad(field, "required")
			}
			return nil
		}
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?# \t\r\n") {
			return bad(field, "%q must be a path starting with / (no query, fragment or spaces)", p)
		}
		if strings.HasPrefix(p, AdminPrefix) || p == MetricsPath {
			return bad(field, "%q is reserved for the backend's admin and metrics routes", p)
		}
		return nil
	}
	if err := check("routes.login", r.Login, true); err != nil {
		return err
	}
	if err := check("routes.refresh", r.Refresh, false); err != nil {
		return err
	}
	if err := check("routes.verify", r.Verify, false); err != nil {
		return err
	}
	if err := check("routes.resource", r.Resource, true); err != nil {
		return err
	}
	if !strings.HasSuffix(r.Resource, "/") || r.Resource == "/" {
		return bad("routes.resource", "%q must be a prefix ending with / and not the root", r.Resource)
	}
	seen := map[string]string{}
	for _, rt := range []struct{ field, p string }{
		{"routes.login", r.Login}, {"routes.refresh", r.Refresh}, {"routes.verify", r.Verify},
	} {
		if rt.p == "" {
			continue
		}
		if strings.HasPrefix(rt.p, r.Resource) {
			return bad(rt.field, "%q lies under routes.resource %q", rt.p, r.Resource)
		}
		if other, dup := seen[rt.p]; dup {
			return bad(rt.field, "%q is also %s", rt.p, other)
		}
		seen[rt.p] = rt.field
	}
	return nil
}

func (s *Style) validateFields() error {
	f := s.Fields
	if f.Code == "" {
		return bad("fields.code", "required")
	}
	if f.AccessToken == "" {
		return bad("fields.access_token", "required")
	}
	if s.Routes.Refresh != "" && f.RefreshToken == "" {
		return bad("fields.refresh_token", "required when routes.refresh is set")
	}
	// Members of one answer must not collide, or one would overwrite another.
	sf := s.Signals.Success.Field
	answers := [][]struct{ field, name string }{
		{ // login and refresh answers
			{"signals.success.field", sf}, {"fields.access_token", f.AccessToken},
			{"fields.refresh_token", f.RefreshToken}, {"fields.token_type", f.TokenType},
			{"fields.expires_in", f.ExpiresIn}, {"fields.refresh_expires_in", f.RefreshExpiresIn},
		},
		{ // verify answer
			{"signals.success.field", sf}, {"fields.valid", f.Valid}, {"fields.expires_in", f.ExpiresIn},
		},
	}
	for _, members := range answers {
		seen := map[string]string{}
		for _, m := range members {
			if m.name == "" {
				continue
			}
			if other, dup := seen[m.name]; dup {
				return bad(m.field, "%q is also %s", m.name, other)
			}
			seen[m.name] = m.field
		}
	}
	return nil
}

func (s *Style) validateToken() error {
	t := &s.Token
	if !validHeaderName(t.Header) {
		return bad("token.header", "%q is not a valid HTTP header name", t.Header)
	}
	switch t.Scheme {
	case SchemeBearer, SchemeRaw, SchemeBasic:
	default:
		return bad("token.scheme", "%q: want %s, %s or %s", t.Scheme, SchemeBearer, SchemeRaw, SchemeBasic)
	}
	if t.Type == "" {
		t.Type = "Bearer"
	}
	if t.NextHeader != "" && !validHeaderName(t.NextHeader) {
		return bad("token.next_header", "%q is not a valid HTTP header name", t.NextHeader)
	}
	if t.SingleUse && t.NextHeader == "" {
		return bad("token.single_use", "single-use tokens need token.next_header to hand out the next token")
	}
	return nil
}

func (s *Style) validateSignals() error {
	named := s.Signals.Named()
	for _, ns := range named {
		sig, field := ns.Signal, "signals."+ns.Name
		if sig.Status == 0 {
			return bad(field+".status", "required")
		}
		if sig.Status < 100 || sig.Status > 599 {
			return bad(field+".status", "%d is not an HTTP status", sig.Status)
		}
		if sig.Field == "" && sig.Value != nil {
			return bad(field+".value", "a value needs a field to carry it")
		}
		if sig.Field != "" {
			switch sig.Value.(type) {
			case string, bool, int, int64, uint64, float64:
			case nil:
				return bad(field+".value", "required when field is set")
			default:
				return bad(field+".value", "must be a string, number or bool, not %T", sig.Value)
			}
		}
		if strings.ContainsAny(sig.Challenge, "\r\n") {
			return bad(field+".www_authenticate", "must be one line")
		}
		if err := sig.encode(); err != nil {
			return bad(field+".value", "%v", err)
		}
	}
	// The answers a client must react to differently have to look different.
	critical := named[:4] // success, expired, invalid, not_token
	for i := range critical {
		for j := i + 1; j < len(critical); j++ {
			a, b := critical[i].Signal, critical[j].Signal
			if a.Status == b.Status && a.Field == b.Field && bytes.Equal(a.valueJSON, b.valueJSON) {
				return bad("signals."+critical[j].Name, "looks the same as signals.%s: a client could not tell them apart", critical[i].Name)
			}
		}
	}
	return nil
}

func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return http.CanonicalHeaderKey(h) != ""
}
