package summary

// BackendProfile is what a backend under test was seen to do through its
// own public routes (SPEC §6, summary.json "backend_profile"): measured by
// trying, never taken from configuration.
type BackendProfile struct {
	Style string `json:"style"`
	// AccessTTLSeconds and RefreshTTLSeconds are the lifetimes the login
	// answer announced; 0 when it did not say.
	AccessTTLSeconds  int64 `json:"access_ttl_s"`
	RefreshTTLSeconds int64 `json:"refresh_ttl_s"`
	// Rotation: "rotates" (a refresh hands out a new refresh token), "keeps"
	// (the same one), "none" (the style has no refresh route), "" unknown.
	Rotation string `json:"rotation"`
	// Reuse is the policy seen when a rotated refresh token is presented
	// again: "strict" (refused), "count" (accepted ReuseAccepted times right
	// away, then refused, yet accepted after a pause: a reuse count), "grace"
	// (accepted until some time after the rotation: a grace window),
	// "tolerated" (accepted every time in a row and at every delay tried: a
	// long window or a large count), "" when not measured. ReuseAccepted
	// counts the presentations accepted in a row right after the rotation
	// (of up to 17: a count is exact up to 16).
	Reuse         string `json:"reuse"`
	ReuseAccepted int    `json:"reuse_accepted"`
	// ReuseGraceSeconds, under "grace", is the longest delay after the
	// rotation at which the rotated token was still accepted (the window
	// lies between it and the next delay tried, said in Notes).
	ReuseGraceSeconds float64 `json:"reuse_grace_s,omitempty"`
	// FamilyRevokedOnReuse: after a refused reuse, the newest refresh token
	// of the family was refused too (RFC 9700 §4.14.2).
	FamilyRevokedOnReuse *bool `json:"family_revoked_on_reuse,omitempty"`
	// FamilyStaysRevoked: the revoked family's newest refresh token was
	// refused again a second later (not only on the immediate retry).
	FamilyStaysRevoked *bool `json:"family_stays_revoked,omitempty"`
	// ParallelRefreshes refreshes were sent at once with one refresh token;
	// ParallelSucceeded of them got new tokens (1 under strict rotation).
	ParallelRefreshes int `json:"parallel_refreshes"`
	ParallelSucceeded int `json:"parallel_succeeded"`
	// Signals counts the style's signals seen in the profile's answers.
	Signals map[string]int `json:"signals"`
	// Latency of the profile's own login and refresh calls (ms, few calls:
	// an indication, not a benchmark).
	LoginMS   Latency `json:"login_ms"`
	RefreshMS Latency `json:"refresh_ms"`
	// StormLoginMS and StormRefreshMS are the login and refresh round-trips
	// under the run's storm, as the tap in front of the backend measured
	// them (storm.backend_login_ms / backend_refresh_ms): the benchmark.
	StormLoginMS   *CallLatency `json:"storm_login_ms,omitempty"`
	StormRefreshMS *CallLatency `json:"storm_refresh_ms,omitempty"`
	// Logins are the login checks through the public route: a reused and an
	// unknown code (invalid_code), WeChat busy, rate limited and unreachable
	// through mock WeChat's faults (upstream_unavailable).
	Logins []ProfileCheck `json:"logins,omitempty"`
	// RetryAfter: the upstream_unavailable answers carried Retry-After.
	RetryAfter *bool `json:"retry_after,omitempty"`
	// Notes say what could not be measured, and why.
	Notes []string `json:"notes,omitempty"`
}

// ProfileCheck is one call of the profile and what it got.
type ProfileCheck struct {
	Name   string `json:"name"`
	Want   string `json:"want"` // the style signal a correct backend answers
	Seen   string `json:"seen"`
	Status int    `json:"status"`
	OK     bool   `json:"ok"`
}
