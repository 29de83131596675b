// Package storm runs refresh-storm load scenarios (SPEC §8): vegeta's
// attacker paces the hits, the client under test is vegeta's transport, and
// each hit is one logical request of one simulated device, recorded in the
// ledger and judged by the streaming invariant checker.
package storm

import (
	"context"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/tokenstorm/tokenstorm/harness/inputfile"
	"github.com/tokenstorm/tokenstorm/harness/yamlsafe"
	"github.com/tokenstorm/tokenstorm/scenarios"
)

// Scenario is one load scenario (scenarios/*.yaml).
type Scenario struct {
	Name        string
	Description string
	File        string // where it was read from, for messages

	Devices  int  // simulated devices
	InFlight int  // requests in flight per device, at most
	Warmup   bool // every device logs in with one request before the attack
	Duration time.Duration
	Deadline time.Duration // per logical request; later is lost

	Mix        []Request
	Rate       Rate
	Backend    Backend
	Timeline   []Event
	Thresholds []Threshold
}

// Request is one entry of the request mix.
type Request struct {
	Method string
	Path   string
	Body   []byte
	Weight int
}

// Rate selects and parameterises one of vegeta's pacers.
type Rate struct {
	Pacer string        // constant | linear | sine
	Freq  int           // constant: hits per Per (0 = as fast as the slots allow)
	Per   time.Duration // unit of Freq, Start, Mean, Amp; default 1s
	Start int           // linear: hits per Per at t=0
	Slope float64       // linear: added hits per second, every second
	Mean  int           // sine: mean hits per Per
	Amp   int           // sine: amplitude, hits per Per (< Mean)
	// Period of the sine wave.
	Period time.Duration
	Phase  string // sine: mean_up (default), peak, mean_down, trough
}

// Backend configures the embedded reference backend for the run.
type Backend struct {
	AccessTTL  time.Duration
	RefreshTTL time.Duration
	Reuse      string // strict | grace:<duration> | reuse:<n>
}

// Actions of the timeline.
const (
	ActExpireAll     = "expire_all"
	ActExpireDevices = "expire_devices"
	ActWechatFault   = "wechat_fault"
	ActClearFaults   = "clear_faults"
	ActRevoke        = "revoke"
	ActClockSkew     = "clock_skew"
)

var actions = []string{ActExpireAll, ActExpireDevices, ActWechatFault, ActClearFaults, ActRevoke, ActClockSkew}

// actionArgs are the arguments each action takes besides at and action.
var actionArgs = map[string][]string{
	ActExpireAll:     {},
	ActExpireDevices: {"devices"},
	ActWechatFault:   {"for", "api", "errcode", "status", "probability", "count", "latency", "devices"},
	ActClearFaults:   {},
	ActRevoke:        {"devices"},
	ActClockSkew:     {"skew", "devices"},
}

// Event is one timeline entry: something done to the stack at At after the
// attack started.
type Event struct {
	At     time.Duration
	Action string
	Line   int    // in the scenario file
	path   string // timeline[i], for messages

	// Devices selects a slice of the devices by index fraction [From, To)
	// (expire_devices, revoke, wechat_fault, clock_skew); To == 0 means all
	// of them (clock_skew: none, the stack's clock moves instead).
	From, To float64

	// wechat_fault
	For         time.Duration // how long the fault lasts; 0 = until clear_faults or the end
	API         string        // mock WeChat API; default jscode2session
	Errcode     int
	Status      int
	Probability float64 // 0 means 1
	Count       int
	Latency     time.Duration

	// clock_skew: the stack's clock jumps by Skew (positive: the server is
	// ahead of every device, so tokens expire early from the devices' view),
	// or with Devices those devices' clocks do (positive: the phones run
	// ahead, so their tokens look expired early to them).
	Skew time.Duration
}

// Defaults of a scenario's fields.
const (
	DefaultDevices  = 10
	DefaultInFlight = 1
	DefaultDuration = 5 * time.Second
	DefaultDeadline = 3 * time.Second
	DefaultFreq     = 100
)

