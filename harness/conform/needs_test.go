package conform

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStepNeedsNameLibrarySteps(t *testing.T) {
	syntaxes := map[string]bool{}
	for _, s := range library {
		syntaxes[s.Syntax] = true
	}
	for k := range stepNeeds {
		assert.True(t, syntaxes[k], "stepNeeds names %q, which is no step of the library", k)
	}
}

// Against a backend under test an @admin scenario is skipped with what its
// steps need — the admin API route, the clock, the ledger, the scenario's
// own backend configuration — not only the tag.
func TestAdminSkipNamesWhatItNeeds(t *testing.T) {
	_, p, _, err := prepare(context.Background(), Options{BackendURL: "http://127.0.0.1:8080", Style: "bearer"})
	require.NoError(t, err)
	skips := map[string]string{}
	for _, s := range p.order {
		skips[s.name] = s.skip
	}
	for name, want := range map[string][]string{
		"a token expired by the admin API gets the same expiry signal":              {capExpire, capLedger},
		"an access token past its lifetime gets 401 token_expired with a challenge": {capClock},
		"a revoked family's refresh token is refused":                               {capRevoke},
		"an expired refresh token is refused":                                       {capConfig, capClock},
		"under strict rotation, reusing a rotated refresh token revokes the family": nil,
	} {
		reason, ok := skips[name]
		require.True(t, ok, "no scenario %q", name)
		assert.Contains(t, reason, "which a backend under test does not offer (tagged @admin); --backend points to http://127.0.0.1:8080", name)
		for _, c := range want {
			assert.Contains(t, reason, c, name)
		}
	}
	assert.Equal(t, "needs the admin API (POST /__admin/expire), the backend's ledger (what it answered, refreshes and logins it counted), which a backend under test does not offer (tagged @admin); --backend points to http://127.0.0.1:8080",
		skips["a token expired by the admin API gets the same expiry signal"])
	assert.Contains(t, skips["a dead refresh token falls back to wx.login once per device"], "needs the admin API (POST /__admin/revoke, POST /__admin/expire), the backend's ledger", "one admin API, its routes listed")
	for name, reason := range skips {
		if reason != "" {
			assert.NotContains(t, reason, "admin API, ledger and clock", "%q: every built-in @admin scenario says what it needs", name)
		}
	}
}
