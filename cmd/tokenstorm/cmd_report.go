package main

import (
	"context"
	"fmt"
	"io"

	"github.com/tokenstorm/tokenstorm/reports"
)

func cmdReport(ctx context.Context, argv []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlags("report", "DIR",
		"Re-render junit.xml, summary.md and report.html of a run directory from its summary.json.\n"+
			"The summary is first checked against docs/summary.schema.json: if it does not match, every\n"+
			"problem is listed (where, and what is wrong), nothing is rendered, and the exit code is 2.",
		stdout, "tokenstorm report tokenstorm-report")
	pos, err := parse(fs, argv)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("report needs exactly one directory (the --out of a run)")
	}
	if err := reports.Rerender(ctx, pos[0]); err != nil {
		// A schema error lists every problem, one per line (exit 2).
		return usagef("report %s: %v", pos[0], err)
	}
	fmt.Fprintf(stdout, "re-rendered %s/{junit.xml,summary.md,report.html}\n", pos[0])
	return nil
}
