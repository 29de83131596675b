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

import "encoding/json"

// Style is one backend dialect.
type Style struct {
	Name        string  `yaml:"name" json:"name"`
	Description string  `yaml:"description" json:"description,omitempty"`
	Routes      Routes  `yaml:"routes" json:"routes"`
	Fields      Fields  `yaml:"fields" json:"fields"`
	Token       Token   `yaml:"token" json:"token"`
	Signals     Signals `yaml:"signals" json:"signals"`

	// Source is where the style came from ("builtin/bearer.yaml" or a file
	// path); it is not part of the YAML.
	Source string `yaml:"-" json:"source,omitempty"`
}

// Routes are the paths of the dialect. Methods are fixed: login and refresh are
// POST with a JSON body, verify is GET, resources take any method.
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
}

// Signal is how an answer of one kind looks on the wire: an HTTP status, and
// optionally a JSON body member Field whose value is Value (for example
// {status: 200, field: code, value: 10006}), and optionally a WWW-Authenticate
// challenge.
type Signal struct {
	Status    int    `yaml:"status" json:"status"`
	Field     string `yaml:"field" json:"field,omitempty"`
	Value     any    `yaml:"value" json:"value,omitempty"` // string, integer or bool
	Challenge string `yaml:"www_authenticate" json:"www_authenticate,omitempty"`

	valueJSON []byte // Value encoded once at load time
}

// ValueJSON is Value encoded as JSON ("" when the signal has no Field).
func (sig Signal) ValueJSON() []byte { return sig.valueJSON }

func (sig *Signal) encode() error {
	if sig.Field == "" {
		sig.valueJSON = nil
		return nil
	}
	b, err := json.Marshal(sig.Value)
	if err != nil {
		return err
	}
	sig.valueJSON = b
	return nil
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
