package style

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/yamlsafe"
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

// LoadContext reads a file within ctx, and refuses a named pipe before
// opening it (the open alone would block with no writer).
func TestLoadContext(t *testing.T) {
	data, err := builtinFS.ReadFile("builtin/oauth2.yaml")
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "s.yaml")
	require.NoError(t, os.WriteFile(p, data, 0o600))
	st, err := LoadContext(context.Background(), p)
	require.NoError(t, err)
	assert.Equal(t, "oauth2", st.Name)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = LoadContext(ctx, p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), p+": reading stopped: context canceled")
	_, err = LoadContext(ctx, "bearer")
	assert.NoError(t, err, "a built-in name reads no file")

	fifo := filepath.Join(t.TempDir(), "fifo.yaml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	done := make(chan error, 1)
	go func() { _, err := Load(fifo); done <- err }()
	select {
	case err := <-done:
		var se *Error
		require.ErrorAs(t, err, &se)
		assert.Equal(t, fifo+": is a named pipe (FIFO), not a regular file: this input is read more than once; save it to a file", err.Error())
	case <-time.After(5 * time.Second):
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			_ = f.Close()
		}
		t.Fatal("Load blocked on a FIFO")
	}
}

// No known document makes goccy's parser or decoder panic, so one is
// injected (yamlsafe.Parser, nodeToValue): either way the user must get
// FILE:LINE, not a crash.
func TestParserPanicNamesTheFile(t *testing.T) {
	data, err := builtinFS.ReadFile("builtin/bearer.yaml")
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "panics.yaml")
	require.NoError(t, os.WriteFile(p, data, 0o600))
	load := func() error {
		t.Helper()
		var err error
		require.NotPanics(t, func() { _, err = Load(p) })
		require.Error(t, err)
		return err
	}

	t.Run("parser", func(t *testing.T) {
		orig := yamlsafe.Parser
		yamlsafe.Parser = func([]byte, parser.Mode, ...parser.Option) (*ast.File, error) { panic("injected parser bug") }
		t.Cleanup(func() { yamlsafe.Parser = orig })
		assert.Equal(t, p+":1:1: the YAML parser failed on this input (injected parser bug)", load().Error())
	})
	t.Run("decoder", func(t *testing.T) {
		orig := nodeToValue
		nodeToValue = func(ast.Node, any, ...yaml.DecodeOption) error { panic("injected decoder bug") }
		t.Cleanup(func() { nodeToValue = orig })
		assert.Equal(t, p+":1:1: the YAML decoder failed on this input (injected decoder bug)", load().Error())
	})
	_, err = Load(p)
	require.NoError(t, err, "the seams are restored")
}
