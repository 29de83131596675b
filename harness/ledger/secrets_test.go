package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func served(t *testing.T, l *Ledger) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, l.WriteRedactedNDJSON(&b))
	return b.String()
}

func TestNotedSecretsAreHiddenInEveryTextField(t *testing.T) {
	l := New(Options{Memory: true})
	jwt := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLV9hYmM"
	key := "tQY+38pdTVnAIWCBNiM1+A==" // a session_key: standard base64, padded
	code := "0716AVll20uHk94Sabcdefghijklmnop"
	for _, s := range []string{jwt, key, code} {
		l.NoteSecret(s)
	}
	h := RedactSecret
	cases := map[string]string{
		"console.log: token " + jwt:               "console.log: token " + h(jwt),
		"Authorization: Bearer " + jwt + ".":      "Authorization: Bearer " + h(jwt) + ".",
		`{"access_token":"` + jwt + `","n":1}`:    `{"access_token":"` + h(jwt) + `","n":1}`,
		"GET /x?token=" + jwt + "&rid=1":          "GET /x?token=" + h(jwt) + "&rid=1",
		"session_key=" + key + " for " + code:     "session_key=" + h(key) + " for " + h(code),
		"/api/" + code:                            "/api/" + h(code),
		"two " + code + " " + code:                "two " + h(code) + " " + h(code),
		"r-abcdefghijklmnopq is an id, not noted": "r-abcdefghijklmnopq is an id, not noted",
		jwt + "x": jwt + "x", // another token that merely starts alike
	}
	for in := range cases {
		l.Append(Event{Source: SourceClient, Kind: KindClientLog, Device: "d", Detail: in})
	}
	l.Append(Event{Kind: KindWxLogin, Code: code, Route: "/r/" + code, RID: code, Token: jwt})
	out := served(t, l)
	for in, want := range cases {
		b, err := jsonString(want)
		require.NoError(t, err)
		assert.Contains(t, out, `"detail":`+b, in)
	}
	assert.Contains(t, out, `"code":"`+h(code)+`"`)
	assert.Contains(t, out, `"route":"/r/`+h(code)+`"`)
	assert.Contains(t, out, `"rid":"`+h(code)+`"`)
	assert.Contains(t, out, `"token":"`+h(jwt)+`"`)
	// The ledger itself keeps the text: the checker reads it in process.
	assert.Contains(t, fmt.Sprint(l.Events()), jwt)
}

// jsonString is s as the served NDJSON spells it (HTML-escaped).
func jsonString(s string) (string, error) {
	var b bytes.Buffer
	err := json.NewEncoder(&b).Encode(s)
	return strings.TrimSpace(b.String()), err
}

func TestNoteSecretIsBounded(t *testing.T) {
	var nilLedger *Ledger
	assert.NotPanics(t, func() { nilLedger.NoteSecret("0123456789abcdefghij") })
	l := New(Options{Memory: true})
	const max = 100
	l.secrets.max = max
	l.NoteSecret("short") // under minSecret: ignored
	first := "first-secret-0123456789"
	l.NoteSecret(first)
	for i := 0; i < max; i++ {
		l.NoteSecret(fmt.Sprintf("filler-secret-%09d", i))
	}
	l.Append(Event{Detail: "a " + first})
	assert.NotContains(t, served(t, l), first, "one generation later it is still hidden")
	for i := 0; i < max; i++ {
		l.NoteSecret(fmt.Sprintf("later-secret-%09d", i))
	}
	assert.Contains(t, served(t, l), first, "two generations later it is forgotten")
	assert.LessOrEqual(t, len(l.secrets.cur)+len(l.secrets.old), 2*max)
}
