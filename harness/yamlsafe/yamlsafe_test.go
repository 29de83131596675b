package yamlsafe

import (
	"strings"
	"testing"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bomb is the classic alias bomb: 9 levels of 9 aliases = 9^9 nodes.
func bomb() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		prev := "*a" + string(rune('0'+i-1))
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		b.WriteString(strings.TrimSuffix(strings.Repeat(prev+", ", 9), ", "))
		b.WriteString("]\n")
	}
	return b.String()
}

func TestAliasBombRefused(t *testing.T) {
	_, err := Parse([]byte(bomb()), 0)
	var ee *ExpansionError
	require.ErrorAs(t, err, &ee)
	assert.Contains(t, err.Error(), "more than 100000 nodes")
	assert.Positive(t, ee.Line)
}

func TestModestAliasesAccepted(t *testing.T) {
	f, err := Parse([]byte("base: &b {item: tea, n: 1}\nx: *b\ny: *b\n"), 0)
	require.NoError(t, err)
	require.Len(t, f.Docs, 1)
}

func TestBudgetIsExact(t *testing.T) {
	doc := []byte("a: [1, 2, 3]\n")
	require.NoError(t, CheckExpansion(mustBody(t, doc), 100))
	require.Error(t, CheckExpansion(mustBody(t, doc), 3))
}

func TestDeepNestingRefused(t *testing.T) {
	doc := strings.Repeat("[", 500) + strings.Repeat("]", 500)
	_, err := Parse([]byte(doc), 0)
	require.Error(t, err)
}

func mustBody(t *testing.T, doc []byte) ast.Node {
	f, err := Parse(doc, 0)
	require.NoError(t, err)
	return f.Docs[0].Body
}

// panicParser makes Parser panic until the test ends.
func panicParser(t *testing.T) {
	t.Helper()
	orig := Parser
	Parser = func([]byte, parser.Mode, ...parser.Option) (*ast.File, error) { panic("injected parser bug") }
	t.Cleanup(func() { Parser = orig })
}

func TestParserPanicIsAnError(t *testing.T) {
	panicParser(t)
	var err error
	require.NotPanics(t, func() { _, err = Parse([]byte("a: 1\n"), 0) })
	var pe *PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "the YAML parser failed on this input (injected parser bug)", err.Error())
}
