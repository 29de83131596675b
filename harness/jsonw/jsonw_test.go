package jsonw

import (
	"encoding/json"
	"testing"
)

// FuzzAppendString checks the hand-written encoder against encoding/json,
// byte for byte (the ledger's readers and the backend's clients both rely on it).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", `"\`, "\x00\x1f\x7f\b\f", "\u2028\u2029", "\xff", "订单", "\xe2\x80", "<a href=x&y>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}
