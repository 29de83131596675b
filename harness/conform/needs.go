package conform

import (
	"strings"

	messages "github.com/cucumber/messages/go/v21"
)

// The capabilities of the embedded reference backend that a backend under
// test does not offer. An @admin scenario skipped against --backend names
// the ones its steps use, so its skip reason says what it needs, not only
// that it is tagged.
const (
	adminAPI  = "the admin API ("
	capExpire = adminAPI + "POST /__admin/expire)"
	capRevoke = adminAPI + "POST /__admin/revoke)"
	capClock  = "a controllable clock (the backend's time moved without waiting)"
	capConfig = "a backend the scenario configures (reuse policy, token lifetimes)"
	capLedger = "the backend's ledger (what it answered, refreshes and logins it counted)"
	capReauth = "the reauth route (/api/reauth: a 401 that is not about the token)"
	capDelay  = "the ?delay_ms test route (answers held back)"
)

// stepNeeds maps a library step (by Syntax) to the capability it needs.
// TestStepNeedsNameLibrarySteps keeps the keys honest.
var stepNeeds = map[string]string{
	"the backend reuse policy is <policy>":                                                                         capConfig,
	"access tokens live <duration>":                                                                                capConfig,
	"refresh tokens live <duration>":                                                                               capConfig,
	"<duration> pass":                                                                                              capClock,
	"the clock is <duration> before the access tokens expire":                                                      capClock,
	"the access tokens expire":                                                                                     capExpire,
	"the access token of device <device> expires":                                                                  capExpire,
	"every refresh token family is revoked":                                                                        capRevoke,
	"the refresh token family of device <device> is revoked":                                                       capRevoke,
	"request <rid> got the backend's not-about-the-token answer":                                                   capReauth,
	"request <rid> reached the backend [exactly|at most|at least] once|twice|<n> times":                            capLedger,
	"request <rid> was replayed once with the same body":                                                           capLedger,
	"if request <rid> met an expiry, it was replayed once with the same body":                                      capLedger,
	"request <rid> was executed [exactly|at most|at least] once|twice|<n> times":                                   capLedger,
	"exactly|at most|at least <n> refresh(es)|login(s)|token call(s) for device <device> [since counting started]": capLedger,
	"exactly|at most|at least <n> refresh(es)|login(s)|token call(s) per device [since counting started]":          capLedger,
	"no request met an expired token":                                                                              capLedger,
	"invariant <name> holds":                                                                                       capLedger,
	"invariant <name> is violated":                                                                                 capLedger,
	"all invariants hold":                                                                                          capLedger,
	"the refresh amplification is at most <x>":                                                                     capLedger,
}

// needs lists, in the order the steps first use them, the reference
// backend's capabilities a scenario's steps (their text, tables and doc
// strings) rely on.
func needs(steps []*messages.PickleStep) []string {
	var out []string
	add := func(c string) {
		for i, x := range out {
			if x == c || strings.Contains(x, strings.TrimPrefix(c, adminAPI)) {
				return
			}
			if strings.HasPrefix(x, adminAPI) && strings.HasPrefix(c, adminAPI) {
				// One admin API, its routes listed: (POST /a, POST /b).
				out[i] = strings.TrimSuffix(x, ")") + ", " + strings.TrimPrefix(c, adminAPI)
				return
			}
		}
		out = append(out, c)
	}
	for _, st := range steps {
		for _, s := range match(st.Text) {
			if c, ok := stepNeeds[s.Syntax]; ok {
				add(c)
			}
		}
		text := st.Text
		for _, row := range tableOf(st) {
			text += " " + strings.Join(row, " ")
		}
		if st.Argument != nil && st.Argument.DocString != nil {
			text += " " + st.Argument.DocString.Content
		}
		if strings.Contains(text, "/api/reauth") {
			add(capReauth)
		}
		if strings.Contains(text, "delay_ms=") {
			add(capDelay)
		}
	}
	return out
}

// needsReason is the skip reason of an @admin scenario against a backend
// under test: what its steps need, or the tag's general meaning when they
// name nothing.
func needsReason(steps []*messages.PickleStep, backendURL string) string {
	if c := needs(steps); len(c) > 0 {
		return "needs " + strings.Join(c, ", ") + ", which a backend under test does not offer (tagged @admin); --backend points to " + backendURL
	}
	return "needs the reference backend's admin API, ledger and clock (tagged @admin); --backend points to " + backendURL
}
