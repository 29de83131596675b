package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"text/tabwriter"

	"github.com/tokenstorm/tokenstorm/harness/clients"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func cmdVersion(_ context.Context, argv []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlags("version", "", "Print the version of tokenstorm and of Go it was built with.", stdout)
	if _, err := parse(fs, argv); err != nil {
		return err
	}
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	goVer := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVer = bi.GoVersion
	}
	fmt.Fprintf(stdout, "tokenstorm %s (%s)\n", v, goVer)
	return nil
}

func cmdClients(_ context.Context, argv []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlags("clients", "", "List the client kinds accepted by --client, and the mutants.", stdout)
	if _, err := parse(fs, argv); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, k := range clients.List() {
		fmt.Fprintf(tw, "%s\t%s\n", k.Spec, k.Summary)
	}
	return tw.Flush()
}
