// Package summary is the data model of a run's verdict: what summary.json
// holds and what every report renders. Keys marked public in SPEC §9 are
// public interface; keep them.
package summary

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/inputfile"
	"github.com/tokenstorm/tokenstorm/harness/latency"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// Verdicts.
const (
	Pass = "pass"
	Fail = "fail"
	Skip = "skip"
	// Interrupted is an overall verdict only: the run was stopped (Ctrl-C,
	// SIGTERM) before it finished (SPEC §9).
	Interrupted = "interrupted"
)

// Invariant names (SPEC §5).
const (
	SingleRefresh      = "single-refresh"
	CorrectReplay      = "correct-replay"
	NoLostRequests     = "no-lost-requests"
	NoDuplicateEffects = "no-duplicate-effects"
	BoundedRetry       = "bounded-retry"
	ExpirySignalled    = "expiry-signalled"
	CodeSingleUse      = "code-single-use"
	GenuineAnswers     = "genuine-answers"
)

// InvariantNames lists every invariant in report order.
var InvariantNames = []string{SingleRefresh, CorrectReplay, NoLostRequests, NoDuplicateEffects, BoundedRetry, ExpirySignalled, CodeSingleUse, GenuineAnswers}

// Summary is summary.json.
type Summary struct {
	Verdict    string                `json:"verdict"` // public
	Client     string                `json:"client"`  // public
	Backend    string                `json:"backend"` // public
	Style      string                `json:"style,omitempty"`
	StartedAt  time.Time             `json:"started_at"`
	DurationMS float64               `json:"duration_ms"`
	Invariants map[string]*Invariant `json:"invariants"` // public: invariants.<name>.verdict|violations
	Requests   Requests              `json:"requests"`   // public
	Refresh    Refresh               `json:"refresh"`    // public
	Latency    Latency               `json:"latency"`    // public (ms)
	Scenarios  []Scenario            `json:"scenarios,omitempty"`
	Thresholds []Threshold           `json:"thresholds,omitempty"`
	// Series and distributions for charts (optional, downsampled).
	Timeline []Mark  `json:"timeline,omitempty"` // expiry, refresh, fault events over time
	Series   []Point `json:"series,omitempty"`   // latency/throughput over time buckets
	// SeriesBucketMS is the width of each Series bucket (chosen from the
	// run's duration); Series and Timeline are on the run's wall time.
	SeriesBucketMS float64      `json:"series_bucket_ms,omitempty"`
	PerDevice      []DeviceStat `json:"per_device,omitempty"` // refreshes per device (top N + histogram)
	Histogram      []Bucket     `json:"latency_histogram,omitempty"`
	// LatencyHDR is the histogram Latency was computed from, encoded, so
	// that shard summaries merge into exact whole-run percentiles.
	LatencyHDR *latency.Histogram `json:"latency_hdr,omitempty"`
	PerRoute   map[string]Latency `json:"per_route,omitempty"`
	Storm      *Storm             `json:"storm,omitempty"`
	// ProtocolErrors counts what the client under test wrote that the
	// protocol does not allow (exec clients: garbage lines, oversized lines,
	// duplicate answers, ...). Absent when there were none.
	ProtocolErrors *ProtocolErrors `json:"protocol_errors,omitempty"`
	// StoppedDevices lists the devices whose client runtime the harness
	// stopped at a limit (a JS runtime past its time or memory limit):
	// their later calls failed at once while the run went on. Absent when
	// there were none.
	StoppedDevices *StoppedDevices `json:"stopped_devices,omitempty"`
	// BackendProfile is set in runs against a backend under test.
	BackendProfile *BackendProfile `json:"backend_profile,omitempty"`
	Notes          []string        `json:"notes,omitempty"`
}

// ProtocolErrors is summary.json's protocol_errors: a total and a count per
// kind (ledger.ProtocolKinds).
type ProtocolErrors struct {
	Total  int            `json:"total"`
	ByKind map[string]int `json:"by_kind"`
}

// AddProtocolErrors adds counts by kind (as a checker or a merge has them).
func (s *Summary) AddProtocolErrors(byKind map[string]int) {
	for k, n := range byKind {
		if n <= 0 {
			continue
		}
		if s.ProtocolErrors == nil {
			s.ProtocolErrors = &ProtocolErrors{ByKind: map[string]int{}}
		}
		s.ProtocolErrors.ByKind[k] += n
		s.ProtocolErrors.Total += n
	}
}

