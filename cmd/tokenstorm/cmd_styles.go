package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/tokenstorm/tokenstorm/harness/style"
)

// cmdStyles lists the built-in styles, one line each.
func cmdStyles(_ context.Context, argv []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlags("styles", "", "List the built-in backend styles accepted by --style (docs/styles.md).", stdout)
	if _, err := parse(fs, argv); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, name := range style.Names() {
		fmt.Fprintf(tw, "%s\t%s\n", name, style.MustLoad(name).Description)
	}
	return tw.Flush()
}

// cmdStyle is "style check FILE|NAME": validate a style and print it resolved.
func cmdStyle(ctx context.Context, argv []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlags("style", "check FILE|NAME [--json]",
		"Validate a style file (errors name file, line and field) and print the style as tokenstorm reads it:\n"+
			"how each call is made, where each answer member is, where the token travels, each signal.", stdout,
		"tokenstorm style check my-api.yaml", "tokenstorm style check oauth2 --json")
	asJSON := fs.Bool("json", false, "print the resolved style as JSON (the exec hello's style_spec)")
	pos, err := parse(fs, argv)
	if err != nil {
		return err
	}
	if len(pos) != 2 || pos[0] != "check" {
		return usagef("style: want \"style check FILE|NAME\" (see tokenstorm style --help)")
	}
	s, err := style.LoadContext(ctx, pos[1])
	if err != nil {
		return badInput(ctx, "%v", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(s)
	}
	_, err = io.WriteString(stdout, s.Outline())
	return err
}
