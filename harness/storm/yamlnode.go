package storm

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"

	"github.com/tokenstorm/tokenstorm/harness/yamlsafe"
)

// The scenario is read from goccy/go-yaml's syntax tree rather than decoded
// into structs: walking the nodes ourselves is what lets every message name
// the file, the line and the field (mix[2].weight), reject unknown keys
// strictly, and say what was wanted in words a QA engineer understands.

// Error is one problem in a scenario file.
type Error struct {
	File  string
	Line  int    // 1-based; 0 when the problem has no place in the file (an override)
	Field string // dotted path: rate.pacer, mix[1].weight, timeline[0].at
	Msg   string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
	}
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.File, e.Field, e.Msg)
}

// Errors is every problem found in one file, in line order.
type Errors []*Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// maxErrors keeps a badly broken file from printing hundreds of lines.
const maxErrors = 20

// reader walks one file's nodes and collects errors.
type reader struct {
	file    string
	errs    Errors
	anchors map[string]ast.Node
}

func (r *reader) errorf(n ast.Node, field, format string, a ...any) {
	r.errAt(line(n), field, format, a...)
}

func (r *reader) errAt(ln int, field, format string, a ...any) {
	if len(r.errs) < maxErrors {
		r.errs = append(r.errs, &Error{File: r.file, Line: ln, Field: field, Msg: fmt.Sprintf(format, a...)})
	}
}

func (r *reader) err() error {
	if len(r.errs) == 0 {
		return nil
	}
	sort.SliceStable(r.errs, func(i, j int) bool { return r.errs[i].Line < r.errs[j].Line })
	return r.errs
}

func line(n ast.Node) int {
	if n == nil {
		return 0
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line
	}
	return 0
}

// parseYAML turns bytes into the document's root node. A syntax error is
// reported at its line with goccy's message, without the source excerpt.
func (r *reader) parseYAML(data []byte) ast.Node {
	f, err := parseBytes(data)
	if err != nil {
		var ye yaml.Error
		var ee *yamlsafe.ExpansionError
		var pe *yamlsafe.PanicError
		if errors.As(err, &ee) {
			r.errAt(ee.Line, "(aliases)", "%s", ee.Error())
		} else if errors.As(err, &pe) {
			r.errAt(1, "(document)", "%s", pe.Error()) // a panic has no position
		} else if errors.As(err, &ye) {
			ln := 0
			if tk := ye.GetToken(); tk != nil && tk.Position != nil {
				ln = tk.Position.Line
			}
			r.errAt(ln, "(syntax)", "%s", ye.GetMessage())
		} else {
			r.errAt(0, "", "%v", err)
		}
		return nil
	}
	var docs []ast.Node
	for _, d := range f.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d.Body)
		}
	}
	switch {
	case len(docs) == 0:
		r.errAt(0, "", "empty scenario file")
		return nil
	case len(docs) > 1:
		r.errorf(docs[1], "(document)", "one scenario per file: found a second YAML document")
		return nil
	}
	r.anchors = map[string]ast.Node{}
	for _, n := range ast.Filter(ast.AnchorType, docs[0]) {
		if a, ok := n.(*ast.AnchorNode); ok && a.Name != nil {
			r.anchors[a.Name.String()] = a.Value
		}
	}
	return docs[0]
}

// resolve strips tags and anchors and follows aliases.
func (r *reader) resolve(n ast.Node) ast.Node {
	for i := 0; i < 32 && n != nil; i++ {
		switch v := n.(type) {
		case *ast.TagNode:
			n = v.Value
		case *ast.AnchorNode:
			n = v.Value
		case *ast.AliasNode:
			if v.Value == nil {
				return nil
			}
			n = r.anchors[v.Value.String()]
		default:
			return n
		}
	}
	return n
}

// field is one allowed key of a mapping and what to do with its value.
type field struct {
	name string
	set  func(v ast.Node, path string, keyLine int)
}

