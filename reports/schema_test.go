package reports

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// schemaDoc is the schema, parsed, for the tests that look at its shape.
type schemaDoc struct{ root map[string]any }

func loadSchema(t testing.TB) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "summary.schema.json"))
	require.NoError(t, err)
	var s map[string]any
	require.NoError(t, json.Unmarshal(b, &s), "docs/summary.schema.json is valid JSON")
	return s
}

// resolve follows a $ref to #/$defs.
func (v *schemaDoc) resolve(s map[string]any) map[string]any {
	ref, ok := s["$ref"].(string)
	if !ok {
		return s
	}
	name, ok := strings.CutPrefix(ref, "#/$defs/")
	if !ok {
		panic("unsupported $ref " + ref)
	}
	def, ok := v.root["$defs"].(map[string]any)[name].(map[string]any)
	if !ok {
		panic("dangling $ref " + ref)
	}
	return v.resolve(def)
}

// validate runs the production validator (the one `tokenstorm report` uses)
// on doc and returns its problems.
func validate(t testing.TB, doc any) []string {
	t.Helper()
	b, err := json.Marshal(doc)
	require.NoError(t, err)
	err = ValidateSummary("summary.json", b)
	if err == nil {
		return nil
	}
	var se *SchemaError
	require.ErrorAs(t, err, &se)
	return se.Problems
}

func summaryJSON(t testing.TB, s *summary.Summary) map[string]any {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, s.WriteFile(dir))
	b, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b, &doc))
	return doc
}

func TestSchemaValidatesGeneratedSummaries(t *testing.T) {
	schema := loadSchema(t)
	assert.Equal(t, "https://json-schema.org/draft/2020-12/schema", schema["$schema"])
	empty := summary.New("ref", "embedded")
	empty.Finalize()
	interrupted := Sample(false)
	interrupted.MarkInterrupted("stopped after 1s")
	for name, s := range map[string]*summary.Summary{"passing": Sample(false), "failing": Sample(true), "empty": empty, "interrupted": interrupted} {
		assert.Empty(t, validate(t, summaryJSON(t, s)), name)
	}
}

func TestSchemaRejectsBrokenSummaries(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(map[string]any)
		want   string
	}{
		"no verdict":       {func(d map[string]any) { delete(d, "verdict") }, `at $: missing property 'verdict'`},
		"bad verdict":      {func(d map[string]any) { d["verdict"] = "maybe" }, "at $.verdict: value must be one of"},
		"no lost":          {func(d map[string]any) { delete(d["requests"].(map[string]any), "lost") }, `at $.requests: missing property 'lost'`},
		"no amplification": {func(d map[string]any) { delete(d["refresh"].(map[string]any), "amplification") }, `at $.refresh: missing property 'amplification'`},
		"no p99":           {func(d map[string]any) { delete(d["latency"].(map[string]any), "p99") }, `at $.latency: missing property 'p99'`},
		"invariant verdict": {func(d map[string]any) {
			delete(d["invariants"].(map[string]any)["single-refresh"].(map[string]any), "verdict")
		}, `at $.invariants.single-refresh: missing property 'verdict'`},
		"violations type": {func(d map[string]any) {
			d["invariants"].(map[string]any)["single-refresh"].(map[string]any)["violations"] = "many"
		}, "at $.invariants.single-refresh.violations: got string, want integer"},
		"bad time":        {func(d map[string]any) { d["started_at"] = "yesterday" }, "at $.started_at: 'yesterday' is not valid date-time"},
		"unknown top key": {func(d map[string]any) { d["verdikt"] = "pass" }, "at $: additional properties 'verdikt' not allowed"},
		"unknown invariant": {func(d map[string]any) {
			d["invariants"].(map[string]any)["single-refesh"] = map[string]any{"verdict": "pass", "violations": 0}
		}, "at $.invariants: additional properties 'single-refesh' not allowed"},
		"unknown count":             {func(d map[string]any) { d["requests"].(map[string]any)["lots"] = 1 }, "at $.requests: additional properties 'lots' not allowed"},
		"skip is not a run verdict": {func(d map[string]any) { d["verdict"] = "skip" }, "at $.verdict"},
		"scenario verdict":          {func(d map[string]any) { d["scenarios"].([]any)[0].(map[string]any)["verdict"] = "interrupted" }, "at $.scenarios[0].verdict"},
	} {
		doc := summaryJSON(t, Sample(true))
		tc.mutate(doc)
		errs := validate(t, doc)
		require.NotEmpty(t, errs, name)
		assert.Contains(t, strings.Join(errs, "\n"), tc.want, name)
	}
}

