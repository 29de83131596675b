package storm

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestShippedScenariosParse(t *testing.T) {
	names := Names()
	for _, want := range []string{"steady", "synchronized-expiry", "staggered-expiry", "wechat-brownout", "rotation-strict", "rotation-grace", "ramp", "device-clock-skew"} {
		assert.Contains(t, names, want)
	}
	for _, n := range names {
		sc, err := Builtin(n)
		require.NoError(t, err, n)
		assert.Equal(t, n, sc.Name)
		assert.NotEmpty(t, sc.Description, n)
		assert.LessOrEqual(t, sc.Duration, 10*time.Second, "%s: shipped scenarios stay short", n)
		assert.NotEmpty(t, sc.Thresholds, n)
		// The files on disk are the embedded ones.
		onDisk, err := Load(filepath.Join("..", "..", "scenarios", n+".yaml"))
		require.NoError(t, err, n)
		assert.Equal(t, sc.Devices, onDisk.Devices)
	}
}

func TestLoadByNameAndPath(t *testing.T) {
	sc, err := Load("synchronized-expiry")
	require.NoError(t, err)
	assert.Equal(t, "synchronized-expiry", sc.Name)
	require.Len(t, sc.Timeline, 1)
	assert.Equal(t, ActExpireAll, sc.Timeline[0].Action)
	assert.Equal(t, 2*time.Second, sc.Timeline[0].At)

	_, err = Load("scenarios/synchronized-expiry.yaml") // works from any directory
	require.NoError(t, err)

	_, err = Load("no-such-scenario")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no-such-scenario")
	assert.Contains(t, err.Error(), "synchronized-expiry", "lists the shipped ones")

	_, err = Load("/tmp/definitely/not/here.yaml")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no such file")
}

func TestDefaultIsShort(t *testing.T) {
	sc := Default()
	assert.Equal(t, "synchronized-expiry", sc.Name)
	assert.LessOrEqual(t, sc.Duration, 5*time.Second)
	assert.LessOrEqual(t, sc.Devices, 50)
}

func TestParseFullScenario(t *testing.T) {
	src := `
name: full
description: every field
devices: 7
in_flight: 3
warmup: false
duration: 9s
deadline: 2s
rate: {pacer: sine, mean: 100, amp: 40, period: 3s, phase: peak}
mix:
  - {method: get, path: /api/a, weight: 2}
  - method: POST
    path: /api/b
    body: {x: 1, y: [a, b]}
  - {method: PUT, path: /api/c, body: 'raw text'}
backend: {access_ttl: 1h, refresh_ttl: 24h, reuse: "grace:2s"}
timeline:
  - {at: 3s, action: clock_skew, skew: 90m}
  - {at: 1s, action: wechat_fault, errcode: -1, probability: 0.5, count: 3, for: 2s, devices: 0.5}
  - {at: 2s, action: expire_devices, devices: [0.5, 1]}
  - {at: 4s, action: revoke}
  - {at: 5s, action: clear_faults}
  - {at: 6s, action: expire_all}
thresholds:
  - refresh.amplification <= 1
  - requests.lost == 0
  - latency.p99 < 250ms
  - invariants: all
  - "invariants: single-refresh, no-lost-requests"
  - invariants.code-single-use.violations == 0
  - storm.throughput >= 50
`
	sc, err := Parse("full.yaml", []byte(src))
	require.NoError(t, err)
	assert.Equal(t, 7, sc.Devices)
	assert.Equal(t, 3, sc.InFlight)
	assert.False(t, sc.Warmup)
	assert.Equal(t, 2*time.Second, sc.Deadline)
	assert.Equal(t, "GET", sc.Mix[0].Method)
	assert.Equal(t, 2, sc.Mix[0].Weight)
	assert.JSONEq(t, `{"x":1,"y":["a","b"]}`, string(sc.Mix[1].Body))
	assert.Equal(t, "raw text", string(sc.Mix[2].Body))
	assert.Equal(t, 1, sc.Mix[2].Weight)
	assert.Equal(t, "grace:2s", sc.Backend.Reuse)
	assert.Equal(t, time.Hour, sc.Backend.AccessTTL)
	require.Len(t, sc.Timeline, 6)
	assert.Equal(t, ActWechatFault, sc.Timeline[0].Action, "sorted by at")
	assert.Equal(t, "jscode2session", sc.Timeline[0].API)
	assert.Equal(t, 0.5, sc.Timeline[0].To)
	assert.Equal(t, 0.5, sc.Timeline[1].From)
	assert.Equal(t, 90*time.Minute, sc.Timeline[2].Skew)
	require.Len(t, sc.Thresholds, 7)
	assert.Equal(t, "invariants: all", sc.Thresholds[3].String())
	assert.Equal(t, "invariants: single-refresh, no-lost-requests", sc.Thresholds[4].String())
	assert.Equal(t, "latency.p99 < 250ms", sc.Thresholds[2].String())
	assert.Equal(t, 27, sc.Thresholds[2].Line)
}

