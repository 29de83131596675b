package style

import (
	"fmt"
	"strings"
)

// Outline renders the resolved style for a reader (tokenstorm style check):
// how each call is made, where each answer member is, where the access
// token travels and what each signal looks like. v1 and v2 files print the
// same way, so a reader sees what the file means, not how it was written.
func (s *Style) Outline() string {
	var b strings.Builder
	fmt.Fprintf(&b, "style %s (%s)\n", s.Name, s.Source)
	if s.Description != "" {
		fmt.Fprintf(&b, "  %s\n", s.Description)
	}
	b.WriteString("calls:\n")
	for _, c := range []struct {
		name, what string
		rq         *Request
	}{
		{"login", "the wx.login code", &s.Requests.Login},
		{"refresh", "the refresh token", &s.Requests.Refresh},
		{"verify", "the access token", &s.Requests.Verify},
	} {
		if c.rq.Path == "" {
			fmt.Fprintf(&b, "  %-8s none\n", c.name)
			continue
		}
		fmt.Fprintf(&b, "  %-8s %s %s, %s in %s", c.name, c.rq.Method, c.rq.Path, c.what, placeText(c.rq.Value, s))
		for _, e := range c.rq.Extra {
			fmt.Fprintf(&b, ", %s=%s in %s", e.Name, e.raw, e.In)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "  %-8s any method under %s (explicit routes win)\n", "resource", s.Routes.Resource)
	b.WriteString("answers (login, refresh, verify):\n")
	a := s.Answers
	for _, m := range []struct {
		name string
		p    Place
	}{
		{"access token", a.AccessToken}, {"refresh token", a.RefreshToken}, {"token type", a.TokenType},
		{"expires in", a.ExpiresIn}, {"refresh expires in", a.RefreshExpiresIn}, {"valid", a.Valid},
	} {
		switch m.p.In {
		case "":
		case InHeader:
			fmt.Fprintf(&b, "  %-18s response header %s\n", m.name, m.p.Name)
		case InCookie:
			fmt.Fprintf(&b, "  %-18s Set-Cookie %s\n", m.name, m.p.Name)
		default:
			fmt.Fprintf(&b, "  %-18s %s\n", m.name, placeText(m.p, s))
		}
	}
	b.WriteString("access token on protected requests: ")
	b.WriteString(placeText(Place{In: InToken}, s))
	if s.Token.NextHeader != "" {
		fmt.Fprintf(&b, "; the next token comes back in response header %s", s.Token.NextHeader)
	}
	if s.Token.SingleUse {
		b.WriteString("; each token works once")
	}
	b.WriteString("\nsignals:\n")
	for _, ns := range s.Signals.Named() {
		line := ns.Signal.String()
		if ns.Signal.SameAs != "" {
			line = "same as " + ns.Signal.SameAs + ": " + line
		}
		if ns.Signal.Challenge != "" {
			line += " + WWW-Authenticate: " + ns.Signal.Challenge
		}
		fmt.Fprintf(&b, "  %-22s %s\n", ns.Name, line)
	}
	return b.String()
}

func placeText(p Place, s *Style) string {
	switch p.In {
	case InJSON:
		return "JSON member " + p.Name
	case InForm:
		return "form field " + p.Name
	case InQuery:
		return "query parameter " + p.Name
	case InHeader:
		return "header " + p.Name
	case InCookie:
		return "cookie " + p.Name
	case InToken:
		if s.Token.Cookie != "" {
			return "cookie " + s.Token.Cookie
		}
		switch s.Token.Scheme {
		case SchemeRaw:
			return "header " + s.Token.Header + ": <token>"
		case SchemeBasic:
			return "header " + s.Token.Header + ": Basic base64(<token>:)"
		}
		return "header " + s.Token.Header + ": Bearer <token>"
	}
	return "nowhere"
}