// mapping walks a mapping node, calling each known field's setter in
// document order; unknown keys are errors listing the allowed ones.
func (r *reader) mapping(n ast.Node, path string, keyLine int, fields []field) {
	n = r.resolve(n)
	m, ok := n.(ast.MapNode)
	if !ok || n == nil {
		r.errAt(orLine(n, keyLine), orRoot(path), "want a mapping of fields (%s), got %s", names(fields), describe(n))
		return
	}
	it := m.MapRange()
	for it.Next() {
		kn := it.Key()
		key := ""
		if kn != nil {
			key = strings.TrimSpace(kn.String())
			if s, ok := r.resolve(kn).(*ast.StringNode); ok {
				key = s.Value
			}
		}
		p := join(path, key)
		var f *field
		for i := range fields {
			if fields[i].name == key {
				f = &fields[i]
				break
			}
		}
		if f == nil {
			r.errAt(line(kn), p, "unknown field %q (want %s)", key, names(fields))
			continue
		}
		f.set(it.Value(), p, line(kn))
	}
}

func names(fs []field) string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.name
	}
	return strings.Join(out, ", ")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(p string) string {
	if p == "" {
		return "(top level)"
	}
	return p
}

func orLine(n ast.Node, fallback int) int {
	if l := line(n); l > 0 {
		return l
	}
	return fallback
}

// sequence calls fn for each item of a sequence node.
func (r *reader) sequence(n ast.Node, path string, keyLine int, fn func(i int, item ast.Node, path string)) {
	n = r.resolve(n)
	s, ok := n.(*ast.SequenceNode)
	if !ok {
		r.errAt(orLine(n, keyLine), path, "want a list, got %s", describe(n))
		return
	}
	for i, v := range s.Values {
		fn(i, v, fmt.Sprintf("%s[%d]", path, i))
	}
}

// describe says what kind of value a node holds, for "want X, got Y".
func describe(n ast.Node) string {
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return "nothing"
	case *ast.StringNode:
		return fmt.Sprintf("%q", clip(v.Value))
	case *ast.LiteralNode:
		return "a text block"
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return clip(n.GetToken().Value)
	case ast.MapNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	default:
		return n.Type().String()
	}
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// text reads a scalar as a string (numbers and booleans as written).
func (r *reader) text(n ast.Node, path string, keyLine int) (string, bool) {
	switch v := r.resolve(n).(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		return v.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		return v.GetToken().Value, true
	default:
		r.errAt(orLine(v, keyLine), path, "want a text value, got %s", describe(v))
		return "", false
	}
}

// integer reads a whole number.
func (r *reader) integer(n ast.Node, path string, keyLine int) (int, bool) {
	v := r.resolve(n)
	if iv, ok := v.(*ast.IntegerNode); ok {
		switch x := iv.Value.(type) {
		case int64:
			if x >= math.MinInt32 && x <= math.MaxInt32 {
				return int(x), true
			}
		case uint64:
			if x <= math.MaxInt32 {
				return int(x), true
			}
		}
		r.errAt(orLine(v, keyLine), path, "number %s is too large", iv.GetToken().Value)
		return 0, false
	}
	r.errAt(orLine(v, keyLine), path, "want a whole number, got %s", describe(v))
	return 0, false
}

// number reads an integer or a decimal.
func (r *reader) number(n ast.Node, path string, keyLine int) (float64, bool) {
	switch v := r.resolve(n).(type) {
	case *ast.IntegerNode:
		f, err := strconv.ParseFloat(v.GetToken().Value, 64)
		if err == nil {
			return f, true
		}
		switch x := v.Value.(type) {
		case int64:
			return float64(x), true
		case uint64:
			return float64(x), true
		}
	case *ast.FloatNode:
		return v.Value, true
	default:
		r.errAt(orLine(v, keyLine), path, "want a number, got %s", describe(v))
		return 0, false
	}
	r.errAt(orLine(n, keyLine), path, "want a number, got %s", describe(n))
	return 0, false
}

