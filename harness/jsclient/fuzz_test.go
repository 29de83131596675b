package jsclient_test

import (
	"context"
	"testing"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/jsclient"
)

// FuzzAnswerConversion: whatever value an adapter resolves (or rejects)
// with — any JSON the fuzzer makes, passed through JSON.parse — becomes a
// Result with an HTTP status or an error, never a panic or a hang.
func FuzzAnswerConversion(f *testing.F) {
	path := writeAdapter(f, map[string]string{"adapter.js": `
export async function call(req) {
  let v
  try { v = JSON.parse(req.body) } catch (e) { v = req.body }
  if (req.path === "/reject") throw v
  return v
}`})
	c, err := jsclient.New(path, newEnv(), jsclient.Options{MaxTurn: 2 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = c.Close() })
	for _, s := range []string{`{"statusCode":200,"data":{"a":1},"header":{"X":"y"}}`, `{"statusCode":"200"}`, `{"statusCode":1e400}`,
		`{"statusCode":-1}`, `{"status":404,"body":"x"}`, `null`, `123`, `"text"`, `[1,2]`, `{"statusCode":200,"header":{"a":[1,{}]}}`,
		`{"statusCode":200,"data":{"toJSON":1}}`, `{"statusCode":99999}`, `{"data":"\ud800"}`, `not json`} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, body string, reject bool) {
		path := "/resolve"
		if reject {
			path = "/reject"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r := c.Do(ctx, client.Call{ID: "f", Device: "fuzz", Method: "POST", Path: path, Body: []byte(body)})
		// HTTP allows any three-digit status (RFC 9110 §15); statusOf keeps 100–999.
		if r.Err == nil && (r.Status < 100 || r.Status > 999) {
			t.Fatalf("answer with status %d for %q", r.Status, body)
		}
		if ctx.Err() != nil {
			t.Fatalf("conversion hung for %q", body)
		}
	})
}
