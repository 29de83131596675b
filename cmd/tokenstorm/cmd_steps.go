package main

import (
	"context"
	"io"

	"github.com/tokenstorm/tokenstorm/harness/conform"
)

func cmdSteps(_ context.Context, argv []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlags("steps", "[--format text|markdown]",
		"List every Gherkin step `tokenstorm conform` understands: its syntax, one line of help and an\n"+
			"example. Copy a feature file, change the numbers and steps using this list, and run it with\n"+
			"tokenstorm conform my.feature. docs/steps.md is this list in Markdown.",
		stdout,
		"tokenstorm steps",
		"tokenstorm steps --format markdown > docs/steps.md")
	format := fs.String("format", "text", "output format: text | markdown")
	pos, err := parse(fs, argv)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("steps takes no arguments, got %q", pos)
	}
	switch *format {
	case "text":
		return conform.WriteText(stdout)
	case "markdown", "md":
		return conform.WriteMarkdown(stdout)
	}
	return usagef("--format %q: want text or markdown", *format)
}
