package refclient

import (
	"net/http"
	"strings"

	"github.com/tokenstorm/tokenstorm/harness/style"
)

// Dialect is the Style of a backend described as data (harness/style): the
// built-in bearer, body-code, rotating and status-403 dialects, or a user's
// --style FILE. Besides placing the token and classifying answers it gives
// the client the routes and member names of login and refresh, and where a
// rotated access token comes back.
//
// The client uses a Dialect for env.Style when Options.Style is nil.
type Dialect struct {
	s *style.Style
}

var _ Style = (*Dialect)(nil)

// NewDialect returns the Style of s. s must be valid (style.Load and
// style.Parse validate) and is not modified.
func NewDialect(s *style.Style) *Dialect { return &Dialect{s: s} }

// LoadDialect is NewDialect(style.Load(nameOrPath)).
func LoadDialect(nameOrPath string) (*Dialect, error) {
	s, err := style.Load(nameOrPath)
	if err != nil {
		return nil, err
	}
	return NewDialect(s), nil
}

// Spec is the style data.
func (d *Dialect) Spec() *style.Style { return d.s }

// Credential implements Style: the style's header and scheme (Bearer, raw,
// or Basic base64(token + ":")).
func (d *Dialect) Credential(access string) (string, string) {
	h := make(http.Header, 1)
	d.s.SetToken(h, access)
	if d.s.Token.Cookie != "" {
		return "Cookie", h.Get("Cookie") // the transport keeps the caller's other cookies
	}
	return d.s.Token.Header, h.Get(d.s.Token.Header)
}

// Peek implements Style: only answers with the status of the expired or the
// invalid signal can be about the token. In a body-code dialect that is
// HTTP 200, so every answer's body is looked at.
func (d *Dialect) Peek(status int, _ http.Header) bool {
	return hasStatus(&d.s.Signals.Expired, status) || hasStatus(&d.s.Signals.Invalid, status)
}

// Classify implements Style with the style's signals: a body member such as
// {"code":10006} or {"error":"token_expired"} when the signal names one, the
// status otherwise. When the body matches no signal, a WWW-Authenticate
// challenge decides: the style's own challenge text, or RFC 6750's
// error="invalid_token" (with "expired" in it for expiry).
func (d *Dialect) Classify(status int, h http.Header, body []byte) Signal {
	switch d.s.Classify(status, body) {
	case style.SignalExpired:
		return SignalExpired
	case style.SignalInvalid:
		return SignalInvalid
	case "":
	default:
		return SignalNone // success, not_token, …: not about this token
	}
	exp, inv := &d.s.Signals.Expired, &d.s.Signals.Invalid
	for _, v := range h.Values("WWW-Authenticate") {
		switch {
		case exp.Challenge != "" && hasStatus(exp, status) && strings.EqualFold(v, exp.Challenge):
			return SignalExpired
		case inv.Challenge != "" && hasStatus(inv, status) && strings.EqualFold(v, inv.Challenge):
			return SignalInvalid
		}
	}
	for _, v := range h.Values("WWW-Authenticate") {
		if !strings.Contains(v, "invalid_token") {
			continue
		}
		switch {
		case hasStatus(exp, status) && strings.Contains(strings.ToLower(v), "expired"):
			return SignalExpired
		case hasStatus(inv, status):
			return SignalInvalid
		}
	}
	return SignalNone
}

func hasStatus(sig *style.Signal, status int) bool {
	for _, s := range sig.Statuses() {
		if s == status {
			return true
		}
	}
	return false
}