// String is "12 (garbage_lines 10, duplicate_answers 2)", kinds in
// ledger.ProtocolKinds order.
func (p *ProtocolErrors) String() string {
	var parts []string
	for _, k := range ledger.ProtocolKinds {
		if n := p.ByKind[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
	}
	return fmt.Sprintf("%d (%s)", p.Total, strings.Join(parts, ", "))
}

// ProtocolErrorCount is protocol_errors.total, or one kind's count; 0 when
// there were none.
func (s *Summary) ProtocolErrorCount(kind string) int {
	if s.ProtocolErrors == nil {
		return 0
	}
	if kind == "" {
		return s.ProtocolErrors.Total
	}
	return s.ProtocolErrors.ByKind[kind]
}

// MaxStoppedListed bounds stopped_devices.devices: a fleet whose every
// runtime hit a limit is counted in full, and listed by its first ones.
const MaxStoppedListed = 20

// StoppedDevices is summary.json's stopped_devices.
type StoppedDevices struct {
	Total   int             `json:"total"`
	Devices []StoppedDevice `json:"devices"` // the first MaxStoppedListed
}

// StoppedDevice is one device stopped at a limit, and why (the client's
// words, e.g. "js runtime of device d3 stopped: one turn of its JavaScript
// allocated more than 256 MiB (runaway allocation?)").
type StoppedDevice struct {
	Device string `json:"device"`
	Reason string `json:"reason"`
}

// AddStopped adds devices stopped at a limit (as a checker or a merge has
// them): total counts every one, the list keeps the first MaxStoppedListed.
func (s *Summary) AddStopped(total int, devices []StoppedDevice) {
	if total <= 0 {
		return
	}
	if s.StoppedDevices == nil {
		s.StoppedDevices = &StoppedDevices{Devices: []StoppedDevice{}}
	}
	s.StoppedDevices.Total += total
	for _, d := range devices {
		if len(s.StoppedDevices.Devices) >= MaxStoppedListed {
			break
		}
		s.StoppedDevices.Devices = append(s.StoppedDevices.Devices, d)
	}
}

// StoppedCount is stopped_devices.total; 0 when none was stopped.
func (s *Summary) StoppedCount() int {
	if s.StoppedDevices == nil {
		return 0
	}
	return s.StoppedDevices.Total
}

// String is "1 (d3: js runtime of device d3 stopped: …; …)", at most n
// devices named.
func (p *StoppedDevices) String(n int) string {
	parts := make([]string, 0, min(n, len(p.Devices)))
	for _, d := range p.Devices[:min(n, len(p.Devices))] {
		parts = append(parts, d.Device+": "+d.Reason)
	}
	if more := p.Total - len(parts); more > 0 {
		parts = append(parts, fmt.Sprintf("%d more", more))
	}
	return fmt.Sprintf("%d (%s)", p.Total, strings.Join(parts, "; "))
}

// Invariant is the verdict of one invariant.
type Invariant struct {
	Verdict    string      `json:"verdict"`            // public: pass|fail|skip
	Violations int         `json:"violations"`         // public: how many violations were found
	Checked    int         `json:"checked"`            // how many episodes/requests/codes were checked
	Reason     string      `json:"reason,omitempty"`   // why skipped, or a one-line summary of the failure
	Examples   []Violation `json:"examples,omitempty"` // the first few violations, explained
	// ByScenario counts the violations per scenario (probe, feature or
	// storm) that found them, so a report can group them.
	ByScenario map[string]int `json:"by_scenario,omitempty"`
}

// Violation explains one breach of an invariant with the evidence that proves it.
type Violation struct {
	Invariant   string         `json:"invariant"`
	Device      string         `json:"device,omitempty"`
	RIDs        []string       `json:"rids,omitempty"`
	Tokens      []string       `json:"tokens,omitempty"`
	At          time.Time      `json:"at"`
	Explanation string         `json:"explanation"`
	Evidence    []ledger.Event `json:"evidence,omitempty"` // ledger lines that prove it
	Scenario    string         `json:"scenario,omitempty"`
}

// Requests counts logical requests (public keys).
type Requests struct {
	Issued    int `json:"issued"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	Lost      int `json:"lost"`
	// Late settled after their deadline, because the backend or the machine
	// was slow (SPEC §5): gated by thresholds, not by no-lost-requests.
	Late int `json:"late"`
}

// Refresh counts refresh activity (public keys).
type Refresh struct {
	ExpiryEpisodes int `json:"expiry_episodes"`
	Refreshes      int `json:"refreshes"`
	Logins         int `json:"logins"`
	// Amplification is (refreshes + logins − first logins − retries) ÷
	// expiry episodes: 1 for a correct client (docs/invariants.md).
	Amplification float64 `json:"amplification"`
	FirstLogins   int     `json:"first_logins"` // each device's first login: not an episode
	Retries       int     `json:"retries"`      // token calls after one that failed as the client saw it
}

// Latency percentiles in milliseconds (public keys).
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Scenario is one probe, feature scenario or storm in a run.
type Scenario struct {
	Name       string   `json:"name"`
	Kind       string   `json:"kind"` // probe|feature|storm
	Verdict    string   `json:"verdict"`
	DurationMS float64  `json:"duration_ms"`
	Failed     []string `json:"failed,omitempty"` // invariants or assertions that failed
	Detail     string   `json:"detail,omitempty"`
}

// Threshold is one storm threshold and whether it held.
type Threshold struct {
	Expr    string  `json:"expr"`
	Actual  float64 `json:"actual"`
	Verdict string  `json:"verdict"`
}

// Mark is a point event on the run's time line.
type Mark struct {
	AtMS   float64 `json:"at_ms"` // since StartedAt
	Kind   string  `json:"kind"`  // expire|refresh|login|fault|revoke|skew|marker
	Device string  `json:"device,omitempty"`
	Detail string  `json:"detail,omitempty"`
	// ClockOffsetMS is how far the clock that stamped the event (a probe's
	// simulated clock, shifted to expire tokens) ran ahead of wall time:
	// a note on the event; AtMS is always wall time.
	ClockOffsetMS float64 `json:"clock_offset_ms,omitempty"`
	Scenario      string  `json:"scenario,omitempty"` // the probe, feature or storm it happened in
}

// Point is one time bucket of a run.
type Point struct {
	AtMS      float64 `json:"at_ms"`
	Requests  int     `json:"requests"`
	Errors    int     `json:"errors"`
	P50MS     float64 `json:"p50_ms"`
	P99MS     float64 `json:"p99_ms"`
	MaxMS     float64 `json:"max_ms"`
	Refreshes int     `json:"refreshes"`
}

// DeviceStat is refresh activity of one device.
type DeviceStat struct {
	Device    string `json:"device"`
	Scenario  string `json:"scenario,omitempty"` // the probe, feature or storm it belongs to
	Episodes  int    `json:"episodes"`
	Refreshes int    `json:"refreshes"`
	Logins    int    `json:"logins"`
	// FirstLoginCalls are the logins (and retries) before the device's
	// first token: counted in Logins, but in no expiry episode.
	FirstLoginCalls int `json:"first_login_calls,omitempty"`
}

// EpisodeCalls are the refresh and login calls the device made in its expiry
// episodes (and proactively), its first login left out.
func (d DeviceStat) EpisodeCalls() int {
	return max(d.Refreshes+d.Logins-d.FirstLoginCalls, 0)
}

// LatencyOf reads a Latency (ms) off a histogram.
func LatencyOf(h *latency.Histogram) Latency {
	return Latency{P50: MS(h.Quantile(0.50)), P90: MS(h.Quantile(0.90)), P99: MS(h.Quantile(0.99)), Max: MS(h.Max())}
}

// CallLatency is the latency of one kind of call (ms) and how many were
// measured: the backend's login and refresh round-trips under a storm.
type CallLatency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// CallLatencyOf summarises h.
func CallLatencyOf(h *latency.Histogram) CallLatency {
	return CallLatency{Count: h.Count(), P50: MS(h.Quantile(0.50)), P99: MS(h.Quantile(0.99)), Max: MS(h.Max())}
}

// MS is d in milliseconds, to the microsecond.
func MS(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)*1000) / 1000
}

// Bucket is one latency histogram bucket.
type Bucket struct {
	LEMS  float64 `json:"le_ms"` // upper bound
	Count int     `json:"count"`
}

// Storm holds load-run specifics.
type Storm struct {
	Scenario      string  `json:"scenario"`
	Rate          string  `json:"rate"`
	Duration      string  `json:"duration"`
	Devices       int     `json:"devices"`
	ThroughputRPS float64 `json:"throughput_rps"`
	SendLagP99MS  float64 `json:"send_lag_p99_ms"` // scheduled vs actual send (coordinated omission)
	SendLagMaxMS  float64 `json:"send_lag_max_ms"`
	PeakRSSMB     float64 `json:"peak_rss_mb,omitempty"`
	// Overloaded: the generator fell behind its schedule (send lag p99 over
	// the storm's limit), so the load was not delivered as paced and the
	// latencies understate what callers on schedule would have waited.
	Overloaded bool `json:"overloaded,omitempty"`
	// CorrectedP99MS is latency p99 corrected for send lag (lag + latency
	// per request): what a caller sending on schedule would have waited.
	CorrectedP99MS float64 `json:"latency_corrected_p99_ms,omitempty"`
	// Shards is how many shards a merged storm was combined from.
	Shards int `json:"shards,omitempty"`
	// BackendLoginMS and BackendRefreshMS are the login and refresh
	// round-trips to a backend under test during the storm, measured by the
	// recording tap in front of it (harness/tap); absent with the embedded
	// backend.
	BackendLoginMS   *CallLatency `json:"backend_login_ms,omitempty"`
	BackendRefreshMS *CallLatency `json:"backend_refresh_ms,omitempty"`
}

// New returns an empty summary with every invariant present and skipped.
func New(clientName, backend string) *Summary {
	s := &Summary{Client: clientName, Backend: backend, Invariants: map[string]*Invariant{}, StartedAt: time.Now()}
	for _, n := range InvariantNames {
		s.Invariants[n] = &Invariant{Verdict: Skip, Reason: "not exercised"}
	}
	return s
}

// Finalize sets the overall verdict: fail if any invariant, scenario or
// threshold failed; an interrupted run (MarkInterrupted) stays interrupted.
func (s *Summary) Finalize() {
	if s.Verdict == Interrupted {
		return
	}
	s.Verdict = Pass
	for _, inv := range s.Invariants {
		if inv.Verdict == Fail {
			s.Verdict = Fail
		}
	}
	for _, sc := range s.Scenarios {
		if sc.Verdict == Fail {
			s.Verdict = Fail
		}
	}
	for _, t := range s.Thresholds {
		if t.Verdict == Fail {
			s.Verdict = Fail
		}
	}
}

// MarkInterrupted records that the run was stopped before it finished:
// the verdict is "interrupted", whatever the parts that ran found, and a
// note says what was cut short.
func (s *Summary) MarkInterrupted(what string) {
	s.Verdict = Interrupted
	s.Notes = append(s.Notes, "interrupted: "+what)
}

// InterruptedScenario is what becomes of a scenario that was running when
// the run was interrupted and did not pass: a skip (it did not get to
// finish), never a fail.
func InterruptedScenario(sc Scenario) Scenario {
	sc.Verdict = Skip
	sc.Failed = nil
	if sc.Detail != "" {
		sc.Detail = "interrupted before it finished (" + sc.Detail + ")"
	} else {
		sc.Detail = "interrupted before it finished"
	}
	return sc
}

// FailedInvariants lists the names of failed invariants in report order.
func (s *Summary) FailedInvariants() []string {
	var out []string
	for _, n := range InvariantNames {
		if inv := s.Invariants[n]; inv != nil && inv.Verdict == Fail {
			out = append(out, n)
		}
	}
	return out
}

// WriteFile writes the summary as indented JSON to dir/summary.json.
func (s *Summary) WriteFile(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "summary.json"), append(b, '\n'), 0o644)
}

// Redacted returns a copy of s whose violation evidence carries no live
// secret (SPEC §12): wx.login codes are hashed as the admin ledger API
// hashes them, so equal codes still read equal. s is not modified.
func (s *Summary) Redacted() *Summary {
	r := *s
	r.Invariants = make(map[string]*Invariant, len(s.Invariants))
	for name, inv := range s.Invariants {
		if inv == nil {
			r.Invariants[name] = nil
			continue
		}
		c := *inv
		c.Examples = make([]Violation, len(inv.Examples))
		for i, v := range inv.Examples {
			if len(v.Evidence) > 0 {
				ev := make([]ledger.Event, len(v.Evidence))
				for j, e := range v.Evidence {
					ev[j] = e.Redacted()
				}
				v.Evidence = ev
			}
			c.Examples[i] = v
		}
		r.Invariants[name] = &c
	}
	return &r
}

// MaxFileSize caps summary.json when it is read back (report, merge): the
// largest real one is a few MiB of evidence.
const MaxFileSize = 32 << 20

// ReadFile loads dir/summary.json.
func ReadFile(dir string) (*Summary, error) { return ReadFileContext(context.Background(), dir) }

// ReadFileContext is ReadFile that gives up when ctx ends (a summary.json
// that is a FIFO nobody writes to).
func ReadFileContext(ctx context.Context, dir string) (*Summary, error) {
	b, err := inputfile.Read(ctx, filepath.Join(dir, "summary.json"), MaxFileSize)
	if err != nil {
		return nil, err
	}
	return Decode(filepath.Join(dir, "summary.json"), b)
}

// Decode reads the bytes of a summary.json; errors name the file.
func Decode(name string, b []byte) (*Summary, error) {
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &s, nil
}
