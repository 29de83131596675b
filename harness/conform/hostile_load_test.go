package conform

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	messages "github.com/cucumber/messages/go/v21"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runFeature(t *testing.T, content []byte) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hostile.feature")
	require.NoError(t, os.WriteFile(path, content, 0o644))
	opts := refOptions(t)
	opts.Paths = []string{path}
	_, err := Run(context.Background(), opts)
	return err
}

// A line of 64 KiB or more used to crash the Gherkin parser (nil pointer).
func TestHugeFeatureLineIsAProblem(t *testing.T) {
	for _, n := range []int{64 << 10, 70 << 10, 1 << 20} {
		content := []byte("Feature: big\n  Scenario: x\n    Given 1 device logged in\n    # " + strings.Repeat("x", n) + "\n")
		err := runFeature(t, content)
		var fe *FeatureError
		require.ErrorAs(t, err, &fe, "%d", n)
		assert.Contains(t, err.Error(), "hostile.feature:4: line longer than 61440 bytes")
	}
}

// FILE:LINE reads the file for its scenario blocks before the checks run:
// that read used to reach the parser with the long line and crash.
func TestHugeFeatureLineWithLineSelectionIsAProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hostile.feature")
	require.NoError(t, os.WriteFile(path, []byte("Feature: big\n  Scenario: x\n    Given 1 device logged in\n    # "+strings.Repeat("x", 70<<10)+"\n"), 0o644))
	opts := refOptions(t)
	opts.Paths = []string{path + ":2"}
	var err error
	require.NotPanics(t, func() { _, err = Run(context.Background(), opts) })
	var fe *FeatureError
	require.ErrorAs(t, err, &fe)
	assert.Contains(t, err.Error(), "hostile.feature:4: line longer than 61440 bytes")
}

// No known input makes the Gherkin parser or compiler panic any more, so a
// panic is injected through gherkinParse and gherkinPickles: with or without
// a line selection the user gets FILE:LINE and no panic escapes.
func TestGherkinPanicIsAProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hostile.feature")
	require.NoError(t, os.WriteFile(path, []byte("Feature: x\n  Scenario: y\n    Given 1 device logged in\n"), 0o644))
	check := func(t *testing.T) {
		for _, arg := range []string{path, path + ":2"} {
			opts := refOptions(t)
			opts.Paths = []string{arg}
			var err error
			require.NotPanics(t, func() { _, err = Run(context.Background(), opts) }, arg)
			var fe *FeatureError
			require.ErrorAs(t, err, &fe, arg)
			require.Len(t, fe.Problems, 1, arg)
			assert.Equal(t, path+":1: the Gherkin parser failed on this file (injected bug)", fe.Problems[0].String(), arg)
		}
	}
	t.Run("parser", func(t *testing.T) {
		orig := gherkinParse
		gherkinParse = func(io.Reader, func() string) (*messages.GherkinDocument, error) { panic("injected bug") }
		t.Cleanup(func() { gherkinParse = orig })
		check(t)
	})
	t.Run("compiler", func(t *testing.T) {
		orig := gherkinPickles
		gherkinPickles = func(messages.GherkinDocument, string, func() string) []*messages.Pickle { panic("injected bug") }
		t.Cleanup(func() { gherkinPickles = orig })
		check(t)
	})
}

func TestFeatureFileCaps(t *testing.T) {
	_, err := loadFeatures(context.Background(), []string{"/dev/zero"}, false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "feature path /dev/zero: larger than 4194304 bytes")
}

func TestFeatureBOMIsStripped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bom.feature")
	require.NoError(t, os.WriteFile(path, []byte("\xEF\xBB\xBFFeature: bom\n  Scenario: x\n    Given 1 device logged in\n"), 0o644))
	files, err := loadFeatures(context.Background(), []string{path}, false)
	require.NoError(t, err)
	require.Len(t, files, 1)
	assert.True(t, strings.HasPrefix(string(files[0].content), "Feature: bom"))
}

func TestParseGherkinNeverPanics(t *testing.T) {
	for _, src := range []string{"", "\x00\x00", "Feature:\n  Scenario Outline: x\n    Examples:\n      | a |\n", "Feature: x\n  Rule:\n    Background:\n", strings.Repeat("Feature: x\n", 3)} {
		assert.NotPanics(t, func() { parseGherkin(featureFile{name: "f", content: []byte(src)}, (&messages.Incrementing{}).NewId) }, src)
	}
}
