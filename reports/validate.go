package reports

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/tokenstorm/tokenstorm/docs"
)

// SchemaError lists every way a summary.json breaks docs/summary.schema.json.
type SchemaError struct {
	File     string
	Problems []string // "at $.requests: missing property 'lost'", sorted
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("%s does not match docs/summary.schema.json (%d %s):\n  %s",
		e.File, len(e.Problems), plural(len(e.Problems), "error", "errors"), strings.Join(e.Problems, "\n  "))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// printer renders the library's messages in English.
var printer = message.NewPrinter(language.English)

const schemaURL = "https://github.com/tokenstorm/tokenstorm/docs/summary.schema.json"

var summarySchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(docs.SummarySchema))
	if err != nil {
		return nil, fmt.Errorf("docs/summary.schema.json: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat() // started_at and evidence times must be date-times
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("docs/summary.schema.json: %w", err)
	}
	return c.Compile(schemaURL)
})

// ValidateSummary checks the bytes of a summary.json against the schema.
// It returns a *SchemaError naming file and every problem, or nil.
func ValidateSummary(file string, b []byte) error {
	sch, err := summarySchema()
	if err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return &SchemaError{File: file, Problems: []string{"not JSON: " + err.Error()}}
	}
	err = sch.Validate(doc)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	var problems []string
	var leaves func(e *jsonschema.ValidationError)
	leaves = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			problems = append(problems, fmt.Sprintf("at %s: %s", jsonPath(e.InstanceLocation), e.ErrorKind.LocalizedString(printer)))
			return
		}
		for _, c := range e.Causes {
			leaves(c)
		}
	}
	leaves(ve)
	sort.Strings(problems)
	return &SchemaError{File: file, Problems: problems}
}

// jsonPath spells an instance location the way jq does: $.requests.lost,
// $.scenarios[3].verdict.
func jsonPath(loc []string) string {
	var b strings.Builder
	b.WriteString("$")
	for _, p := range loc {
		if p != "" && strings.Trim(p, "0123456789") == "" {
			b.WriteString("[" + p + "]")
			continue
		}
		if strings.ContainsAny(p, ".[]\" ") {
			fmt.Fprintf(&b, "[%q]", p)
			continue
		}
		b.WriteString("." + p)
	}
	return b.String()
}
