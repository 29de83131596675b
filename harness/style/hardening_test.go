package style

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadDevZeroIsAnError(t *testing.T) {
	_, err := Load("/dev/zero")
	require.Error(t, err)
	assert.Equal(t, "/dev/zero: larger than 262144 bytes (the limit for this input)", err.Error())
}

func TestLoadStripsBOM(t *testing.T) {
	data, err := builtinFS.ReadFile("builtin/bearer.yaml")
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "bom.yaml")
	require.NoError(t, os.WriteFile(p, append([]byte("\xEF\xBB\xBF"), data...), 0o600))
	st, err := Load(p)
	require.NoError(t, err)
	assert.Equal(t, "bearer", st.Name)
}

func TestParseAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("x0: &a0 [q, q, q, q, q, q, q, q, q, q]\n")
	for i := 1; i < 8; i++ {
		b.WriteString("x" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		b.WriteString(strings.TrimSuffix(strings.Repeat("*a"+string(rune('0'+i-1))+", ", 10), ", "))
		b.WriteString("]\n")
	}
	_, err := Parse("bomb.yaml", []byte(b.String()))
	require.Error(t, err)
	assert.Regexp(t, `^bomb\.yaml:\d+:1: .*more than 100000 nodes`, err.Error())
}

func TestBuiltinNeverReadsFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(p, []byte("name: TOPSECRET\n"), 0o600))
	for _, name := range []string{p, "/etc/passwd", "/dev/zero", "../bearer", "nope"} {
		_, err := Builtin(name)
		require.Error(t, err, name)
		assert.NotContains(t, err.Error(), "TOPSECRET")
		assert.NotContains(t, err.Error(), "no such file")
		assert.Contains(t, err.Error(), "no built-in style")
	}
	st, err := Builtin("rotating")
	require.NoError(t, err)
	assert.Equal(t, "rotating", st.Name)
}

func TestParseInlineCap(t *testing.T) {
	_, err := ParseInline("inline", make([]byte, MaxSize+1))
	require.Error(t, err)
	assert.Equal(t, "inline: larger than 262144 bytes (the limit for this input)", err.Error())
}
