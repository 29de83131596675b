package reports

import (
	"encoding/xml"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// parsed JUnit, read back the way a CI consumer would.
type xSuites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Suites   []xSuite `xml:"testsuite"`
}

type xSuite struct {
	Name     string  `xml:"name,attr"`
	Tests    int     `xml:"tests,attr"`
	Failures int     `xml:"failures,attr"`
	Skipped  int     `xml:"skipped,attr"`
	Time     string  `xml:"time,attr"`
	Cases    []xCase `xml:"testcase"`
}

type xCase struct {
	Name      string `xml:"name,attr"`
	Classname string `xml:"classname,attr"`
	Failure   *struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	} `xml:"failure"`
	Skipped *struct {
		Message string `xml:"message,attr"`
	} `xml:"skipped"`
}

func parseJUnit(t *testing.T, s string) xSuites {
	t.Helper()
	var out xSuites
	require.NoError(t, xml.Unmarshal([]byte(s), &out), "junit.xml must be well-formed XML")
	require.Len(t, out.Suites, 1)
	return out
}

func findCase(t *testing.T, cases []xCase, classname, name string) xCase {
	t.Helper()
	for _, c := range cases {
		if c.Classname == classname && c.Name == name {
			return c
		}
	}
	t.Fatalf("no testcase %s/%s", classname, name)
	return xCase{}
}

func TestJUnitFailingRun(t *testing.T) {
	s := Sample(true)
	j := parseJUnit(t, readFile(t, render(t, s), JUnitFile))
	suite := j.Suites[0]

	// One case per invariant, per scenario and per threshold.
	assert.Len(t, suite.Cases, len(summary.InvariantNames)+len(s.Scenarios)+len(s.Thresholds))
	assert.Equal(t, len(suite.Cases), suite.Tests)
	assert.Equal(t, suite.Tests, j.Tests)
	assert.Equal(t, "60.000", suite.Time)

	failures, skipped := 0, 0
	for _, c := range suite.Cases {
		if c.Failure != nil {
			failures++
		}
		if c.Skipped != nil {
			skipped++
		}
	}
	assert.Equal(t, failures, suite.Failures)
	assert.Equal(t, skipped, suite.Skipped)
	assert.Equal(t, suite.Failures, j.Failures)

	// Invariants come first, in SPEC order.
	for i, name := range summary.InvariantNames {
		assert.Equal(t, name, suite.Cases[i].Name)
		assert.Equal(t, "tokenstorm.invariants", suite.Cases[i].Classname)
	}

	sr := findCase(t, suite.Cases, "tokenstorm.invariants", summary.SingleRefresh)
	require.NotNil(t, sr.Failure)
	assert.Equal(t, summary.SingleRefresh, sr.Failure.Type)
	assert.Contains(t, sr.Failure.Message, "40 of 50 devices")
	ex := s.Invariants[summary.SingleRefresh].Examples[0]
	assert.Contains(t, sr.Failure.Text, ex.Explanation)
	assert.Contains(t, sr.Failure.Text, "backend/refresh device=dev-001 token=rt-001-1 family=fam-001")
	assert.Contains(t, sr.Failure.Text, "outcome=reused")
	assert.Contains(t, sr.Failure.Text, "more violation(s)", "the count of examples not shown")

	br := findCase(t, suite.Cases, "tokenstorm.invariants", summary.BoundedRetry)
	require.NotNil(t, br.Skipped)
	assert.Equal(t, s.Invariants[summary.BoundedRetry].Reason, br.Skipped.Message)
	assert.Nil(t, br.Failure)

	ok := findCase(t, suite.Cases, "tokenstorm.invariants", summary.CorrectReplay)
	assert.Nil(t, ok.Failure)
	assert.Nil(t, ok.Skipped)

	storm := findCase(t, suite.Cases, "tokenstorm.storm", "expiry-storm")
	require.NotNil(t, storm.Failure)
	assert.Contains(t, storm.Failure.Message, "refresh.amplification <= 1")
	assert.Contains(t, storm.Failure.Text, ex.Explanation, "violations of the scenario are attached")
	skippedFeature := findCase(t, suite.Cases, "tokenstorm.feature", "WeChat busy during login is surfaced, not retried forever")
	require.NotNil(t, skippedFeature.Skipped)
	assert.Contains(t, skippedFeature.Skipped.Message, "--tags @faults")
	assert.NotNil(t, findCase(t, suite.Cases, "tokenstorm.probe", "expired token is refreshed once and the request replayed").Failure)

	thr := findCase(t, suite.Cases, "tokenstorm.thresholds", "refresh.amplification <= 1")
	require.NotNil(t, thr.Failure)
	assert.Contains(t, thr.Failure.Message, "3.90")
}

func TestJUnitPassingRun(t *testing.T) {
	j := parseJUnit(t, readFile(t, render(t, Sample(false)), JUnitFile))
	assert.Zero(t, j.Failures)
	assert.Equal(t, 2, j.Skipped, "bounded-retry and the @faults feature are skipped")
}

// Ledger details are arbitrary bytes: control characters, a CDATA
// terminator and markup must all come back intact or replaced, never
// break the XML.
func TestJUnitSurvivesHostileEvidence(t *testing.T) {
	s := Sample(true)
	ex := &s.Invariants[summary.SingleRefresh].Examples[0]
	ex.Evidence[1].Detail = "]]> " + hostile
	ex.Explanation = "nul\x00 esc\x1b ]]><![CDATA[ " + hostile + " bad utf8 \xff"
	s.Invariants[summary.SingleRefresh].Reason = "reason with \x07 bell and <tag>"
	s.Scenarios[0].Name = `quote " and <angle> & amp`

	j := parseJUnit(t, readFile(t, render(t, s), JUnitFile))
	sr := findCase(t, j.Suites[0].Cases, "tokenstorm.invariants", summary.SingleRefresh)
	require.NotNil(t, sr.Failure)
	assert.Contains(t, sr.Failure.Text, "nul\uFFFD esc\uFFFD ]]><![CDATA[ "+hostile+" bad utf8 \uFFFD", "control characters replaced, the rest intact")
	assert.Contains(t, sr.Failure.Text, `detail="]]> <script>`, "CDATA terminator survives the round trip")
	assert.Equal(t, "reason with \uFFFD bell and <tag>", sr.Failure.Message)
	assert.NotNil(t, findCase(t, j.Suites[0].Cases, "tokenstorm.probe", `quote " and <angle> & amp`).Failure)
}

func TestJUnitNoScenariosNoThresholds(t *testing.T) {
	s := summary.New("ref", "embedded")
	s.Finalize()
	j := parseJUnit(t, readFile(t, render(t, s), JUnitFile))
	assert.Len(t, j.Suites[0].Cases, len(summary.InvariantNames))
	assert.Equal(t, len(summary.InvariantNames), j.Skipped, "a fresh summary has every invariant skipped")

	s.StartedAt = time.Time{}
	assert.NotContains(t, readFile(t, render(t, s), JUnitFile), "timestamp=", "no zero timestamp")
}
