package hostile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/backend"
	"github.com/tokenstorm/tokenstorm/harness/conform"
	"github.com/tokenstorm/tokenstorm/harness/jsclient"
	"github.com/tokenstorm/tokenstorm/harness/storm"
	"github.com/tokenstorm/tokenstorm/harness/style"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

type fileCase struct {
	name    string
	content string // written to a file, unless path is set
	path    string // an existing path (/dev/zero, a directory)
	want    string // in the error
}

// bounded fails the test if fn runs longer than 10s.
func bounded(t *testing.T, name string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still parsing after 10s", name)
	}
}

func materialize(t *testing.T, c fileCase, ext string) string {
	t.Helper()
	if c.path != "" {
		return c.path
	}
	p := filepath.Join(t.TempDir(), "f"+ext)
	require.NoError(t, os.WriteFile(p, []byte(c.content), 0o600))
	return p
}

func mixBomb() string {
	return strings.Replace(bomb, "x5: [", "x5: &a5 [", 1) + "mix:\n  - {method: POST, path: /api/x, body: {k: *a5}}\n"
}

func TestHostileScenarioFiles(t *testing.T) {
	for _, c := range []fileCase{
		{name: "alias bomb in mix body", content: mixBomb(), want: "more than 100000 nodes"},
		{name: "/dev/zero", path: "/dev/zero", want: "larger than"},
		{name: "directory", path: t.TempDir(), want: "is a directory"},
		{name: "binary", content: "\x00\xff\xfe\x01", want: ""},
		{name: "invalid UTF-8 key", content: "na\xffme: x\nmix: [{path: /a}]\n", want: ""},
		{name: "deep nesting", content: "mix: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n", want: ""},
		{name: "unknown alias in body", content: "mix: [{path: /a, body: {k: *nope}}]\n", want: ""},
		{name: "self alias", content: "a: &a [*a]\nmix: [{path: /a}]\n", want: ""},
		{name: "two documents", content: "mix: [{path: /a}]\n---\nmix: [{path: /b}]\n", want: "one scenario per file"},
		{name: "huge devices", content: "devices: 99999999999999999999\nmix: [{path: /a}]\n", want: "devices"},
		{name: "negative duration", content: "duration: -5s\nmix: [{path: /a}]\n", want: "duration"},
	} {
		bounded(t, c.name, func() {
			_, err := storm.Load(materialize(t, c, ".yaml"))
			require.Error(t, err, c.name)
			assert.Contains(t, err.Error(), c.want, c.name)
		})
	}
	// A BOM is not part of the first key.
	p := materialize(t, fileCase{content: "\xEF\xBB\xBFname: bom\nmix: [{path: /a}]\n"}, ".yaml")
	sc, err := storm.Load(p)
	require.NoError(t, err)
	assert.Equal(t, "bom", sc.Name)
}

func TestHostileStyleFiles(t *testing.T) {
	for _, c := range []fileCase{
		{name: "alias bomb", content: bomb, want: "more than 100000 nodes"},
		{name: "/dev/zero", path: "/dev/zero", want: "larger than"},
		{name: "directory", path: t.TempDir(), want: "is a directory"},
		{name: "binary", content: "\x00\xff", want: ""},
		{name: "unknown field", content: "name: x\nroutez: {}\n", want: "unknown field"},
		{name: "deep nesting", content: "name: " + strings.Repeat("{a: ", 3000) + "1" + strings.Repeat("}", 3000), want: ""},
	} {
		bounded(t, c.name, func() {
			_, err := style.Load(materialize(t, c, ".yaml"))
			require.Error(t, err, c.name)
			assert.Contains(t, err.Error(), c.want, c.name)
		})
	}
	for _, c := range []string{"/etc/shadow", "/etc/passwd", "../../etc/passwd", "bearer\x00"} {
		_, err := style.Builtin(c)
		require.Error(t, err, c)
		assert.NotContains(t, err.Error(), "root:", c)
	}
	_, err := style.ParseInline("style", []byte(strings.Repeat("#", style.MaxSize+1)))
	require.Error(t, err)
}

func TestHostileFeatureFiles(t *testing.T) {
	for _, c := range []fileCase{
		{name: "line over 64 KiB", content: "Feature: x\n  Scenario: y\n    Given 1 device logged in " + strings.Repeat("x", 70<<10) + "\n", want: "line longer than"},
		{name: "binary", content: "\x00\x01\x02", want: ""},
		{name: "no feature", content: "Scenario: y\n", want: ""},
		{name: "unclosed doc string", content: "Feature: x\n  Scenario: y\n    Given 1 device logged in\n      \"\"\"\n", want: ""},
		{name: "undefined step", content: "Feature: x\n  Scenario: y\n    Given the moon is made of cheese\n", want: "undefined step"},
	} {
		bounded(t, c.name, func() {
			err := conform.Check(conform.Options{Paths: []string{materialize(t, c, ".feature")}})
			require.Error(t, err, c.name)
			assert.Contains(t, err.Error(), c.want, c.name)
		})
	}
}

func TestHostileSmallParsers(t *testing.T) {
	for _, s := range []string{"", "latency.p99 <", "latency.p99 < 1e999ms", "nope == 1", "invariants: nope", "requests.lost == NaN", strings.Repeat("x", 100000)} {
		_, err := storm.ParseThreshold(s)
		assert.Error(t, err, "%.40q", s)
	}
	for _, s := range []string{"-1/s", "1/0s", "1/-1s", "abc", "1e9/1ns/", ""} {
		_, err := storm.ParseRate(s)
		assert.Error(t, err, s)
	}
	for _, s := range []string{"reuse:-1", "grace:-1s", "grace:forever", "sometimes", "reuse:x"} {
		_, err := backend.ParseReuse(s)
		assert.Error(t, err, s)
	}
}

func TestHostileSummaryAndAdapterFiles(t *testing.T) {
	dir := t.TempDir()
	for _, content := range []string{"", "\x00", "[]", `{"verdict":`, `{"latency":{"p99":"x"}}`} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "summary.json"), []byte(content), 0o600))
		_, err := summary.ReadFile(dir)
		assert.Error(t, err, content)
	}
	zdir := t.TempDir()
	require.NoError(t, os.Symlink("/dev/zero", filepath.Join(zdir, "summary.json")))
	bounded(t, "summary.json → /dev/zero", func() {
		_, err := summary.ReadFile(zdir)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "larger than")
	})
	bounded(t, "adapter /dev/zero", func() {
		_, err := jsclient.Bundle("/dev/zero")
		require.Error(t, err)
	})
}
