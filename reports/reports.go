// Package reports renders a run's reports (SPEC §9) from a summary.Summary:
// summary.json, junit.xml, summary.md and a self-contained report.html.
//
// Every renderer reads only the Summary, so a report can be rebuilt later
// from summary.json alone (Rerender, the CLI's `tokenstorm report DIR`).
package reports

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tokenstorm/tokenstorm/harness/inputfile"
	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// File names written into a report directory. They are public: CI scripts
// pick them up by name.
const (
	SummaryFile  = "summary.json"
	JUnitFile    = "junit.xml"
	MarkdownFile = "summary.md"
	HTMLFile     = "report.html"
)

// WriteAll writes summary.json, junit.xml, summary.md and report.html into
// dir, creating it if needed. The summary is not modified.
func WriteAll(dir string, s *summary.Summary) error {
	if s == nil {
		return errors.New("reports: nil summary")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("reports: create %s: %w", dir, err)
	}
	s = s.Redacted() // reports are read by many: no live wx.login code in them
	if err := s.WriteFile(dir); err != nil {
		return fmt.Errorf("reports: write %s: %w", filepath.Join(dir, SummaryFile), err)
	}
	return renderAll(dir, s)
}

// Rerender reads dir/summary.json, checks it against
// docs/summary.schema.json (a *SchemaError lists every problem: a report
// must never show a verdict the summary does not support) and rewrites
// junit.xml, summary.md and report.html from it; summary.json itself is left
// untouched. summary.json is read within summary.MaxFileSize (a symlink to
// /dev/zero is an error, not an OOM) and reading stops when ctx ends.
func Rerender(ctx context.Context, dir string) error {
	path := filepath.Join(dir, SummaryFile)
	b, err := inputfile.Read(ctx, path, summary.MaxFileSize)
	if err != nil {
		return fmt.Errorf("reports: read summary: %w", err)
	}
	if err := ValidateSummary(path, b); err != nil {
		return err
	}
	var s summary.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("reports: %s: %w", path, err)
	}
	return renderAll(dir, &s)
}

// renderAll writes the three derived files. Each is rendered fully in
// memory first so a failing renderer never leaves a truncated file behind.
func renderAll(dir string, s *summary.Summary) error {
	renderers := []struct {
		name   string
		render func(*bytes.Buffer, *summary.Summary) error
	}{
		{JUnitFile, writeJUnit},
		{MarkdownFile, writeMarkdown},
		{HTMLFile, writeHTML},
	}
	for _, r := range renderers {
		path := filepath.Join(dir, r.name)
		var buf bytes.Buffer
		if err := r.render(&buf, s); err != nil {
			return fmt.Errorf("reports: render %s: %w", path, err)
		}
		if err := writeFileAtomic(path, buf.Bytes()); err != nil {
			return fmt.Errorf("reports: write %s: %w", path, err)
		}
	}
	return nil
}

// writeFileAtomic replaces path with data via a temporary file in the same
// directory, so a reader (a CI artifact upload, a browser reload) never sees
// a half-written report.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
