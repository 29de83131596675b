package main

import (
	"context"
	"io"

	"github.com/tokenstorm/tokenstorm/harness/conform"
)

func cmdSteps(_ context.Context, argv []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlags("steps", "[--format text|markdown] [WORD…]",
		"List every Gherkin step `tokenstorm conform` understands: its syntax, one line of help and an\n"+
			"example. Copy a feature file, change the numbers and steps using this list, and run it with\n"+
			"tokenstorm conform my.feature. docs/steps.md is this list in Markdown. With WORDs, only the\n"+
			"steps whose syntax, help or example mention every word.",
		stdout,
		"tokenstorm steps",
		"tokenstorm steps background body",
		"tokenstorm steps --format markdown > docs/steps.md")
	format := fs.String("format", "text", "output format: text | markdown")
	pos, err := parse(fs, argv)
	if err != nil {
		return err
	}
	switch *format {
	case "text":
		if err := conform.WriteTextFiltered(stdout, pos); err != nil {
			return usagef("%v", err)
		}
		return nil
	case "markdown", "md":
		if len(pos) > 0 {
			return usagef("--format markdown prints the whole library (docs/steps.md); words filter the text format only")
		}
		return conform.WriteMarkdown(stdout)
	}
	return usagef("--format %q: want text or markdown", *format)
}
