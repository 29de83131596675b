package storm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/yamlsafe"
)

// The 581-byte scenario of issue 15: aliases nested inside mix[].body used
// to expand to gigabytes.
func aliasBombScenario() string {
	var b strings.Builder
	b.WriteString("name: bomb\nx0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 9; i++ {
		b.WriteString("x" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		b.WriteString(strings.TrimSuffix(strings.Repeat("*a"+string(rune('0'+i-1))+",", 9), ","))
		b.WriteString("]\n")
	}
	b.WriteString("mix:\n  - {method: POST, path: /api/x, body: {k: *a8}}\n")
	return b.String()
}

func TestScenarioAliasBomb(t *testing.T) {
	_, err := Parse("bomb.yaml", []byte(aliasBombScenario()))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bomb.yaml:")
	assert.Contains(t, err.Error(), "more than 100000 nodes")
}

func TestAnchorReusedInALaterMixBody(t *testing.T) {
	src := `
name: anchors
mix:
  - {method: POST, path: /api/orders, body: &order {item: tea, qty: 2, tags: [a, b]}}
  - {method: PUT, path: /api/orders/1, body: *order}
  - method: PATCH
    path: /api/orders/2
    body:
      <<: *order
      qty: 3
`
	sc, err := Parse("anchors.yaml", []byte(src))
	require.NoError(t, err)
	require.Len(t, sc.Mix, 3)
	assert.JSONEq(t, `{"item":"tea","qty":2,"tags":["a","b"]}`, string(sc.Mix[0].Body))
	assert.JSONEq(t, `{"item":"tea","qty":2,"tags":["a","b"]}`, string(sc.Mix[1].Body))
	assert.JSONEq(t, `{"item":"tea","qty":3,"tags":["a","b"]}`, string(sc.Mix[2].Body))
}

func TestScenarioBOM(t *testing.T) {
	sc, err := Parse("bom.yaml", []byte("\xEF\xBB\xBFname: bom\nmix:\n  - {method: GET, path: /api/x}\n"))
	require.NoError(t, err)
	assert.Equal(t, "bom", sc.Name)
}

func TestScenarioFileCaps(t *testing.T) {
	_, err := Load("/dev/zero")
	require.Error(t, err)
	assert.Equal(t, "/dev/zero: larger than 1048576 bytes (the limit for this input)", err.Error())
	p := filepath.Join(t.TempDir(), "dir.yaml")
	require.NoError(t, os.Mkdir(p, 0o700))
	_, err = Load(p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is a directory")
}

// No known input makes the YAML parser panic, so one is injected through
// yamlsafe's seam: the user must get FILE:LINE, not a crash.
func TestScenarioParserPanicNamesTheFile(t *testing.T) {
	orig := yamlsafe.Parser
	yamlsafe.Parser = func([]byte, parser.Mode, ...parser.Option) (*ast.File, error) { panic("injected parser bug") }
	t.Cleanup(func() { yamlsafe.Parser = orig })
	p := filepath.Join(t.TempDir(), "panics.yaml")
	require.NoError(t, os.WriteFile(p, []byte("name: x\n"), 0o600))
	var err error
	require.NotPanics(t, func() { _, err = Load(p) })
	require.Error(t, err)
	assert.Equal(t, p+":1: (document): the YAML parser failed on this input (injected parser bug)", err.Error())
}
