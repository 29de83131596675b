package style

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Where a value travels in a request or an answer (style format v2).
const (
	InJSON   = "json"   // a member of the JSON body, by dotted path: data.token
	InForm   = "form"   // a field of an application/x-www-form-urlencoded body
	InQuery  = "query"  // a query parameter
	InHeader = "header" // a header (request or answer)
	InCookie = "cookie" // a Cookie (request) or Set-Cookie (answer)
	// InToken is where the style puts access tokens on protected requests
	// (token.header with token.scheme, or token.cookie): the default of the
	// verify route.
	InToken = "token"
)

// Place is where one value goes: In (InJSON, InForm, …) and Name (a dotted
// member path for InJSON, else the parameter, header or cookie name). In a
// style file it is written "in:name" ("query:code", "header:B-T",
// "cookie:sid"); a bare "data.token" is a JSON member path.
type Place struct {
	In   string `json:"in,omitempty"`
	Name string `json:"name,omitempty"`
}

// IsZero reports whether p names nothing (an optional member left out).
func (p Place) IsZero() bool { return p.In == "" }

// String is the place as a style file writes it.
func (p Place) String() string {
	switch p.In {
	case "":
		return ""
	case InJSON:
		return p.Name
	case InToken:
		return InToken
	}
	return p.In + ":" + p.Name
}

// ParsePlace reads "in:name" or a bare JSON member path. "" is the zero
// Place. allowed lists the kinds this place may be.
func ParsePlace(s string, allowed ...string) (Place, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Place{}, nil
	}
	p := Place{In: InJSON, Name: s}
	if s == InToken && slices.Contains(allowed, InToken) {
		return Place{In: InToken}, nil
	}
	if in, name, ok := strings.Cut(s, ":"); ok {
		p = Place{In: strings.ToLower(strings.TrimSpace(in)), Name: strings.TrimSpace(name)}
	}
	if !slices.Contains(allowed, p.In) {
		return Place{}, fmt.Errorf("%q: want %s", s, placeSyntax(allowed))
	}
	if p.In == InToken {
		return Place{}, fmt.Errorf("%q: %q takes no name", s, InToken)
	}
	if p.Name == "" {
		return Place{}, fmt.Errorf("%q: a name is missing after %q", s, p.In+":")
	}
	switch p.In {
	case InJSON:
		for _, seg := range strings.Split(p.Name, ".") {
			if seg == "" {
				return Place{}, fmt.Errorf("%q: empty segment in the member path", s)
			}
		}
	case InHeader:
		if !validHeaderName(p.Name) {
			return Place{}, fmt.Errorf("%q: %q is not a valid HTTP header name", s, p.Name)
		}
	case InCookie:
		if !validHeaderName(p.Name) || strings.ContainsAny(p.Name, "=") {
			return Place{}, fmt.Errorf("%q: %q is not a valid cookie name", s, p.Name)
		}
	default: // form, query
		if strings.ContainsAny(p.Name, "&=#? \t\r\n") {
			return Place{}, fmt.Errorf("%q: %q is not a valid parameter name", s, p.Name)
		}
	}
	return p, nil
}

func placeSyntax(allowed []string) string {
	var forms []string
	for _, a := range allowed {
		switch a {
		case InJSON:
			forms = append(forms, "a JSON member path (data.token)")
		case InToken:
			forms = append(forms, "token")
		default:
			forms = append(forms, a+":NAME")
		}
	}
	return strings.Join(forms, ", ")
}

// path is a JSON member path split into its segments.
func (p Place) path() []string { return strings.Split(p.Name, ".") }

// lookup returns the raw JSON value at a dotted path in a JSON object body,
// and false when a segment is missing or an intermediate value is not an
// object.
func lookup(body []byte, path []string) (json.RawMessage, bool) {
	cur := json.RawMessage(body)
	for _, seg := range path {
		cur = bytes.TrimSpace(cur)
		if len(cur) == 0 || cur[0] != '{' {
			return nil, false
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(cur, &m) != nil {
			return nil, false
		}
		v, ok := m[seg]
		if !ok {
			return nil, false
		}
		cur = v
	}
	return bytes.TrimSpace(cur), true
}

// Member reads the JSON value at a dotted member path ("data.token") of an
// answer body; false when it is absent.
func Member(body []byte, path string) (json.RawMessage, bool) {
	return lookup(body, strings.Split(path, "."))
}
