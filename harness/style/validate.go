package style

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"unicode"
)

// fieldError is a validation problem of one field; Parse adds its position.
type fieldError struct {
	field, msg string
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func bad(field, format string, args ...any) error {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// Reserved paths the backend serves in every style.
const (
	AdminPrefix = "/__admin/"
	MetricsPath = "/metrics"
)

// Validate checks a Style built in Go (Parse already validates YAML) and
// resolves its Requests and Answers from Routes and Fields as a v1 file
// would.
func (s *Style) Validate() error { return s.resolve(nil) }

// resolve validates s and fills Requests, Answers and the compiled signals.
// t holds the v2 route templates of a file (nil: v1 routes only).
func (s *Style) resolve(t *fileRoutes) error {
	if strings.TrimSpace(s.Name) == "" {
		return bad("name", "required")
	}
	if t == nil {
		t = &fileRoutes{Login: fileRoute{Path: s.Routes.Login}, Refresh: fileRoute{Path: s.Routes.Refresh},
			Verify: fileRoute{Path: s.Routes.Verify}, Resource: s.Routes.Resource}
	}
	s.Routes = Routes{Login: t.Login.Path, Refresh: t.Refresh.Path, Verify: t.Verify.Path, Resource: t.Resource}
	if err := s.validateRoutes(); err != nil {
		return err
	}
	if err := s.resolveAnswers(); err != nil {
		return err
	}
	if err := s.validateToken(); err != nil {
		return err
	}
	if err := s.resolveRequests(t); err != nil {
		return err
	}
	return s.validateSignals()
}

func (s *Style) validateRoutes() error {
	r := s.Routes
	check := func(field, p string, required bool) error {
		if p == "" {
			if required {
				return bad(field, "required")
			}
			return nil
		}
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?# ") || strings.ContainsFunc(p, unicode.IsControl) {
			return bad(field, "%q must be a path starting with / (no query, fragment, spaces or control characters)", p)
		}
		if strings.HasPrefix(p, AdminPrefix) || p == MetricsPath {
			return bad(field, "%q is reserved for the backend's admin and metrics routes", p)
		}
		return nil
	}
	if err := check("routes.login", r.Login, true); err != nil {
		return err
	}
	if err := check("routes.refresh", r.Refresh, false); err != nil {
		return err
	}
	if err := check("routes.verify", r.Verify, false); err != nil {
		return err
	}
	if err := check("routes.resource", r.Resource, true); err != nil {
		return err
	}
	if !strings.HasSuffix(r.Resource, "/") || r.Resource == "/" {
		return bad("routes.resource", "%q must be a prefix ending with / and not the root", r.Resource)
	}
	// Routes may lie under the resource prefix (/api/v1/member/login next
	// to /api/v1/member/index): explicit routes win over the prefix.
	seen := map[string]string{}
	for _, rt := range []struct{ field, p string }{
		{"routes.login", r.Login}, {"routes.refresh", r.Refresh}, {"routes.verify", r.Verify},
	} {
		if rt.p == "" {
			continue
		}
		if other, dup := seen[rt.p]; dup {
			return bad(rt.field, "%q is also %s", rt.p, other)
		}
		seen[rt.p] = rt.field
	}
	return nil
}

// resolveAnswers reads Fields as places: members of the answers by path,
// or headers and cookies of the answer.
func (s *Style) resolveAnswers() error {
	f := s.Fields
	if f.AccessToken == "" {
		return bad("fields.access_token", "required")
	}
	if s.Routes.Refresh != "" && f.RefreshToken == "" {
		return bad("fields.refresh_token", "required when routes.refresh is set")
	}
	tokenPlaces := []string{InJSON, InHeader, InCookie}
	var a Answers
	for _, m := range []struct {
		field, v string
		dst      *Place
		allowed  []string
	}{
		{"fields.access_token", f.AccessToken, &a.AccessToken, tokenPlaces},
		{"fields.refresh_token", f.RefreshToken, &a.RefreshToken, tokenPlaces},
		{"fields.token_type", f.TokenType, &a.TokenType, []string{InJSON}},
		{"fields.expires_in", f.ExpiresIn, &a.ExpiresIn, []string{InJSON}},
		{"fields.refresh_expires_in", f.RefreshExpiresIn, &a.RefreshExpiresIn, []string{InJSON}},
		{"fields.valid", f.Valid, &a.Valid, []string{InJSON}},
	} {
		p, err := ParsePlace(m.v, m.allowed...)
		if err != nil {
			return bad(m.field, "%v", err)
		}
		*m.dst = p
	}
	s.Answers = a
	// Members of one answer must not collide, or one would overwrite another.
	sf := Place{}
	if s.Signals.Success.Field != "" {
		sf = Place{In: InJSON, Name: s.Signals.Success.Field}
	}
	answers := [][]struct {
		field string
		p     Place
	}{
		{ // login and refresh answers
			{"signals.success.field", sf}, {"fields.access_token", a.AccessToken},
			{"fields.refresh_token", a.RefreshToken}, {"fields.token_type", a.TokenType},
			{"fields.expires_in", a.ExpiresIn}, {"fields.refresh_expires_in", a.RefreshExpiresIn},
		},
		{ // verify answer
			{"signals.success.field", sf}, {"fields.valid", a.Valid}, {"fields.expires_in", a.ExpiresIn},
		},
	}
	for _, members := range answers {
		var seen []struct {
			field string
			p     Place
		}
		for _, m := range members {
			if m.p.IsZero() {
				continue
			}
			for _, o := range seen {
				if collide(m.p, o.p) {
					return bad(m.field, "%q is also %s", m.p.String(), o.field)
				}
			}
			seen = append(seen, m)
		}
	}
	return nil
}

// collide: two places would overwrite each other (the same header, or JSON
// paths one of which contains the other).
func collide(a, b Place) bool {
	if a.In != b.In {
		return false
	}
	switch a.In {
	case InHeader:
		return strings.EqualFold(a.Name, b.Name)
	case InJSON:
		return a.Name == b.Name || strings.HasPrefix(a.Name, b.Name+".") || strings.HasPrefix(b.Name, a.Name+".")
	}
	return a.Name == b.Name
}

var requestPlaces = []string{InJSON, InForm, InQuery, InHeader, InCookie}

// resolveRequests builds the route templates: v1 defaults (POST with a
// JSON member, verify GET with the token) overridden by a v2 template.
func (s *Style) resolveRequests(t *fileRoutes) error {
	var rs Requests
	code := t.Login.Code
	if code == "" {
		if s.Fields.Code == "" {
			return bad("fields.code", "required (or routes.login.code)")
		}
		code = InJSON + ":" + s.Fields.Code
	}
	var err error
	if rs.Login, err = buildRequest("routes.login", t.Login, http.MethodPost, "code", code, requestPlaces); err != nil {
		return err
	}
	if t.Refresh.Path != "" {
		v := t.Refresh.RefreshToken
		if v == "" {
			v = s.Answers.RefreshToken.String() // sent back where it came from
			if s.Answers.RefreshToken.In == InJSON {
				v = InJSON + ":" + v
			}
		}
		if rs.Refresh, err = buildRequest("routes.refresh", t.Refresh, http.MethodPost, "refresh_token", v, requestPlaces); err != nil {
			return err
		}
	} else if err := noTemplate("routes.refresh", t.Refresh); err != nil {
		return err
	}
	if t.Verify.Path != "" {
		v := t.Verify.AccessToken
		if v == "" {
			v = InToken
		}
		if rs.Verify, err = buildRequest("routes.verify", t.Verify, http.MethodGet, "access_token", v, append([]string{InToken}, requestPlaces...)); err != nil {
			return err
		}
	} else if err := noTemplate("routes.verify", t.Verify); err != nil {
		return err
	}
	s.Requests = rs
	return nil
}

// noTemplate refuses a template without a path (the route is absent).
func noTemplate(field string, r fileRoute) error {
	if r.Method != "" || r.Code != "" || r.RefreshToken != "" || r.AccessToken != "" || len(r.Extra) > 0 {
		return bad(field+".path", "required when the route has a template")
	}
	return nil
}

// buildRequest resolves one template. valueKey is the template key naming
// where the call's value goes; the other value keys are refused.
func buildRequest(field string, r fileRoute, method, valueKey, value string, allowed []string) (Request, error) {
	others := map[string]string{"code": r.Code, "refresh_token": r.RefreshToken, "access_token": r.AccessToken}
	for k, v := range others {
		if k != valueKey && v != "" {
			return Request{}, bad(field+"."+k, "this route carries the %s, not the %s", strings.ReplaceAll(valueKey, "_", " "), strings.ReplaceAll(k, "_", " "))
		}
	}
	if r.Method != "" {
		method = strings.ToUpper(r.Method)
	}
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return Request{}, bad(field+".method", "%q: want GET, POST, PUT, PATCH or DELETE", r.Method)
	}
	rq := Request{Method: method, Path: r.Path, methods: []string{method}}
	if method == http.MethodGet {
		rq.methods = append(rq.methods, http.MethodHead)
	}
	p, err := ParsePlace(value, allowed...)
	if err != nil {
		return Request{}, bad(field+"."+valueKey, "%v", err)
	}
	rq.Value = p
	body := ""
	noteBody := func(f string, in string) error {
		if in != InJSON && in != InForm {
			return nil
		}
		if method == http.MethodGet {
			return bad(f, "a GET request has no body: put it in the query, a header or a cookie")
		}
		if body != "" && body != in {
			return bad(f, "one request cannot have both a JSON and a form body")
		}
		body = in
		return nil
	}
	if err := noteBody(field+"."+valueKey, p.In); err != nil {
		return Request{}, err
	}
	// Extra members go where the value goes unless they name their place.
	def := p.In
	if def != InJSON && def != InForm && def != InQuery {
		def = InJSON
		if method == http.MethodGet {
			def = InQuery
		}
	}
	keys := make([]string, 0, len(r.Extra))
	for k := range r.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := field + ".extra." + k
		name := k
		if !strings.Contains(k, ":") {
			name = def + ":" + k
		}
		ep, err := ParsePlace(name, requestPlaces...)
		if err != nil {
			return Request{}, bad(f, "%v", err)
		}
		if collide(ep, p) {
			return Request{}, bad(f, "%q is where the %s goes", k, strings.ReplaceAll(valueKey, "_", " "))
		}
		if err := noteBody(f, ep.In); err != nil {
			return Request{}, err
		}
		v := r.Extra[k]
		switch v.(type) {
		case string, bool, int, int64, uint64, float64:
		default:
			return Request{}, bad(f, "must be a string, number or bool, not %T", v)
		}
		raw, _ := json.Marshal(v)
		rq.Extra = append(rq.Extra, Extra{Place: ep, Value: v, text: fmt.Sprint(v), raw: raw})
	}
	return rq, nil
}

