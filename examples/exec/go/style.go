package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
)

// styleSpec is the part of the hello's "style_spec" (the backend's dialect:
// docs/exec-protocol.md, docs/styles.md) this client needs. Every built-in
// style (bearer, body-code, rotating, status-403) and any --style FILE
// arrives in this shape, so the client needs no YAML parser and no code per
// style.
type styleSpec struct {
	Name   string `json:"name"`
	Routes struct {
		Login   string `json:"login"`   // POST {fields.code: <wx.login code>}
		Refresh string `json:"refresh"` // POST {fields.refresh_token: …}; "" = log in again instead
	} `json:"routes"`
	Fields struct {
		Code         string `json:"code"`          // login request member
		AccessToken  string `json:"access_token"`  // login/refresh answer member
		RefreshToken string `json:"refresh_token"` // "" = the style has no refresh token
	} `json:"fields"`
	Token struct {
		Header     string `json:"header"`      // request header carrying the access token
		Scheme     string `json:"scheme"`      // "Bearer", "raw" or "basic"
		NextHeader string `json:"next_header"` // response header handing over the next access token
		SingleUse  bool   `json:"single_use"`  // each access token works once
	} `json:"token"`
	Signals map[string]signal `json:"signals"` // by name: success, expired, invalid, not_token, …
}

// signal is how one kind of answer looks: an HTTP status and, optionally, a
// JSON body member field whose value is value ({"code":10006}).
type signal struct {
	Status    int             `json:"status"`
	Field     string          `json:"field"`
	Value     json.RawMessage `json:"value"`
	Challenge string          `json:"www_authenticate"`
}

// bearerSpec is the default style, for a harness that sends no style_spec.
const bearerSpec = `{"name":"bearer",
 "routes":{"login":"/auth/login","refresh":"/auth/refresh"},
 "fields":{"code":"code","access_token":"access_token","refresh_token":"refresh_token"},
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
	switch {
	case s.Routes.Login == "" || s.Fields.Code == "" || s.Fields.AccessToken == "" || s.Token.Header == "":
		return nil, errors.New("style_spec lacks routes.login, fields.code, fields.access_token or token.header")
	case s.Signals["success"].Status == 0 || s.Signals["expired"].Status == 0 || s.Signals["invalid"].Status == 0:
		return nil, errors.New("style_spec lacks the success, expired or invalid signal")
	}
	return &s, nil
}

// setToken puts the access token where the style wants it.
func (s *styleSpec) setToken(h http.Header, token string) {
	switch strings.ToLower(s.Token.Scheme) {
	case "raw":
		h.Set(s.Token.Header, token)
	case "basic":
		h.Set(s.Token.Header, "Basic "+base64.StdEncoding.EncodeToString([]byte(token+":")))
	default:
		h.Set(s.Token.Header, "Bearer "+token)
	}
}

// classify names the signal an answer carries, or "" for none. Signals with
// a body member are tried first, so {status 200, code 10006} (expired) wins
// over a plain {status 200} success.
func (s *styleSpec) classify(status int, body []byte) string {
	var members map[string]json.RawMessage
	_ = json.Unmarshal(body, &members) // not a JSON object: only status-only signals match
	for name, sig := range s.Signals {
		if sig.Field != "" && sig.Status == status && sameJSON(members[sig.Field], sig.Value) {
			return name
		}
	}
	for _, name := range []string{"success", "expired", "invalid", "not_token", "invalid_grant"} {
		if sig, ok := s.Signals[name]; ok && sig.Field == "" && sig.Status == status {
			return name
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

// member returns a string member of a JSON object ("" when absent or when
// the style has no such field).
func member(body []byte, name string) string {
	if name == "" {
		return ""
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(body, &members) != nil {
		return ""
	}
	var v string
	_ = json.Unmarshal(members[name], &v)
	return v
}
