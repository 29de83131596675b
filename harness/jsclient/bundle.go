package jsclient

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dop251/goja"
	"github.com/evanw/esbuild/pkg/api"
)

// BundleError is a failed bundle: every esbuild error with its position, so
// the user sees "request.js:12:5: Could not resolve ..." instead of a stack.
type BundleError struct {
	Path     string
	Messages []string // "file:line:col: text"
}

func (e *BundleError) Error() string {
	return fmt.Sprintf("js client %s: bundling failed:\n  %s", e.Path, strings.Join(e.Messages, "\n  "))
}

// moduleHead and moduleTail wrap the CommonJS bundle in a function so each
// runtime gets its own module object. The head shares line 1 with the bundle
// so source-map line numbers stay right; goja skips the closing "})" line when
// it looks for the inline source map.
const (
	moduleHead = "(function (module, exports, require) {"
	moduleTail = "\n})"
)

// Bundle bundles the adapter at path and everything it imports into one
// CommonJS program (target es2017, packages' browser builds), with an inline source
// map so runtime errors point at the original files.
func Bundle(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("js client: %w", err)
	}
	// A FIFO or a device (/dev/zero) would hang or exhaust esbuild.
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("js client %s: not a regular file", path)
	}
	if st.Size() > MaxAdapterSize {
		return "", fmt.Errorf("js client %s: larger than %d bytes", path, MaxAdapterSize)
	}
	type built struct {
		src string
		err error
	}
	done := make(chan built, 1)
	go func() { s, err := bundle(path, abs); done <- built{s, err} }()
	select {
	case b := <-done:
		return b.src, b.err
	case <-time.After(BundleTimeout):
		// esbuild cannot be cancelled; its goroutine is abandoned, which is
		// acceptable because the run stops on this error.
		return "", fmt.Errorf("js client %s: bundling took longer than %s (an import of a FIFO or a device?)", path, BundleTimeout)
	}
}

// Bundling limits: a real adapter with its node_modules bundles in well
// under a second and is far below the size cap.
var (
	BundleTimeout        = 30 * time.Second
	MaxAdapterSize int64 = 16 << 20
)

func bundle(path, abs string) (string, error) {
	dir := filepath.Dir(abs)
	res := api.Build(api.BuildOptions{
		EntryPoints:   []string{abs},
		AbsWorkingDir: dir,
		Bundle:        true,
		Write:         false,
		Outfile:       filepath.Join(dir, "__tokenstorm_bundle.js"),
		Format:        api.FormatCommonJS,
		// A mini-program runs browser-like JavaScript without Node.js built-ins,
		// and its bundlers (Taro, uni-app) take a package's browser build:
		// the "browser" field (flyio's XHR build instead of its Node.js one),
		// its file map (axios 0.x swaps its http adapter for xhr) and the
		// "browser" condition of "exports". Packages without one publish
		// "module" or "main" (luch-request).
		Platform:   api.PlatformBrowser,
		Target:     api.ES2017,
		MainFields: []string{"browser", "module", "main"},
		// Libraries commonly read process.env.NODE_ENV; a phone has no process.
		Define:         map[string]string{"process.env.NODE_ENV": `"production"`},
		Sourcemap:      api.SourceMapInline,
		SourcesContent: api.SourcesContentExclude,
		Charset:        api.CharsetUTF8,
		LogLevel:       api.LogLevelSilent,
	})
	if len(res.Errors) > 0 {
		be := &BundleError{Path: path}
		for _, m := range res.Errors {
			be.Messages = append(be.Messages, formatMessage(dir, m))
		}
		return "", be
	}
	if len(res.OutputFiles) == 0 {
		return "", fmt.Errorf("js client %s: esbuild produced no output", path)
	}
	return string(res.OutputFiles[0].Contents), nil
}

func formatMessage(dir string, m api.Message) string {
	if m.Location == nil {
		return m.Text
	}
	file := m.Location.File
	if !filepath.IsAbs(file) {
		file = filepath.Join(dir, file)
	}
	if rel, err := filepath.Rel(".", file); err == nil && !strings.HasPrefix(rel, "..") {
		file = rel
	}
	return fmt.Sprintf("%s:%d:%d: %s", file, m.Location.Line, m.Location.Column+1, m.Text)
}

// compileAdapter bundles and compiles the adapter once; the program is shared
// read-only by every device runtime.
func compileAdapter(path string) (*goja.Program, error) {
	src, err := Bundle(path)
	if err != nil {
		return nil, err
	}
	prg, err := goja.Compile(filepath.Base(path), moduleHead+src+moduleTail, false)
	if err != nil {
		return nil, fmt.Errorf("js client %s: compile: %w", path, err)
	}
	return prg, nil
}
