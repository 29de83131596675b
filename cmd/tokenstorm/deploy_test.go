package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenstorm/tokenstorm/harness/storm"
)

// k8sObject is as much of a Kubernetes object as the manifests' checks read.
type k8sObject struct {
	APIVersion string                `yaml:"apiVersion"`
	Kind       string                `yaml:"kind"`
	Metadata   struct{ Name string } `yaml:"metadata"`
	Data       map[string]string     `yaml:"data"`
	Spec       struct {
		CompletionMode string   `yaml:"completionMode"`
		Completions    *int     `yaml:"completions"`
		Parallelism    *int     `yaml:"parallelism"`
		AccessModes    []string `yaml:"accessModes"`
		Template       struct {
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	RestartPolicy  string      `yaml:"restartPolicy"`
	InitContainers []container `yaml:"initContainers"`
	Containers     []container `yaml:"containers"`
	Volumes        []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		PVC *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
	} `yaml:"volumes"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			FieldRef struct {
				FieldPath string `yaml:"fieldPath"`
			} `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

func readManifests(t *testing.T, path string) []k8sObject {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(b)) // minimal structs: fields they lack are ignored
	var out []k8sObject
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if err == io.EOF {
			return out
		}
		require.NoError(t, err, "%s, document %d", path, len(out)+1)
		out = append(out, o)
	}
}

// expand does what the kubelet does to $(VAR) in args: substitutes the
// container's env; the completion index comes from the Job controller.
func expand(t *testing.T, c container, index int) []string {
	t.Helper()
	vars := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && strings.Contains(e.ValueFrom.FieldRef.FieldPath, "job-completion-index"):
			vars[e.Name] = strconv.Itoa(index)
		case e.ValueFrom == nil:
			vars[e.Name] = e.Value
		}
	}
	ref := regexp.MustCompile(`\$\(([A-Z_][A-Z0-9_]*)\)`)
	out := make([]string, len(c.Args))
	for i, a := range c.Args {
		out[i] = ref.ReplaceAllStringFunc(a, func(m string) string {
			v, ok := vars[m[2:len(m)-1]]
			require.True(t, ok, "args use %s, which the container's env does not define", m)
			return v
		})
	}
	return out
}

func mountOf(c container, volume string) string {
	for _, m := range c.VolumeMounts {
		if m.Name == volume {
			return m.MountPath
		}
	}
	return ""
}

// The Kubernetes manifest holds the objects docs/scale.md describes, and
// every command line in it is one the CLI accepts: shard k of N for each
// pod k of the Indexed Job, and a merge of those shards' directories.
func TestKubernetesStormJob(t *testing.T) {
	objs := readManifests(t, filepath.Join("..", "..", "deploy", "kubernetes", "storm-job.yaml"))
	var kinds []string
	byName := map[string]k8sObject{}
	for _, o := range objs {
		kinds = append(kinds, o.APIVersion+" "+o.Kind)
		byName[o.Metadata.Name] = o
	}
	assert.Equal(t, []string{"v1 ConfigMap", "v1 PersistentVolumeClaim", "batch/v1 Job", "batch/v1 Job"}, kinds)

	cm := byName["tokenstorm-scenario"]
	sc, err := storm.Parse("storm.yaml", []byte(cm.Data["storm.yaml"]))
	require.NoError(t, err, "the ConfigMap's scenario")
	assert.Contains(t, byName["tokenstorm-results"].Spec.AccessModes, "ReadWriteMany", "every pod mounts the results volume")

	job := byName["tokenstorm-storm"]
	assert.Equal(t, "Indexed", job.Spec.CompletionMode)
	require.NotNil(t, job.Spec.Completions)
	require.NotNil(t, job.Spec.Parallelism)
	n := *job.Spec.Completions
	assert.Equal(t, n, *job.Spec.Parallelism, "every shard runs at once")
	assert.Equal(t, "Never", job.Spec.Template.Spec.RestartPolicy)
	require.Len(t, job.Spec.Template.Spec.Containers, 1)
	shard := job.Spec.Template.Spec.Containers[0]
	dataMount := mountOf(shard, "results")
	require.NotEmpty(t, dataMount)
	devices := 0
	outs := map[string]bool{}
	for k := range n {
		args := expand(t, shard, k)
		require.Equal(t, "storm", args[0])
		a, err := parseStorm(args[1:], io.Discard)
		require.NoError(t, err, "pod %d's command line", k)
		assert.Equal(t, storm.Shard{Index: k, Count: n}, a.shard, "pod %d", k)
		assert.Equal(t, "/scenario/storm.yaml", a.scenario)
		assert.Equal(t, "/scenario", mountOf(shard, "scenario"))
		assert.True(t, strings.HasPrefix(a.c.out, dataMount+"/"), "pod %d writes %s, outside the shared volume", k, a.c.out)
		assert.False(t, outs[a.c.out], "two pods write %s", a.c.out)
		outs[a.c.out] = true
		devices += a.shard.Devices(sc.Devices)
	}
	assert.Equal(t, sc.Devices, devices, "the shards run the whole fleet")

	merge := byName["tokenstorm-merge"]
	require.Len(t, merge.Spec.Template.Spec.Containers, 1)
	mc := merge.Spec.Template.Spec.Containers[0]
	margs := expand(t, mc, 0)
	require.Equal(t, "merge", margs[0])
	dirs, out, err := parseMerge(margs[1:], io.Discard)
	require.NoError(t, err, "the merge's command line")
	require.Len(t, dirs, 1)
	for o := range outs {
		ok, err := filepath.Match(dirs[0], o)
		require.NoError(t, err)
		assert.True(t, ok, "the merge's %s misses shard directory %s", dirs[0], o)
	}
	assert.False(t, outs[out])
	require.Len(t, merge.Spec.Template.Spec.InitContainers, 1)
	wait := strings.Join(merge.Spec.Template.Spec.InitContainers[0].Args, " ")
	assert.Contains(t, wait, "n="+strconv.Itoa(n)+" ", "the merge waits for all N shards")
	assert.Contains(t, wait, "shard.json")
}
