package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// styleSpec is the part of the hello's "style_spec" (the backend's dialect:
// docs/exec-protocol.md, docs/styles.md) this client needs. Every built-in
// style and any --style FILE arrives in this shape, so the client needs no
// YAML parser and no code per style. Protocol 2's members (requests,
// answers, token.cookie, members/any_of signals) say how each call is made
// and where each token is; a protocol 1 hello has only routes and fields,
// from which the same is derived.
type styleSpec struct {
	Name   string `json:"name"`
	Routes struct {
		Login   string `json:"login"`
		Refresh string `json:"refresh"` // "" = log in again instead
	} `json:"routes"`
	Fields struct {
		Code         string `json:"code"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    string `json:"expires_in"`
	} `json:"fields"`
	Requests struct {
		Login   request `json:"login"`
		Refresh request `json:"refresh"`
	} `json:"requests"`
	Answers struct {
		AccessToken  place `json:"access_token"`
		RefreshToken place `json:"refresh_token"`
		ExpiresIn    place `json:"expires_in"` // seconds the access token lives
	} `json:"answers"`
	Token struct {
		Header     string `json:"header"`      // request header carrying the access token
		Scheme     string `json:"scheme"`      // "Bearer", "raw" or "basic"
		Cookie     string `json:"cookie"`      // or: the cookie carrying it
		NextHeader string `json:"next_header"` // response header handing over the next access token
		SingleUse  bool   `json:"single_use"`  // each access token works once
	} `json:"token"`
	Signals map[string]signal `json:"signals"` // by name: success, expired, invalid, not_token, …
}

// request is a route template: method, path, where the value goes, fixed
// extra members.
type request struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Value  place  `json:"value"`
	Extra  []struct {
		place
		Value json.RawMessage `json:"value"`
	} `json:"extra"`
}

// place is where a value travels: in "json" (a dotted member path), "form",
// "query", "header", "cookie", or "token" (the access token's placement).
type place struct {
	In   string `json:"in"`
	Name string `json:"name"`
}

// signal is how one kind of answer looks: an HTTP status and members that
// must hold one of their values; or any of several such shapes.
type signal struct {
	Status    int                        `json:"status"`
	Field     string                     `json:"field"`
	Value     json.RawMessage            `json:"value"` // a value or a list of values
	Members   map[string]json.RawMessage `json:"members"`
	AnyOf     []signal                   `json:"any_of"`
	Challenge string                     `json:"www_authenticate"`
}

// bearerSpec is the default style, for a harness that sends no style_spec.
const bearerSpec = `{"name":"bearer",
 "routes":{"login":"/auth/login","refresh":"/auth/refresh"},
 "fields":{"code":"code","access_token":"access_token","refresh_token":"refresh_token","expires_in":"expires_in"},
 "token":{"header":"Authorization","scheme":"Bearer"},
 "signals":{"success":{"status":200},
  "expired":{"status":401,"field":"error","value":"token_expired"},
  "invalid":{"status":401,"field":"error","value":"invalid_token"},
  "not_token":{"status":401,"field":"error","value":"password_required"},
  "invalid_grant":{"status":401,"field":"error","value":"invalid_grant"}}}`

// parseStyle reads a style_spec (nil: the default bearer style).
func parseStyle(raw json.RawMessage) (*styleSpec, error) {
	if len(raw) == 0 || string(raw) == "null" {
		raw = json.RawMessage(bearerSpec)
	}
	var s styleSpec
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	// A protocol 1 spec: the v1 meaning of routes and fields.
	if s.Requests.Login.Path == "" {
		s.Requests.Login = request{Method: "POST", Path: s.Routes.Login, Value: place{"json", s.Fields.Code}}
		if s.Routes.Refresh != "" {
			s.Requests.Refresh = request{Method: "POST", Path: s.Routes.Refresh, Value: place{"json", s.Fields.RefreshToken}}
		}
		s.Answers.AccessToken = place{"json", s.Fields.AccessToken}
		if s.Fields.RefreshToken != "" {
			s.Answers.RefreshToken = place{"json", s.Fields.RefreshToken}
		}
		if s.Fields.ExpiresIn != "" {
			s.Answers.ExpiresIn = place{"json", s.Fields.ExpiresIn}
		}
	}
	switch {
	case s.Requests.Login.Path == "" || s.Answers.AccessToken.In == "" || (s.Token.Header == "" && s.Token.Cookie == ""):
		return nil, errors.New("style_spec lacks the login route, the access token's place or the token placement")
	case s.Signals["success"].Status == 0 && len(s.Signals["success"].AnyOf) == 0:
		return nil, errors.New("style_spec lacks the success signal")
	}
	return &s, nil
}

// setToken puts the access token where the style wants it.
func (s *styleSpec) setToken(h http.Header, token string) {
	if s.Token.Cookie != "" {
		h.Add("Cookie", (&http.Cookie{Name: s.Token.Cookie, Value: token}).String())
		return
	}
	switch strings.ToLower(s.Token.Scheme) {
	case "raw":
		h.Set(s.Token.Header, token)
	case "basic":
		h.Set(s.Token.Header, "Basic "+base64.StdEncoding.EncodeToString([]byte(token+":")))
	default:
		h.Set(s.Token.Header, "Bearer "+token)
	}
}

// newCall builds a login or refresh call carrying value, as its template says.
func (s *styleSpec) newCall(base string, rq *request, value string) (*http.Request, error) {
	jsonBody, form, query, h := map[string]any{}, url.Values{}, url.Values{}, http.Header{}
	put := func(p place, raw json.RawMessage) {
		var text string
		if json.Unmarshal(raw, &text) != nil {
			text = string(raw) // a number or a boolean
		}
		switch p.In {
		case "json":
			m, path := jsonBody, strings.Split(p.Name, ".")
			for _, seg := range path[:len(path)-1] {
				sub, ok := m[seg].(map[string]any)
				if !ok {
					sub = map[string]any{}
					m[seg] = sub
				}
				m = sub
			}
			m[path[len(path)-1]] = raw
		case "form":
			form.Set(p.Name, text)
		case "query":
			query.Set(p.Name, text)
		case "header":
			h.Set(p.Name, text)
		case "cookie":
			h.Add("Cookie", (&http.Cookie{Name: p.Name, Value: text}).String())
		case "token":
			s.setToken(h, text)
		}
	}
	v, _ := json.Marshal(value)
	put(rq.Value, v)
	for _, e := range rq.Extra {
		put(e.place, e.Value)
	}
	u := base + rq.Path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body []byte
	switch {
	case len(jsonBody) > 0:
		body, _ = json.Marshal(jsonBody)
		h.Set("Content-Type", "application/json")
	case len(form) > 0:
		body = []byte(form.Encode())
		h.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req, err := http.NewRequest(rq.Method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, vals := range h {
		if k == "Cookie" {
			req.Header.Set(k, strings.Join(vals, "; "))
			continue
		}
		req.Header[k] = vals
	}
	return req, nil
}

// tokenAt reads a token from a login or refresh answer: a body member by
// path, a response header or a Set-Cookie.
func tokenAt(p place, h http.Header, body []byte) string {
	switch p.In {
	case "json":
		var v string
		_ = json.Unmarshal(memberAt(body, p.Name), &v)
		return v
	case "header":
		return strings.TrimSpace(h.Get(p.Name))
	case "cookie":
		for _, c := range (&http.Response{Header: h}).Cookies() {
			if c.Name == p.Name {
				return c.Value
			}
		}
	}
	return ""
}

// lifetimeAt reads how long the new access token lives (expires_in
// seconds, a number or a numeric string); 0 when the answer does not say.
func lifetimeAt(p place, h http.Header, body []byte) time.Duration {
	var raw string
	switch p.In {
	case "json":
		raw = strings.Trim(string(memberAt(body, p.Name)), `"`)
	case "header":
		raw = strings.TrimSpace(h.Get(p.Name))
	}
	secs, err := strconv.ParseFloat(raw, 64)
	if err != nil || secs <= 0 {
		return 0
	}
	return time.Duration(secs * float64(time.Second))
}

