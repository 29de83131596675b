package hostile

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/stack"
)

// putStyle sends PUT /__admin/config {"style": name} and returns the status
// and the body with the echoed name replaced by <NAME>, and whether the name
// was echoed at all.
func putStyle(t *testing.T, base, name string) (status int, body string, echoed bool) {
	t.Helper()
	req, err := http.NewRequest("PUT", base+"/__admin/config", strings.NewReader(`{"style":`+jsonString(name)+`}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	require.NoError(t, err, name)
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	require.NoError(t, err, name)
	quoted := strings.Trim(jsonString(jsonString(name)), `"`) // the name as %q inside a JSON string
	body = strings.Replace(string(b), quoted, `\"<NAME>\"`, 1)
	return resp.StatusCode, body, body != string(b)
}

// Over HTTP a style is never a path, so the answer to an existing file, a
// missing one, a directory or a traversal must be the same apart from the
// echoed name: otherwise a client of the admin API could learn which files
// exist (issue 15, item 2). Neither server may show a file's content.
func TestStyleNamesCannotProbeFiles(t *testing.T) {
	// A short directory: the backend clips echoed names at 64 bytes, and
	// the comparison needs them whole.
	dir, err := os.MkdirTemp("", "tsprobe")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// The existing file is a valid style: were it read, it would be accepted.
	valid, err := os.ReadFile(filepath.Join("..", "style", "builtin", "bearer.yaml"))
	require.NoError(t, err)
	const secret = "TOPSECRETSTYLE"
	valid = []byte(strings.Replace(string(valid), "name: bearer", "name: "+secret, 1))
	require.Contains(t, string(valid), secret)
	existing := filepath.Join(dir, "style.yaml")
	require.NoError(t, os.WriteFile(existing, valid, 0o600))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o700))
	plain := filepath.Join(dir, "plain")
	require.NoError(t, os.WriteFile(plain, []byte(secret+"\n"), 0o600))

	names := []string{
		existing, filepath.Join(dir, "missing.yaml"), // a readable style vs nothing
		plain, filepath.Join(dir, "missing"), // no extension: looks like a name
		filepath.Join(dir, "sub"), dir + "/", filepath.Join(dir, "sub", "nope"), // directories
		"/etc/passwd", "/etc/shadow", "/etc/no-such-file", "/dev/zero", "/proc/self/environ",
		"../", "..", "../bearer", "../style/builtin/bearer.yaml", "../../../../etc/passwd", "./probe_test.go", "probe_test.go", "no_such_test.go",
	}
	st := start(t, stack.Options{})
	for _, srv := range []struct{ name, base string }{{"backend", st.BackendURL}, {"mock WeChat", st.WechatURL}} {
		var first string
		var firstStatus int
		for i, name := range names {
			require.LessOrEqual(t, len(name), 64, "%s: keep test names under the echo clip", name)
			status, body, echoed := putStyle(t, srv.base, name)
			assert.NotContains(t, body, secret, "%s %s", srv.name, name)
			assert.NotContains(t, body, "root:", "%s %s", srv.name, name)
			assert.NotContains(t, body, "package hostile", "%s %s", srv.name, name)
			assert.NotContains(t, body, "PATH=", "%s %s", srv.name, name)
			if srv.name == "backend" {
				assert.True(t, echoed, "backend %s: the answer names the style: %s", name, body)
			}
			if i == 0 {
				first, firstStatus = body, status
				assert.GreaterOrEqual(t, status, 400, "%s %s: %s", srv.name, name, body)
				continue
			}
			assert.Equal(t, firstStatus, status, "%s: %s vs %s", srv.name, names[0], name)
			assert.Equal(t, first, body, "%s: %s vs %s", srv.name, names[0], name)
		}
	}
	// Nothing was applied: the backend still speaks its own style.
	resp, err := hc.Get(st.BackendURL + "/__admin/config")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(b), `"style":"bearer"`)
	healthy(t, st, "")
}