// clock_skew takes the same devices selection as expire_devices: without
// it the stack's clock moves, with it only those devices' clocks do.
func TestParseClockSkewForDevices(t *testing.T) {
	src := `
duration: 5s
timeline:
  - {at: 1s, action: clock_skew, skew: 90m}
  - {at: 2s, action: clock_skew, skew: -5m, devices: [0.25, 0.5]}
  - at: 3s
    action: clock_skew
    skew: 3h
    devices: 0.5
`
	sc, err := Parse("skew.yaml", []byte(src))
	require.NoError(t, err)
	require.Len(t, sc.Timeline, 3)
	stack, some, half := sc.Timeline[0], sc.Timeline[1], sc.Timeline[2]
	assert.Equal(t, 90*time.Minute, stack.Skew)
	assert.Zero(t, stack.To, "no selection: the stack's clock")
	assert.Equal(t, -5*time.Minute, some.Skew)
	assert.Equal(t, 0.25, some.From)
	assert.Equal(t, 0.5, some.To)
	assert.Equal(t, 3*time.Hour, half.Skew)
	assert.Equal(t, 0.0, half.From)
	assert.Equal(t, 0.5, half.To)
	assert.Equal(t, 6, half.Line)
}

func TestParseDefaults(t *testing.T) {
	sc, err := Parse("scenarios/minimal.yaml", []byte("devices: 3\n"))
	require.NoError(t, err)
	assert.Equal(t, "minimal", sc.Name, "named after its file")
	assert.Equal(t, DefaultInFlight, sc.InFlight)
	assert.Equal(t, DefaultDuration, sc.Duration)
	assert.Equal(t, "constant", sc.Rate.Pacer)
	assert.Equal(t, DefaultFreq, sc.Rate.Freq)
	assert.True(t, sc.Warmup)
	require.Len(t, sc.Mix, 1)
	assert.Equal(t, "/api/orders", sc.Mix[0].Path)
}

