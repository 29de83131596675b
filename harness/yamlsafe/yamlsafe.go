// Package yamlsafe parses untrusted YAML (scenario and style files) with
// goccy/go-yaml without its failure modes: a panic inside the parser becomes
// an error, and a document whose aliases would expand past a node budget
// (the "billion laughs" bomb: a few hundred bytes, gigabytes once decoded) is
// refused before anything decodes it.
package yamlsafe

import (
	"fmt"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// MaxNodes is the default budget of nodes a document may expand to with every
// alias followed. Real scenarios and styles have a few hundred.
const MaxNodes = 100_000

// maxDepth bounds nesting (and alias chains) so a deep document cannot
// exhaust the stack of the walk or of the decoder.
const maxDepth = 200

// ExpansionError says a document is too large once its aliases are expanded.
type ExpansionError struct {
	Line  int // where the offending alias (or node) is; 0 when unknown
	Nodes int // the budget
	Depth bool
}

func (e *ExpansionError) Error() string {
	if e.Depth {
		return fmt.Sprintf("nesting deeper than %d levels (aliases included)", maxDepth)
	}
	return fmt.Sprintf("the document expands to more than %d nodes once its aliases are followed (an alias bomb?)", e.Nodes)
}

// PanicError is a panic of the YAML parser, turned into an error. It has no
// position: callers name the file at line 1.
type PanicError struct{ Value any }

func (e *PanicError) Error() string {
	return fmt.Sprintf("the YAML parser failed on this input (%v)", e.Value)
}

// Parser is the goccy parser Parse guards. It is a variable only so tests
// (here, and in storm and style, which read user files through Parse) can
// swap in one that panics: no known input makes goccy panic, yet the recover
// below must be shown to turn one into an error naming the file. Nothing but
// a test sets it, and such a test must not run in parallel.
var Parser = parser.ParseBytes

// Parse is Parser(data, 0) plus the two guards. maxNodes <= 0
// means MaxNodes.
func Parse(data []byte, maxNodes int) (f *ast.File, err error) {
	if maxNodes <= 0 {
		maxNodes = MaxNodes
	}
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, &PanicError{Value: p}
		}
	}()
	f, err = Parser(data, 0)
	if err != nil {
		return nil, err
	}
	for _, d := range f.Docs {
		if d == nil || d.Body == nil {
			continue
		}
		if err := CheckExpansion(d.Body, maxNodes); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// CheckExpansion counts the nodes n expands to, following aliases, and fails
// once the count passes maxNodes. Each anchor's size is computed once, so
// the check itself is linear in the document.
func CheckExpansion(n ast.Node, maxNodes int) error {
	c := &counter{max: maxNodes, anchors: map[string]int{}}
	c.size(n, 0)
	return c.err
}

type counter struct {
	max     int
	anchors map[string]int // expanded size of each anchor's value, by name
	err     error
}

func (c *counter) fail(n ast.Node, depth bool) int {
	if c.err == nil {
		e := &ExpansionError{Nodes: c.max, Depth: depth}
		if n != nil && n.GetToken() != nil && n.GetToken().Position != nil {
			e.Line = n.GetToken().Position.Line
		}
		c.err = e
	}
	return c.max + 1
}

// size returns the expanded node count of n, capped just above c.max.
func (c *counter) size(n ast.Node, depth int) int {
	if c.err != nil || n == nil {
		return 0
	}
	if depth > maxDepth {
		return c.fail(n, true)
	}
	total := 1
	add := func(k int) {
		total += k
		if total > c.max {
			c.fail(n, false)
		}
	}
	switch v := n.(type) {
	case *ast.DocumentNode:
		add(c.size(v.Body, depth+1))
	case *ast.MappingNode:
		for _, mv := range v.Values {
			add(c.size(mv, depth+1))
		}
	case *ast.MappingValueNode:
		add(c.size(v.Key, depth+1))
		add(c.size(v.Value, depth+1))
	case *ast.MappingKeyNode:
		add(c.size(v.Value, depth+1))
	case *ast.SequenceNode:
		for _, e := range v.Values {
			add(c.size(e, depth+1))
		}
	case *ast.TagNode:
		add(c.size(v.Value, depth+1))
	case *ast.AnchorNode:
		k := c.size(v.Value, depth+1)
		if v.Name != nil {
			c.anchors[v.Name.String()] = k
		}
		add(k)
	case *ast.AliasNode:
		if v.Value != nil {
			// An alias stands for its anchor's whole value; an unknown one
			// is left for the decoder to report.
			add(c.anchors[v.Value.String()])
		}
	}
	if c.err != nil {
		return c.max + 1
	}
	return total
}
