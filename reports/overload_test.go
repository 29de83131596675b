package reports

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A storm whose generator fell behind is labelled in the report, with the
// latency corrected for send lag; one that kept up is not.
func TestHTMLLabelsAnOverloadedStorm(t *testing.T) {
	s := Sample(false)
	require.NotNil(t, s.Storm)
	var calm bytes.Buffer
	require.NoError(t, writeHTML(&calm, s))
	assert.NotContains(t, calm.String(), "OVERLOADED")

	s.Storm.Overloaded, s.Storm.SendLagP99MS, s.Storm.CorrectedP99MS = true, 430, 9100
	var over bytes.Buffer
	require.NoError(t, writeHTML(&over, s))
	assert.Contains(t, over.String(), "OVERLOADED: latency p99 corrected for send lag")
	assert.Contains(t, over.String(), fmtMS(9100))
}
