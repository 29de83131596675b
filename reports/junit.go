package reports

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// JUnit limits: a CI page shows the failure body inline, so keep it to what
// a human reads; the full list is in report.html and summary.json.
const (
	junitMaxExamples = 20
	junitMaxEvidence = 20
)

// The JUnit shape below is the common subset understood by GitHub test
// reporters, GitLab's JUnit parser and Jenkins' junit plugin.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut *junitText    `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

// junitText is an element whose text is written as CDATA, so multi-line
// evidence stays readable in the raw file instead of becoming &#xA; soup.
type junitText struct {
	Text string `xml:",cdata"`
}

func systemOut(s string) *junitText {
	if s == "" {
		return nil
	}
	return &junitText{Text: xmlSafe(s)}
}

// xmlSafe replaces what XML 1.0 cannot carry (control characters, invalid
// UTF-8) with U+FFFD. encoding/xml does this for attributes and character
// data but writes CDATA verbatim, and ledger details are arbitrary bytes.
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t', r == '\n', r == '\r',
			r >= 0x20 && r <= 0xD7FF,
			r >= 0xE000 && r <= 0xFFFD,
			r >= 0x10000 && r <= 0x10FFFF:
			return r
		}
		return '\uFFFD'
	}, s)
}

type junitSkipped struct {
	Message string `xml:"message,attr,omitempty"`
}

// Classnames group the test cases in CI UIs.
const (
	junitClassInvariants = "tokenstorm.invariants"
	junitClassThresholds = "tokenstorm.thresholds"
)

// writeJUnit renders junit.xml: one testcase per invariant, per scenario and
// per threshold (a failed threshold fails the run, so CI must show which).
func writeJUnit(buf *bytes.Buffer, s *summary.Summary) error {
	suite := junitSuite{
		Name:       "tokenstorm",
		Time:       seconds(s.DurationMS),
		Properties: junitProperties(s),
	}
	if !s.StartedAt.IsZero() {
		// Jenkins wants ISO 8601 without zone designator in some versions;
		// UTC without offset is accepted by all three consumers.
		suite.Timestamp = s.StartedAt.UTC().Format("2006-01-02T15:04:05")
	}
	for _, inv := range orderedInvariants(s) {
		suite.Cases = append(suite.Cases, invariantCase(s, inv))
	}
	for _, sc := range s.Scenarios {
		suite.Cases = append(suite.Cases, scenarioCase(s, sc))
	}
	for _, t := range s.Thresholds {
		suite.Cases = append(suite.Cases, thresholdCase(t))
	}
	for _, c := range suite.Cases {
		suite.Tests++
		switch {
		case c.Failure != nil:
			suite.Failures++
		case c.Skipped != nil:
			suite.Skipped++
		}
	}
	doc := junitSuites{
		Name: "tokenstorm", Tests: suite.Tests, Failures: suite.Failures,
		Skipped: suite.Skipped, Time: suite.Time, Suites: []junitSuite{suite},
	}
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(buf)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	buf.WriteByte('\n')
	return nil
}

func junitProperties(s *summary.Summary) []junitProperty {
	props := []junitProperty{
		{"verdict", overallVerdict(s)},
		{"client", s.Client},
		{"backend", s.Backend},
	}
	if s.Style != "" {
		props = append(props, junitProperty{"style", s.Style})
	}
	props = append(props,
		junitProperty{"requests.issued", strconv.Itoa(s.Requests.Issued)},
		junitProperty{"requests.lost", strconv.Itoa(s.Requests.Lost)},
		junitProperty{"refresh.amplification", fmtRatio(s.Refresh.Amplification)},
		junitProperty{"latency.p99", fmtFloat(s.Latency.P99)},
	)
	return props
}