// Every broken scenario is reported with file, line and field.
func TestParseErrorsNameFileLineField(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"unknown pacer", "name: x\nrate:\n  pacer: sinus\n  freq: 5\n",
			`x.yaml:3: rate.pacer: unknown pacer "sinus" (want constant, linear, sine)`},
		{"unknown top-level key", "name: x\ndevice: 5\n",
			`x.yaml:2: device: unknown field "device" (want name, description, devices,`},
		{"unknown mix key", "mix:\n  - path: /api/a\n    wieght: 3\n",
			`x.yaml:3: mix[0].wieght: unknown field "wieght" (want method, path, body, weight)`},
		{"devices not a number", "devices: many\n",
			`x.yaml:1: devices: want a whole number, got "many"`},
		{"devices zero", "\n\ndevices: 0\n",
			`x.yaml:3: devices: must be between 1 and 1000000, got 0`},
		{"duration without unit", "duration: 5\n",
			`x.yaml:1: duration: want a duration such as 5s or 250ms, got 5`},
		{"bad duration", "duration: 5 seconds\n",
			`x.yaml:1: duration: want a duration such as 5s or 250ms, got "5 seconds"`},
		{"path without slash", "mix:\n  - {path: api/orders}\n",
			`x.yaml:2: mix[0].path: want a path relative to the backend starting with /`},
		{"missing path", "mix:\n  - {method: GET}\n",
			`x.yaml:2: mix[0].path: missing`},
		{"bad method", "mix:\n  - {method: FETCH, path: /a}\n",
			`x.yaml:2: mix[0].method: unknown method "FETCH"`},
		{"zero weight", "mix:\n  - {path: /a, weight: 0}\n",
			`x.yaml:2: mix[0].weight: must be between 1 and 10000, got 0`},
		{"empty mix", "name: x\nmix: []\n",
			`x.yaml:2: mix: must list at least one request`},
		{"field of another pacer", "rate:\n  pacer: constant\n  freq: 10\n  slope: 3\n",
			`x.yaml:4: rate.slope: not a field of the constant pacer (it takes freq, per)`},
		{"sine amp too large", "rate:\n  pacer: sine\n  mean: 10\n  amp: 10\n  period: 2s\n",
			`x.yaml:4: rate.amp: must be less than mean (10), got 10`},
		{"linear missing slope", "rate:\n  pacer: linear\n  start: 10\n",
			`x.yaml:1: rate.slope: missing: the linear pacer needs slope`},
		{"bad reuse", "backend:\n  reuse: sometimes\n",
			`x.yaml:2: backend.reuse: unknown reuse policy "sometimes"`},
		{"unknown action", "timeline:\n  - {at: 1s, action: explode}\n",
			`x.yaml:2: timeline[0].action: unknown action "explode" (want expire_all, expire_devices, wechat_fault, clear_faults, revoke, clock_skew)`},
		{"argument of another action", "timeline:\n  - at: 1s\n    action: expire_all\n    skew: 5m\n",
			`x.yaml:4: timeline[0].skew: not an argument of expire_all (it takes no arguments)`},
		{"event after the end", "duration: 2s\ntimeline:\n  - {at: 3s, action: expire_all}\n",
			`x.yaml:3: timeline[0].at: expire_all at 3s would never happen: the run lasts 2s`},
		{"missing at", "timeline:\n  - {action: expire_all}\n",
			`x.yaml:2: timeline[0].at: missing`},
		{"fault without effect", "timeline:\n  - {at: 1s, action: wechat_fault, for: 1s}\n",
			`x.yaml:2: timeline[0]: a wechat_fault needs errcode, status or latency`},
		{"bad fraction", "timeline:\n  - {at: 1s, action: expire_devices, devices: 1.5}\n",
			`x.yaml:2: timeline[0].devices: want a fraction of the devices in (0, 1]`},
		{"clock_skew with a bad slice", "timeline:\n  - at: 1s\n    action: clock_skew\n    skew: 1h\n    devices: [0.5, 0.25]\n",
			`x.yaml:5: timeline[0].devices: want 0 <= from < to <= 1, got [0.5, 0.25]`},
		{"clock_skew with a bad fraction", "timeline:\n  - {at: 1s, action: clock_skew, skew: 1h, devices: 0}\n",
			`x.yaml:2: timeline[0].devices: want a fraction of the devices in (0, 1] such as 0.25, got 0`},
		{"clock_skew with devices but no skew", "timeline:\n  - {at: 1s, action: clock_skew, devices: 0.5}\n",
			`x.yaml:2: timeline[0].skew: missing: how far the clock jumps (e.g. 90m): the stack's, or with devices those devices'`},
		{"clock_skew with an argument it does not take", "timeline:\n  - at: 1s\n    action: clock_skew\n    skew: 1h\n    for: 2s\n",
			`x.yaml:5: timeline[0].for: not an argument of clock_skew (it takes skew, devices)`},
		{"bad probability", "timeline:\n  - {at: 1s, action: wechat_fault, errcode: -1, probability: 2}\n",
			`x.yaml:2: timeline[0].probability: must be in (0, 1], got 2`},
		{"unknown metric", "thresholds:\n  - refresh.amplification <= 1\n  - latency.p98 < 100ms\n",
			`x.yaml:3: thresholds[1]: unknown metric "latency.p98"`},
		{"threshold without operator", "thresholds:\n  - requests.lost is zero\n",
			`x.yaml:2: thresholds[0]: want ` + "`metric op value`"},
		{"duration for a count", "thresholds:\n  - requests.lost < 5ms\n",
			`x.yaml:2: thresholds[0]: requests.lost: "5ms" is a duration, but this metric is a number`},
		{"unknown invariant", "thresholds:\n  - \"invariants: single-refrsh\"\n",
			`x.yaml:2: thresholds[0]: invariants: unknown invariant "single-refrsh"`},
		{"too many slots", "devices: 100000\nin_flight: 100\n",
			`x.yaml:2: in_flight: devices × in_flight = 10000000 exceeds 1000000 slots`},
		{"syntax error", "name: x\nrate: {pacer: constant\n",
			`x.yaml:2: (syntax):`},
		{"not a mapping", "- just\n- a list\n",
			`x.yaml:1: (top level): want a mapping of fields`},
		{"tab indentation", "name: x\nrate:\n\tpacer: constant\n",
			`x.yaml:3: (syntax):`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(c.src))
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			var es Errors
			require.True(t, errors.As(err, &es), "an Errors list")
			for _, e := range es {
				assert.Equal(t, "x.yaml", e.File)
				assert.NotEmpty(t, e.Field)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse("x.yaml", []byte("devices: 0\nrate: {pacer: sinus}\nmix:\n  - {path: nope}\n"))
	require.Error(t, err)
	var es Errors
	require.ErrorAs(t, err, &es)
	assert.Len(t, es, 3)
	assert.Equal(t, 1, es[0].Line)
	assert.Equal(t, 2, es[1].Line)
	assert.Equal(t, 4, es[2].Line)
}

