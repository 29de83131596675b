package mockwechat

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

func TestWxLogin(t *testing.T) {
	f := newFixture(t)
	rec := f.do(http.MethodPost, "/__mock/wx/login", `{"appid":"`+DefaultAppID+`","user":"d1"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	m := decode(t, rec.Body.Bytes())
	assert.Regexp(t, `^[0-9A-Za-z]{32}$`, m["code"])
	assert.Equal(t, float64(300), m["expires_in"])

	evs := f.events(ledger.KindWxLogin)
	require.Len(t, evs, 1)
	assert.Equal(t, "d1", evs[0].Device)
	assert.Equal(t, m["code"], evs[0].Code)
	assert.Equal(t, OpenID(DefaultAppID, "d1"), evs[0].Subject)
	assert.Equal(t, ledger.OutcomeOK, evs[0].Outcome)
}

func TestWxLoginErrors(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name, method, body string
		status             int
		msg                string
	}{
		{"GET", http.MethodGet, "", http.StatusMethodNotAllowed, "POST"},
		{"bad JSON", http.MethodPost, `{"user":`, http.StatusBadRequest, "invalid JSON"},
		{"not an object", http.MethodPost, `"d1"`, http.StatusBadRequest, "want a JSON object"},
		{"missing user", http.MethodPost, `{"appid":"` + DefaultAppID + `"}`, http.StatusBadRequest, "user"},
		{"unknown appid", http.MethodPost, `{"appid":"wxnope","user":"d1"}`, http.StatusBadRequest, "appid"},
		{"unknown field", http.MethodPost, `{"user":"d1","extra":1}`, http.StatusBadRequest, `"extra"`},
		{"user not a string", http.MethodPost, `{"user":7}`, http.StatusBadRequest, "user"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(tc.method, "/__mock/wx/login", tc.body)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			assert.Contains(t, decode(t, rec.Body.Bytes())["error"], tc.msg)
		})
	}
	assert.Equal(t, "POST", f.do(http.MethodGet, "/__mock/wx/login", "").Header().Get("Allow"))
	assert.Empty(t, f.events(ledger.KindWxLogin), "failed logins minted nothing")
	assert.Equal(t, int64(len(cases)+1), f.s.Stats().Calls[APIWxLogin])
}

func TestLoginGo(t *testing.T) {
	f := newFixture(t)
	code, err := f.s.Login("", "d1")
	require.NoError(t, err)
	assert.Equal(t, OpenID(DefaultAppID, "d1"), f.sessionOf(code).OpenID)

	code, err = f.s.Login(app2ID, "d1")
	require.NoError(t, err)
	assert.Equal(t, 0, errcodeOf(t, f.do(http.MethodGet, jscodeURL(app2ID, app2Secret, code), "")))

	_, err = f.s.Login("wxnope", "d1")
	assert.ErrorIs(t, err, ErrUnknownApp)
	_, err = f.s.Login("", "")
	assert.ErrorIs(t, err, ErrBadUser)
	_, err = f.s.Login("", strings.Repeat("x", 257))
	assert.ErrorIs(t, err, ErrBadUser)
	_, err = f.s.Login("", "\xff")
	assert.ErrorIs(t, err, ErrBadUser)
	assert.Len(t, f.events(ledger.KindWxLogin), 2)
}

func TestLoginGoFaults(t *testing.T) {
	f := newFixture(t)
	require.NoError(t, f.s.AddFault(Fault{API: APIWxLogin, Errcode: -1, Count: 1}))
	_, err := f.s.Login("", "d1")
	var fe *FaultError
	require.True(t, errors.As(err, &fe), "%v", err)
	assert.Equal(t, -1, fe.Errcode)
	assert.Equal(t, "errcode", fe.Action)
	_, err = f.s.Login("", "d1")
	assert.NoError(t, err, "count 1: once only")

	require.NoError(t, f.s.AddFault(Fault{API: APIWxLogin, Hang: true, HangFor: 1, Count: 1}))
	_, err = f.s.Login("", "d1")
	require.True(t, errors.As(err, &fe))
	assert.Equal(t, "hang", fe.Action)

	f.s.Close()
	require.NoError(t, f.s.AddFault(Fault{API: APIWxLogin, Hang: true, Count: 1}))
	_, err = f.s.Login("", "d1")
	assert.ErrorIs(t, err, ErrClosed, "a closed server releases Go-side hangs too")
	assert.Len(t, f.events(ledger.KindFault), 3)
}

func TestLoginGoStats(t *testing.T) {
	f := newFixture(t)
	_, err := f.s.Login("", "d1")
	require.NoError(t, err)
	_, _ = f.s.Login("wxnope", "d1")
	st := f.s.Stats()
	assert.Equal(t, map[int]int64{200: 1, 400: 1}, st.Statuses[APIWxLogin], "Go logins count like HTTP ones")
	assert.Equal(t, int64(2), st.Users["d1"][APIWxLogin])
}
