package style

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// NewRequest builds the call of route rq (a Requests member) carrying value
// (the wx.login code, the refresh token or the access token) and the route's
// fixed extra members, against base (the backend's URL). Both sides of every
// dialect — clients and checkers here, the reference backend in ReadValue —
// go through this one description.
func (s *Style) NewRequest(ctx context.Context, base string, rq *Request, value string) (*http.Request, error) {
	if rq.Path == "" {
		return nil, fmt.Errorf("style %s has no such route", s.Name)
	}
	var (
		jsonBody = map[string]any{}
		form     = url.Values{}
		query    = url.Values{}
		hdr      = http.Header{}
		cookies  [][2]string
		isJSON   bool
	)
	put := func(p Place, text string, raw json.RawMessage) {
		switch p.In {
		case InJSON:
			isJSON = true
			setPath(jsonBody, p.path(), raw)
		case InForm:
			form.Set(p.Name, text)
		case InQuery:
			query.Set(p.Name, text)
		case InHeader:
			hdr.Set(p.Name, text)
		case InCookie:
			cookies = append(cookies, [2]string{p.Name, text})
		case InToken:
			s.SetToken(hdr, text)
		}
	}
	rawValue, _ := json.Marshal(value)
	put(rq.Value, value, rawValue)
	for _, e := range rq.Extra {
		put(e.Place, e.text, e.raw)
	}
	u := strings.TrimRight(base, "/") + rq.Path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body []byte
	ctype := ""
	switch {
	case isJSON:
		body, _ = json.Marshal(jsonBody) // strings and scalars always marshal
		ctype = "application/json"
	case len(form) > 0:
		body = []byte(form.Encode())
		ctype = "application/x-www-form-urlencoded"
	}
	req, err := http.NewRequestWithContext(ctx, rq.Method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body == nil {
		req.Body, req.GetBody, req.ContentLength = http.NoBody, nil, 0
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	for _, c := range cookies {
		SetCookie(req.Header, c[0], c[1])
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return req, nil
}

// setPath sets a member at a dotted path, creating the objects on the way.
func setPath(m map[string]any, path []string, raw json.RawMessage) {
	for _, seg := range path[:len(path)-1] {
		sub, ok := m[seg].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[seg] = sub
		}
		m = sub
	}
	m[path[len(path)-1]] = raw
}

// RequestError is a call a route cannot take: the value or a fixed member
// is missing or wrong. Name is the member as the style file writes it; Msg
// names it too ("missing code").
type RequestError struct {
	Name string
	Msg  string
}

func (e *RequestError) Error() string { return e.Msg }

// ReadValue is the server side of NewRequest: it reads the value a call of
// route rq carries and checks the fixed extra members (a real backend
// refuses grant_type=password on its refresh route, so the reference one
// does too). body is the request body already read; a JSON body must be an
// object, a form body is parsed by its Content-Type.
func (s *Style) ReadValue(rq *Request, r *http.Request, body []byte) (string, error) {
	var form url.Values
	needForm := rq.Value.In == InForm
	for _, e := range rq.Extra {
		needForm = needForm || e.In == InForm
	}
	if needForm {
		ct := strings.ToLower(strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]))
		if ct != "application/x-www-form-urlencoded" {
			return "", &RequestError{Name: "Content-Type", Msg: fmt.Sprintf("Content-Type must be application/x-www-form-urlencoded, got %q", ct)}
		}
		var err error
		if form, err = url.ParseQuery(string(body)); err != nil {
			return "", &RequestError{Name: "body", Msg: "bad form encoding: " + err.Error()}
		}
	}
	get := func(p Place) (string, json.RawMessage, bool, error) {
		switch p.In {
		case InJSON:
			raw, ok := lookup(body, p.path())
			if !ok || string(raw) == "null" {
				return "", nil, false, nil
			}
			var str string
			if json.Unmarshal(raw, &str) != nil {
				return "", raw, true, nil
			}
			return str, raw, true, nil
		case InForm, InQuery:
			vals := form
			if p.In == InQuery {
				vals = r.URL.Query()
			}
			v, ok := vals[p.Name]
			if !ok {
				return "", nil, false, nil
			}
			if len(v) > 1 && v[0] != v[1] {
				return "", nil, true, &RequestError{Name: p.String(), Msg: p.String() + " given twice with different values"}
			}
			return v[0], nil, true, nil
		case InHeader:
			v := r.Header.Values(p.Name)
			if len(v) == 0 {
				return "", nil, false, nil
			}
			if len(v) > 1 {
				return "", nil, true, &RequestError{Name: p.String(), Msg: p.String() + " given twice"}
			}
			return strings.TrimSpace(v[0]), nil, true, nil
		case InCookie:
			v, err := CookieFrom(r.Header, p.Name)
			if err == ErrMalformedToken {
				return "", nil, true, &RequestError{Name: p.String(), Msg: p.String() + " given twice"}
			}
			return v, nil, v != "", nil
		case InToken:
			v, err := s.TokenFrom(r.Header)
			if err != nil {
				return "", nil, err == ErrMalformedToken, err
			}
			return v, nil, true, nil
		}
		return "", nil, false, nil
	}
	for _, e := range rq.Extra {
		got, raw, ok, err := get(e.Place)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", &RequestError{Name: e.String(), Msg: "missing " + e.String() + " (this route wants " + e.text + ")"}
		}
		same := got == e.text
		if raw != nil {
			same = sameJSON(bytes.TrimSpace(raw), e.raw) || (got == e.text && isString(e.Value))
		}
		if !same {
			return "", &RequestError{Name: e.String(), Msg: fmt.Sprintf("%s is %s, this route wants %s", e.String(), shortText(got, raw), e.raw)}
		}
	}
	v, raw, ok, err := get(rq.Value)
	if err != nil {
		return "", err
	}
	name := rq.Value.String()
	switch {
	case !ok:
		return "", &RequestError{Name: name, Msg: "missing " + name}
	case raw != nil && (len(raw) == 0 || raw[0] != '"'):
		return "", &RequestError{Name: name, Msg: name + " must be a string"}
	case strings.TrimSpace(v) == "":
		return "", &RequestError{Name: name, Msg: "empty " + name}
	case len(v) > 4096:
		return "", &RequestError{Name: name, Msg: name + " is too long"}
	}
	return v, nil
}

