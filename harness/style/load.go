package style

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/tokenstorm/tokenstorm/harness/inputfile"
	"github.com/tokenstorm/tokenstorm/harness/yamlsafe"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// Default is the name of the style used when none is given.
const Default = "bearer"

// MaxSize caps a style document (file or inline): the largest built-in is a
// few KiB, and a style from /dev/zero must be an error, not an OOM.
const MaxSize = 256 << 10

// Error is a problem in a style file, located by file, line, column and the
// dotted field path (for example "signals.expired.status").
type Error struct {
	File   string
	Line   int // 1-based; 0 when unknown
	Column int
	Field  string // dotted path; "" when the problem is the whole document
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Names lists the built-in styles.
func Names() []string {
	ents, _ := builtinFS.ReadDir("builtin")
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}

// Load returns the built-in style called nameOrPath, or else parses the YAML
// file at that path. "" means Default.
func Load(nameOrPath string) (*Style, error) {
	return LoadContext(context.Background(), nameOrPath)
}

// LoadContext is Load that gives up when ctx ends (a file that blocks on
// read). A named pipe is refused before it is opened: a style is read again
// by each part of a run (backend, clients, probes), which a pipe cannot serve.
func LoadContext(ctx context.Context, nameOrPath string) (*Style, error) {
	if nameOrPath == "" {
		nameOrPath = Default
	}
	if isName(nameOrPath) {
		src := "builtin/" + nameOrPath + ".yaml"
		data, err := builtinFS.ReadFile(src)
		if err == nil {
			return Parse(src, data)
		}
		if _, statErr := os.Stat(nameOrPath); statErr != nil {
			return nil, &Error{File: nameOrPath, Msg: fmt.Sprintf("no built-in style %q (built in: %s) and no such file", nameOrPath, strings.Join(Names(), ", "))}
		}
	}
	if err := inputfile.Rereadable(nameOrPath); err != nil {
		return nil, &Error{File: nameOrPath, Msg: strings.TrimPrefix(err.Error(), nameOrPath+": ")}
	}
	data, err := inputfile.Read(ctx, nameOrPath, MaxSize)
	if err != nil {
		return nil, &Error{File: nameOrPath, Msg: strings.TrimPrefix(err.Error(), nameOrPath+": ")}
	}
	return Parse(nameOrPath, data)
}

// Builtin returns the built-in style called name and never touches the file
// system: for names that arrive over the network.
func Builtin(name string) (*Style, error) {
	if isName(name) {
		if data, err := builtinFS.ReadFile("builtin/" + name + ".yaml"); err == nil {
			return Parse("builtin/"+name+".yaml", data)
		}
	}
	return nil, &Error{File: "style", Msg: fmt.Sprintf("no built-in style %q (built in: %s; over HTTP a style is a built-in name or an inline document, never a file)", clip(name, 64), strings.Join(Names(), ", "))}
}

// ParseInline is Parse for a document that did not come from a file (the
// body of PUT /__admin/config): it enforces MaxSize and strips a BOM. label
// names the document in errors.
func ParseInline(label string, data []byte) (*Style, error) {
	data, err := inputfile.Check(label, data, MaxSize)
	if err != nil {
		return nil, &Error{File: label, Msg: strings.TrimPrefix(err.Error(), label+": ")}
	}
	return Parse(label, data)
}

// clip keeps hostile names short in error messages.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// isName tells a built-in name ("bearer") from a path ("./bearer.yaml").
func isName(s string) bool {
	return !strings.ContainsAny(s, `/\`) && path.Ext(s) == ""
}

// MustLoad is Load for built-in names known to exist; it panics otherwise.
func MustLoad(name string) *Style {
	s, err := Load(name)
	if err != nil {
		panic(err)
	}
	return s
}

// nodeToValue is the goccy decoder Parse guards with recover. It is a
// variable only so a test can make it panic (no known document does) and
// show the user still gets FILE:LINE; nothing else sets it.
var nodeToValue = yaml.NodeToValue

// Parse decodes and validates a style document. file only labels errors.
// Unknown keys are errors: a misspelt field must not silently fall back to a
// default and make a client test pass for the wrong reason.
func Parse(file string, data []byte) (st *Style, err error) {
	defer func() {
		if p := recover(); p != nil { // a decoder bug must not take the harness down
			st, err = nil, &Error{File: file, Line: 1, Column: 1, Msg: fmt.Sprintf("the YAML decoder failed on this input (%v)", p)}
		}
	}()
	f, err := yamlsafe.Parse(inputfile.StripBOM(data), 0)
	if err != nil {
		return nil, yamlError(file, err, nil)
	}
	if len(f.Docs) != 1 || f.Docs[0].Body == nil {
		return nil, &Error{File: file, Line: 1, Column: 1, Msg: "want exactly one YAML document holding a mapping"}
	}
	idx := indexPositions(f.Docs[0].Body)
	var fs fileStyle
	if err := nodeToValue(f.Docs[0].Body, &fs, yaml.Strict()); err != nil {
		return nil, yamlError(file, err, idx)
	}
	s := Style{Name: fs.Name, Description: fs.Description, Fields: fs.Fields, Token: fs.Token, Signals: fs.Signals, Source: file}
	if err := s.resolve(&fs.Routes); err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			line, col := idx.find(fe.field)
			return nil, &Error{File: file, Line: line, Column: col, Field: fe.field, Msg: fe.msg}
		}
		return nil, &Error{File: file, Msg: err.Error()}
	}
	return &s, nil
}

// yamlError turns a goccy/go-yaml error into an Error carrying its position
// and, when the position is a known key or value, its field path.
func yamlError(file string, err error, idx *posIndex) error {
	var ee *yamlsafe.ExpansionError
	if errors.As(err, &ee) {
		return &Error{File: file, Line: ee.Line, Column: 1, Msg: ee.Error()}
	}
	var pe *yamlsafe.PanicError
	if errors.As(err, &pe) {
		return &Error{File: file, Line: 1, Column: 1, Msg: pe.Error()} // a panic has no position
	}
	var ye yaml.Error
	if errors.As(err, &ye) && ye.GetToken() != nil {
		tk := ye.GetToken()
		e := &Error{File: file, Line: tk.Position.Line, Column: tk.Position.Column, Msg: ye.GetMessage()}
		if idx != nil {
			e.Field = idx.byPos[[2]int{e.Line, e.Column}]
		}
		return e
	}
	return &Error{File: file, Msg: err.Error()}
}

// posIndex maps dotted field paths to source positions and back.
type posIndex struct {
	byPath map[string][2]int
	byPos  map[[2]int]string
}

func indexPositions(body ast.Node) *posIndex {
	idx := &posIndex{byPath: map[string][2]int{}, byPos: map[[2]int]string{}}
	idx.walk("", body)
	return idx
}

func (idx *posIndex) walk(prefix string, n ast.Node) {
	var values []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		values = m.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{m}
	default:
		return
	}
	for _, mv := range values {
		if mv.Key == nil {
			continue
		}
		name := mv.Key.GetToken().Value
		p := name
		if prefix != "" {
			p = prefix + "." + name
		}
		kp := mv.Key.GetToken().Position
		idx.byPath[p] = [2]int{kp.Line, kp.Column}
		idx.byPos[[2]int{kp.Line, kp.Column}] = p
		if mv.Value != nil && mv.Value.GetToken() != nil {
			vp := mv.Value.GetToken().Position
			idx.byPos[[2]int{vp.Line, vp.Column}] = p
			idx.walk(p, mv.Value)
		}
	}
}

// find locates a field, or its nearest present ancestor when it is missing.
func (idx *posIndex) find(field string) (line, col int) {
	for p := field; p != ""; {
		if pos, ok := idx.byPath[p]; ok {
			return pos[0], pos[1]
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 1, 1
}
