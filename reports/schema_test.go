package reports

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/summary"
)

// The module has no JSON Schema library and the task does not warrant a
// dependency, so this is a small validator for the subset the schema uses:
// $ref to #/$defs, type, enum, required, properties, additionalProperties,
// propertyNames.pattern, items, minimum and format date-time.
type schemaValidator struct {
	root map[string]any
	errs []string
}

func loadSchema(t testing.TB) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "summary.schema.json"))
	require.NoError(t, err)
	var s map[string]any
	require.NoError(t, json.Unmarshal(b, &s), "docs/summary.schema.json is valid JSON")
	return s
}

func validate(schema map[string]any, doc any) []string {
	v := &schemaValidator{root: schema}
	v.check(schema, doc, "$")
	return v.errs
}

func (v *schemaValidator) fail(path, format string, args ...any) {
	v.errs = append(v.errs, path+": "+fmt.Sprintf(format, args...))
}

func (v *schemaValidator) resolve(s map[string]any) map[string]any {
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

func jsonType(x any) string {
	switch x := x.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	}
	return fmt.Sprintf("%T", x)
}

func (v *schemaValidator) check(s map[string]any, doc any, path string) {
	s = v.resolve(s)
	if want, ok := s["type"].(string); ok {
		got := jsonType(doc)
		if got != want && !(want == "number" && got == "integer") {
			v.fail(path, "type %s, want %s", got, want)
			return
		}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, doc) {
		v.fail(path, "%v not in %v", doc, enum)
	}
	if min, ok := s["minimum"].(float64); ok {
		if n, isNum := doc.(float64); isNum && n < min {
			v.fail(path, "%v < minimum %v", n, min)
		}
	}
	if s["format"] == "date-time" {
		if str, _ := doc.(string); str != "" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				v.fail(path, "not a date-time: %v", err)
			}
		}
	}
	switch d := doc.(type) {
	case map[string]any:
		if req, ok := s["required"].([]any); ok {
			for _, k := range req {
				if _, ok := d[k.(string)]; !ok {
					v.fail(path, "missing required key %q", k)
				}
			}
		}
		props, _ := s["properties"].(map[string]any)
		var pattern *regexp.Regexp
		if pn, ok := s["propertyNames"].(map[string]any); ok {
			pattern = regexp.MustCompile(pn["pattern"].(string))
		}
		for k, val := range d {
			if pattern != nil && !pattern.MatchString(k) {
				v.fail(path, "key %q does not match %s", k, pattern)
			}
			if ps, ok := props[k].(map[string]any); ok {
				v.check(ps, val, path+"."+k)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case map[string]any:
				v.check(ap, val, path+"."+k)
			case bool:
				if !ap {
					v.fail(path, "unexpected key %q", k)
				}
			}
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, it := range d {
				v.check(items, it, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
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
	for name, s := range map[string]*summary.Summary{"passing": Sample(false), "failing": Sample(true), "empty": empty} {
		assert.Empty(t, validate(schema, summaryJSON(t, s)), name)
	}
}

func TestSchemaRejectsBrokenSummaries(t *testing.T) {
	schema := loadSchema(t)
	for name, tc := range map[string]struct {
		mutate func(map[string]any)
		want   string
	}{
		"no verdict":       {func(d map[string]any) { delete(d, "verdict") }, `missing required key "verdict"`},
		"bad verdict":      {func(d map[string]any) { d["verdict"] = "maybe" }, "not in"},
		"no lost":          {func(d map[string]any) { delete(d["requests"].(map[string]any), "lost") }, `$.requests: missing required key "lost"`},
		"no amplification": {func(d map[string]any) { delete(d["refresh"].(map[string]any), "amplification") }, `missing required key "amplification"`},
		"no p99":           {func(d map[string]any) { delete(d["latency"].(map[string]any), "p99") }, `$.latency: missing required key "p99"`},
		"invariant verdict": {func(d map[string]any) {
			delete(d["invariants"].(map[string]any)["single-refresh"].(map[string]any), "verdict")
		}, `$.invariants.single-refresh: missing required key "verdict"`},
		"violations type": {func(d map[string]any) {
			d["invariants"].(map[string]any)["single-refresh"].(map[string]any)["violations"] = "many"
		}, "type string, want integer"},
		"bad time": {func(d map[string]any) { d["started_at"] = "yesterday" }, "not a date-time"},
	} {
		doc := summaryJSON(t, Sample(true))
		tc.mutate(doc)
		errs := validate(schema, doc)
		require.NotEmpty(t, errs, name)
		assert.Contains(t, strings.Join(errs, "\n"), tc.want, name)
	}
}

// The public keys of SPEC §9 are required by the schema, so a consumer can
// rely on them.
func TestSchemaRequiresPublicKeys(t *testing.T) {
	schema := loadSchema(t)
	v := &schemaValidator{root: schema}
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
	inv := props["invariants"].(map[string]any)["additionalProperties"].(map[string]any)
	assert.Subset(t, required(inv), []string{"verdict", "violations"})
}

// Every field of summary.Summary (recursively, including ledger.Event
// evidence) is described by the schema, so the schema cannot silently fall
// behind the Go model.
func TestSchemaCoversEveryField(t *testing.T) {
	schema := loadSchema(t)
	v := &schemaValidator{root: schema}
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
