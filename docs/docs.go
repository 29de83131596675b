// Package docs carries the machine-readable parts of the documentation into
// the binary, so that `tokenstorm report` validates summaries against the
// very schema that is published here.
package docs

import _ "embed"

// SummarySchema is docs/summary.schema.json (JSON Schema draft 2020-12).
//
//go:embed summary.schema.json
var SummarySchema []byte