// Limits that keep a typo from exhausting the machine.
const (
	maxSlots    = 1_000_000 // devices × in_flight
	maxDuration = 24 * time.Hour
	maxWeights  = 10_000
)

var pacers = []string{"constant", "linear", "sine"}
var phases = map[string]float64{"mean_up": 0, "peak": math.Pi / 2, "mean_down": math.Pi, "trough": 3 * math.Pi / 2}
var methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

// MaxScenarioSize caps a scenario file: shipped ones are a few KiB.
const MaxScenarioSize = 1 << 20

// parseBytes parses with the alias-expansion budget and a panic guard.
func parseBytes(data []byte) (*ast.File, error) {
	return yamlsafe.Parse(inputfile.StripBOM(data), 0)
}

// Load reads a scenario by path, or by the name of a shipped one
// ("synchronized-expiry" or "synchronized-expiry.yaml"). A name that is not a
// file on disk falls back to the embedded scenarios, so the binary works from
// any directory.
func Load(nameOrPath string) (*Scenario, error) {
	return LoadContext(context.Background(), nameOrPath)
}

// LoadContext is Load that gives up when ctx ends (a FIFO nobody writes to)
// and refuses files over MaxScenarioSize.
func LoadContext(ctx context.Context, nameOrPath string) (*Scenario, error) {
	if data, err := inputfile.Read(ctx, nameOrPath, MaxScenarioSize); err == nil {
		return Parse(nameOrPath, data)
	} else if !os.IsNotExist(err) {
		return nil, &Error{File: nameOrPath, Msg: strings.TrimPrefix(err.Error(), nameOrPath+": ")}
	}
	base := strings.TrimSuffix(filepath.Base(nameOrPath), ".yaml")
	if strings.ContainsAny(nameOrPath, `/\`) && !strings.HasPrefix(filepath.ToSlash(nameOrPath), "scenarios/") {
		return nil, &Error{File: nameOrPath, Msg: "no such file"}
	}
	if sc, err := Builtin(base); err == nil {
		return sc, nil
	}
	return nil, &Error{File: nameOrPath, Msg: fmt.Sprintf("no such file, and no shipped scenario of that name (shipped: %s)", strings.Join(Names(), ", "))}
}

// Builtin parses a shipped scenario by name.
func Builtin(name string) (*Scenario, error) {
	data, err := fs.ReadFile(scenarios.FS, name+".yaml")
	if err != nil {
		return nil, fmt.Errorf("no shipped scenario %q (shipped: %s)", name, strings.Join(Names(), ", "))
	}
	return Parse("scenarios/"+name+".yaml", data)
}

// Names lists the shipped scenarios.
func Names() []string {
	entries, _ := fs.ReadDir(scenarios.FS, ".")
	var out []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Default is the short storm `tokenstorm run` runs after the probes: the
// shipped synchronized-expiry scenario, trimmed to a few seconds.
func Default() *Scenario {
	sc, err := Builtin("synchronized-expiry")
	if err != nil {
		panic("storm: the embedded synchronized-expiry scenario is broken: " + err.Error())
	}
	sc.Devices = min(sc.Devices, 50)
	sc.Duration = min(sc.Duration, 4*time.Second)
	return sc
}

// Parse reads and validates a scenario. file names it in messages. The error
// is an Errors listing every problem with file, line and field.
func Parse(file string, data []byte) (*Scenario, error) {
	r := &reader{file: file}
	root := r.parseYAML(data)
	if root == nil {
		return nil, r.err()
	}
	sc := &Scenario{
		File: file, Devices: DefaultDevices, InFlight: DefaultInFlight, Warmup: true,
		Duration: DefaultDuration, Deadline: DefaultDeadline,
		Rate:    Rate{Pacer: "constant", Freq: DefaultFreq, Per: time.Second},
		Backend: Backend{Reuse: "strict"},
	}
	var lines struct{ devices, inFlight, mix int }
	rateSeen := map[string]int{}
	r.mapping(root, "", 1, []field{
		{"name", func(v ast.Node, p string, kl int) {
			if s, ok := r.text(v, p, kl); ok {
				if strings.TrimSpace(s) == "" {
					r.errAt(orLine(v, kl), p, "must not be empty")
				}
				sc.Name = s
			}
		}},
		{"description", func(v ast.Node, p string, kl int) { sc.Description, _ = r.text(v, p, kl) }},
		{"devices", func(v ast.Node, p string, kl int) {
			lines.devices = kl
			if n, ok := r.integer(v, p, kl); ok {
				if n < 1 || n > maxSlots {
					r.errAt(kl, p, "must be between 1 and %d, got %d", maxSlots, n)
				}
				sc.Devices = n
			}
		}},
		{"in_flight", func(v ast.Node, p string, kl int) {
			lines.inFlight = kl
			if n, ok := r.integer(v, p, kl); ok {
				if n < 1 || n > 1000 {
					r.errAt(kl, p, "requests in flight per device must be between 1 and 1000, got %d", n)
				}
				sc.InFlight = n
			}
		}},
		{"warmup", func(v ast.Node, p string, kl int) { sc.Warmup, _ = r.boolean(v, p, kl) }},
		{"duration", func(v ast.Node, p string, kl int) {
			if d, ok := r.duration(v, p, kl); ok {
				if d <= 0 || d > maxDuration {
					r.errAt(kl, p, "must be more than 0 and at most %s, got %s", maxDuration, d)
				}
				sc.Duration = d
			}
		}},
		{"deadline", func(v ast.Node, p string, kl int) {
			if d, ok := r.duration(v, p, kl); ok {
				if d <= 0 || d > 10*time.Minute {
					r.errAt(kl, p, "must be more than 0 and at most 10m, got %s", d)
				}
				sc.Deadline = d
			}
		}},
		{"mix", func(v ast.Node, p string, kl int) {
			lines.mix = kl
			sc.Mix = r.readMix(v, p, kl)
		}},
		{"rate", func(v ast.Node, p string, kl int) {
			sc.Rate = r.readRate(v, p, kl, rateSeen)
		}},
		{"backend", func(v ast.Node, p string, kl int) { sc.Backend = r.readBackend(v, p, kl) }},
		{"timeline", func(v ast.Node, p string, kl int) { sc.Timeline = r.readTimeline(v, p, kl) }},
		{"thresholds", func(v ast.Node, p string, kl int) { sc.Thresholds = r.readThresholds(v, p, kl) }},
	})
	if sc.Name == "" {
		sc.Name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	}
	if len(sc.Mix) == 0 && lines.mix == 0 {
		sc.Mix = []Request{{Method: "GET", Path: "/api/orders", Weight: 1}}
	}
	if sc.Devices*sc.InFlight > maxSlots {
		r.errAt(max(lines.inFlight, lines.devices), "in_flight", "devices × in_flight = %d exceeds %d slots", sc.Devices*sc.InFlight, maxSlots)
	}
	if sc.Rate.Pacer == "linear" && sc.Rate.Slope < 0 {
		r.errAt(rateSeen["slope"], "rate.slope", "must be >= 0 (a ramp up; use the sine pacer for a wave)")
	}
	for _, e := range sc.Timeline {
		if e.At >= sc.Duration {
			r.errAt(e.Line, e.path+".at", "%s at %s would never happen: the run lasts %s", e.Action, e.At, sc.Duration)
		}
	}
	if err := r.err(); err != nil {
		return nil, err
	}
	sort.SliceStable(sc.Timeline, func(i, j int) bool { return sc.Timeline[i].At < sc.Timeline[j].At })
	return sc, nil
}

func (r *reader) readMix(n ast.Node, path string, keyLine int) []Request {
	var out []Request
	total := 0
	r.sequence(n, path, keyLine, func(_ int, item ast.Node, p string) {
		q := Request{Method: "GET", Weight: 1}
		r.mapping(item, p, line(item), []field{
			{"method", func(v ast.Node, fp string, kl int) {
				if s, ok := r.text(v, fp, kl); ok {
					q.Method = strings.ToUpper(strings.TrimSpace(s))
					if !contains(methods, q.Method) {
						r.errAt(orLine(v, kl), fp, "unknown method %q (want %s)", s, strings.Join(methods, ", "))
					}
				}
			}},
			{"path", func(v ast.Node, fp string, kl int) {
				if s, ok := r.text(v, fp, kl); ok {
					q.Path = s
					if !strings.HasPrefix(s, "/") || strings.ContainsAny(s, " \t\r\n#") {
						r.errAt(orLine(v, kl), fp, "want a path relative to the backend starting with / (e.g. /api/orders?page=2), got %q", clip(s))
					}
				}
			}},
			{"body", func(v ast.Node, fp string, kl int) { q.Body, _ = r.body(v, fp, kl) }},
			{"weight", func(v ast.Node, fp string, kl int) {
				if w, ok := r.integer(v, fp, kl); ok {
					if w < 1 || w > maxWeights {
						r.errAt(orLine(v, kl), fp, "must be between 1 and %d, got %d", maxWeights, w)
					}
					q.Weight = w
				}
			}},
		})
		if q.Path == "" {
			r.errorf(item, p+".path", "missing: every mix entry needs a path (e.g. /api/orders)")
		}
		total += q.Weight
		out = append(out, q)
	})
	if seq, ok := r.resolve(n).(*ast.SequenceNode); ok && len(seq.Values) == 0 {
		r.errAt(keyLine, path, "must list at least one request")
	}
	if total > maxWeights {
		r.errAt(keyLine, path, "weights add up to %d; keep the sum at most %d", total, maxWeights)
	}
	return out
}

func (r *reader) readRate(n ast.Node, path string, keyLine int, seen map[string]int) Rate {
	rt := Rate{Per: time.Second}
	intField := func(name string, dst *int) field {
		return field{name, func(v ast.Node, p string, kl int) {
			seen[name] = kl
			if x, ok := r.integer(v, p, kl); ok {
				if x < 0 {
					r.errAt(orLine(v, kl), p, "must be >= 0, got %d", x)
				}
				*dst = x
			}
		}}
	}
	r.mapping(n, path, keyLine, []field{
		{"pacer", func(v ast.Node, p string, kl int) {
			seen["pacer"] = kl
			if s, ok := r.text(v, p, kl); ok {
				rt.Pacer = s
				if !contains(pacers, s) {
					r.errAt(orLine(v, kl), p, "unknown pacer %q (want %s)", clip(s), strings.Join(pacers, ", "))
				}
			}
		}},
		intField("freq", &rt.Freq),
		{"per", func(v ast.Node, p string, kl int) {
			seen["per"] = kl
			if d, ok := r.duration(v, p, kl); ok {
				if d <= 0 {
					r.errAt(orLine(v, kl), p, "must be more than 0 (e.g. 1s)")
				}
				rt.Per = d
			}
		}},
		intField("start", &rt.Start),
		{"slope", func(v ast.Node, p string, kl int) {
			seen["slope"] = kl
			rt.Slope, _ = r.number(v, p, kl)
		}},
		intField("mean", &rt.Mean),
		intField("amp", &rt.Amp),
		{"period", func(v ast.Node, p string, kl int) {
			seen["period"] = kl
			if d, ok := r.duration(v, p, kl); ok {
				if d <= 0 {
					r.errAt(orLine(v, kl), p, "must be more than 0 (e.g. 4s)")
				}
				rt.Period = d
			}
		}},
		{"phase", func(v ast.Node, p string, kl int) {
			seen["phase"] = kl
			if s, ok := r.text(v, p, kl); ok {
				rt.Phase = s
				if _, known := phases[s]; !known {
					r.errAt(orLine(v, kl), p, "unknown phase %q (want mean_up, peak, mean_down, trough)", clip(s))
				}
			}
		}},
	})
	if rt.Pacer == "" {
		r.errAt(keyLine, path+".pacer", "missing (want %s)", strings.Join(pacers, ", "))
		return rt
	}
	// Each pacer takes its own fields; a field of another pacer is a mistake
	// the run would silently ignore, so it is an error.
	own := map[string][]string{
		"constant": {"freq", "per"},
		"linear":   {"start", "slope", "per"},
		"sine":     {"mean", "amp", "period", "phase", "per"},
	}[rt.Pacer]
	for _, k := range []string{"freq", "start", "slope", "mean", "amp", "period", "phase"} {
		if ln, ok := seen[k]; ok && own != nil && !contains(own, k) {
			r.errAt(ln, path+"."+k, "not a field of the %s pacer (it takes %s)", rt.Pacer, strings.Join(own, ", "))
		}
	}
	need := func(k, what string) {
		if _, ok := seen[k]; !ok {
			r.errAt(keyLine, path+"."+k, "missing: the %s pacer needs %s", rt.Pacer, what)
		}
	}
	switch rt.Pacer {
	case "constant":
		need("freq", "freq (hits per `per`, 0 = as fast as the slots allow)")
	case "linear":
		need("start", "start (hits per `per` at t=0)")
		need("slope", "slope (hits per second added every second)")
		if _, ok := seen["start"]; ok && rt.Start < 1 {
			r.errAt(seen["start"], path+".start", "must be at least 1 hit per %s", rt.Per)
		}
	case "sine":
		need("mean", "mean (hits per `per`)")
		need("amp", "amp (hits per `per`, less than mean)")
		need("period", "period (e.g. 4s)")
		if _, ok := seen["mean"]; ok && rt.Mean < 1 {
			r.errAt(seen["mean"], path+".mean", "must be at least 1")
		}
		if _, ok := seen["amp"]; ok && rt.Amp >= rt.Mean {
			r.errAt(seen["amp"], path+".amp", "must be less than mean (%d), got %d", rt.Mean, rt.Amp)
		}
		if rt.Phase == "" {
			rt.Phase = "mean_up"
		}
	}
	return rt
}

func (r *reader) readBackend(n ast.Node, path string, keyLine int) Backend {
	b := Backend{Reuse: "strict"}
	ttl := func(name string, dst *time.Duration) field {
		return field{name, func(v ast.Node, p string, kl int) {
			if d, ok := r.duration(v, p, kl); ok {
				if d <= 0 {
					r.errAt(orLine(v, kl), p, "must be more than 0, got %s", d)
				}
				*dst = d
			}
		}}
	}
	r.mapping(n, path, keyLine, []field{
		ttl("access_ttl", &b.AccessTTL),
		ttl("refresh_ttl", &b.RefreshTTL),
		{"reuse", func(v ast.Node, p string, kl int) {
			if s, ok := r.text(v, p, kl); ok {
				if msg := checkReuse(s); msg != "" {
					r.errAt(orLine(v, kl), p, "%s", msg)
				}
				b.Reuse = s
			}
		}},
	})
	return b
}

// checkReuse validates a reuse policy the way the backend reads it.
func checkReuse(s string) string {
	kind, arg, _ := strings.Cut(s, ":")
	switch kind {
	case "strict":
		if arg == "" {
			return ""
		}
	case "grace":
		if d, err := time.ParseDuration(arg); err == nil && d > 0 {
			return ""
		}
	case "reuse":
		var n int
		if _, err := fmt.Sscanf(arg, "%d", &n); err == nil && n > 0 && fmt.Sprint(n) == arg {
			return ""
		}
	}
	return fmt.Sprintf("unknown reuse policy %q (want strict, grace:<duration> e.g. grace:2s, or reuse:<n> e.g. reuse:2)", clip(s))
}

func (r *reader) readTimeline(n ast.Node, path string, keyLine int) []Event {
	var out []Event
	r.sequence(n, path, keyLine, func(_ int, item ast.Node, p string) {
		e := Event{Line: line(item), path: p}
		seen := map[string]int{}
		at := false
		mark := func(name string, fn func(v ast.Node, fp string, kl int)) field {
			return field{name, func(v ast.Node, fp string, kl int) { seen[name] = kl; fn(v, fp, kl) }}
		}
		r.mapping(item, p, line(item), []field{
			mark("at", func(v ast.Node, fp string, kl int) {
				if d, ok := r.duration(v, fp, kl); ok {
					at = true
					if d < 0 {
						r.errAt(orLine(v, kl), fp, "must be >= 0, got %s", d)
					}
					e.At = d
				}
			}),
			mark("action", func(v ast.Node, fp string, kl int) {
				if s, ok := r.text(v, fp, kl); ok {
					e.Action = s
					if !contains(actions, s) {
						r.errAt(orLine(v, kl), fp, "unknown action %q (want %s)", clip(s), strings.Join(actions, ", "))
					}
				}
			}),
			mark("devices", func(v ast.Node, fp string, kl int) { e.From, e.To = r.deviceSlice(v, fp, kl) }),
			mark("for", func(v ast.Node, fp string, kl int) {
				if d, ok := r.duration(v, fp, kl); ok {
					if d <= 0 {
						r.errAt(orLine(v, kl), fp, "must be more than 0, got %s", d)
					}
					e.For = d
				}
			}),
			mark("api", func(v ast.Node, fp string, kl int) {
				if s, ok := r.text(v, fp, kl); ok {
					e.API = s
					if !contains(wechatAPIs, s) {
						r.errAt(orLine(v, kl), fp, "unknown mock WeChat API %q (want %s)", clip(s), strings.Join(wechatAPIs, ", "))
					}
				}
			}),
			mark("errcode", func(v ast.Node, fp string, kl int) {
				if x, ok := r.integer(v, fp, kl); ok {
					if x == 0 {
						r.errAt(orLine(v, kl), fp, "0 is WeChat's success; want an error such as -1 or 45011")
					}
					e.Errcode = x
				}
			}),
			mark("status", func(v ast.Node, fp string, kl int) {
				if x, ok := r.integer(v, fp, kl); ok {
					if x < 200 || x > 599 {
						r.errAt(orLine(v, kl), fp, "want an HTTP status 200-599, got %d", x)
					}
					e.Status = x
				}
			}),
			mark("probability", func(v ast.Node, fp string, kl int) {
				if x, ok := r.number(v, fp, kl); ok {
					if !(x > 0 && x <= 1) {
						r.errAt(orLine(v, kl), fp, "must be in (0, 1], got %v", x)
					}
					e.Probability = x
				}
			}),
			mark("count", func(v ast.Node, fp string, kl int) {
				if x, ok := r.integer(v, fp, kl); ok {
					if x < 1 {
						r.errAt(orLine(v, kl), fp, "must be at least 1 (leave it out for unlimited), got %d", x)
					}
					e.Count = x
				}
			}),
			mark("latency", func(v ast.Node, fp string, kl int) {
				if d, ok := r.duration(v, fp, kl); ok {
					if d <= 0 || d > 10*time.Minute {
						r.errAt(orLine(v, kl), fp, "must be more than 0 and at most 10m, got %s", d)
					}
					e.Latency = d
				}
			}),
			mark("skew", func(v ast.Node, fp string, kl int) {
				if d, ok := r.duration(v, fp, kl); ok {
					if d == 0 || d > 1000*time.Hour || d < -1000*time.Hour {
						r.errAt(orLine(v, kl), fp, "must be non-zero and within ±1000h, got %s", d)
					}
					e.Skew = d
				}
			}),
		})
		if !at {
			if _, given := seen["at"]; !given {
				r.errorf(item, p+".at", "missing: when the action happens, after the start of the attack (e.g. 2s)")
			}
		}
		if e.Action == "" {
			if _, given := seen["action"]; !given {
				r.errorf(item, p+".action", "missing (want %s)", strings.Join(actions, ", "))
			}
			return
		}
		allowed := actionArgs[e.Action]
		if allowed == nil {
			return // unknown action, already reported
		}
		for k, ln := range seen {
			if k != "at" && k != "action" && !contains(allowed, k) {
				takes := "no arguments"
				if len(allowed) > 0 {
					takes = strings.Join(allowed, ", ")
				}
				r.errAt(ln, p+"."+k, "not an argument of %s (it takes %s)", e.Action, takes)
			}
		}
		switch e.Action {
		case ActExpireDevices:
			if _, ok := seen["devices"]; !ok {
				r.errorf(item, p+".devices", "missing: which devices to expire, a fraction (0.25) or a slice [0.25, 0.5]")
			}
		case ActWechatFault:
			if _, ok := seen["errcode"]; !ok {
				if _, ok := seen["status"]; !ok {
					if _, ok := seen["latency"]; !ok {
						r.errorf(item, p, "a wechat_fault needs errcode, status or latency")
					}
				}
			}
			if e.Errcode != 0 && e.Status != 0 {
				r.errAt(seen["status"], p+".status", "give errcode or status, not both")
			}
			if e.API == "" {
				e.API = "jscode2session"
			}
		case ActClockSkew:
			if _, ok := seen["skew"]; !ok {
				r.errorf(item, p+".skew", "missing: how far the clock jumps (e.g. 90m): the stack's, or with devices those devices'")
			}
		}
		out = append(out, e)
	})
	return out
}

var wechatAPIs = []string{"jscode2session", "cgi-bin/token", "stable_token", "checksession", "wx.login", "*"}

// deviceSlice reads `devices:` as a fraction f (the first f of the devices)
// or a pair [from, to] of fractions.
func (r *reader) deviceSlice(n ast.Node, path string, keyLine int) (from, to float64) {
	v := r.resolve(n)
	if seq, ok := v.(*ast.SequenceNode); ok {
		if len(seq.Values) != 2 {
			r.errAt(orLine(v, keyLine), path, "want [from, to] fractions such as [0.25, 0.5], got %d values", len(seq.Values))
			return 0, 1
		}
		a, okA := r.number(seq.Values[0], path, keyLine)
		b, okB := r.number(seq.Values[1], path, keyLine)
		if okA && okB && !(a >= 0 && a < b && b <= 1) {
			r.errAt(orLine(v, keyLine), path, "want 0 <= from < to <= 1, got [%v, %v]", a, b)
		}
		return a, b
	}
	f, ok := r.number(v, path, keyLine)
	if ok && !(f > 0 && f <= 1) {
		r.errAt(orLine(v, keyLine), path, "want a fraction of the devices in (0, 1] such as 0.25, got %v", f)
	}
	return 0, f
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// Override applies command-line overrides; zero values leave a field alone.
// It re-checks what an override can break and names the flag.
func (sc *Scenario) Override(duration time.Duration, rate string, devices int) error {
	if duration < 0 || duration > maxDuration {
		return &Error{File: "--duration", Msg: fmt.Sprintf("must be more than 0 and at most %s", maxDuration)}
	}
	if duration > 0 {
		sc.Duration = duration
	}
	if devices < 0 || devices > maxSlots || devices*sc.InFlight > maxSlots {
		return &Error{File: "--devices", Msg: fmt.Sprintf("must be between 1 and %d devices × in_flight", maxSlots)}
	}
	if devices > 0 {
		sc.Devices = devices
	}
	if rate != "" {
		rt, err := ParseRate(rate)
		if err != nil {
			return &Error{File: "--rate", Msg: err.Error()}
		}
		sc.Rate = rt
	}
	return nil
}

// ParseRate reads a constant rate the way vegeta's -rate flag does: "500",
// "500/s", "500/1s", "50/100ms"; "0" or "max" means as fast as the slots allow.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "max" || s == "0" {
		return Rate{Pacer: "constant", Freq: 0, Per: time.Second}, nil
	}
	f, per, hasPer := strings.Cut(s, "/")
	var freq int
	if _, err := fmt.Sscanf(f, "%d", &freq); err != nil || fmt.Sprint(freq) != f || freq < 0 {
		return Rate{}, fmt.Errorf("want a rate such as 500/s, 500/1s or 50/100ms, got %q", s)
	}
	d := time.Second
	if hasPer {
		if per != "" && (per[0] < '0' || per[0] > '9') {
			per = "1" + per
		}
		var err error
		if d, err = time.ParseDuration(per); err != nil || d <= 0 {
			return Rate{}, fmt.Errorf("want a rate such as 500/s, 500/1s or 50/100ms, got %q", s)
		}
	}
	return Rate{Pacer: "constant", Freq: freq, Per: d}, nil
}
