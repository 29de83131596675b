// Package style is the data model of a backend dialect (SPEC §4 "Styles").
//
// Real clients are written against their own backend's API, so to test a
// client the reference backend must speak the client's dialect: its routes,
// its JSON field names, where the token goes and how expiry is signalled. A
// Style holds all of that as data. The built-in styles are embedded YAML files
// (builtin/*.yaml) and a user's --style FILE has exactly the same shape, so a
// new dialect never needs Go code.
//
// The backend routes and answers from a Style; clients use the same Style to
// place tokens (SetToken) and to recognise signals (Classify).
package style

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Style is one backend dialect.
type Style struct {
	Name        string  `yaml:"name" json:"name"`
	Description string  `yaml:"description" json:"description,omitempty"`
	Routes      Routes  `yaml:"routes" json:"routes"`
	Fields      Fields  `yaml:"fields" json:"fields"`
	Token       Token   `yaml:"token" json:"token"`
	Signals     Signals `yaml:"signals" json:"signals"`

	// Requests and Answers are resolved from Routes, Fields and the v2 route
	// templates: how each call is made and where each answer member is.
	// Every style has them, v1 files included, so that code never needs to
	// know which format a file was written in.
	Requests Requests `yaml:"-" json:"requests"`
	Answers  Answers  `yaml:"-" json:"answers"`

	// Source is where the style came from ("builtin/bearer.yaml" or a file
	// path); it is not part of the YAML.
	Source string `yaml:"-" json:"source,omitempty"`
}

// Routes are the paths of the dialect; Requests say how each is called (in a
// v1 file login and refresh are POST with a JSON body, verify is GET).
// Resources take any method.
type Routes struct {
	Login    string `yaml:"login" json:"login"`       // required
	Refresh  string `yaml:"refresh" json:"refresh"`   // "" = no refresh route: clients log in again
	Verify   string `yaml:"verify" json:"verify"`     // "" = no verify route
	Resource string `yaml:"resource" json:"resource"` // required prefix, ends with "/"
}

// Fields are the JSON member names of requests and answers. An optional field
// left empty is neither read nor written.
type Fields struct {
	Code             string `yaml:"code" json:"code"`                             // login request: the wx.login code (required)
	AccessToken      string `yaml:"access_token" json:"access_token"`             // login/refresh answer (required)
	RefreshToken     string `yaml:"refresh_token" json:"refresh_token"`           // refresh request and login/refresh answer
	TokenType        string `yaml:"token_type" json:"token_type"`                 // login/refresh answer, value Token.Type
	ExpiresIn        string `yaml:"expires_in" json:"expires_in"`                 // seconds the access token lives
	RefreshExpiresIn string `yaml:"refresh_expires_in" json:"refresh_expires_in"` // seconds the refresh token lives
	Valid            string `yaml:"valid" json:"valid"`                           // verify answer: true
}

// Token placement schemes.
const (
	SchemeBearer = "Bearer" // "Authorization: Bearer <token>"
	SchemeRaw    = "raw"    // the header value is the token itself
	SchemeBasic  = "basic"  // "Basic base64(<token>:)"
)

// Token says where a client puts the access token and where a rotated token
// comes back.
type Token struct {
	Header string `yaml:"header" json:"header"` // request header carrying the access token (required)
	Scheme string `yaml:"scheme" json:"scheme"` // SchemeBearer | SchemeRaw | SchemeBasic
	Type   string `yaml:"type" json:"type"`     // value written in Fields.TokenType; default "Bearer"
	// NextHeader, when set, makes every successful protected answer carry a
	// fresh access token in this response header (the "rotating" dialect).
	// Login and refresh answers always carry tokens in body fields.
	NextHeader string `yaml:"next_header" json:"next_header,omitempty"`
	// SingleUse makes each access token work for one protected request only;
	// a second use gets the invalid signal. Requires NextHeader.
	SingleUse bool `yaml:"single_use" json:"single_use,omitempty"`
	// Cookie, when set, sends the access token as this cookie instead of in
	// Header (a session cookie); Header and Scheme are then unused.
	Cookie string `yaml:"cookie" json:"cookie,omitempty"`
}

// Requests are the calls a client makes on its own behalf.
type Requests struct {
	Login   Request `json:"login"`   // carries the wx.login code
	Refresh Request `json:"refresh"` // carries the refresh token; Path "" = none
	Verify  Request `json:"verify"`  // carries the access token; Path "" = none
}

