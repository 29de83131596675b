package reports

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// profileRows renders summary.json's backend_profile as label/value rows,
// shared by summary.md and report.html, with the backend's login/refresh
// latency under the storm. A storm alone (storm --backend) has no profile:
// its rows are then the storm's latency rows only.
func profileRows(s *summary.Summary) [][2]string {
	login, refresh := stormCalls(s)
	p := s.BackendProfile
	if p == nil {
		if login == nil && refresh == nil {
			return nil
		}
		return stormRows(login, refresh)
	}
	ttl := func(s int64) string {
		if s <= 0 {
			return "not announced"
		}
		return fmt.Sprintf("%ds", s)
	}
	rows := [][2]string{
		{"access token lifetime", ttl(p.AccessTTLSeconds)},
		{"refresh token lifetime", ttl(p.RefreshTTLSeconds)},
		{"rotation", orDash(p.Rotation)},
	}
	reuse := orDash(p.Reuse)
	switch p.Reuse {
	case "count":
		reuse += fmt.Sprintf(" (a reuse count of %d: accepted %d more time(s), then refused)", p.ReuseAccepted, p.ReuseAccepted)
	case "tolerated":
		reuse += fmt.Sprintf(" (accepted %d more times in a row, and still after the longest delay tried)", p.ReuseAccepted)
	case "grace":
		reuse += fmt.Sprintf(" (accepted again up to %.2fs after the rotation)", p.ReuseGraceSeconds)
	}
	if p.FamilyRevokedOnReuse != nil {
		if *p.FamilyRevokedOnReuse {
			reuse += "; a reuse revokes the family"
			if p.FamilyStaysRevoked != nil && !*p.FamilyStaysRevoked {
				reuse += ", but its newest token works again 1s later"
			}
		} else {
			reuse += "; a reuse does not revoke the family"
		}
	}
	rows = append(rows, [2]string{"reuse of a rotated refresh token", reuse})
	if p.ParallelRefreshes > 0 {
		rows = append(rows, [2]string{"parallel refreshes with one token", fmt.Sprintf("%d of %d succeeded", p.ParallelSucceeded, p.ParallelRefreshes)})
	}
	names := make([]string, 0, len(p.Signals))
	for n := range p.Signals {
		names = append(names, n)
	}
	sort.Strings(names)
	seen := make([]string, len(names))
	for i, n := range names {
		seen[i] = fmt.Sprintf("%s ×%d", n, p.Signals[n])
	}
	rows = append(rows, [2]string{"signals seen", orDash(strings.Join(seen, ", "))},
		[2]string{"login latency", fmt.Sprintf("p50 %s, p99 %s", fmtMS(p.LoginMS.P50), fmtMS(p.LoginMS.P99))},
		[2]string{"refresh latency", fmt.Sprintf("p50 %s, p99 %s", fmtMS(p.RefreshMS.P50), fmtMS(p.RefreshMS.P99))})
	rows = append(rows, stormRows(login, refresh)...)
	for _, c := range p.Logins {
		verdict := "ok"
		if !c.OK {
			verdict = "WRONG: want " + c.Want
		}
		rows = append(rows, [2]string{"login: " + c.Name, fmt.Sprintf("%s (HTTP %d) %s", c.Seen, c.Status, verdict)})
	}
	if p.RetryAfter != nil {
		ra := "sent with upstream_unavailable"
		if !*p.RetryAfter {
			ra = "missing from an upstream_unavailable answer"
		}
		rows = append(rows, [2]string{"Retry-After", ra})
	}
	for _, n := range p.Notes {
		rows = append(rows, [2]string{"note", n})
	}
	return rows
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// stormCalls are the backend's login and refresh latency under the storm:
// the profile's copy in a run, else the storm's own.
func stormCalls(s *summary.Summary) (login, refresh *summary.CallLatency) {
	if p := s.BackendProfile; p != nil && (p.StormLoginMS != nil || p.StormRefreshMS != nil) {
		return p.StormLoginMS, p.StormRefreshMS
	}
	if s.Storm != nil {
		return s.Storm.BackendLoginMS, s.Storm.BackendRefreshMS
	}
	return nil, nil
}

func stormRows(login, refresh *summary.CallLatency) [][2]string {
	var rows [][2]string
	for _, c := range []struct {
		label string
		l     *summary.CallLatency
	}{{"login latency under the storm", login}, {"refresh latency under the storm", refresh}} {
		if c.l == nil {
			continue
		}
		v := "no calls"
		if c.l.Count > 0 {
			v = fmt.Sprintf("p50 %s, p99 %s, max %s (%d calls)", fmtMS(c.l.P50), fmtMS(c.l.P99), fmtMS(c.l.Max), c.l.Count)
		}
		rows = append(rows, [2]string{c.label, v})
	}
	return rows
}
