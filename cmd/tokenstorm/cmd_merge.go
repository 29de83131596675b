package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/tokenstorm/tokenstorm/harness/storm"
	"github.com/tokenstorm/tokenstorm/harness/summary"
	"github.com/tokenstorm/tokenstorm/reports"
)

// parseMerge parses a merge command line: the shard directories (globs
// expanded) and --out.
func parseMerge(argv []string, stdout io.Writer) (dirs []string, out string, err error) {
	fs := newFlags("merge", "DIR… --out DIR",
		"Combine the --out directories of a storm's shards (tokenstorm storm FILE --shard I/N) into the\n"+
			"whole run: counts summed, latency from the merged histograms (not averaged percentiles),\n"+
			"invariants and thresholds judged on the whole, the results.bin files written as one (vegeta\n"+
			"reads it), and every report. Every shard 0..N-1 must be given, once. Exit codes as storm's.\n"+
			"A DIR may be a glob (quote it to let tokenstorm expand it).",
		stdout,
		"tokenstorm merge /data/shard-0 /data/shard-1 /data/shard-2 --out /data/merged",
		"tokenstorm merge '/data/shard-*' --out /data/merged")
	outDir := fs.String("out", "tokenstorm-report", "directory for the merged summary.json, results.bin and reports")
	pos, err := parse(fs, argv)
	if err != nil {
		return nil, "", err
	}
	if len(pos) == 0 {
		return nil, "", usagef("merge needs the shards' directories (see tokenstorm merge --help)")
	}
	for _, p := range pos {
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, "", usagef("merge: %q: %v", p, err)
		}
		if len(m) == 0 {
			m = []string{p} // not a pattern, or matching nothing: let the read say so
		}
		dirs = append(dirs, m...)
	}
	for _, d := range dirs {
		if filepath.Clean(d) == filepath.Clean(*outDir) {
			return nil, "", usagef("merge: --out %s is one of the shard directories; write the merge elsewhere", *outDir)
		}
	}
	return dirs, *outDir, nil
}

func cmdMerge(ctx context.Context, argv []string, _ io.Reader, stdout, _ io.Writer) error {
	dirs, out, err := parseMerge(argv, stdout)
	if err != nil {
		return err
	}
	s, err := storm.Merge(ctx, dirs, out)
	if err != nil {
		return usagef("%v", err)
	}
	if err := reports.WriteAll(out, s); err != nil {
		return fmt.Errorf("writing reports to %s: %w", out, err)
	}
	printStorm(stdout, s)
	printVerdict(stdout, s, out)
	if s.Verdict != summary.Pass {
		return errFailed
	}
	return nil
}
