package execclient

import (
	"encoding/json"
	"testing"
)

// FuzzAnswerLine decodes arbitrary exec protocol lines as the reader does:
// an answer is either rejected with a reason or has a real HTTP status.
func FuzzAnswerLine(f *testing.F) {
	for _, s := range []string{`{"id":"r1","status":200,"headers":{"a":"b"},"body":"x"}`, `{"id":"r1","error":"boom"}`,
		`{"id":"r1","status":"200"}`, `{"id":5}`, `{"id":"r1","status":200,"body":"x","body_base64":"eA=="}`,
		`{"id":"r1","status":200,"body_base64":"!!"}`, `{"id":"r1","status":200,"headers":{"a":[1]}}`, `{"id":"r1","status":1e400}`,
		`{"id":"r1","error":{"code":1}}`, `{"id":"r1","error":""}`, `{"type":"hello","protocol":1}`, `not json`, `{"id":"\ud800"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if len(line) == 0 || line[0] != '{' || !json.Valid(line) {
			return // the reader rejects these before decoding
		}
		var m inMsg
		typeErr := json.Unmarshal(line, &m)
		if _, err := decodeID(m.ID); err != nil {
			return
		}
		res, err := decodeAnswer(&m, typeErr)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty reason")
			}
			return
		}
		if res.Err == nil && (res.Status < 100 || res.Status > 599) {
			t.Fatalf("accepted status %d from %s", res.Status, line)
		}
	})
}