func isString(v any) bool { _, ok := v.(string); return ok }

// shortText shows a received value as JSON (a JSON member) or quoted.
func shortText(s string, raw json.RawMessage) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	if raw != nil {
		if len(raw) > 40 {
			return string(raw[:40]) + "…"
		}
		return string(raw)
	}
	return strconv.Quote(s)
}

// TokenAnswer is what a login or refresh answer handed over, read from the
// style's Answers places (body members by path, headers, Set-Cookie).
type TokenAnswer struct {
	AccessToken      string
	RefreshToken     string
	ExpiresIn        int64 // seconds; 0 when absent
	RefreshExpiresIn int64
	HasExpiresIn     bool // the answer carried the expires_in member
}

// ReadTokens reads the tokens and lifetimes of a login or refresh answer.
func (s *Style) ReadTokens(h http.Header, body []byte) TokenAnswer {
	a := s.Answers
	var t TokenAnswer
	t.AccessToken, _ = s.answerString(a.AccessToken, h, body)
	t.RefreshToken, _ = s.answerString(a.RefreshToken, h, body)
	t.ExpiresIn, t.HasExpiresIn = answerSeconds(a.ExpiresIn, body)
	t.RefreshExpiresIn, _ = answerSeconds(a.RefreshExpiresIn, body)
	return t
}

func (s *Style) answerString(p Place, h http.Header, body []byte) (string, bool) {
	switch p.In {
	case InJSON:
		raw, ok := lookup(body, p.path())
		var v string
		if !ok || json.Unmarshal(raw, &v) != nil {
			return "", false
		}
		return v, v != ""
	case InHeader:
		v := strings.TrimSpace(h.Get(p.Name))
		return v, v != ""
	case InCookie:
		for _, c := range (&http.Response{Header: h}).Cookies() {
			if c.Name == p.Name && c.Value != "" {
				return c.Value, true
			}
		}
	}
	return "", false
}

// answerSeconds reads a lifetime member: a number, or a string holding one
// (some backends send "7200").
func answerSeconds(p Place, body []byte) (int64, bool) {
	if p.In != InJSON {
		return 0, false
	}
	raw, ok := lookup(body, p.path())
	if !ok {
		return 0, false
	}
	var f float64
	if json.Unmarshal(raw, &f) == nil {
		return int64(f), true
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		if n, err := strconv.ParseFloat(strings.TrimSpace(str), 64); err == nil {
			return int64(n), true
		}
	}
	return 0, false
}
