package style

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// v1Sources are every style file of the v1 format in the repo, and the
// docs whose YAML examples are styles. testdata/v1/golden.json holds what
// each resolved to (json.Marshal) before the v2 format existed.
var v1Sources = []string{
	"builtin/bearer.yaml", "builtin/body-code.yaml", "builtin/rotating.yaml", "builtin/status-403.yaml",
	"../backend/testdata/body-code.yaml", "../backend/testdata/rotating-403.yaml", "testdata/body-code.yaml",
	"../../examples/backends/good/style.yaml",
}

var v1Docs = []string{"../../docs/styles.md", "../../docs/backend.md"}

func loadV1(t *testing.T, src string) *Style {
	t.Helper()
	if name, ok := strings.CutPrefix(src, "builtin/"); ok {
		return MustLoad(strings.TrimSuffix(name, ".yaml"))
	}
	s, err := Load(src)
	require.NoError(t, err)
	return s
}

// v1View is a resolved style's JSON without the members the v2 format added.
func v1View(t *testing.T, s *Style) map[string]any {
	t.Helper()
	b, err := json.Marshal(s)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	delete(m, "requests")
	delete(m, "answers")
	return m
}

func TestV1FilesResolveAsBefore(t *testing.T) {
	data, err := os.ReadFile("testdata/v1/golden.json")
	require.NoError(t, err)
	var golden map[string]map[string]any
	require.NoError(t, json.Unmarshal(data, &golden))

	got := map[string]*Style{}
	for _, src := range v1Sources {
		got[src] = loadV1(t, src)
	}
	re := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	for _, d := range v1Docs {
		doc, err := os.ReadFile(d)
		require.NoError(t, err)
		i := 0 // the v1 style examples of the doc, counted in order
		for _, m := range re.FindAllSubmatch(doc, -1) {
			if !strings.Contains(string(m[1]), "signals:") || strings.Contains(string(m[1]), "# v2") {
				continue
			}
			s, err := Parse(d, m[1])
			require.NoError(t, err, "%s, YAML example %d", d, i)
			got[filepath.Base(d)+"#"+string(rune('0'+i))] = s
			i++
		}
	}
	for key, want := range golden {
		s, ok := got[key]
		if !assert.True(t, ok, "%s: no longer loaded by this test", key) {
			continue
		}
		assert.Equal(t, want, v1View(t, s), key)
		// The resolved templates are the v1 semantics: POST with a JSON
		// member for login and refresh, GET with the token for verify.
		assert.Equal(t, Request{Method: "POST", Path: s.Routes.Login, Value: Place{In: InJSON, Name: s.Fields.Code}, methods: []string{"POST"}}, s.Requests.Login, key)
		if s.Routes.Refresh != "" {
			assert.Equal(t, Place{In: InJSON, Name: s.Fields.RefreshToken}, s.Requests.Refresh.Value, key)
			assert.Equal(t, "POST", s.Requests.Refresh.Method, key)
		}
		if s.Routes.Verify != "" {
			assert.Equal(t, Request{Method: "GET", Path: s.Routes.Verify, Value: Place{In: InToken}, methods: []string{"GET", "HEAD"}}, s.Requests.Verify, key)
		}
		assert.Equal(t, Place{In: InJSON, Name: s.Fields.AccessToken}, s.Answers.AccessToken, key)
	}
	assert.Len(t, golden, len(got), "every v1 file has a golden entry")
}

// The docs' complete v2 examples (a "# v2" block with a name) load.
func TestDocsV2ExamplesLoad(t *testing.T) {
	doc, err := os.ReadFile("../../docs/styles.md")
	require.NoError(t, err)
	re := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	n := 0
	for _, m := range re.FindAllSubmatch(doc, -1) {
		if strings.HasPrefix(string(m[1]), "# v2\nname:") {
			_, err := Parse("docs/styles.md", m[1])
			require.NoError(t, err, "%s", m[1])
			n++
		}
	}
	assert.Positive(t, n)
}
