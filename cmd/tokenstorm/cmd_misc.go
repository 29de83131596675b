package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/tokenstorm/tokenstorm/harness/clients"
)

// version is set at build time with -ldflags "-X main.version=…"; when it
// is not, the module's build info says which version or commit this is.
var version = ""

func cmdVersion(_ context.Context, argv []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlags("version", "", "Print the version of tokenstorm (its module version, or the commit it was built from)\nand the Go version and platform it was built with.", stdout)
	if _, err := parse(fs, argv); err != nil {
		return err
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprintln(stdout, versionLine(version, bi))
	return nil
}

// versionLine is "tokenstorm VERSION (GO, OS/ARCH[, commit REV[ modified], TIME])".
// VERSION is the -ldflags one, else the module version (go install
// …@v1.2.3), else "devel" for a build from a checkout, whose commit the VCS
// stamp gives.
func versionLine(ldflags string, bi *debug.BuildInfo) string {
	v, goVer := ldflags, runtime.Version()
	var extra []string
	if bi != nil {
		goVer = bi.GoVersion
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		var rev, at string
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev != "" {
			c := "commit " + rev[:min(len(rev), 12)]
			if modified {
				c += " modified"
			}
			extra = append(extra, c)
		}
		if at != "" {
			extra = append(extra, at)
		}
	}
	if v == "" {
		v = "devel"
	}
	parts := append([]string{goVer, runtime.GOOS + "/" + runtime.GOARCH}, extra...)
	return fmt.Sprintf("tokenstorm %s (%s)", v, strings.Join(parts, ", "))
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