func TestLoadFromDiskNamesThePath(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(p, []byte("name: bad\n\nduration: soon\n"), 0o644))
	_, err := Load(p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), p+":3: duration:")
}

func TestOverride(t *testing.T) {
	sc, err := Builtin("steady")
	require.NoError(t, err)
	require.NoError(t, sc.Override(2*time.Second, "250/s", 8))
	assert.Equal(t, 2*time.Second, sc.Duration)
	assert.Equal(t, 8, sc.Devices)
	assert.Equal(t, Rate{Pacer: "constant", Freq: 250, Per: time.Second}, sc.Rate)
	err = sc.Override(0, "fast", 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--rate")
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]Rate{
		"500":      {Pacer: "constant", Freq: 500, Per: time.Second},
		"500/s":    {Pacer: "constant", Freq: 500, Per: time.Second},
		"500/1s":   {Pacer: "constant", Freq: 500, Per: time.Second},
		"50/100ms": {Pacer: "constant", Freq: 50, Per: 100 * time.Millisecond},
		"max":      {Pacer: "constant", Freq: 0, Per: time.Second},
	} {
		got, err := ParseRate(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "x", "-5", "5/x", "5/0s", "5.5"} {
		_, err := ParseRate(bad)
		assert.Error(t, err, bad)
	}
}

// The editor schema knows every metric, action and pacer the parser does.
func TestSchemaMatchesTheParser(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "scenario.schema.json"))
	require.NoError(t, err)
	var schema map[string]any
	require.NoError(t, json.Unmarshal(b, &schema))
	text := string(b)
	for _, m := range MetricNames() {
		if m == "invariants.<name>.violations" {
			continue
		}
		// The pattern writes metric names with escaped dots and groups.
		parts := strings.SplitN(m, ".", 2)
		assert.Contains(t, text, parts[0]+`\\.`, m)
		assert.Contains(t, text, strings.ReplaceAll(parts[1], ".", `\\.`), m)
	}
	for _, a := range actions {
		assert.Contains(t, text, `"`+a+`"`)
	}
	for _, p := range pacers {
		assert.Contains(t, text, `"`+p+`"`)
	}
	for _, k := range []string{"devices", "in_flight", "warmup", "duration", "deadline", "rate", "mix", "backend", "timeline", "thresholds"} {
		assert.Contains(t, schema["properties"], k)
	}

	// Each action takes the same arguments in the schema as in the parser.
	var doc struct {
		Defs struct {
			Event struct {
				AllOf []struct {
					If struct {
						Properties struct {
							Action struct {
								Const string   `json:"const"`
								Enum  []string `json:"enum"`
							} `json:"action"`
						} `json:"properties"`
					} `json:"if"`
					Then struct {
						Properties map[string]any `json:"properties"`
					} `json:"then"`
				} `json:"allOf"`
			} `json:"event"`
		} `json:"$defs"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	seen := map[string]bool{}
	for _, rule := range doc.Defs.Event.AllOf {
		acts := rule.If.Properties.Action.Enum
		if c := rule.If.Properties.Action.Const; c != "" {
			acts = append(acts, c)
		}
		var args []string
		for k := range rule.Then.Properties {
			if k != "at" && k != "action" {
				args = append(args, k)
			}
		}
		for _, a := range acts {
			seen[a] = true
			assert.ElementsMatch(t, actionArgs[a], args, "arguments of %s", a)
		}
	}
	for _, a := range actions {
		assert.True(t, seen[a], "the schema has a rule for %s", a)
	}
}