// duration reads a Go duration ("5s", "250ms", "1m30s"). A bare number is an
// error rather than a guess at its unit.
func (r *reader) duration(n ast.Node, path string, keyLine int) (time.Duration, bool) {
	v := r.resolve(n)
	s, ok := v.(*ast.StringNode)
	if !ok {
		if iv, isInt := v.(*ast.IntegerNode); isInt && iv.GetToken().Value == "0" {
			return 0, true
		}
		r.errAt(orLine(v, keyLine), path, "want a duration such as 5s or 250ms, got %s", describe(v))
		return 0, false
	}
	d, err := time.ParseDuration(strings.TrimSpace(s.Value))
	if err != nil {
		r.errAt(orLine(v, keyLine), path, "want a duration such as 5s or 250ms, got %q", clip(s.Value))
		return 0, false
	}
	return d, true
}

// boolean reads true/false.
func (r *reader) boolean(n ast.Node, path string, keyLine int) (bool, bool) {
	if b, ok := r.resolve(n).(*ast.BoolNode); ok {
		return b.Value, true
	}
	r.errAt(orLine(n, keyLine), path, "want true or false, got %s", describe(r.resolve(n)))
	return false, false
}

// body reads a request body: text as is, or a mapping/list written out as
// JSON (so a scenario can write `body: {item: tea}`).
func (r *reader) body(n ast.Node, path string, keyLine int) ([]byte, bool) {
	v := r.resolve(n)
	switch v.(type) {
	case *ast.StringNode, *ast.LiteralNode:
		s, ok := r.text(v, path, keyLine)
		return []byte(s), ok
	case ast.MapNode, *ast.SequenceNode:
		// Converted here, not by yaml.NodeToValue: a body subtree decoded on
		// its own cannot see anchors defined elsewhere in the file ("could
		// not find alias"), and r.resolve does. yamlsafe has already bounded
		// what the aliases expand to.
		x, err := r.value(v, 0)
		if err != nil {
			r.errAt(orLine(v, keyLine), path, "cannot read the body: %v", err)
			return nil, false
		}
		b, err := json.Marshal(x)
		if err != nil {
			r.errAt(orLine(v, keyLine), path, "cannot write the body as JSON: %v", err)
			return nil, false
		}
		return b, true
	default:
		r.errAt(orLine(v, keyLine), path, "want text or a mapping (sent as JSON), got %s", describe(v))
		return nil, false
	}
}

// value converts a node to JSON-encodable Go values, following aliases
// through the whole document's anchors and applying merge keys (<<).
func (r *reader) value(n ast.Node, depth int) (any, error) {
	if depth > 64 {
		return nil, errors.New("nested too deeply")
	}
	if a, ok := n.(*ast.AliasNode); ok && a.Value != nil && r.anchors[a.Value.String()] == nil {
		return nil, fmt.Errorf("unknown alias *%s", a.Value.String())
	}
	n = r.resolve(n)
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return nil, nil
	case ast.MapNode:
		out := map[string]any{}
		for it := v.MapRange(); it.Next(); {
			kn := r.resolve(it.Key())
			if _, merge := kn.(*ast.MergeKeyNode); merge {
				m, err := r.value(it.Value(), depth+1)
				if err != nil {
					return nil, err
				}
				mm, ok := m.(map[string]any)
				if !ok {
					return nil, errors.New("<< must merge a mapping")
				}
				for k, e := range mm {
					if _, set := out[k]; !set {
						out[k] = e
					}
				}
				continue
			}
			k, err := r.value(kn, depth+1)
			if err != nil {
				return nil, err
			}
			e, err := r.value(it.Value(), depth+1)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = e
		}
		return out, nil
	case *ast.SequenceNode:
		out := make([]any, 0, len(v.Values))
		for _, e := range v.Values {
			x, err := r.value(e, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
		return out, nil
	case ast.ScalarNode:
		x := v.GetValue()
		if f, ok := x.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
			return nil, errors.New("JSON has no infinity or NaN")
		}
		return x, nil
	default:
		return nil, fmt.Errorf("cannot write %s as JSON", describe(n))
	}
}