func (s *Style) validateToken() error {
	t := &s.Token
	if t.Cookie != "" {
		if _, err := ParsePlace(InCookie+":"+t.Cookie, InCookie); err != nil {
			return bad("token.cookie", "%v", err)
		}
		if t.Header != "" || (t.Scheme != "" && t.Scheme != SchemeRaw) {
			return bad("token.cookie", "the access token goes in a cookie or in token.header, not both")
		}
		t.Scheme = SchemeRaw
	} else {
		if !validHeaderName(t.Header) {
			return bad("token.header", "%q is not a valid HTTP header name", t.Header)
		}
		switch t.Scheme {
		case SchemeBearer, SchemeRaw, SchemeBasic:
		default:
			return bad("token.scheme", "%q: want %s, %s or %s", t.Scheme, SchemeBearer, SchemeRaw, SchemeBasic)
		}
	}
	if t.Type == "" {
		t.Type = "Bearer"
	}
	if t.NextHeader != "" && !validHeaderName(t.NextHeader) {
		return bad("token.next_header", "%q is not a valid HTTP header name", t.NextHeader)
	}
	if t.SingleUse && t.NextHeader == "" {
		return bad("token.single_use", "single-use tokens need token.next_header to hand out the next token")
	}
	return nil
}

func (s *Style) validateSignals() error {
	named := s.Signals.Named()
	byName := map[string]*Signal{}
	for _, ns := range named {
		byName[ns.Name] = ns.Signal
	}
	// Signals written like another one are copies of it (resolved after
	// the others, so the copy is compiled).
	for pass := 0; pass < 2; pass++ {
		for _, ns := range named {
			sig, field := ns.Signal, "signals."+ns.Name
			if (sig.SameAs != "") != (pass == 1) {
				continue
			}
			if pass == 1 {
				if err := sameAs(sig, field, ns.Name, byName); err != nil {
					return err
				}
				continue
			}
			if err := compileSignal(sig, field); err != nil {
				return err
			}
		}
	}
	// The answers a client must react to differently have to look different.
	critical := named[:4] // success, expired, invalid, not_token
	for i := range critical {
		for j := i + 1; j < len(critical); j++ {
			a, b := critical[i], critical[j]
			if b.Signal.SameAs == a.Name || a.Signal.SameAs == b.Name {
				continue // a declared merge (expired and invalid)
			}
			if overlap(a.Signal, b.Signal) {
				return bad("signals."+b.Name, "looks the same as signals.%s: a client could not tell them apart", a.Name)
			}
		}
	}
	return nil
}