// memberAt is the JSON value at a dotted member path, or nil.
func memberAt(body []byte, path string) json.RawMessage {
	cur := json.RawMessage(body)
	for _, seg := range strings.Split(path, ".") {
		var m map[string]json.RawMessage
		if json.Unmarshal(cur, &m) != nil {
			return nil
		}
		if cur = m[seg]; cur == nil {
			return nil
		}
	}
	return cur
}

// matches: the answer has this shape (or one of its any_of shapes).
// withMembers selects the shapes that name members (tried first) or the
// status-only ones.
func (sig signal) matches(status int, body []byte, withMembers bool) bool {
	if len(sig.AnyOf) > 0 {
		for _, alt := range sig.AnyOf {
			if alt.matches(status, body, withMembers) {
				return true
			}
		}
		return false
	}
	conds := map[string]json.RawMessage{}
	for k, v := range sig.Members {
		conds[k] = v
	}
	if sig.Field != "" {
		conds[sig.Field] = sig.Value
	}
	if sig.Status != status || (len(conds) > 0) != withMembers {
		return false
	}
	for path, want := range conds {
		if !oneOf(memberAt(body, path), want) {
			return false
		}
	}
	return true
}

// oneOf: got equals want, or one of want's values when want is a list.
func oneOf(got, want json.RawMessage) bool {
	var list []json.RawMessage
	if json.Unmarshal(want, &list) != nil {
		list = []json.RawMessage{want}
	}
	for _, w := range list {
		if sameJSON(got, w) {
			return true
		}
	}
	return false
}

// classify names the signal an answer carries, or "" for none. Shapes with
// body members are tried first, so {status 200, code 10006} (expired) wins
// over a plain {status 200} success.
func (s *styleSpec) classify(status int, body []byte) string {
	order := []string{"success", "expired", "invalid", "not_token", "invalid_grant", "invalid_code", "upstream_unavailable", "upstream_misconfigured"}
	for _, withMembers := range []bool{true, false} {
		for _, name := range order {
			if sig, ok := s.Signals[name]; ok && sig.matches(status, body, withMembers) {
				return name
			}
		}
	}
	return ""
}

// tokenProblem tells an answer about the token (expired or invalid: a new
// token fixes it, so renew and replay) from any other answer, including a
// refusal that is not about the token (not_token), which the caller must
// get as is.
func (s *styleSpec) tokenProblem(r *response) bool {
	switch s.classify(r.status, r.body) {
	case "expired", "invalid":
		return true
	case "":
		// The body says nothing the style knows: the challenge may.
		for _, name := range []string{"expired", "invalid"} {
			sig := s.Signals[name]
			if sig.Challenge != "" && sig.Status == r.status && strings.EqualFold(r.header.Get("WWW-Authenticate"), sig.Challenge) {
				return true
			}
		}
	}
	return false
}

// sameJSON compares two JSON values: 10006 and 10006.0 are the same number.
func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// member returns a string member of a JSON object ("" when absent).
func member(body []byte, name string) string {
	var v string
	_ = json.Unmarshal(memberAt(body, name), &v)
	return v
}
