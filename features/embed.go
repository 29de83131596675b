// Package features embeds the Gherkin conformance suite (SPEC §7) so that the
// tokenstorm binary runs it from any directory. The .feature files next to
// this file are the suite; `tokenstorm steps` lists the steps they may use.
package features

import (
	"embed"
	"io/fs"
)

//go:embed *.feature
var files embed.FS

// FS returns the suite: the .feature files at its root.
func FS() fs.FS { return files }
