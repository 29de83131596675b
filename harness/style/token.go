package style

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
)

// Errors of TokenFrom. A missing token and a malformed one get the same
// invalid signal; the ledger tells them apart.
var (
	ErrNoToken        = errors.New("no access token in the request")
	ErrMalformedToken = errors.New("malformed access token header")
)

// SetToken places an access token in a request header the way this style
// expects it.
func (s *Style) SetToken(h http.Header, token string) {
	if s.Token.Cookie != "" {
		SetCookie(h, s.Token.Cookie, token)
		return
	}
	switch s.Token.Scheme {
	case SchemeRaw:
		h.Set(s.Token.Header, token)
	case SchemeBasic:
		h.Set(s.Token.Header, "Basic "+base64.StdEncoding.EncodeToString([]byte(token+":")))
	default:
		h.Set(s.Token.Header, "Bearer "+token)
	}
}

// TokenFrom extracts the access token from request headers. Several header
// lines are malformed: a proxy or a buggy wrapper added one, and guessing
// which one counts would hide the bug.
func (s *Style) TokenFrom(h http.Header) (string, error) {
	if s.Token.Cookie != "" {
		return CookieFrom(h, s.Token.Cookie)
	}
	vals := h[http.CanonicalHeaderKey(s.Token.Header)]
	if len(vals) == 0 {
		return "", ErrNoToken
	}
	if len(vals) > 1 {
		return "", ErrMalformedToken
	}
	v := strings.TrimSpace(vals[0])
	if v == "" {
		return "", ErrNoToken
	}
	var tok string
	switch s.Token.Scheme {
	case SchemeRaw:
		tok = v
	case SchemeBasic:
		rest, ok := cutScheme(v, "Basic")
		if !ok {
			return "", ErrMalformedToken
		}
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", ErrMalformedToken
		}
		tok, _, _ = strings.Cut(string(raw), ":")
	default:
		rest, ok := cutScheme(v, "Bearer")
		if !ok {
			return "", ErrMalformedToken
		}
		tok = rest
	}
	if tok == "" || strings.ContainsAny(tok, " \t,") {
		return "", ErrMalformedToken
	}
	return tok, nil
}

// SetCookie adds a cookie to a request's Cookie header, keeping the
// caller's other cookies (and replacing one of the same name).
func SetCookie(h http.Header, name, value string) {
	pair := (&http.Cookie{Name: name, Value: value}).String()
	var keep []string
	for _, line := range h.Values("Cookie") {
		for _, part := range strings.Split(line, ";") {
			part = strings.TrimSpace(part)
			if k, _, _ := strings.Cut(part, "="); part != "" && k != name {
				keep = append(keep, part)
			}
		}
	}
	h.Set("Cookie", strings.Join(append(keep, pair), "; "))
}

// CookieFrom reads a request cookie. Two cookies of that name are
// malformed, as two token headers are.
func CookieFrom(h http.Header, name string) (string, error) {
	var found []string
	for _, c := range (&http.Request{Header: h}).CookiesNamed(name) {
		found = append(found, c.Value)
	}
	switch {
	case len(found) == 0 || found[0] == "":
		return "", ErrNoToken
	case len(found) > 1:
		return "", ErrMalformedToken
	}
	return found[0], nil
}

// cutScheme strips an auth scheme; schemes are case-insensitive (RFC 9110 §11.1).
func cutScheme(v, scheme string) (string, bool) {
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) || v[len(scheme)] != ' ' {
		return "", false
	}
	return strings.TrimLeft(v[len(scheme)+1:], " "), true
}

// CanonicalResource is the resource prefix probes, features (features/*.feature)
// and storm scenarios are written with: "/api/orders" means "the orders
// resource" in every style.
const CanonicalResource = "/api/"

// ResourcePath maps a path written under CanonicalResource to this style's
// resource prefix: "/api/orders?page=2" is "/v1/orders?page=2" in body-code.
// Other paths are returned unchanged.
func (s *Style) ResourcePath(p string) string {
	if rest, ok := strings.CutPrefix(p, CanonicalResource); ok {
		return s.Routes.Resource + rest
	}
	return p
}