// Request is a route template: the method and path, where the one value of
// the call goes, and fixed extra members sent with it (grant_type=…).
type Request struct {
	Method string  `json:"method,omitempty"`
	Path   string  `json:"path"`
	Value  Place   `json:"value"`
	Extra  []Extra `json:"extra,omitempty"`

	methods []string // Method, and HEAD with GET: what a server accepts
}

// Methods are the methods a server accepts on the route (HEAD with GET).
func (r *Request) Methods() []string { return r.methods }

// Extra is a fixed member of a request: {"in":"form","name":"grant_type","value":"refresh_token"}.
type Extra struct {
	Place
	Value any `json:"value"`

	text string // Value as sent in a form, query, header or cookie
	raw  []byte // Value as JSON
}

// Answers say where login, refresh and verify answers carry each member.
// A zero Place is a member the style does not have.
type Answers struct {
	AccessToken      Place `json:"access_token"`
	RefreshToken     Place `json:"refresh_token"`
	TokenType        Place `json:"token_type"`
	ExpiresIn        Place `json:"expires_in"`
	RefreshExpiresIn Place `json:"refresh_expires_in"`
	Valid            Place `json:"valid"`
}

// Signal is how an answer of one kind looks on the wire: an HTTP status, and
// optionally a JSON body member Field (a dotted path) whose value is Value
// (for example {status: 200, field: code, value: 10006}), and optionally a
// WWW-Authenticate challenge. Style format v2 adds: Value as a list (any of
// these values), Members (several members, all of which must match), AnyOf
// (alternative shapes, any of which is the signal) and SameAs (this signal
// is written exactly like another one: a dialect with one "bad session"
// answer for both expired and invalid).
type Signal struct {
	Status    int            `yaml:"status" json:"status"`
	Field     string         `yaml:"field" json:"field,omitempty"`
	Value     any            `yaml:"value" json:"value,omitempty"` // string, number or bool; or a list of them
	Members   map[string]any `yaml:"members" json:"members,omitempty"`
	Challenge string         `yaml:"www_authenticate" json:"www_authenticate,omitempty"`
	AnyOf     []Signal       `yaml:"any_of" json:"any_of,omitempty"`
	SameAs    string         `yaml:"same_as" json:"same_as,omitempty"`

	valueJSON []byte        // the first value of Field, encoded once at load time
	alts      []shape       // compiled: one per alternative
	written   []MemberValue // what a backend writes: the first shape's members
	statuses  []int         // of the shapes
}

// shape is one compiled alternative of a signal: a status and the members
// that must hold one of their values.
type shape struct {
	status    int
	conds     []cond
	challenge string
}

type cond struct {
	name   string
	path   []string
	values [][]byte // JSON encodings; the first is the one a backend writes
}

// ValueJSON is the value of Field encoded as JSON (the first one when Value
// is a list; nil when the signal has no Field).
func (sig Signal) ValueJSON() []byte { return sig.valueJSON }

// Statuses are the HTTP statuses the signal may carry.
func (sig *Signal) Statuses() []int {
	if sig.statuses == nil { // a Signal built in Go without Parse
		return []int{sig.Status}
	}
	return sig.statuses
}

// MemberValue is a body member a backend writes to send a signal.
type MemberValue struct {
	Path string // dotted
	JSON []byte
}

// Written is what a backend writes to send this signal: the status, the
// members (each with its first value) and the challenge of its first shape.
func (sig *Signal) Written() (status int, members []MemberValue, challenge string) {
	if len(sig.alts) == 0 { // a Signal built in Go without Parse
		if sig.Field != "" {
			b, _ := json.Marshal(sig.Value)
			members = []MemberValue{{sig.Field, b}}
		}
		return sig.Status, members, sig.Challenge
	}
	return sig.alts[0].status, sig.written, sig.alts[0].challenge
}

