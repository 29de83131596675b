package refclient

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Signal is what a backend answer says about the token the request carried.
type Signal int

const (
	// SignalNone: the answer is not about the token; deliver it as is. This
	// includes a 401 for another reason (e.g. {"error":"password_required"}).
	SignalNone Signal = iota
	// SignalExpired: the token expired; refresh and replay.
	SignalExpired
	// SignalInvalid: the token is unknown, badly signed or revoked; refresh
	// (or log in again) and replay.
	SignalInvalid
)

func (s Signal) String() string {
	switch s {
	case SignalExpired:
		return "expired"
	case SignalInvalid:
		return "invalid"
	default:
		return "none"
	}
}

// Style is everything the client knows about the backend's dialect: how the
// token travels and how rejection is signalled. It is the one place to change
// to teach the client another style.
type Style interface {
	// Credential returns the header that carries an access token.
	Credential(access string) (header, value string)
	// Peek reports whether Classify needs the body of an answer with this
	// status and header; only those bodies are buffered.
	Peek(status int, h http.Header) bool
	// Classify names the signal an answer carries. body is nil unless Peek
	// asked for it.
	Classify(status int, h http.Header, body []byte) Signal
}

// Bearer is SPEC §4's default style: "Authorization: Bearer <token>"; an
// expired token gets 401 with WWW-Authenticate: Bearer error="invalid_token"
// and {"error":"token_expired"}; an unknown or revoked one 401
// {"error":"invalid_token"}.
type Bearer struct{}

// Credential implements Style.
func (Bearer) Credential(access string) (string, string) {
	return "Authorization", "Bearer " + access
}

// Peek implements Style: only a 401 can be about the token.
func (Bearer) Peek(status int, _ http.Header) bool { return status == http.StatusUnauthorized }

// Classify implements Style. The body's error key wins over the header, so a
// 401 whose body names another reason is not mistaken for expiry.
func (Bearer) Classify(status int, h http.Header, body []byte) Signal {
	if status != http.StatusUnauthorized {
		return SignalNone
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil {
		switch e.Error {
		case "token_expired":
			return SignalExpired
		case "invalid_token":
			return SignalInvalid
		case "":
		default:
			return SignalNone
		}
	}
	for _, v := range h.Values("WWW-Authenticate") {
		if strings.Contains(v, "invalid_token") {
			if strings.Contains(strings.ToLower(v), "expired") {
				return SignalExpired
			}
			return SignalInvalid
		}
	}
	return SignalNone
}
