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

// BenchmarkAppendString: typical ledger members (ids, routes, details).
func BenchmarkAppendString(b *testing.B) {
	in := []string{"d123", "r4567890", "/api/orders", "ok", "0f3a9c5e-jti-access-1234", "next 0f3a9c5e-jti-access-1235"}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = buf[:0]
		for _, s := range in {
			buf = AppendString(buf, s)
		}
	}
}
