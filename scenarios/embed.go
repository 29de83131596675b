// Package scenarios holds the load scenarios shipped with tokenstorm. They are
// embedded so that `tokenstorm storm NAME` works from any directory; the YAML
// files next to this one are the documentation by example (see
// docs/scenarios.md for the format).
package scenarios

import "embed"

// FS holds every *.yaml scenario of this directory.
//
//go:embed *.yaml
var FS embed.FS
