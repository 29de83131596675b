package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
)

// errHelp: --help was asked for and printed.
var errHelp = errors.New("help printed")

// newFlags returns a FlagSet whose errors are usage errors and whose --help
// prints a header, the flags (spelt --name) and examples to stdout.
func newFlags(name, synopsis, about string, stdout io.Writer, examples ...string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	// The flag package calls Usage on every parse error too; parse prints
	// the full help only for --help, and one line otherwise.
	fs.Usage = func() {}
	helpMu.Lock()
	defer helpMu.Unlock()
	helps[fs] = func() {
		fmt.Fprintf(stdout, "Usage: %s\n\n%s\n", usageLine(name, synopsis), about)
		if hasFlags(fs) {
			fmt.Fprintf(stdout, "\nFlags:\n")
			printFlags(stdout, fs)
		}
		if len(examples) > 0 {
			fmt.Fprintf(stdout, "\nExamples:\n  %s\n", strings.Join(examples, "\n  "))
		}
	}
	synopses[fs] = usageLine(name, synopsis)
	return fs
}

// helps and synopses hold each FlagSet's full help and one-line usage until
// it is parsed (a command builds one FlagSet per call).
var (
	helpMu   sync.Mutex // tests run commands in parallel
	helps    = map[*flag.FlagSet]func(){}
	synopses = map[*flag.FlagSet]string{}
)

func usageLine(name, synopsis string) string {
	return strings.TrimSpace("tokenstorm " + name + " " + synopsis)
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// printFlags lists the flags as users type them: --name VALUE, the usage on
// the next line, then the default when it is not the zero value.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if kind != "" {
			line += " " + kind
		}
		fmt.Fprintln(w, line)
		fmt.Fprintf(w, "        %s", strings.ReplaceAll(usage, "\n", "\n        "))
		if !isZeroDefault(f) {
			if kind == "string" {
				fmt.Fprintf(w, " (default %q)", f.DefValue)
			} else {
				fmt.Fprintf(w, " (default %s)", f.DefValue)
			}
		}
		fmt.Fprintln(w)
	})
}

func isZeroDefault(f *flag.Flag) bool {
	switch f.DefValue {
	case "", "0", "false", "0s":
		return true
	}
	return false
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// parse parses args, allowing flags after positional arguments too
// (tokenstorm storm FILE --client x), and returns the positional ones.
// --help prints the command's help and returns errHelp; any other flag
// error is a usage error of one line, with the usage line and a pointer to
// --help, not the whole help.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	helpMu.Lock()
	help, synopsis := helps[fs], synopses[fs]
	delete(helps, fs) // parsed once
	delete(synopses, fs)
	helpMu.Unlock()
	var pos []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				if help != nil {
					help()
				}
				return nil, errHelp
			}
			return nil, usagef("%s: %s\nusage: %s (see tokenstorm %s --help)", fs.Name(), dashDash(err.Error()), synopsis, fs.Name())
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
}

// flagRef is the flag package's "-name" in its messages.
var flagRef = regexp.MustCompile(`(flag |for |: )-([A-Za-z])`)

// dashDash rewrites the flag package's "-name" in its messages as the
// "--name" users type.
func dashDash(msg string) string { return flagRef.ReplaceAllString(msg, "$1--$2") }
