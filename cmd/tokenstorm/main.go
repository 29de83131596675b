// Command tokenstorm is a load-testing and conformance harness for
// transparent token refresh. main is thin: everything happens in run, which
// tests call without a process.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	disarm := guardStop(ctx, stopGrace, os.Stderr, os.Exit)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	disarm()
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// Exit codes (SPEC §10).
const (
	exitOK     = 0
	exitFailed = 1 // an invariant or threshold failed
	exitUsage  = 2 // usage or configuration error
	// exitInterrupted is the shell's 128+SIGINT: the run was stopped by
	// Ctrl-C or SIGTERM; the reports of what ran are written.
	exitInterrupted = 130
)

// usageError is a mistake in how tokenstorm was called or configured.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// badInput is usagef for an input file that could not be read, unless the
// run was interrupted meanwhile (a FIFO nobody writes to): then the
// interrupt is the reason.
func badInput(ctx context.Context, format string, a ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return usagef(format, a...)
}

// errFailed means the run completed and found a failed invariant or threshold;
// the verdict has already been printed.
var errFailed = errors.New("verdict: fail")

// errInterrupted means the run was stopped by a signal before it finished;
// the verdict ("interrupted") and the reports of what ran are written.
var errInterrupted = errors.New("interrupted: the run was stopped before it finished")

func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelp):
		return exitOK
	case errors.Is(err, errFailed):
		return exitFailed
	case errors.Is(err, errInterrupted):
		fmt.Fprintln(stderr, "tokenstorm:", err)
		return exitInterrupted
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "tokenstorm:", err)
		return exitUsage
	default:
		fmt.Fprintln(stderr, "tokenstorm:", err)
		return exitUsage
	}
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"run", "run the probes, the conformance suite and the default storm against the embedded stack", cmdRun},
		{"conform", "run Gherkin conformance scenarios (godog)", cmdConform},
		{"storm", "run a refresh-storm load scenario (vegeta)", cmdStorm},
		{"merge", "combine storm shards' directories into the whole run", cmdMerge},
		{"serve", "serve mock WeChat and the reference backend on real ports", cmdServe},
		{"report", "re-render the reports of a run directory", cmdReport},
		{"steps", "list every Gherkin step with an example", cmdSteps},
		{"clients", "list the client kinds and mutants", cmdClients},
		{"styles", "list the built-in backend styles", cmdStyles},
		{"style", "style check FILE: validate a style file and print it resolved", cmdStyle},
		{"version", "print the version", cmdVersion},
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printUsage(stderr)
		return usagef("no command given")
	}
	switch args[0] {
	case "-h", "-help", "--help":
		printUsage(stdout)
		return nil
	case "-version", "--version":
		return cmdVersion(ctx, args[1:], stdin, stdout, stderr)
	case "help":
		if len(args) == 1 {
			printUsage(stdout)
			return nil
		}
		if len(args) > 2 {
			return usagef("help takes one command, got %q (see tokenstorm --help)", args[1:])
		}
		c, ok := findCommand(args[1])
		if !ok {
			return usagef("help: unknown command %q (commands: %s)", args[1], strings.Join(commandNames(), ", "))
		}
		err := c.run(ctx, []string{"--help"}, stdin, stdout, stderr)
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	if c, ok := findCommand(args[0]); ok {
		return c.run(ctx, args[1:], stdin, stdout, stderr)
	}
	return usagef("unknown command %q (see tokenstorm --help)", args[0])
}

func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func commandNames() []string {
	var out []string
	for _, c := range commands() {
		out = append(out, c.name)
	}
	return out
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, `tokenstorm — load-testing and conformance harness for transparent token refresh

Usage:
  tokenstorm <command> [flags]

Commands:`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, `
Exit codes: 0 every invariant held; 1 an invariant or threshold failed; 2 usage or configuration error;
130 interrupted (Ctrl-C, SIGTERM: the reports of what ran are written, verdict "interrupted").
Run "tokenstorm help <command>" (or "tokenstorm <command> --help") for the flags of a command;
"tokenstorm --version" prints the version.`)
}
