package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// errHelp: --help was asked for and printed.
var errHelp = errors.New("help printed")

// newFlags returns a FlagSet whose errors are usage errors and whose --help
// prints a header, the flags and examples to stdout.
func newFlags(name, synopsis, about string, stdout io.Writer, examples ...string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: tokenstorm %s %s\n\n%s\n\nFlags:\n", name, synopsis, about)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		if len(examples) > 0 {
			fmt.Fprintf(stdout, "\nExamples:\n  %s\n", strings.Join(examples, "\n  "))
		}
	}
	return fs
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// parse parses args, allowing flags after positional arguments too
// (tokenstorm storm FILE --client x), and returns the positional ones.
// --help prints usage and returns errHelp.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp // the flag package has already printed fs.Usage
			}
			return nil, usagef("%s: %v (see tokenstorm %s --help)", fs.Name(), err, fs.Name())
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
}