// The public keys of SPEC §9 are required by the schema, so a consumer can
// rely on them.
func TestSchemaRequiresPublicKeys(t *testing.T) {
	schema := loadSchema(t)
	v := &schemaDoc{root: schema}
	required := func(s map[string]any) []string {
		var out []string
		for _, k := range v.resolve(s)["required"].([]any) {
			out = append(out, k.(string))
		}
		return out
	}
	props := schema["properties"].(map[string]any)
	assert.Subset(t, required(schema), []string{"verdict", "client", "backend", "invariants", "requests", "refresh", "latency"})
	assert.Subset(t, required(props["requests"].(map[string]any)), []string{"issued", "succeeded", "failed", "lost"})
	assert.Subset(t, required(props["refresh"].(map[string]any)), []string{"expiry_episodes", "refreshes", "logins", "amplification"})
	assert.Subset(t, required(props["latency"].(map[string]any)), []string{"p50", "p90", "p99", "max"})
	invs := props["invariants"].(map[string]any)
	assert.Subset(t, required(invs), []string{"single-refresh", "correct-replay", "no-lost-requests", "no-duplicate-effects", "bounded-retry", "expiry-signalled", "code-single-use"})
	for _, name := range summary.InvariantNames {
		inv, ok := invs["properties"].(map[string]any)[name].(map[string]any)
		require.True(t, ok, "invariant %s is in the schema", name)
		assert.Subset(t, required(inv), []string{"verdict", "violations"})
	}
}

// Every field of summary.Summary (recursively, including ledger.Event
// evidence) is described by the schema, so the schema cannot silently fall
// behind the Go model.
func TestSchemaCoversEveryField(t *testing.T) {
	schema := loadSchema(t)
	v := &schemaDoc{root: schema}
	var missing []string
	var walk func(rt reflect.Type, s map[string]any, path string)
	walk = func(rt reflect.Type, s map[string]any, path string) {
		s = v.resolve(s)
		for rt.Kind() == reflect.Pointer {
			rt = rt.Elem()
		}
		switch rt.Kind() {
		case reflect.Slice:
			if items, ok := s["items"].(map[string]any); ok {
				walk(rt.Elem(), items, path+"[]")
			} else {
				missing = append(missing, path+"[] (no items)")
			}
			return
		case reflect.Map:
			if ap, ok := s["additionalProperties"].(map[string]any); ok {
				walk(rt.Elem(), ap, path+".*")
			} else if props, ok := s["properties"].(map[string]any); ok && len(props) > 0 {
				for k, ps := range props { // fixed keys, e.g. the invariant names
					walk(rt.Elem(), ps.(map[string]any), path+"."+k)
				}
			} else {
				missing = append(missing, path+".* (no additionalProperties)")
			}
			return
		case reflect.Struct:
			if rt == reflect.TypeFor[time.Time]() {
				return
			}
		default:
			return
		}
		props, _ := s["properties"].(map[string]any)
		for i := range rt.NumField() {
			f := rt.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			ps, ok := props[name].(map[string]any)
			if !ok {
				missing = append(missing, path+"."+name)
				continue
			}
			walk(f.Type, ps, path+"."+name)
		}
	}
	walk(reflect.TypeFor[summary.Summary](), schema, "$")
	sort.Strings(missing)
	assert.Empty(t, missing, "fields of summary.Summary missing from docs/summary.schema.json")
}
