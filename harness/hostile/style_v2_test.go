package hostile

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/stack"
	"github.com/tokenstorm/tokenstorm/harness/style"
)

// v2Base uses every format v2 addition: request templates with places and
// extras, dotted answer paths, lists of values, members and any_of.
const v2Base = `name: hv2
routes:
  login: {path: /api/v1/member/login, method: GET, code: "query:code", extra: {type: 100}}
  refresh: {path: /auth/refresh, refresh_token: "form:refresh_token", extra: {grant_type: refresh_token}}
  verify: {path: /auth/verify, method: POST, access_token: "json:token"}
  resource: /api/
fields:
  code: code
  access_token: data.token
  refresh_token: data.refresh
  expires_in: data.expire
token:
  header: Authorization
  scheme: Bearer
signals:
  success: {status: 200, field: code, value: 0}
  expired: {status: 200, field: code, value: [40001, 40014]}
  invalid: {status: 401, members: {isValid: false, reason: invalid}}
  not_token: {any_of: [{status: 403, field: error, value: forbidden}, {status: 451}]}
  invalid_grant: {status: 401, field: error, value: invalid_grant}
  invalid_code: {status: 400, field: error, value: invalid_code}
  upstream_unavailable: {status: 503, field: error, value: upstream_unavailable}
  upstream_misconfigured: {status: 502, field: error, value: upstream_misconfigured}
`

type v2Case struct {
	name, old, new string
	ok             bool // the document is valid; otherwise it is refused naming a field
}

func v2Doc(t *testing.T, c v2Case) string {
	t.Helper()
	require.Contains(t, v2Base, c.old, c.name)
	return strings.Replace(v2Base, c.old, c.new, 1)
}

var anyOfMany = "{any_of: [" + strings.Repeat("{status: 403, field: error, value: forbidden}, ", 5000) + "{status: 451}]}"

var v2Cases = []v2Case{
	{name: "base", ok: true},
	{name: "any_of empty", old: "{any_of: [{status: 403, field: error, value: forbidden}, {status: 451}]}", new: "{any_of: []}"},
	{name: "any_of nested", old: "{any_of: [{status: 403, field: error, value: forbidden}, {status: 451}]}", new: "{any_of: [{any_of: [{status: 403}]}]}"},
	{name: "any_of not a list", old: "{any_of: [{status: 403, field: error, value: forbidden}, {status: 451}]}", new: "{any_of: {status: 403}}"},
	{name: "any_of with status too", old: "{any_of: [{status: 403, field: error, value: forbidden}, {status: 451}]}", new: "{status: 403, any_of: [{status: 451}]}"},
	{name: "any_of 5000 shapes", old: "{any_of: [{status: 403, field: error, value: forbidden}, {status: 451}]}", new: anyOfMany, ok: true},
	{name: "any_of shape of invalid_grant", old: "{status: 451}", new: "{status: 401, field: error, value: invalid_grant}", ok: true},
	{name: "any_of shape of invalid", old: "{status: 451}", new: "{status: 401, members: {isValid: false, reason: invalid}}"},
	{name: "same_as cycle", old: "invalid: {status: 401, members: {isValid: false, reason: invalid}}", new: "invalid: {same_as: expired}\n  expired2: {same_as: invalid}"},
	{name: "same_as both ways", old: "expired: {status: 200, field: code, value: [40001, 40014]}\n  invalid: {status: 401, members: {isValid: false, reason: invalid}}", new: "expired: {same_as: invalid}\n  invalid: {same_as: expired}"},
	{name: "same_as self", old: "invalid: {status: 401, members: {isValid: false, reason: invalid}}", new: "invalid: {same_as: invalid}"},
	{name: "same_as unknown", old: "invalid: {status: 401, members: {isValid: false, reason: invalid}}", new: "invalid: {same_as: nope}"},
	{name: "same_as on not_token", old: "not_token: {any_of: [{status: 403, field: error, value: forbidden}, {status: 451}]}", new: "not_token: {same_as: expired}"},
	{name: "same_as with a status", old: "invalid: {status: 401, members: {isValid: false, reason: invalid}}", new: "invalid: {same_as: expired, status: 401}"},
	{name: "same_as a list", old: "invalid: {status: 401, members: {isValid: false, reason: invalid}}", new: "invalid: {same_as: [expired]}"},
	{name: "members empty", old: "members: {isValid: false, reason: invalid}", new: "members: {}", ok: true},
	{name: "members deep path", old: "members: {isValid: false, reason: invalid}", new: "members: {" + strings.Repeat("a.", 2000) + "b: 1}", ok: true},
	{name: "members value an object", old: "members: {isValid: false, reason: invalid}", new: "members: {isValid: {deep: true}}"},
	{name: "members value lists of lists", old: "members: {isValid: false, reason: invalid}", new: "members: {isValid: [[1], [2]]}"},
	{name: "members and field", old: "members: {isValid: false, reason: invalid}", new: "members: {isValid: false}, field: reason, value: invalid", ok: true},
	{name: "value list empty", old: "value: [40001, 40014]", new: "value: []"},
	{name: "value huge number", old: "value: [40001, 40014]", new: "value: [1e400]", ok: true},
	{name: "field path empty segment", old: "expired: {status: 200, field: code,", new: "expired: {status: 200, field: a..code,"},
	{name: "field path leading dot", old: "expired: {status: 200, field: code,", new: "expired: {status: 200, field: .code,"},
	{name: "answer path empty segment", old: "access_token: data.token", new: "access_token: data..token"},
	{name: "answer place query", old: "access_token: data.token", new: `access_token: "query:token"`},
	{name: "answer place form", old: "refresh_token: data.refresh", new: `refresh_token: "form:refresh"`},
	{name: "place unknown", old: `code: "query:code"`, new: `code: "body:code"`},
	{name: "place empty name", old: `code: "query:code"`, new: `code: "query:"`},
	{name: "header place bad name", old: `code: "query:code"`, new: `code: "header:Bad Name"`},
	{name: "cookie place bad name", old: `code: "query:code"`, new: `code: "cookie:a;b=c"`},
	{name: "place NUL", old: `code: "query:code"`, new: `code: "query:co\u0000de"`, ok: true},
	{name: "GET with a JSON code", old: `code: "query:code"`, new: `code: "json:code"`},
	{name: "GET with a form refresh", old: "refresh: {path: /auth/refresh,", new: "refresh: {path: /auth/refresh, method: GET,"},
	{name: "method TRACE", old: "method: POST, access_token", new: "method: TRACE, access_token"},
	{name: "method lower case", old: "method: POST, access_token", new: "method: post, access_token", ok: true},
	{name: "method empty", old: "method: POST, access_token", new: `method: "", access_token`}, // verify defaults to GET: no JSON body
	{name: "extra nested object", old: "extra: {type: 100}", new: "extra: {type: {a: [1, {b: 2}]}}"},
	{name: "extra JSON in a form request", old: "extra: {grant_type: refresh_token}", new: `extra: {"json:grant_type": refresh_token}`},
	{name: "extra huge", old: "extra: {type: 100}", new: "extra: {type: " + strings.Repeat("9", 100000) + "}", ok: true},
	{name: "extra key token place", old: "extra: {type: 100}", new: "extra: {token: 1}", ok: true},
	{name: "token place outside verify", old: `code: "query:code"`, new: `code: token`},
	{name: "token cookie and header", old: "token:\n  header: Authorization", new: "token:\n  cookie: sid\n  header: Authorization"},
	{name: "token cookie bad name", old: "token:\n  header: Authorization\n  scheme: Bearer", new: "token:\n  cookie: \"a=b; c\""},
	{name: "two routes one path", old: "refresh: {path: /auth/refresh,", new: "refresh: {path: /auth/verify,"},
	{name: "route path relative", old: "path: /auth/refresh,", new: "path: auth/refresh,"},
	{name: "route path with query", old: "path: /auth/refresh,", new: "path: /auth/refresh?x=1,"},
	{name: "route path control char", old: "path: /auth/refresh,", new: `path: "/auth/re\tfresh",`},
	{name: "signal status 99", old: "upstream_unavailable: {status: 503,", new: "upstream_unavailable: {status: 99,"},
	{name: "signal status 1000", old: "upstream_unavailable: {status: 503,", new: "upstream_unavailable: {status: 1000,"},
	{name: "signal status huge", old: "upstream_unavailable: {status: 503,", new: "upstream_unavailable: {status: 99999999999999999999,"},
	{name: "unknown route key", old: "extra: {type: 100}}", new: "extra: {type: 100}, headers: {a: b}}"},
	{name: "route template a list", old: "verify: {path: /auth/verify, method: POST, access_token: \"json:token\"}", new: "verify: [/auth/verify]"},
}