func invariantCase(s *summary.Summary, inv namedInvariant) junitCase {
	c := junitCase{Name: inv.Name, Classname: junitClassInvariants, Time: "0"}
	switch inv.Verdict {
	case summary.Fail:
		msg := inv.Reason
		if msg == "" {
			msg = fmt.Sprintf("%d violation(s)", inv.Violations)
		}
		c.Failure = &junitFailure{Message: msg, Type: inv.Name, Text: xmlSafe(violationsText(s, inv.Name, inv.Violations, inv.Examples))}
	case summary.Skip:
		c.Skipped = &junitSkipped{Message: inv.Reason}
	default:
		c.SystemOut = systemOut(fmt.Sprintf("%d checked, %d violations", inv.Checked, inv.Violations))
	}
	return c
}

func scenarioCase(s *summary.Summary, sc summary.Scenario) junitCase {
	kind := sc.Kind
	if kind == "" {
		kind = "scenario"
	}
	c := junitCase{Name: sc.Name, Classname: "tokenstorm." + kind, Time: seconds(sc.DurationMS)}
	switch sc.Verdict {
	case summary.Fail:
		msg := "failed"
		if len(sc.Failed) > 0 {
			msg = "failed: " + strings.Join(sc.Failed, ", ")
		}
		var related []summary.Violation
		for _, inv := range orderedInvariants(s) {
			for _, v := range inv.Examples {
				if v.Scenario == sc.Name {
					if v.Invariant == "" {
						v.Invariant = inv.Name
					}
					related = append(related, v)
				}
			}
		}
		text := sc.Detail
		if len(related) > 0 {
			text = strings.TrimSpace(text + "\n\n" + violationsText(s, "", len(related), related))
		}
		c.Failure = &junitFailure{Message: msg, Type: kind, Text: xmlSafe(text)}
	case summary.Skip:
		c.Skipped = &junitSkipped{Message: sc.Detail}
	default:
		c.SystemOut = systemOut(sc.Detail)
	}
	return c
}

func thresholdCase(t summary.Threshold) junitCase {
	c := junitCase{Name: t.Expr, Classname: junitClassThresholds, Time: "0"}
	switch t.Verdict {
	case summary.Fail:
		c.Failure = &junitFailure{
			Message: fmt.Sprintf("threshold %s not met: actual %s", t.Expr, fmtFloat(t.Actual)),
			Type:    "threshold",
		}
	case summary.Skip:
		c.Skipped = &junitSkipped{Message: "not evaluated"}
	default:
		c.SystemOut = systemOut("actual " + fmtFloat(t.Actual))
	}
	return c
}

// violationsText is the plain-text failure body: each example's headline,
// explanation and evidence lines.
func violationsText(s *summary.Summary, name string, total int, examples []summary.Violation) string {
	var b strings.Builder
	shown := min(len(examples), junitMaxExamples)
	for i, v := range examples[:shown] {
		if v.Invariant == "" {
			v.Invariant = name
		}
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s\n  %s\n", violationHeadline(s.StartedAt, pickedViolation{Invariant: v.Invariant, Violation: v}), v.Explanation)
		if len(v.RIDs) > 0 {
			fmt.Fprintf(&b, "  requests: %s\n", strings.Join(v.RIDs, ", "))
		}
		if len(v.Tokens) > 0 {
			fmt.Fprintf(&b, "  tokens: %s\n", strings.Join(v.Tokens, ", "))
		}
		ev := v.Evidence
		for _, e := range ev[:min(len(ev), junitMaxEvidence)] {
			b.WriteString("    " + evidenceLine(s.StartedAt, e) + "\n")
		}
		if len(ev) > junitMaxEvidence {
			fmt.Fprintf(&b, "    … %d more evidence line(s) in report.html\n", len(ev)-junitMaxEvidence)
		}
	}
	if more := max(total, len(examples)) - shown; more > 0 {
		fmt.Fprintf(&b, "\n… %d more violation(s); see report.html and summary.json\n", more)
	}
	return b.String()
}

// seconds renders milliseconds as JUnit's decimal seconds.
func seconds(ms float64) string {
	return strconv.FormatFloat(time.Duration(ms*float64(time.Millisecond)).Seconds(), 'f', 3, 64)
}