// sameAs makes sig a copy of the signal it names. Only expired and invalid
// may be merged: the client's reaction to both is the same (renew and
// replay), so one "bad session" answer loses nothing.
func sameAs(sig *Signal, field, name string, byName map[string]*Signal) error {
	target := sig.SameAs
	src, ok := byName[target]
	pair := (name == SignalInvalid && target == SignalExpired) || (name == SignalExpired && target == SignalInvalid)
	if !ok || !pair {
		return bad(field+".same_as", "%q: only signals.invalid may be the same as expired (or expired as invalid)", target)
	}
	if src.SameAs != "" {
		return bad(field+".same_as", "signals.%s is itself the same as another signal", target)
	}
	if sig.Status != 0 || sig.Field != "" || sig.Value != nil || len(sig.Members) > 0 || len(sig.AnyOf) > 0 || sig.Challenge != "" {
		return bad(field+".same_as", "a signal that is the same as another has no other keys")
	}
	*sig = *src
	sig.SameAs = target
	return nil
}

// compileSignal validates one signal and compiles its shapes.
func compileSignal(sig *Signal, field string) error {
	if len(sig.AnyOf) > 0 {
		if sig.Status != 0 || sig.Field != "" || sig.Value != nil || len(sig.Members) > 0 || sig.Challenge != "" {
			return bad(field+".any_of", "a signal with any_of has no other keys: put each shape in the list")
		}
		sig.alts, sig.statuses = nil, nil
		for i := range sig.AnyOf {
			alt := &sig.AnyOf[i]
			f := fmt.Sprintf("%s.any_of[%d]", field, i)
			if len(alt.AnyOf) > 0 || alt.SameAs != "" {
				return bad(f, "an alternative is a status and members, not another any_of or same_as")
			}
			if err := compileSignal(alt, f); err != nil {
				return err
			}
			sig.alts = append(sig.alts, alt.alts...)
			if !slices.Contains(sig.statuses, alt.Status) {
				sig.statuses = append(sig.statuses, alt.Status)
			}
		}
		// Writers and v1 readers see the first shape.
		first := sig.AnyOf[0]
		sig.Status, sig.Field, sig.Value, sig.valueJSON, sig.written = first.Status, first.Field, first.Value, first.valueJSON, first.written
		return nil
	}
	if sig.Status == 0 {
		return bad(field+".status", "required")
	}
	if sig.Status < 100 || sig.Status > 599 {
		return bad(field+".status", "%d is not an HTTP status", sig.Status)
	}
	if sig.Field == "" && sig.Value != nil {
		return bad(field+".value", "a value needs a field to carry it")
	}
	if strings.ContainsAny(sig.Challenge, "\r\n") {
		return bad(field+".www_authenticate", "must be one line")
	}
	sh := shape{status: sig.Status, challenge: sig.Challenge}
	add := func(f, path string, v any) error {
		if _, err := ParsePlace(path, InJSON); err != nil {
			return bad(f, "%v", err)
		}
		c := cond{name: path, path: strings.Split(path, ".")}
		vals, isList := v.([]any)
		if !isList {
			vals = []any{v}
		}
		if len(vals) == 0 {
			return bad(f, "an empty list matches nothing")
		}
		for _, x := range vals {
			switch x.(type) {
			case string, bool, int, int64, uint64, float64:
			case nil:
				return bad(f, "required when field is set")
			default:
				return bad(f, "must be a string, number or bool (or a list of them), not %T", x)
			}
			b, err := json.Marshal(x)
			if err != nil {
				return bad(f, "%v", err)
			}
			c.values = append(c.values, b)
		}
		for _, o := range sh.conds {
			if collide(Place{In: InJSON, Name: o.name}, Place{In: InJSON, Name: path}) {
				return bad(f, "%q is also matched as %q", path, o.name)
			}
		}
		sh.conds = append(sh.conds, c)
		return nil
	}
	sig.valueJSON = nil
	if sig.Field != "" {
		if err := add(field+".value", sig.Field, sig.Value); err != nil {
			return err
		}
		sig.valueJSON = sh.conds[0].values[0]
	}
	keys := make([]string, 0, len(sig.Members))
	for k := range sig.Members {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := add(field+".members."+k, k, sig.Members[k]); err != nil {
			return err
		}
	}
	sig.alts, sig.statuses = []shape{sh}, []int{sh.status}
	sig.written = nil
	for _, c := range sh.conds {
		sig.written = append(sig.written, MemberValue{c.name, c.values[0]})
	}
	return nil
}

// overlap: some answer would carry both signals (a shape of one is a shape
// of the other).
func overlap(a, b *Signal) bool {
	for _, x := range a.alts {
		for _, y := range b.alts {
			if x.status == y.status && sameConds(x.conds, y.conds) {
				return true
			}
		}
	}
	return false
}

func sameConds(a, b []cond) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].name != b[i].name || len(a[i].values) != len(b[i].values) {
			return false
		}
		for j := range a[i].values {
			if !bytes.Equal(a[i].values[j], b[i].values[j]) {
				return false
			}
		}
	}
	return true
}

func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return http.CanonicalHeaderKey(h) != ""
}