// Signals are the answer kinds a client must tell apart. All are required.
type Signals struct {
	Success       Signal `yaml:"success" json:"success"`                               // every successful answer
	Expired       Signal `yaml:"expired" json:"expired"`                               // access token expired: refresh and replay
	Invalid       Signal `yaml:"invalid" json:"invalid"`                               // access token missing, bad, unknown or revoked
	NotToken      Signal `yaml:"not_token" json:"not_token"`                           // a refusal that is NOT about the token (/api/reauth)
	InvalidGrant  Signal `yaml:"invalid_grant" json:"invalid_grant"`                   // refresh token rejected (expired, reused, revoked, unknown)
	InvalidCode   Signal `yaml:"invalid_code" json:"invalid_code"`                     // WeChat rejected the login code
	Unavailable   Signal `yaml:"upstream_unavailable" json:"upstream_unavailable"`     // WeChat busy, rate limited or unreachable
	Misconfigured Signal `yaml:"upstream_misconfigured" json:"upstream_misconfigured"` // WeChat rejected the backend's own appid/secret
}

// Signal names, as used in YAML and returned by Classify.
const (
	SignalSuccess       = "success"
	SignalExpired       = "expired"
	SignalInvalid       = "invalid"
	SignalNotToken      = "not_token"
	SignalInvalidGrant  = "invalid_grant"
	SignalInvalidCode   = "invalid_code"
	SignalUnavailable   = "upstream_unavailable"
	SignalMisconfigured = "upstream_misconfigured"
)

// Named returns the signals with their YAML names, in a fixed order.
func (s *Signals) Named() []NamedSignal {
	return []NamedSignal{
		{SignalSuccess, &s.Success},
		{SignalExpired, &s.Expired},
		{SignalInvalid, &s.Invalid},
		{SignalNotToken, &s.NotToken},
		{SignalInvalidGrant, &s.InvalidGrant},
		{SignalInvalidCode, &s.InvalidCode},
		{SignalUnavailable, &s.Unavailable},
		{SignalMisconfigured, &s.Misconfigured},
	}
}

// NamedSignal pairs a signal with its YAML name.
type NamedSignal struct {
	Name   string
	Signal *Signal
}

// String renders the signal for messages: HTTP 403 {"error":"forbidden"};
// alternatives are joined with "or".
func (sig *Signal) String() string {
	if len(sig.alts) == 0 {
		_, members, _ := sig.Written()
		return shapeString(sig.Status, members)
	}
	parts := make([]string, len(sig.alts))
	for i, a := range sig.alts {
		var members []MemberValue
		for _, c := range a.conds {
			members = append(members, MemberValue{c.name, bytes.Join(c.values, []byte("|"))})
		}
		parts[i] = shapeString(a.status, members)
	}
	return strings.Join(parts, " or ")
}

func shapeString(status int, members []MemberValue) string {
	s := "HTTP " + strconv.Itoa(status)
	if len(members) == 0 {
		return s
	}
	b := []byte(" {")
	for i, m := range members {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, m.Path)
		b = append(b, ':')
		b = append(b, m.JSON...)
	}
	return s + string(append(b, '}'))
}

// NeedsV2 names what a style uses that the v1 view of its JSON (routes as
// paths, fields as top-level member names, one header for the token,
// status/field/value signals) cannot say, or "" when a v1 reader can speak
// it. An exec client of protocol 1 reads only that view.
func (s *Style) NeedsV2() string {
	rq := &s.Requests
	switch {
	case rq.Login.Method != "POST" || rq.Login.Value != (Place{In: InJSON, Name: s.Fields.Code}) || len(rq.Login.Extra) > 0 || strings.Contains(s.Fields.Code, "."):
		return "a login request template"
	case rq.Refresh.Path != "" && (rq.Refresh.Method != "POST" || rq.Refresh.Value != (Place{In: InJSON, Name: s.Fields.RefreshToken}) || len(rq.Refresh.Extra) > 0):
		return "a refresh request template"
	case rq.Verify.Path != "" && (rq.Verify.Method != "GET" || rq.Verify.Value.In != InToken || len(rq.Verify.Extra) > 0):
		return "a verify request template"
	case s.Token.Cookie != "":
		return "a cookie token"
	}
	a := s.Answers
	for _, p := range []Place{a.AccessToken, a.RefreshToken, a.TokenType, a.ExpiresIn, a.RefreshExpiresIn, a.Valid} {
		if p.In != "" && (p.In != InJSON || strings.Contains(p.Name, ".")) {
			return "answer member " + p.String()
		}
	}
	for _, ns := range s.Signals.Named() {
		sig := ns.Signal
		_, isList := sig.Value.([]any)
		if len(sig.AnyOf) > 0 || len(sig.Members) > 0 || sig.SameAs != "" || isList || strings.Contains(sig.Field, ".") {
			return "signal " + ns.Name
		}
	}
	return ""
}