// Format v2 documents gone wrong, parsed (bounded, no panic; refused with the
// field named) and sent inline over PUT /__admin/config (400, never 5xx),
// then a normal login.
func TestHostileStyleV2(t *testing.T) {
	for _, c := range v2Cases {
		doc := v2Doc(t, c)
		bounded(t, c.name, func() {
			st, err := style.ParseInline("hv2.yaml", []byte(doc))
			if c.ok {
				require.NoError(t, err, c.name)
				assert.NotEmpty(t, st.NeedsV2(), "%s: the base uses v2", c.name)
				return
			}
			require.Error(t, err, c.name)
			var se *style.Error
			if assert.ErrorAs(t, err, &se, c.name) {
				assert.NotEmpty(t, se.Field, "%s: %v", c.name, err)
			}
		})
	}
	st := start(t, stack.Options{})
	var cases []reqCase
	for _, c := range v2Cases {
		want := 400
		if c.ok {
			want = 200
		}
		cases = append(cases, reqCase{name: "config v2 " + c.name, method: "PUT", path: "/__admin/config", body: `{"style":` + jsonString(v2Doc(t, c)) + `}`, want: want})
		if c.ok {
			// The backend now answers in that style: its signals are written.
			cases = append(cases,
				reqCase{name: c.name + ": api without a token", method: "GET", path: "/api/x"},
				reqCase{name: c.name + ": api with a bad token", method: "GET", path: "/api/x", hdr: map[string]string{"Authorization": "Bearer a.b.c"}},
				reqCase{name: c.name + ": login with a bad code", method: "GET", path: "/api/v1/member/login?code=nope&type=100"},
				reqCase{name: c.name + ": refresh with junk", method: "POST", path: "/auth/refresh", body: "refresh_token=%zz&grant_type=refresh_token", hdr: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
				reqCase{name: c.name + ": verify with junk", method: "POST", path: "/auth/verify", body: `{"token":[1]}`},
			)
		}
	}
	cases = append(cases, reqCase{name: "config back to bearer", method: "PUT", path: "/__admin/config", body: `{"style":"bearer"}`, want: 200})
	run(t, st.BackendURL, cases)
	healthy(t, st, "")
}
